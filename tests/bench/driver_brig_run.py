"""The one-shot client for the agent-pace harness (agent_pace.py describes
the driver protocol): one `brig run` process per call, as a user or an
agent's shell tool types it (live output, the summary line on stderr),
timed from just before the spawn to its exit on the monotonic clock. The
job's own wall time comes from the summary line, where brig prints it to
0.1 ms.

Environment: BRIG_BUILD (the build directory), BRIG_BROKERS and
BRIG_TOPIC_PREFIX (which brig reads itself)."""
import json
import os
import re
import subprocess
import sys
import time

SUMMARY = re.compile(r"^brig: (\w+) .*· wall ([0-9.]+)(us|ms|s) ·", re.MULTILINE)
TO_US = {"us": 1, "ms": 1000, "s": 1000000}


def run(brig, job):
    argv = [brig, "run", "--id", job["id"], "--lang", job["runtime"], "-c", job["code"]]
    start = time.monotonic()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client_ms = (time.monotonic() - start) * 1000
    summary = SUMMARY.search(proc.stderr)
    if not summary:
        raise RuntimeError(f"brig run exited {proc.returncode} without a summary: {proc.stderr}")
    status, wall, unit = summary.groups()
    return {"id": job["id"], "client_ms": client_ms,
            "wall_us": round(float(wall) * TO_US[unit]), "status": status}


def main():
    brig = os.path.join(os.environ["BRIG_BUILD"], "bin", "brig")
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        print(json.dumps(run(brig, json.loads(line))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
