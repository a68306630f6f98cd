"""Kafka plumbing shared by the client and the log reader: creating the
producer and consumers, checking the broker answers, and positioning a
consumer on every partition of a topic."""
import logging
import os
import threading
import time

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)

from .errors import BrigError, BrokerUnreachable
from .schema import JOB_MAX_BYTES, new_job_id

# librdkafka's own log lines go here; silent unless the application
# configures the "brig.kafka" logger.
kafka_log = logging.getLogger("brig.kafka")
kafka_log.addHandler(logging.NullHandler())

_RETRY_PAUSE_S = 0.1


# Errors no retry cures: the cluster refused the client's credentials or
# certificate. A client stops waiting as soon as one arrives.
_REFUSALS = {KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError.SASL_AUTHENTICATION_FAILED}


class Diagnostics:
    """The last error librdkafka reported, for messages that say why."""

    def __init__(self):
        self._lock = threading.Lock()
        self.last_error = ""
        self.refused = False

    def on_error(self, error):
        with self._lock:
            self.last_error = error.str()
            self.refused = self.refused or error.code() in _REFUSALS

    def reason(self, fallback):
        with self._lock:
            return self.last_error or fallback


def read_properties(path):
    """librdkafka properties of a file: "key=value" a line, blank lines and
    lines starting with # or ! skipped (as brig's C programs read them)."""
    properties = {}
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                text = line.strip()
                if not text or text[0] in "#!":
                    continue
                key, eq, value = text.partition("=")
                if not eq or not key.strip():
                    raise BrigError(f"{path} line {number}: {text}: expected KEY=VALUE")
                properties[key.strip()] = value.strip()
    except OSError as e:
        raise BrigError(f"reading Kafka properties from {path}: {e.strerror}") from None
    return properties


def kafka_properties(kafka_config=None, properties=None):
    """The caller's Kafka properties: the file kafka_config (None:
    $BRIG_KAFKA_CONFIG, or none), then properties, which win."""
    path = kafka_config or os.environ.get("BRIG_KAFKA_CONFIG")
    merged = read_properties(path) if path else {}
    merged.update(properties or {})
    return merged


def create_producer(brokers, client_id, delivery_timeout_s, diag, extra=None):
    return Producer({
        "bootstrap.servers": brokers,
        "client.id": client_id,
        # A retried send must not run a job twice.
        "enable.idempotence": True,
        # Batch submissions share requests; a single job waits 2 ms at most.
        "linger.ms": 2,
        "message.timeout.ms": int(delivery_timeout_s * 1000),
        "socket.connection.setup.timeout.ms": int(delivery_timeout_s * 1000),
        # librdkafka's default (1 MB) is below the schema's bound for a job.
        "message.max.bytes": JOB_MAX_BYTES + (64 << 10),
        "error_cb": diag.on_error,
        "logger": kafka_log,
        **(extra or {}),
    })


def create_consumer(brokers, client_id, connect_timeout_s, diag, partition_eof=False, extra=None):
    return Consumer({
        "bootstrap.servers": brokers,
        "client.id": client_id,
        # The group only names the consumer: partitions are assigned by hand
        # and no offset is ever committed, so clients share no state.
        "group.id": f"brig-client-{new_job_id()}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": partition_eof,
        # A client's own reply topic is created on first use where the
        # cluster allows it.
        "allow.auto.create.topics": True,
        # Results are awaited by people and agents: do not let a fetch idle.
        "fetch.wait.max.ms": 50,
        "socket.connection.setup.timeout.ms": int(connect_timeout_s * 1000),
        "error_cb": diag.on_error,
        "logger": kafka_log,
        **(extra or {}),
    })


def check_reachable(consumer, brokers, timeout_s, diag):
    """Raises BrokerUnreachable unless the cluster answers a metadata request
    within timeout_s."""
    deadline = time.monotonic() + timeout_s
    # In short steps, serving the error callback (it has the reason in
    # words), so that a refused login ends the wait at once.
    while True:
        try:
            consumer.list_topics(timeout=0.25)
            return
        except KafkaException as e:
            consumer.poll(0)
            if diag.refused:
                raise BrokerUnreachable(
                    f"the Kafka broker at {brokers} refused this client: {diag.reason('')} "
                    f"(check kafka_config / kafka_properties: security.protocol, sasl.*, "
                    f"ssl.ca.location)") from None
            if time.monotonic() >= deadline:
                raise BrokerUnreachable(
                    f"cannot reach the Kafka broker at {brokers} within {timeout_s:g} s: "
                    f"{diag.reason(e.args[0].str())}") from None


def topic_partitions(consumer, topic, deadline):
    """The partition numbers of topic, waiting for an auto-created topic to
    get its partitions until deadline (time.monotonic())."""
    why = "no partitions"
    while True:
        remaining = max(deadline - time.monotonic(), 0)
        try:
            metadata = consumer.list_topics(topic, timeout=remaining + 0.001)
            entry = metadata.topics.get(topic)
            if entry is not None and entry.error is None and entry.partitions:
                return sorted(entry.partitions)
            if entry is not None and entry.error is not None:
                why = entry.error.str()
                # Waiting does not grant access; a hand-assigned consumer
                # would retry it in silence for ever.
                if entry.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                    raise BrigError(f"reading the partitions of topic {topic}: this client's "
                                    f"principal may not use it (Kafka ACLs): give it its own "
                                    f"reply topic (reply_topic=) that the ACLs allow")
        except KafkaException as e:
            why = e.args[0].str()
        if time.monotonic() >= deadline:
            raise BrigError(f"reading the partitions of topic {topic}: {why}")
        time.sleep(_RETRY_PAUSE_S)


def assign_at_end(consumer, topic, deadline):
    """Assigns every partition of topic at its current end offset, fetched
    now: a message produced after this returns is read, and nothing older.

    This rather than subscribe() with auto.offset.reset=latest: a group
    assignment arrives asynchronously after a rebalance, so "latest" would be
    resolved at some unknown moment, possibly after a fast job's result was
    already on the topic, and that result would be skipped. Nor the logical
    OFFSET_END, which librdkafka also resolves only at the first fetch."""
    assignment = []
    for partition in topic_partitions(consumer, topic, deadline):
        while True:
            remaining = max(deadline - time.monotonic(), 0)
            why = "timed out"
            try:
                offsets = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                         timeout=remaining + 0.001)
                if offsets is not None:  # None: timed out
                    break
            except KafkaException as e:
                why = e.args[0].str()
            if time.monotonic() >= deadline:
                raise BrigError(f"reading the end offset of {topic} [{partition}]: {why}")
            time.sleep(_RETRY_PAUSE_S)
        assignment.append(TopicPartition(topic, partition, offsets[1]))
    consumer.assign(assignment)


def assign_at_beginning(consumer, topic, deadline):
    """Assigns every partition of topic from its first message; returns how
    many partitions there are."""
    partitions = topic_partitions(consumer, topic, deadline)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    return len(partitions)
