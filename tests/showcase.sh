#!/usr/bin/env bash
# make run: a pool of two brig-worker processes on the embedded broker, and a
# tour of what brig does, each step printed with its outcome.
#   tests/showcase.sh BUILD_DIR
set -uo pipefail

build=$(cd "${1:-build}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$build/bin
work=$(mktemp -d /tmp/brig-showcase.XXXXXX)
chmod 755 "$work" # jails reach the state directory as an unprivileged uid
export BRIG_STATE_DIR=$work/state BRIG_DATA_DIR=$work/data NO_COLOR=${NO_COLOR:-}
pids=()

# Stops the workers in reverse order: the first one holds the embedded broker
# that the others must leave their group through.
cleanup() {
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null
        wait "${pids[i]}" 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
    echo "make run needs root: the jail maps host uids and manages cgroups" >&2
    exit 1
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Runs `brig run ...` and prints its exit status next to what was expected.
show() {
    local expect=$1
    shift
    "$bin/brig" run "$@"
    local rc=$?
    printf '   -> exit %d (%s)\n' "$rc" "$expect"
}

step "Starting a worker pool: two brig-worker processes, one consumer group"
"$bin/brig-worker" --concurrency 2 >"$work/worker1.out" 2>"$work/worker1.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$BRIG_STATE_DIR/broker" ] && break; sleep 0.1; done
if [ ! -s "$BRIG_STATE_DIR/broker" ]; then
    cat "$work/worker1.log" >&2
    exit 1
fi
brokers=$(cat "$BRIG_STATE_DIR/broker")
"$bin/brig-worker" --brokers "$brokers" --concurrency 2 2>"$work/worker2.log" &
pids+=($!)
grep -E "embedded|IN MEMORY" "$work/worker1.log"
echo "second worker joined the group at $brokers"

step "Hello in every shipped language"
show "ok" --lang python -c 'import sys; print("hello from python", sys.version.split()[0])'
show "ok" --lang javascript -c 'console.log("hello from node", process.version)'
show "ok" --lang typescript -c 'const who: string = "typescript"; console.log(`hello from ${who}`)'
show "ok" --lang bash -c 'echo "hello from bash $BASH_VERSION"'
show "ok" --lang sh -c 'echo hello from sh'
show "ok" --lang c -c '#include <stdio.h>
int main(void) { printf("hello from C\n"); return 0; }'
show "ok" --lang r -c 'cat("hello from", R.version.string, "\n")'
show "ok" --lang java -c 'public class Main { public static void main(String[] a) { System.out.println("hello from java " + System.getProperty("java.version")); } }'
show "ok" --lang go -c 'package main
import ("fmt"; "runtime")
func main() { fmt.Println("hello from go", runtime.Version()) }'
show "ok" --lang ruby -c 'puts "hello from ruby #{RUBY_VERSION}"'

step "What the pool runs: brig runtimes"
"$bin/brig" runtimes

step "A data job that writes a file, collected back"
show "ok, chart.csv collected" --lang python --collect 'out/*' --out "$work/collected" -c '
import os
os.makedirs("out", exist_ok=True)
try:
    import pandas as pd
    df = pd.DataFrame({"x": range(10)})
    df["y"] = df.x ** 2
    df.to_csv("out/chart.csv", index=False)
    print("pandas", pd.__version__, "wrote out/chart.csv")
except ImportError:
    with open("out/chart.csv", "w") as f:
        f.write("x,y\n" + "".join(f"{x},{x*x}\n" for x in range(10)))
    print("pure Python wrote out/chart.csv (pandas is not installed)")
'
(cd "$work/collected" 2>/dev/null && find . -type f -exec sh -c 'printf "   %s: " "$1"; head -c 40 "$1" | tr "\n" " "; echo' _ {} \;) || echo "   (no files came back)"

step "A job that reads stdin and an input file"
printf 'line one\nline two\n' >"$work/stdin.txt"
printf 'brig\n' >"$work/name.txt"
show "ok" --lang python --stdin "$work/stdin.txt" --file "$work/name.txt:data/name.txt" -c '
import sys
name = open("data/name.txt").read().strip()
print(f"{len(sys.stdin.readlines())} lines on stdin, hello {name}")
'

step "A job past its wall-clock limit"
show "124: timeout" --wall-time 1s --lang python -c 'import time; time.sleep(30)'

step "A memory blow-up"
show "121: oom" --mem 64M --lang python -c 'x = bytearray(1 << 30)'

step "An attempt to reach the network (the jail has none)"
show "failed: no route, no DNS" --lang python -c '
import socket
try:
    socket.getaddrinfo("example.com", 80)
    print("resolved?!")
except OSError as e:
    raise SystemExit(f"no network: {e}")
'

step "A forbidden system call"
show "123: seccomp" --lang python -c 'import ctypes; ctypes.CDLL(None).unshare(0x10000000)  # CLONE_NEWUSER'

step "A malformed message lands in the dead-letter queue"
/usr/bin/python3 - "$brokers" <<'EOF'
import sys, time, msgpack
from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
brokers = sys.argv[1]
p = Producer({"bootstrap.servers": brokers})
bad = {"v": 1, "id": "showcase-bad-limits", "runtime": "python", "code": "print(1)",
       "limits": {"memory_bytes": "lots"}}
p.produce("brig.jobs", key=bad["id"], value=msgpack.packb(bad))
p.flush(10)
c = Consumer({"bootstrap.servers": brokers, "group.id": "showcase-dlq"})
parts = c.list_topics("brig.dlq", timeout=10).topics["brig.dlq"].partitions
c.assign([TopicPartition("brig.dlq", n, OFFSET_BEGINNING) for n in parts])
deadline = time.time() + 30
while time.time() < deadline:
    m = c.poll(0.5)
    if m is not None and not m.error():
        letter = msgpack.unpackb(m.value(), raw=False)
        print(f"   dead letter from {letter['topic']}[{letter['partition']}]@{letter['offset']}: "
              f"{letter.get('field') or '(message)'}: {letter['reason']}")
        break
else:
    print("   no dead letter arrived")
c.close()
EOF

step "The audit trail"
"$bin/brig" audit ls --limit 12

step "Replaying a recorded run"
id=$("$bin/brig" submit --lang python -c 'print(sum(range(100)))')
"$bin/brig" wait "$id" >/dev/null
"$bin/brig" replay "$id"
echo "   -> exit $? (0: REPRODUCED)"

step "Stopping the pool"
