#!/usr/bin/env bash
# make e2e and make test: the end-to-end tests, and with "unit" the unit
# tests too, run side by side and reported one after the other.
#
# The real-Kafka tests (-m kafka) mostly wait on brokers restarting, and the
# unit tests mostly on their own timeouts, so they run beside the other
# end-to-end tests, whose report comes first; theirs follow from their logs.
# The others spread over E2E_WORKERS processes (pytest-xdist), a test file to
# each at a time, so that a file's module fixtures are made once.
# E2E_SPLIT=0 runs one pytest for all (and suits a -m of your own in
# PYTEST_ARGS, which go to every pytest). Either pytest may select nothing
# (pytest's status 5), not both.
#
# Each pytest has a TMPDIR of its own, apart from other trees' runs: a pytest
# that starts makes $TMPDIR/pytest-of-root 0700 again, and a jail, an
# unprivileged host uid, then finds its state directory out of reach
# ("mount the root tmpfs: Permission denied").
#
# Usage: mk/test.sh BUILD [unit]   (make sets PYTHON, E2E_*, PYTEST_ARGS)
set -uo pipefail

build=$(realpath "$1")
with_unit=${2:-}
cd "$(dirname "$0")/.."
tmp=${E2E_TMP:-/tmp/brig-e2e-$(printf %s "$build" | md5sum | cut -c1-8)}
install -d -m 0711 "$tmp" "$tmp/kafka" "$tmp/others"
# As make wrote them in a command line before: -k "a or b" is one argument.
eval "args=(${PYTEST_ARGS:-})"

pytest() {
    local part=$1
    shift
    (cd tests && TMPDIR=$tmp/$part BRIG_BUILD=$build "${PYTHON:-/usr/bin/python3}" -m pytest -q \
        -p no:cacheprovider --durations=30 "${args[@]}" "$@" e2e)
}

# Runs "$@" in the background into log NAME; its pid in pids[NAME].
declare -A pids=() logs=()
beside() {
    local name=$1
    shift
    logs[$name]=$build/$name.log
    "$@" >"${logs[$name]}" 2>&1 &
    pids[$name]=$!
}

[ "$with_unit" = unit ] && beside unit "${MAKE:-make}" --no-print-directory BUILD="$1" unit
if [ "${E2E_SPLIT:-1}" = 1 ]; then
    beside e2e-kafka pytest kafka -m kafka
    echo "e2e: ${!pids[*]} run beside these; their reports follow"
    pytest others -n "${E2E_WORKERS:-2}" --dist loadfile -m "not kafka"
else
    echo "e2e: ${!pids[*]} run beside these; their reports follow"
    pytest others
fi
others=$?

failed=$((others != 0 && others != 5))
selected=$((others != 5))
for name in unit e2e-kafka; do
    [ -n "${pids[$name]:-}" ] || continue
    wait "${pids[$name]}"
    status=$?
    echo "== $name (${logs[$name]})"
    cat "${logs[$name]}"
    if [ "$name" = unit ]; then
        failed=$((failed || status != 0))
    else
        failed=$((failed || (status != 0 && status != 5)))
        selected=$((selected || status != 5))
    fi
done
((selected)) || echo "e2e: no test selected" >&2
exit $((failed || !selected))
