"""Per-call overhead at an agent's pace: one call, then 1 to 5 s of idle
(uniform, seeded), then the next, against a warm worker; for each call the
time the client's caller waited minus the job's own wall time (the
result's usage.wall_us), summarised as p50, p90, p99, p99.9 and max.

Clients are drivers: programs that read one job per line of JSON on stdin
and answer one line per result, so that every client (libbrig, brig run,
the Python and TypeScript clients, the MCP server) is measured the same
way. The protocol:

  - started once, with BRIG_BROKERS, BRIG_TOPIC_PREFIX and BRIG_BUILD (the
    build directory) in its environment; it connects, then writes
    {"ready": true} on a line of stdout (its start-up is not measured);
  - for each line on stdin, a job {"id": ..., "runtime": "python",
    "code": "print(1)"}, it runs the job as an agent's tool call would and
    writes {"id", "client_ms", "wall_us", "status"}: client_ms is what the
    caller waited, from just before the call until the result is in hand,
    on the monotonic clock; wall_us and status are the result's. Other
    fields are kept in the call log (received_ms, started_ms, finished_ms,
    submitted_ms and answered_ms, wall-clock ms, give the phases);
  - at EOF on stdin it exits 0. Its stderr goes to a log file.

Drivers run at the same time, each on its own ids and schedule, so that the
total time stays that of one driver; the worker has a slot per driver, so
no call waits for a slot, but calls that overlap share the machine's CPUs.
Each call is marked as overlapping when another driver's call was in
flight during it, and the figures are also given for the calls that did
not overlap.

Standalone: /usr/bin/python3 tests/bench/agent_pace.py --build build
[--drivers c,brig-run] [--kafka] [--keep]; make bench runs it through
bench.py. BENCH_CALLS (default 1000) sets the calls per driver,
BENCH_KAFKA_CALLS those on the real cluster (default BENCH_CALLS)."""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import kafka_load

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"

CALLS = int(os.environ.get("BENCH_CALLS", "1000"))
KAFKA_CALLS = int(os.environ.get("BENCH_KAFKA_CALLS", str(CALLS)))
IDLE_S = (1.0, 5.0)
SEED = 16
WARM_CALLS = 3           # per driver, not measured: its first connections, the runtime
READY_TIMEOUT_S = 60
CALL_TIMEOUT_S = 120
RUNTIME, CODE = "python", "print(1)"

TARGET_P50_MS = {"long-lived": 10, "one-shot": 40}
TARGET_P999_MS = 250
KAFKA_BENCH_DIR = os.path.join("build", "kafka-bench")


class Driver:
    """A client to measure: name, kind (long-lived or one-shot), the file
    that must exist for it to run, and its command."""

    def __init__(self, name, kind, path, argv):
        self.name, self.kind, self.path, self.argv = name, kind, path, argv


def drivers(build):
    """Every known driver; those whose file is missing are skipped (the
    branches that add a client add its driver)."""
    build = os.path.abspath(build)
    c_driver = os.path.join(build, "helpers", "bench_driver_c")
    return [
        Driver("brig-run", "one-shot", os.path.join(HERE, "driver_brig_run.py"),
               [PYTHON, os.path.join(HERE, "driver_brig_run.py")]),
        Driver("c", "long-lived", c_driver, [c_driver]),
        Driver("python", "long-lived", os.path.join(HERE, "driver_python.py"),
               [PYTHON, os.path.join(HERE, "driver_python.py")]),
        Driver("typescript", "long-lived", os.path.join(HERE, "driver_ts.mjs"),
               ["node", os.path.join(HERE, "driver_ts.mjs")]),
        Driver("mcp", "long-lived", os.path.join(HERE, "driver_mcp.py"),
               [PYTHON, os.path.join(HERE, "driver_mcp.py")]),
    ]


DESCRIPTIONS = {
    "brig-run": "brig run, one process per call (one-shot)",
    "c": "libbrig, one client for the run (C, long-lived)",
    "python": "Python client (long-lived)",
    "typescript": "TypeScript client (long-lived)",
    "mcp": "MCP server, run_code (long-lived)",
}


