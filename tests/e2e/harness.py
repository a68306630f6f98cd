"""Real processes for end-to-end tests: the test broker (the same mock Kafka
cluster the worker embeds, with fault commands), brig-worker processes, and a
Kafka client that submits jobs and gathers results through confluent-kafka."""
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import uuid

import msgpack
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from conftest import bin_path, helper_path


class Broker:
    """brig-test-broker: -n brokers, topics <prefix>.{jobs,results,logs,dlq,control,runtimes,audit}."""

    def __init__(self, brokers=1, partitions=4, prefix="brig", topics=(), gated=True):
        """topics: more topics to make (a tenant's: the mock cannot later).
        gated: behind the gate that keeps producers from making the mock
        delete jobs the workers' group (brig-test) has not read; without it
        the broker deletes them, as a cluster's retention may."""
        self.proc = subprocess.Popen(
            [helper_path("brig-test-broker"), "-n", str(brokers), "-p", str(partitions),
             "-t", prefix, *[arg for t in topics for arg in ("-T", t)],
             *([] if gated else ["-u"])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "bootstrap", f"test broker did not start: {line}"
        self.bootstrap = line[1]
        self.prefix = prefix

    def command(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer == "ok", f"broker command {text!r}: {answer}"

    def down(self, broker_id=-1):
        self.command(f"down {broker_id}")

    def up(self, broker_id=-1):
        self.command(f"up {broker_id}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# When a member leaves or dies, the test broker gives the others about the
# session timeout to rejoin before it finishes the rebalance (a real cluster
# finishes once they have): 6 s instead of 45, so that a test that stops or
# kills a worker and starts another waits seconds, not most of a minute.
QUICK_GROUP_SETTINGS = ["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"]


class Worker:
    """One brig-worker process with its own audit store under tmp."""

    def __init__(self, tmp, bootstrap, name, concurrency=2, group="brig-test", extra=(),
                 env=None, wrap=None):
        self.name = name
        self.audit_db = str(tmp / f"audit-{name}.db")
        self.log_path = tmp / f"worker-{name}.log"
        self.args = [bin_path("brig-worker"), "--brokers", bootstrap, "--group", group,
                     "--concurrency", str(concurrency), "--audit-db", self.audit_db,
                     "--state-dir", str(tmp / "state"), "--worker-id", name,
                     *QUICK_GROUP_SETTINGS, *extra]
        self.env = dict(os.environ, **(env or {}))
        self.wrap = wrap  # argv -> argv: e.g. run inside a test host's namespace
        self.proc = None
        self.start()

    def start(self):
        log = open(self.log_path, "ab")
        argv = self.wrap(self.args) if self.wrap else self.args
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_consuming(self, timeout=60):
        """Returns once the worker consumes jobs; fails at once, with its
        log, when it exits instead."""
        wait_for(lambda: self.proc.poll() is not None or " consuming " in self.log(),
                 timeout=timeout, what=f"worker {self.name} to start")
        assert self.proc.poll() is None, self.log()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"worker {self.name} ignored SIGTERM:\n{self.log()}")
        return self.proc.returncode

    def audit(self):
        """The worker's audit store, read-only, once the worker has made it
        (after its runtimes' version probes, which take a second or two)."""
        def made():
            try:
                with contextlib.closing(sqlite3.connect(f"file:{self.audit_db}?mode=ro",
                                                        uri=True)) as db:
                    db.execute("SELECT 1 FROM attempts LIMIT 1")
                return True
            except sqlite3.OperationalError:
                return False
        wait_for(made, what=f"the audit store of worker {self.name}")
        db = sqlite3.connect(f"file:{self.audit_db}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        return db


def warm_table(tmp_path, preload, name="python-data"):
    """The shipped runtime table plus a runtime `name`: python, warm with
    the modules of preload. Returns its path."""
    from conftest import ROOT
    table = json.loads((ROOT / "sandbox" / "runtimes.json").read_text())
    python = next(r for r in table["runtimes"] if r["name"] == "python")
    table["runtimes"].append(dict(python, name=name, aliases=[], warm={"preload": preload}))
    path = tmp_path / "runtimes.json"
    path.write_text(json.dumps(table))
    return path


def wait_for(predicate, timeout=60, what="condition"):
    """Returns once predicate() is true; fails the test after timeout s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on (yet)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job(code="true", runtime=None, argv=None, **fields):
    """A job as a dict; by default `sh -c true` through an explicit argv."""
    msg = {"v": 1, "id": fields.pop("id", None) or uuid.uuid4().hex[:20]}
    if runtime:
        msg["runtime"] = runtime
        msg["code"] = code
    else:
        msg["argv"] = argv or ["/bin/sh", "-c", code]
    msg.update(fields)
    return msg


class Client:
    """Submits jobs and collects results (and optionally logs and dead letters)."""

    def __init__(self, bootstrap, prefix="brig", consumer_settings=None, result_topics=()):
        self.prefix = prefix
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2,
                                  "enable.idempotence": True})
        self.results = {}      # id -> list of result dicts, in arrival order
        self.result_topic = {}  # id -> the topic of each of them
        self.dead_letters = []
        self.logs = {}         # id -> list of chunks
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": "brig-test-client-" + uuid.uuid4().hex,
            "enable.auto.commit": False, **(consumer_settings or {})})
        # Every partition assigned by hand: no group rebalance ever makes the
        # client read a result twice.
        # result_topics: more topics of results (tenants' ones).
        self.result_topics = {f"{prefix}.results", *result_topics}
        topics = [*self.result_topics, f"{prefix}.dlq", f"{prefix}.logs"]
        metadata = self.consumer.list_topics(timeout=10)
        self.consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in topics
                              for p in metadata.topics[t].partitions])
        self.thread = threading.Thread(target=self._consume, daemon=True)
        self.thread.start()

    def _consume(self):
        while not self.stop_event.is_set():
            msg = self.consumer.poll(0.1)
            if msg is None or msg.error():
                continue
            value = msgpack.unpackb(msg.value(), raw=False)
            topic = msg.topic()
            with self.lock:
                if topic in self.result_topics:
                    self.results.setdefault(value["id"], []).append(value)
                    self.result_topic.setdefault(value["id"], []).append(topic)
                elif topic.endswith(".dlq"):
                    self.dead_letters.append(value)
                else:
                    self.logs.setdefault(value["id"], []).append(value)

    def submit(self, message, key=None, raw=None, headers=None):
        """Publishes a job dict (or raw bytes) and returns its id (None for raw).
        headers: a function of (topic, key, value) that gives the message's
        Kafka headers (a tenant's signature)."""
        value = raw if raw is not None else msgpack.packb(message, use_bin_type=True)
        if key is None and message is not None:
            key = message.get("session") or message["id"]
        topic = f"{self.prefix}.jobs"
        extra = {"headers": headers(topic, key, value)} if headers else {}
        self.producer.produce(topic, value=value, key=key, **extra)
        self.producer.poll(0)
        return message["id"] if message is not None else None

    def cancel(self, job_id, by="test", headers=None):
        """Asks the workers to cancel job_id (SCHEMA.md section 8a); headers as
        for submit."""
        request = {"v": 1, "op": "cancel", "id": job_id, "ts_ms": int(time.time() * 1000)}
        if by is not None:
            request["by"] = by
        topic, value = f"{self.prefix}.control", msgpack.packb(request)
        extra = {"headers": headers(topic, job_id, value)} if headers else {}
        self.producer.produce(topic, value=value, key=job_id, **extra)
        self.flush()

    def flush(self):
        remaining = self.producer.flush(30)
        assert remaining == 0, f"{remaining} jobs were not delivered to the broker"

    def wait(self, ids, timeout=120, condition=None):
        """Waits until every id has a result; returns {id: [results]}."""
        ids = set(ids)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                done = {i for i in ids if self.results.get(i)}
                extra_ok = condition() if condition else True
            if done == ids and extra_ok:
                break
            time.sleep(0.05)
        with self.lock:
            missing = ids - {i for i in ids if self.results.get(i)}
            assert not missing, f"{len(missing)} of {len(ids)} jobs have no result, e.g. {sorted(missing)[:5]}"
            return {i: list(self.results[i]) for i in ids}

    def close(self):
        self.stop_event.set()
        self.thread.join()
        self.consumer.close()
