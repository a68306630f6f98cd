"""End-to-end load through brig-worker: a worker process (with its embedded
broker, or pointed at brig-test-broker), a client that submits jobs to
<prefix>.jobs and times each result it reads back from <prefix>.results, and
readings of the worker's CPU time and memory from /proc.

Latency is measured on the client with the monotonic clock, from just before
a job is handed to the producer to the moment its result comes out of the
consumer, keyed by job id. The producer never waits to batch (linger.ms=0)."""
import itertools
import os
import subprocess
import threading
import time
import uuid

import msgpack
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

PREFIX = "brig"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# The client's consumer asks the broker for results at most this long after
# one is produced: librdkafka's mock broker (embedded and test broker alike)
# answers an empty fetch only when fetch.wait.max.ms has passed, never as soon
# as data arrives, so this wait is part of what the client measures. Kafka
# answers as soon as data arrives, and a 2 ms wait there has every broker
# answer a fetch every 2 ms: measured, that CPU made each sh -c true jail
# 5x slower (wall 24 against 5 ms) and 50 jobs/s more than a worker of 2
# slots could take, so results came seconds late.
CLIENT_FETCH_WAIT_MS = 2
KAFKA_CLIENT_FETCH_WAIT_MS = 100
WAIT_CHECK_S = 0.02


def percentile(sorted_values, percent):
    """Nearest rank, as tests/bench/stats.c computes it."""
    if not sorted_values:
        return None
    rank = (percent * len(sorted_values) + 99) // 100
    return sorted_values[max(rank, 1) - 1]


def median(sorted_values):
    n = len(sorted_values)
    if n == 0:
        return None
    middle = n // 2
    return sorted_values[middle] if n % 2 else (sorted_values[middle - 1] + sorted_values[middle]) / 2


class TestBroker:
    """brig-test-broker in its own process, so that the worker's CPU time and
    memory are the worker's alone."""

    def __init__(self, build):
        self.command = [os.path.join(build, "helpers", "brig-test-broker"), "-p", "4",
                        "-t", PREFIX]
        self.proc = subprocess.Popen(self.command, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        words = self.proc.stdout.readline().split()
        if len(words) != 2 or words[0] != "bootstrap":
            self.stop()
            raise RuntimeError(f"brig-test-broker did not start (said {words})")
        self.bootstrap = words[1]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def process_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        # The fields after the command name, which may hold spaces.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children_named(pid, name):
    """Pids of pid's children whose command is name."""
    found = []
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        for child in children.read().split():
            try:
                with open(f"/proc/{child}/comm") as comm:
                    if comm.read().strip() == name:
                        found.append(int(child))
            except OSError:
                pass  # gone meanwhile
    return found


class Worker:
    """brig-worker with its audit store and state under workdir. With no
    bootstrap it starts its embedded broker and says where on stdout."""

    def __init__(self, build, workdir, name, concurrency, bootstrap=None, extra=(), prefix=PREFIX):
        state_dir = os.path.join(workdir, f"state-{name}")
        self.command = [os.path.join(build, "bin", "brig-worker"),
                        "--concurrency", str(concurrency),
                        "--state-dir", state_dir,
                        "--audit-db", os.path.join(workdir, f"audit-{name}.db"),
                        "--worker-id", name, "--topic-prefix", prefix, *extra]
        if bootstrap:
            self.command += ["--brokers", bootstrap]
        self.log_path = os.path.join(workdir, f"worker-{name}.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.bootstrap = bootstrap or self._embedded_bootstrap()

    def _embedded_bootstrap(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log().splitlines():
                if line.startswith("brokers "):
                    return line.split()[1]
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"brig-worker did not start its broker:\n{self.log()}")

    def log(self):
        with open(self.log_path, errors="replace") as log:
            return log.read()

    def wait_assigned(self, timeout=90):
        """Waits until the worker holds partitions (on a cluster, its topics
        exist from then on)."""
        deadline = time.monotonic() + timeout
        while 'msg="assigned ' not in self.log():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"brig-worker got no partitions:\n{self.log()}")
            time.sleep(0.1)

    def cpu_seconds(self):
        """utime + stime of the worker process itself (all its threads, the
        embedded broker's too when it has one) and of the brig-zygote
        servers it started (its jail spawner, warm runtimes), which do the
        cloning for it; not of the jails it reaped."""
        return sum(process_cpu_seconds(pid)
                   for pid in [self.pid, *children_named(self.pid, "brig-zygote")])

    def memory_kib(self, pid=None):
        """VmRSS and VmHWM of the worker process (or of pid), in KiB."""
        values = {}
        with open(f"/proc/{pid or self.pid}/status") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0])
        return values

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError(f"brig-worker ignored SIGTERM for {timeout} s")
        return self.proc.returncode


def argv_job(job_id, argv):
    return {"v": 1, "id": job_id, "argv": argv}


def runtime_job(job_id, runtime, code):
    return {"v": 1, "id": job_id, "runtime": runtime, "code": code}


