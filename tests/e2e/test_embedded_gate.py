"""The embedded broker's gate (worker/broker_gate.h): librdkafka's mock broker
keeps about 5 MiB a partition and deletes the oldest messages, read or not,
to append more. Through the gate, a producer that is not brig's
(confluent-kafka, as a client written from SCHEMA.md alone would be) never
makes it delete a job the workers have not committed past: what does not fit
waits in the producer, which Kafka clients retry, and runs once workers read
the backlog. Each test fails against the same broker without its gate
(brig-test-broker -u), which deletes the jobs."""
import logging
import time

import msgpack
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from harness import job, wait_for
from test_job_path import skipped_offsets

BROKER_PARTITIONS = 2


def foreign_producer(broker, **settings):
    return Producer({"bootstrap.servers": broker.bootstrap, "message.max.bytes": 20 << 20,
                     "message.timeout.ms": 120000, **settings})


def produce(producer, jobs, reports):
    for j in jobs:
        producer.produce("brig.jobs", key=b"k", value=msgpack.packb(j, use_bin_type=True),
                         on_delivery=lambda err, msg: reports.append((err, msg.offset())))


def test_a_backlog_the_broker_cannot_keep_waits_in_its_producer_and_every_job_runs(
        workers, client, broker):
    """Eight 900 KB jobs on one partition while no worker runs: about 5 MiB
    of them are kept and the rest wait in the producer; once a worker reads
    and commits, they go in, and all eight run. Without the gate the broker
    deletes the first ones unread."""
    big = [job("wc -c", stdin=b"x" * 900_000, id=f"big-{i}") for i in range(8)]
    producer = foreign_producer(broker)
    reports = []
    produce(producer, big, reports)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        producer.poll(0.1)
    assert all(err is None for err, _ in reports), reports
    assert 1 <= len(reports) < len(big), reports  # the others wait in the producer

    w = workers("w", concurrency=1)
    results = client.wait([j["id"] for j in big], timeout=120)
    wait_for(lambda: producer.poll(0.1) >= 0 and len(reports) == len(big),
             what="every delivery report")
    assert sorted(offset for err, offset in reports if err is None) == list(range(len(big)))
    for j in big:
        (r,) = results[j["id"]]
        assert r["status"] == "ok" and r["stdout"].strip() == b"900000", r
    assert "deleted by the cluster" not in w.log()
    assert skipped_offsets(w) == []


def test_jobs_of_the_largest_size_it_takes_wait_their_turn(workers, client, broker):
    """Three jobs of the largest size the broker takes (its state file's
    message_max_bytes, 2.5 MiB less 4 KiB) and a small one, on one partition
    while no worker runs: two fit, the others wait in the producer, and all
    four run. Without the gate the third append deletes the first unread."""
    value_max = 2617344
    empty = job("wc -c", stdin=b"", id="largest-0")
    room = value_max - len(msgpack.packb(empty, use_bin_type=True)) - 16
    jobs = [job("wc -c", stdin=b"y" * room, id=f"largest-{i}") for i in range(3)]
    jobs.append(job("echo after", id="after"))
    producer = foreign_producer(broker)
    reports = []
    produce(producer, jobs, reports)
    producer.poll(2)
    workers("w", concurrency=1)
    results = client.wait([j["id"] for j in jobs], timeout=120)
    for i in range(3):
        assert results[f"largest-{i}"][0]["stdout"].strip() == str(room).encode()
    assert results["after"][0]["stdout"] == b"after\n"
    wait_for(lambda: producer.poll(0.1) >= 0 and len(reports) == len(jobs),
             what="every delivery report")
    assert [err for err, _ in reports] == [None] * len(jobs)


def test_a_job_the_broker_cannot_keep_is_refused_when_produced(broker):
    """A set over half a partition (2.5 MiB) could not be kept at all: the
    producer hears MESSAGE_TOO_LARGE at once instead of an acknowledgement
    for a job that would be deleted."""
    producer = foreign_producer(broker)
    reports = []
    producer.produce("brig.jobs", key=b"k", value=b"z" * (3 << 20),
                     on_delivery=lambda err, msg: reports.append(err))
    producer.flush(30)
    assert len(reports) == 1 and reports[0] is not None
    assert reports[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, reports[0]


def test_a_job_sent_with_acks_0_is_not_taken(broker):
    """A producer with acks=0 could never hear that its job was not kept, so
    the gate takes no job from it: the partitions stay empty."""
    producer = foreign_producer(broker, acks=0)
    producer.produce("brig.jobs", key=b"k", value=msgpack.packb(job("true"), use_bin_type=True))
    producer.flush(10)
    time.sleep(1)  # the gate has had the request; nothing may land after it
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "watermarks"})
    try:
        marks = [consumer.get_watermark_offsets(TopicPartition("brig.jobs", p), timeout=10)
                 for p in range(BROKER_PARTITIONS)]
    finally:
        consumer.close()
    assert marks == [(0, 0)] * BROKER_PARTITIONS


def test_a_producer_with_acks_0_to_another_topic_keeps_its_connection(broker):
    """The mock answers even a produce with acks=0 (it ignores acks); the
    gate keeps that answer from the client, which expects none, instead of
    taking it for an answer to nothing and closing the connection."""
    lines = []

    class Capture(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())
    log = logging.getLogger("acks0-producer")
    log.addHandler(Capture())
    log.setLevel(logging.DEBUG)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": 0, "linger.ms": 0,
                         "logger": log})
    sent = [b"line %d" % i for i in range(20)]
    for value in sent:
        producer.produce("brig.logs", key=b"k", value=value)
        producer.poll(0.05)
    assert producer.flush(10) == 0
    time.sleep(1)  # a closed connection is logged on the next poll
    producer.poll(0.1)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "acks0",
                         "auto.offset.reset": "earliest"})
    got = []
    try:
        consumer.subscribe(["brig.logs"])
        deadline = time.monotonic() + 30
        while len(got) < len(sent) and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                got.append(msg.value())
    finally:
        consumer.close()
    assert sorted(got) == sorted(sent)
    assert not [line for line in lines if "Disconnected" in line], lines