class DriverRun:
    """One driver process and its calls."""

    def __init__(self, driver, env, index, workdir, tag):
        self.driver, self.env = driver, env
        self.rng = random.Random(SEED * 1000 + index)
        self.log_path = os.path.join(workdir, f"driver-{tag}-{driver.name}.log")
        self.calls_path = os.path.join(workdir, f"calls-{tag}-{driver.name}.jsonl")
        run_id = uuid.uuid4().hex[:8]
        self.ids = (f"pace-{driver.name}-{run_id}-{n}" for n in range(10 ** 9))
        self.records = []   # (sent, answered) harness monotonic seconds, and the driver's line
        self.error = None
        self.proc = None

    def _line(self, deadline, what):
        """The driver's next stdout line, or an error past deadline."""
        result = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(max(deadline - time.monotonic(), 0))
        if not result or not result[0]:
            raise RuntimeError(f"driver {self.driver.name}: no answer to {what} "
                               f"(see {self.log_path})")
        return json.loads(result[0])

    def start(self):
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(self.driver.argv, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=log, text=True,
                                         env=self.env)
        ready = self._line(time.monotonic() + READY_TIMEOUT_S, "start-up")
        if not ready.get("ready"):
            raise RuntimeError(f"driver {self.driver.name}: said {ready} first")

    def call(self, measured=True):
        job = {"id": next(self.ids), "runtime": RUNTIME, "code": CODE}
        sent = time.monotonic()
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        answer = self._line(sent + CALL_TIMEOUT_S, f"job {job['id']}")
        if answer.get("id") != job["id"]:
            raise RuntimeError(f"driver {self.driver.name}: answered {answer} to {job['id']}")
        if measured:
            self.records.append((sent, time.monotonic(), answer))

    def idle(self):
        time.sleep(self.rng.uniform(*IDLE_S))

    def close(self):
        if self.proc:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with open(self.calls_path, "w") as calls:
            for sent, answered, answer in self.records:
                calls.write(json.dumps(dict(answer, sent_s=sent, answered_s=answered)) + "\n")

    def run_alone(self, calls):
        """Its calls on its own schedule (a thread per driver)."""
        try:
            self.start()
            for _ in range(WARM_CALLS):
                self.call(measured=False)
                self.idle()
            for n in range(calls):
                self.call()
                if n + 1 < calls:
                    self.idle()
        except Exception as error:  # reported by the caller, with the log's path
            self.error = error
        finally:
            self.close()


