#!/usr/bin/env bash
# make bench: builds the programs and the benchmark helpers into BUILD (a
# no-op for what `make bench` has built already), then measures with
# tests/bench/bench.py, which prints the table and writes it to
# tests/bench/RESULTS.md. Needs root (the jail and the worker do) and
# bubblewrap, which `make bench` installs.
# Usage: tests/bench/run.sh [BUILD]   (default: build)
set -euo pipefail

build=${1:-build}
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -ne 0 ]; then
    echo "bench: run as root: the jail maps host uids, mounts and manages cgroups" >&2
    exit 1
fi
if ! command -v bwrap >/dev/null; then
    echo "bench: bwrap is missing: run 'make bench', which installs bubblewrap" >&2
    exit 1
fi

helpers=(bench_spawn bench_jail_run bench_warm bench_audit brig-test-broker)
make --no-print-directory BUILD="$build" all "${helpers[@]/#/$build/helpers/}" >/dev/null

/usr/bin/python3 tests/bench/bench.py --build "$build"
# A session's live interpreter at an agent's pace (printed, not in RESULTS.md).
exec /usr/bin/python3 tests/bench/cells.py --build "$build"
