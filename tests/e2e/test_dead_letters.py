"""Dead letters the DLQ topic cannot take whole: a malformed message larger
than the worker's producer (or the topic) accepts is sent to <prefix>.dlq with
its data cut short and data_truncated, never stopping the worker (before, it
exited 70 on it, and so did every worker of the group after it: a poison
pill)."""
import os
import subprocess
import time
import uuid

import msgpack
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from conftest import bin_path
from harness import job


def start_embedded_worker(tmp_path):
    """A brig-worker with no --brokers, on its own embedded broker (whose
    producer caps messages at 2.5 MiB); returns (process, bootstrap)."""
    env = dict(os.environ, BRIG_STATE_DIR=str(tmp_path / "state"),
               BRIG_DATA_DIR=str(tmp_path / "data"))
    env.pop("BRIG_BROKERS", None)
    worker = subprocess.Popen([bin_path("brig-worker")], env=env, stdout=subprocess.PIPE,
                              stderr=open(tmp_path / "worker.log", "w"), text=True)
    first = worker.stdout.readline()
    assert first.startswith("brokers "), first
    return worker, first.split()[1]


def produce(bootstrap, key, value):
    """Produces one message to brig.jobs; returns its (partition, offset)."""
    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 17 << 20})
    reports = []
    producer.produce("brig.jobs", value=value, key=key,
                     on_delivery=lambda err, msg: reports.append((err, msg)))
    assert producer.flush(30) == 0
    err, msg = reports[0]
    assert err is None, err
    return msg.partition(), msg.offset()


class Answers:
    """Reads brig.results and brig.dlq from their start."""

    def __init__(self, bootstrap):
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex,
                                  "enable.auto.commit": False})
        topics = ["brig.results", "brig.dlq"]
        metadata = self.consumer.list_topics(timeout=10)
        self.consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in topics
                              for p in metadata.topics[t].partitions])
        self.results, self.dead_letters = {}, []

    def wait(self, worker, done, timeout=90):
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            assert worker.poll() is None, f"the worker exited with {worker.returncode}"
            msg = self.consumer.poll(0.1)
            if msg is None or msg.error():
                continue
            value = msgpack.unpackb(msg.value(), raw=False)
            if msg.topic() == "brig.dlq":
                self.dead_letters.append((msg.key(), value))
            else:
                self.results[value["id"]] = value
        assert done(), f"results {sorted(self.results)}, {len(self.dead_letters)} dead letters"

    def close(self):
        self.consumer.close()


def test_a_dead_letter_too_large_for_the_broker_is_cut_and_the_worker_goes_on(tmp_path):
    worker, bootstrap = start_embedded_worker(tmp_path)
    try:
        bad_id = "poison-" + uuid.uuid4().hex[:8]
        # A job whose id can be read, followed by trailing bytes, with a
        # 12 KiB key: a message set just within the 2.5 MiB the broker's
        # gate takes, whose dead letter (data, key and its own fields) is
        # over the 2.5 MiB less 4 KiB the worker's messages may have.
        poison_key = b"poison-key-" + b"k" * (12 << 10)
        head = msgpack.packb(job(id=bad_id), use_bin_type=True)
        bad = head + os.urandom((5 << 19) - len(poison_key) - len(head) - 512)
        partition, offset = produce(bootstrap, poison_key, bad)
        good = job()
        produce(bootstrap, good["id"].encode(), msgpack.packb(good, use_bin_type=True))

        answers = Answers(bootstrap)
        try:
            answers.wait(worker, lambda: good["id"] in answers.results and bad_id in
                         answers.results and answers.dead_letters)
        finally:
            answers.close()
        assert worker.poll() is None, f"the worker exited with {worker.returncode}"

        assert answers.results[good["id"]]["status"] == "ok", answers.results[good["id"]]
        assert answers.results[bad_id]["status"] == "rejected", answers.results[bad_id]
        [(key, letter)] = answers.dead_letters
        assert key == poison_key
        assert (letter["topic"], letter["partition"], letter["offset"]) == \
            ("brig.jobs", partition, offset)
        assert letter["id"] == bad_id
        assert letter["data_truncated"] is True
        assert 0 < len(letter["data"]) < len(bad) and bad.startswith(letter["data"])
        log = (tmp_path / "worker.log").read_text()
        assert "too large for brig.dlq" in log and str(len(bad)) in log, log
    finally:
        worker.terminate()
        worker.wait(timeout=60)
