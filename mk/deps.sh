#!/usr/bin/env bash
# Installs the Debian packages brig needs to build, test and run, and only those
# that are missing, so that it is a quick no-op on a machine that has them all.
# Usage: mk/deps.sh [extra-package...]
set -euo pipefail

packages=(
    # build
    gcc make pkg-config
    librdkafka-dev libmsgpack-dev libseccomp-dev libsqlite3-dev libssl-dev libjansson-dev
    # root images of runtimes: tar (OCI layouts, docker save) and their compressions
    libarchive-dev
    libmicrohttpd-dev
    libhttp-parser-dev
    # the warm interpreter's server embeds Debian's CPython
    python3-dev
    # tests: unit (cmocka), end to end (pytest with Debian's python3 and its modules)
    libcmocka-dev python3 python3-pytest python3-pytest-xdist python3-msgpack python3-confluent-kafka
    # signed messages: the test vectors and their Python reader (Ed25519)
    python3-cryptography
    # runtimes the jail ships with (sandbox/runtimes.json): TypeScript is
    # transpiled by esbuild, and type-checked by tsc only when asked
    bash nodejs node-typescript esbuild r-base-core openjdk-17-jdk-headless golang-go ruby
    # the language tests/e2e/test_runtimes.py adds through a runtime table of its own
    lua5.4
    # what a job finds for Python (README "What a job can use"): the data
    # stack (and pytest, above), fonts for its charts, time zones; pip and
    # venv for the sessions' own packages
    python3-numpy python3-pandas python3-matplotlib python3-scipy
    fonts-dejavu-core fontconfig tzdata python3-venv python3-pip
    # a session's live Python interpreter (sandbox/kernels/python_kernel.py)
    python3-ipython python3-matplotlib-inline
    # the host tools the jail and its tests use
    iproute2 procps
    # checks of the man pages, the systemd unit and the compose file
    man-db groff-base systemd python3-yaml
    # promtool, to check what /metrics serves
    prometheus
    "$@"
)
# npm, for the TypeScript client's tests (tests/e2e/test_ts_client.py);
# NodeSource's nodejs carries its own and conflicts with Debian's.
command -v npm >/dev/null || packages+=(npm)

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: these packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
