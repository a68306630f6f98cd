#!/usr/bin/env bash
# Builds brig's MCP server into a venv of its own: the wheels of brig's
# Python client (producer/python) and of brig-mcp (producer/mcp), installed
# with their dependencies from PyPI. `make mcp` makes build/lib/brig/mcp,
# where build/bin/brig finds it; `make install` makes <prefix>/lib/brig/mcp.
#
#   mk/mcp.sh VENV FINAL WHEELHOUSE
#
# VENV is where the venv is made; FINAL where it will be used (they differ
# under DESTDIR: the scripts of VENV/bin then name FINAL). WHEELHOUSE keeps
# the dependencies' wheels: filled from PyPI the first time, then installed
# from without asking PyPI anything (the venv takes about 10 s, not 50).
set -euo pipefail

venv=$1 final=$2 wheelhouse=$3
# Debian's pip and setuptools build and install; the venv itself has no pip.
pip=(/usr/bin/python3 -m pip --disable-pip-version-check --quiet)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Built from a copy: setuptools leaves build/ and *.egg-info where it builds.
cp -r producer/python "$work/brig-client"
cp -r producer/mcp "$work/brig-mcp"
"${pip[@]}" wheel --no-deps --no-build-isolation --wheel-dir "$work/wheels" \
    "$work/brig-client" "$work/brig-mcp"

rm -rf "$venv"
/usr/bin/python3 -m venv --without-pip "$venv"
# Our wheels by file, never by name, so that none can come from PyPI.
install=("${pip[@]}" --python "$venv/bin/python3" install --no-index
         --find-links "$wheelhouse" "$work"/wheels/*.whl)
if ! "${install[@]}" 2>/dev/null; then
    # A dependency the wheelhouse lacks (the first build, or a new one).
    "${pip[@]}" download --dest "$wheelhouse" "$work"/wheels/*.whl
    rm -f "$wheelhouse"/brig_client-*.whl "$wheelhouse"/brig_mcp-*.whl
    "${install[@]}"
fi

if [ "$venv" != "$final" ]; then
    grep -lrIF -- "$venv" "$venv/bin" | xargs -r sed -i "s|$venv|$final|g"
fi
