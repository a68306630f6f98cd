"""make bench, cells: a session's live interpreter at an agent's pace.

Through a worker with its embedded broker: CELLS cells `x + 1` in one session,
one at a time, idle 1 to 2 s between them (an agent thinks between calls),
each from submit to its result on the client; then the first cell of a new
session (its interpreter starts) next to a plain python job print(1), one
after the other, ROUNDS times. Prints p50/p90/p99 and the load average.

Usage: /usr/bin/python3 tests/bench/cells.py --build BUILD [--cells N] [--rounds N]
(from the repo root)"""
import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid

import kafka_load

CELLS = 60
ROUNDS = 10
TARGET_CELL_P50_MS = 10


def latency_ms(client, job, timeout=120):
    client.submit(job)
    if client.wait([job["id"]], timeout) != 1:
        raise RuntimeError(f"no result for {job['id']}")
    arrived, result = client.results[job["id"]]
    return (arrived - client.submitted[job["id"]][0]) * 1000, result


def cell(client, session, code):
    job = kafka_load.runtime_job(client.new_id(), "python", code)
    job["session"] = session
    return job


def quantiles(values):
    s = sorted(values)
    return {p: kafka_load.percentile(s, p) for p in (50, 90, 99)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--cells", type=int, default=CELLS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    with tempfile.TemporaryDirectory(prefix="brig-bench-cells-") as workdir:
        os.chmod(workdir, 0o711)
        sessions_dir = os.path.join(workdir, "sessions")
        worker = kafka_load.Worker(build, workdir, "cells", 2,
                                   extra=["--sessions-dir", sessions_dir])
        client = kafka_load.Client(worker.bootstrap)
        try:
            session = "bench-" + uuid.uuid4().hex[:8]
            _, first = latency_ms(client, cell(client, session, "x = 1"))
            assert first["status"] == "ok", first
            lat = []
            for _ in range(args.cells):
                time.sleep(random.uniform(1, 2))
                ms, result = latency_ms(client, cell(client, session, "x + 1"))
                assert result["status"] == "ok" and not result["interpreter"]["started"], result
                lat.append(ms)
            q = quantiles(lat)
            print(f"cell x + 1, {args.cells} cells 1-2 s apart: p50 {q[50]:.1f} ms, "
                  f"p90 {q[90]:.1f} ms, "
                  f"p99 {q[99]:.1f} ms (target p50 <= {TARGET_CELL_P50_MS} ms)")
            firsts, plains = [], []
            latency_ms(client, kafka_load.runtime_job(client.new_id(), "python", "print(1)"))
            for _ in range(args.rounds):
                ms, result = latency_ms(client, cell(client, "b-" + uuid.uuid4().hex[:8], "1"))
                assert result["interpreter"]["started"], result
                firsts.append(ms)
                plain, _ = latency_ms(client, kafka_load.runtime_job(client.new_id(), "python",
                                                                     "print(1)"))
                plains.append(plain)
            f, p = quantiles(firsts), quantiles(plains)
            print(f"first cell of a new session: p50 {f[50]:.0f} ms, p90 {f[90]:.0f} ms; "
                  f"python job print(1): p50 {p[50]:.0f} ms, p90 {p[90]:.0f} ms ({args.rounds} each)")
            print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on "
                  f"{os.cpu_count()} CPUs")
        finally:
            client.close()
            worker.stop()
            # The sessions' tmpfs mounts, before their directory goes.
            ids = [n[:-len(".json")] for n in os.listdir(sessions_dir) if n.endswith(".json")]
            subprocess.run([os.path.join(build, "bin", "brig"), "session", "rm", "--sessions-dir",
                            sessions_dir, *ids], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