def run_at_once(runs, calls):
    threads = [threading.Thread(target=run.run_alone, args=(calls,), daemon=True)
               for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_in_turns(runs, calls):
    """One call of each run in turn, each followed by the idle: runs to be
    compared see the same machine, and no two calls overlap."""
    try:
        for run in runs:
            run.start()
        for n in range(-WARM_CALLS, calls):
            for run in runs:
                run.call(measured=n >= 0)
                run.idle()
    except Exception as error:
        runs[0].error = error
    finally:
        for run in runs:
            run.close()


def overlapping(runs):
    """Per run, per call: whether another run's call was in flight during it."""
    spans = [(sent, answered, i) for i, run in enumerate(runs)
             for sent, answered, _ in run.records]
    spans.sort()
    flags = []
    for i, run in enumerate(runs):
        flags.append([any(s < answered and sent < a and j != i for s, a, j in spans)
                      for sent, answered, _ in run.records])
    return flags


def quantiles(values):
    values = sorted(values)
    pick = kafka_load.percentile
    return {"n": len(values), "p50": kafka_load.median(values), "p90": pick(values, 90),
            "p99": pick(values, 99), "p99.9": pick999(values), "max": values[-1] if values else None}


def pick999(sorted_values):
    """Nearest rank for 99.9 %: the largest value of fewer than 1000."""
    if not sorted_values:
        return None
    rank = (999 * len(sorted_values) + 999) // 1000
    return sorted_values[max(rank, 1) - 1]


PHASES = (("to_worker", "submitted_ms", "received_ms"),
          ("waiting", "received_ms", "started_ms"),
          ("in_slot", "started_ms", "finished_ms"),
          ("to_client", "finished_ms", "answered_ms"))


def summarize(run, overlaps):
    overhead = [a["client_ms"] - a["wall_us"] / 1000 for _, _, a in run.records]
    alone = [o for o, flag in zip(overhead, overlaps) if not flag]
    statuses = {}
    for _, _, a in run.records:
        statuses[a["status"]] = statuses.get(a["status"], 0) + 1
    phases = {}
    for name, begin, end in PHASES:
        spans = [a[end] - a[begin] for _, _, a in run.records if begin in a and end in a]
        if spans:
            phases[name] = kafka_load.median(sorted(spans))
    slowest = sorted(((o, a["id"]) for o, (_, _, a) in zip(overhead, run.records)),
                     reverse=True)[:3]
    return {"all": quantiles(overhead), "alone": quantiles(alone),
            "overlapped": sum(overlaps), "statuses": statuses, "phases": phases,
            "slowest": slowest,
            "wall_p50_ms": kafka_load.median(sorted(a["wall_us"] / 1000
                                                    for _, _, a in run.records))}


def verdicts(kind, stats):
    p50, p999 = stats["all"]["p50"], stats["all"]["p99.9"]
    target = f"p50 ≤ {TARGET_P50_MS[kind]} ms, p99.9 ≤ {TARGET_P999_MS} ms"
    if p50 is None:
        return target, "MISS (no calls)"
    words = []
    for what, value, limit in (("p50", p50, TARGET_P50_MS[kind]), ("p99.9", p999, TARGET_P999_MS)):
        words.append(f"{what} PASS" if value <= limit else f"{what} MISS ({value / limit:.2f}× off)")
    return target, ", ".join(words)


def check_fresh(build, path):
    """A helper linked before the build's libbrig would measure the old
    client: make relinks it only when asked for it (make bench does)."""
    lib = os.path.join(build, "lib", "libbrig_producer.a")
    if path.startswith(os.path.abspath(build)) and os.path.exists(lib) and \
            os.path.getmtime(path) < os.path.getmtime(lib):
        raise RuntimeError(f"{path} is older than {lib}: run make {os.path.relpath(path)}")


def present_drivers(build, selected):
    """The drivers to run, and a note for each known one that is missing."""
    present, notes = [], []
    for driver in drivers(build):
        if selected and driver.name not in selected:
            continue
        if os.path.exists(driver.path):
            check_fresh(build, driver.path)
            present.append(driver)
        else:
            notes.append(f"{DESCRIPTIONS[driver.name]}: not measured, "
                         f"{os.path.relpath(driver.path)} is not there")
    return present, notes


def driver_env(build, bootstrap, prefix):
    env = dict(os.environ, BRIG_BROKERS=bootstrap, BRIG_TOPIC_PREFIX=prefix,
               BRIG_BUILD=os.path.abspath(build))
    env.pop("BRIG_KAFKA_CONFIG", None)
    return env


def finish(runs):
    """[(driver, stats)] of runs that all succeeded."""
    failed = [run for run in runs if run.error]
    if failed:
        raise RuntimeError("; ".join(str(run.error) for run in failed))
    flags = overlapping(runs)
    return [(run.driver, summarize(run, f)) for run, f in zip(runs, flags)]


def measure(build, workdir, bootstrap, prefix, calls, tag, selected=None, out=print):
    """Runs every present (and selected) driver at once against the worker
    at bootstrap; returns [(driver, stats)] and notes on missing drivers."""
    present, notes = present_drivers(build, selected)
    env = driver_env(build, bootstrap, prefix)
    runs = [DriverRun(d, env, i, workdir, tag) for i, d in enumerate(present)]
    out(f"  {len(runs)} driver(s) at once, {calls} calls each, "
        f"about {calls * sum(IDLE_S) / 2 / 60:.0f} min")
    run_at_once(runs, calls)
    return finish(runs), notes


def pace_worker(build, workdir, name, concurrency, bootstrap=None, extra=(), prefix="brig"):
    """A worker that has answered sh and Python jobs, so that what is
    measured is a warm worker's; the warming client is closed before the
    drivers start."""
    worker = kafka_load.Worker(build, workdir, name, concurrency, bootstrap, extra, prefix)
    try:
        if bootstrap:
            worker.wait_assigned()
        client = kafka_load.Client(worker.bootstrap, prefix)
        try:
            kafka_load.warm_up(client, lambda i: kafka_load.argv_job(i, ["/bin/sh", "-c", "true"]))
            kafka_load.warm_up(client, lambda i: kafka_load.runtime_job(i, RUNTIME, CODE), 3)
        finally:
            client.close()
    except BaseException:
        worker.stop()
        raise
    return worker


def concurrency_for(build, selected):
    n = sum(1 for d in drivers(build) if os.path.exists(d.path)
            and (not selected or d.name in selected))
    return max(n, 2)


def embedded(build, workdir, calls=CALLS, selected=None, out=print):
    """The drivers against a worker with its embedded broker."""
    worker = pace_worker(build, workdir, "pace-embedded", concurrency_for(build, selected))
    try:
        return worker, measure(build, workdir, worker.bootstrap, kafka_load.PREFIX, calls,
                               "embedded", selected, out)
    finally:
        status = worker.stop()
        if status != 0:
            raise RuntimeError(f"brig-worker exited with status {status}:\n{worker.log()}")


def kafka(build, workdir, calls=KAFKA_CALLS, selected=None, out=print):
    """The drivers against a worker on a real three-node cluster (acks=all
    for jobs and results, replication 3, min ISR 2)."""
    env = dict(os.environ, KAFKA_DIR=KAFKA_BENCH_DIR, KAFKA_NODES="3")
    subprocess.run(["mk/kafka.sh", "start"], env=env, check=True, stdout=subprocess.DEVNULL)
    try:
        with open(os.path.join(KAFKA_BENCH_DIR, "bootstrap")) as f:
            bootstrap = f.read().strip()
        prefix = f"pace{uuid.uuid4().hex[:8]}"
        worker = pace_worker(build, workdir, "pace-kafka", concurrency_for(build, selected),
                             bootstrap, ["--partitions", "6"], prefix)
        try:
            return worker, bootstrap, measure(build, workdir, bootstrap, prefix, calls, "kafka",
                                              selected, out)
        finally:
            status = worker.stop()
            if status != 0:
                raise RuntimeError(f"brig-worker exited with status {status}:\n{worker.log()}")
    finally:
        subprocess.run(["mk/kafka.sh", "stop"], env=env, stdout=subprocess.DEVNULL)


def compare(builds, workdir, calls, selected=None, bootstrap=None, out=print):
    """Each build's worker and drivers, every call in turn, so that builds
    are compared on the same machine at the same moments: [(build, rows)]."""
    workers, runs, lanes = [], [], []
    try:
        for n, build in enumerate(builds):
            prefix = f"pace{uuid.uuid4().hex[:8]}" if bootstrap else kafka_load.PREFIX
            extra = ["--partitions", "6"] if bootstrap else []
            workers.append(pace_worker(build, workdir, f"pace-{n}", 2, bootstrap, extra, prefix))
            env = driver_env(build, workers[-1].bootstrap, prefix)
            present, _ = present_drivers(build, selected)
            lane = [DriverRun(d, env, i, workdir, f"{n}") for i, d in enumerate(present)]
            runs += lane
            lanes.append((build, lane))
        out(f"  {len(runs)} driver(s) in turns, {calls} calls each, "
            f"about {calls * len(runs) * sum(IDLE_S) / 2 / 60:.0f} min")
        run_in_turns(runs, calls)
        return [(build, finish(lane)) for build, lane in lanes]
    finally:
        for worker in workers:
            worker.stop()


def fmt(value):
    return "" if value is None else f"{value:.1f} ms"


def table(results):
    """Markdown rows: one per driver, its overhead over every call, then over
    the calls that did not overlap another driver's."""
    lines = ["| client | calls | p50 | p90 | p99 | p99.9 | max | calls alone: p50 / p99 / max "
             "| job wall p50 | target | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for section, rows in results:
        lines.append(f"| **{section}** | | | | | | | | | | |")
        for driver, stats in rows:
            q, alone = stats["all"], stats["alone"]
            target, verdict = verdicts(driver.kind, stats)
            not_ok = {k: v for k, v in stats["statuses"].items() if k != "ok"}
            calls = f"{q['n']}" + (f" ({', '.join(f'{v} {k}' for k, v in not_ok.items())})"
                                   if not_ok else "")
            lines.append(
                f"| {DESCRIPTIONS[driver.name]} | {calls} | {fmt(q['p50'])} | {fmt(q['p90'])} | "
                f"{fmt(q['p99'])} | {fmt(q['p99.9'])} | {fmt(q['max'])} | "
                f"{alone['n']}: {fmt(alone['p50'])} / {fmt(alone['p99'])} / {fmt(alone['max'])} | "
                f"{fmt(stats['wall_p50_ms'])} | {target} | {verdict} |")
    return lines


def phase_table(results):
    """Where a call's time goes, from the drivers that report the result's
    own times (wall clock, millisecond resolution)."""
    lines = ["| client | submitted → received by the worker | received → in a slot | "
             "in the slot (jail set-up, job, teardown) | finished → result in the client |",
             "|---|---|---|---|---|"]
    for section, rows in results:
        for driver, stats in rows:
            p = stats["phases"]
            if len(p) == len(PHASES):
                lines.append(f"| {DESCRIPTIONS[driver.name]}, {section} | "
                             + " | ".join(fmt(p[name]) for name, _, _ in PHASES) + " |")
    return lines


# What the overhead was made of, as found with this harness: (cause, fix,
# before, after), each measured with the harness before and after its fix
# (the commit says how); the newest last.
CAUSES = [
    ("Nagle's algorithm on every Kafka connection: a request or response written while an "
     "earlier one is unacknowledged waits for the peer's delayed ACK, 40 ms on Linux (a "
     "partition's watermark offsets, two requests, took 40 ms from the embedded broker; a "
     "result behind its log chunks)",
     "socket.nagle.disable on libbrig's, the worker's and the embedded broker's handles "
     "(c3306b4)",
     "brig run p50 175.5 ms, p90 222.9 ms; libbrig p50 48.5 ms",
     "brig run p50 64.2 ms, p90 81.6 ms (with the row below); libbrig p50 40.8 ms (the "
     "worker's and broker's side only: the C driver had the old libbrig)"),
    ("brig_client_free() waited for libbrig's consumer thread to come out of its 100 ms "
     "poll: every one-shot brig run paid up to 100 ms at exit",
     "the thread polls without a timeout and free wakes it (rd_kafka_queue_yield) (c3306b4)",
     "measured with the row above", "measured with the row above"),
    ("The embedded (mock) broker holds every empty fetch for the consumer's whole "
     "fetch.wait.max.ms, where Kafka answers when data arrives: libbrig waited 50 ms, so a "
     "result reached the client 25 ms late on average",
     "libbrig tells the mock cluster by its id and fetches with 5 ms there, 50 ms on Kafka "
     "(dc46508)",
     "brig run p50 45.1 ms, p90 77.8 ms; libbrig p50 45.5 ms, p90 68.5 ms; finished → "
     "result in the client 26.5 ms",
     "brig run p50 33.6 ms, p90 41.9 ms; libbrig p50 21.9 ms, p90 28.0 ms; finished → "
     "result in the client 3.0 ms"),
]


def causes_table():
    lines = ["| cause | fix | before | after |", "|---|---|---|---|"]
    lines += [f"| {cause} | {fix} | {before} | {after} |" for cause, fix, before, after in CAUSES]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--drivers", help="comma-separated driver names (default: all present)")
    parser.add_argument("--kafka", action="store_true",
                        help="also against a real three-node cluster in build/kafka-bench")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--compare", metavar="BUILD",
                        help="another build directory (e.g. of the commit before a fix): both "
                             "builds' workers and drivers, one call of each in turn")
    args = parser.parse_args()
    selected = set(args.drivers.split(",")) if args.drivers else None
    workdir = tempfile.mkdtemp(prefix="brig-pace-")
    os.chmod(workdir, 0o711)  # the jails reach their state directory as other uids
    results, notes = [], []
    try:
        if args.compare:
            print("== agent pace, builds in turns, embedded brokers", flush=True)
            for build, rows in compare([args.build, args.compare], workdir, CALLS, selected):
                results.append((f"{build}, embedded broker", rows))
        else:
            print("== agent pace, embedded broker", flush=True)
            _, (rows, missing) = embedded(args.build, workdir, selected=selected)
            results.append(("embedded broker", rows))
            notes += missing
        if args.kafka and args.compare:
            print("== agent pace, builds in turns, real Kafka (3 nodes)", flush=True)
            env = dict(os.environ, KAFKA_DIR=KAFKA_BENCH_DIR, KAFKA_NODES="3")
            subprocess.run(["mk/kafka.sh", "start"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            with open(os.path.join(KAFKA_BENCH_DIR, "bootstrap")) as f:
                bootstrap = f.read().strip()
            try:
                for build, rows in compare([args.build, args.compare], workdir, KAFKA_CALLS,
                                           selected, bootstrap):
                    results.append((f"{build}, real Kafka, 3 nodes", rows))
            finally:
                subprocess.run(["mk/kafka.sh", "stop"], env=env, stdout=subprocess.DEVNULL)
        elif args.kafka:
            print("== agent pace, real Kafka (3 nodes)", flush=True)
            _, _, (rows, _) = kafka(args.build, workdir, selected=selected)
            results.append(("real Kafka, 3 nodes", rows))
    except BaseException:
        print(f"agent_pace: failed; the calls and logs are in {workdir}", file=sys.stderr)
        raise
    print("\n".join(table(results) + [""] + phase_table(results) + [""] + notes))
    for section, rows in results:
        for driver, stats in rows:
            print(f"{section} {driver.name}: slowest "
                  + ", ".join(f"{o:.1f} ms ({i})" for o, i in stats["slowest"])
                  + f"; {stats['overlapped']} overlapped")
    if args.keep:
        print(f"the calls and logs are in {workdir}")
    else:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