class Client:
    """Submits jobs and records, per job id, when it was submitted and when
    its result arrived (time.monotonic), with the result's fields."""

    def __init__(self, bootstrap, prefix=PREFIX, fetch_wait_ms=CLIENT_FETCH_WAIT_MS):
        self.prefix = prefix
        # acks=all: a job is on every in-sync replica before it counts as sent.
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all"})
        self.consumer = Consumer({"bootstrap.servers": bootstrap,
                                  "group.id": "brig-bench-" + uuid.uuid4().hex,
                                  "enable.auto.commit": False,
                                  "fetch.wait.max.ms": fetch_wait_ms})
        topic = f"{prefix}.results"
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        self.submitted = {}  # id -> (monotonic seconds, wall-clock ms)
        self.results = {}    # id -> (monotonic seconds, result dict)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.ids = (f"bench-{uuid.uuid4().hex[:8]}-{n}" for n in itertools.count())
        self.thread = threading.Thread(target=self._consume, daemon=True)
        self.thread.start()

    def _consume(self):
        # poll() returns as soon as a message is there; consume() would hold
        # a batch until it is full or its timeout has passed.
        while not self.stopping.is_set():
            msg = self.consumer.poll(0.05)
            arrived = time.monotonic()
            if msg is None or msg.error():
                continue
            result = msgpack.unpackb(msg.value(), raw=False)
            with self.lock:
                self.results.setdefault(result["id"], (arrived, result))

    def new_id(self):
        return next(self.ids)

    def submit(self, job):
        value = msgpack.packb(job, use_bin_type=True)
        with self.lock:
            self.submitted[job["id"]] = (time.monotonic(), time.time() * 1000)
        self.producer.produce(f"{self.prefix}.jobs", value=value, key=job["id"])
        self.producer.poll(0)

    def wait(self, ids, timeout):
        """Waits for every id's result; returns how many arrived. It looks
        every WAIT_CHECK_S rather than at each result, so that its own CPU
        time stays small next to the worker's; the arrival times it reports
        are the consumer thread's."""
        deadline = time.monotonic() + timeout
        self.producer.flush(timeout)
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            time.sleep(WAIT_CHECK_S)
            with self.lock:
                pending = {i for i in pending if i not in self.results}
        return len(ids) - len(pending)

    def close(self):
        self.stopping.set()
        self.thread.join()
        self.consumer.close()
        self.producer.flush(10)


def summarize(client, ids):
    """Latencies (ms) and per-phase medians of the jobs in ids."""
    with client.lock:
        latencies, phases, statuses, spans = [], {k: [] for k in PHASES}, {}, []
        first_submit = last_result = None
        for job_id in ids:
            submitted, submitted_wall_ms = client.submitted[job_id]
            first_submit = submitted if first_submit is None else min(first_submit, submitted)
            if job_id not in client.results:
                continue
            arrived, result = client.results[job_id]
            last_result = arrived if last_result is None else max(last_result, arrived)
            latencies.append((arrived - submitted) * 1000)
            statuses[result["status"]] = statuses.get(result["status"], 0) + 1
            arrived_wall_ms = submitted_wall_ms + (arrived - submitted) * 1000
            marks = [submitted_wall_ms, result.get("received_ms"), result.get("started_ms"),
                     result.get("finished_ms"), arrived_wall_ms]
            if None not in marks:
                for phase, begin, end in zip(PHASES, marks, marks[1:]):
                    phases[phase].append(end - begin)
                spans.append((result["started_ms"], result["finished_ms"]))
    latencies.sort()
    for values in phases.values():
        values.sort()
    elapsed = (last_result - first_submit) if latencies else None
    return {
        "submitted": len(ids),
        "completed": len(latencies),
        "statuses": statuses,
        "p50_ms": median(latencies),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else None,
        "elapsed_s": elapsed,
        "jobs_per_s": len(latencies) / elapsed if elapsed else None,
        "phases_p50_ms": {k: median(v) for k, v in phases.items()},
        "peak_in_flight": peak_overlap(spans),
    }


def peak_overlap(spans):
    """The most (start, end) spans that were open at one time: how many jobs
    were in the worker's slots at once. A span ending when another starts
    does not overlap it."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    peak = current = 0
    for _, change in events:
        current += change
        peak = max(peak, current)
    return peak


# Where a job's time goes, from the result's own timestamps (wall-clock ms,
# so each phase is only good to about a millisecond).
PHASES = ("to_worker", "worker_queue", "jail", "to_client")
PHASE_NAMES = {
    "to_worker": "submitted -> received by the worker (produce, broker, worker's fetch)",
    "worker_queue": "received -> handed to a slot (waiting for a free slot)",
    "jail": "handed to a slot -> finished (jail set-up, program, teardown)",
    "to_client": "finished -> result read by the client (audit, publish, client's fetch)",
}


def offered_rate(client, make_job, rate, seconds, drain_timeout):
    """Submits rate jobs per second for seconds on a fixed schedule (open
    loop: a slow answer never delays the next submission)."""
    count = int(rate * seconds)
    ids = []
    start = time.monotonic()
    for n in range(count):
        due = start + n / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        job = make_job(client.new_id())
        client.submit(job)
        ids.append(job["id"])
    client.wait(ids, drain_timeout)
    return summarize(client, ids)


def burst(client, make_job, count, timeout):
    """Submits count jobs as fast as the client can and waits for them all:
    jobs per second is completed / (last result - first submission)."""
    ids = []
    for _ in range(count):
        job = make_job(client.new_id())
        client.submit(job)
        ids.append(job["id"])
    client.wait(ids, timeout)
    return summarize(client, ids)


def warm_up(client, make_job, count=20, timeout=60):
    """Waits until the worker has joined its group and answers jobs."""
    ids = []
    for _ in range(count):
        job = make_job(client.new_id())
        client.submit(job)
        ids.append(job["id"])
    arrived = client.wait(ids, timeout)
    if arrived != count:
        raise RuntimeError(f"only {arrived} of {count} warm-up jobs were answered in {timeout} s")
