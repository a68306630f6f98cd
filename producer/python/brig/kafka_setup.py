"""Kafka plumbing shared by the clients and the readers: the caller's
properties, creating the producer and consumers with settings tuned for a
waiting agent, checking the broker answers, and positioning a consumer on
every partition of a topic."""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)

from .errors import BrigError, BrokerUnreachable
from .schema import JOB_MAX_BYTES, new_job_id

# librdkafka's own log lines go here; silent unless the application
# configures the "brig.kafka" logger.
kafka_log = logging.getLogger("brig.kafka")
kafka_log.addHandler(logging.NullHandler())

_RETRY_PAUSE_S = 0.1

# Kafka answers a waiting fetch as soon as data arrives, so there the wait
# only bounds idle fetches (two a second). librdkafka's mock broker, which
# brig-worker embeds when it has no --brokers, holds every fetch for the
# whole wait even when data arrives, so with it a result waits up to the
# fetch wait on top of everything else: 1 ms there, as the worker does.
REAL_FETCH_WAIT_MS = 500
MOCK_FETCH_WAIT_MS = 1
# How librdkafka's mock cluster names itself (rdkafka_mock.c).
_MOCK_CLUSTER_PREFIX = "mockCluster"

# Errors no retry cures: the cluster refused the client's credentials or
# certificate. A client stops waiting as soon as one arrives.
_REFUSALS = {KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError.SASL_AUTHENTICATION_FAILED}

Handle = Union[Consumer, Producer]


class Diagnostics:
    """The last error librdkafka reported, for messages that say why."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last_error = ""
        self.refused = False

    def on_error(self, error: KafkaError) -> None:
        with self._lock:
            self.last_error = error.str()
            self.refused = self.refused or error.code() in _REFUSALS

    def reason(self, fallback: str) -> str:
        with self._lock:
            return self.last_error or fallback


@dataclass
class KafkaSettings:
    """How a client reaches the cluster. properties: the caller's librdkafka
    properties, which win over every setting of brig's. fetch_wait_ms is
    set once the cluster has been seen (see is_mock_cluster)."""
    brokers: str
    client_id: str
    connect_timeout: float
    delivery_timeout: float
    properties: dict[str, str] = field(default_factory=dict)
    fetch_wait_ms: int = REAL_FETCH_WAIT_MS


def read_properties(path: str) -> dict[str, str]:
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


def kafka_properties(kafka_config: Optional[str] = None,
                     properties: Optional[dict[str, Any]] = None) -> dict[str, str]:
    """The caller's Kafka properties: the file kafka_config (None:
    $BRIG_KAFKA_CONFIG, or none), then properties, which win."""
    path = kafka_config or os.environ.get("BRIG_KAFKA_CONFIG")
    merged = read_properties(path) if path else {}
    for key, value in (properties or {}).items():
        if not isinstance(key, str):
            raise BrigError(f"kafka_properties: a key is not a string: {key!r}")
        merged[key] = value if isinstance(value, str) else str(value)
    return merged


def is_mock_cluster(cluster_id: Optional[str]) -> bool:
    """Whether a cluster id (check_reachable's) is that of librdkafka's mock
    (brig-worker's embedded broker, or brig-test-broker), which answers
    fetches only at their wait's end."""
    return cluster_id is not None and cluster_id.startswith(_MOCK_CLUSTER_PREFIX)


def create_producer(settings: KafkaSettings, diag: Diagnostics) -> Producer:
    return Producer({
        "bootstrap.servers": settings.brokers,
        "client.id": settings.client_id,
        # A retried send must not run a job twice.
        "enable.idempotence": True,
        # An agent sends one job and waits for it: never hold it to batch.
        "linger.ms": 0,
        # Jobs and cancels are small requests; Nagle's algorithm would hold
        # one back behind the previous request's unacknowledged bytes.
        "socket.nagle.disable": True,
        "message.timeout.ms": int(settings.delivery_timeout * 1000),
        "socket.connection.setup.timeout.ms": int(settings.delivery_timeout * 1000),
        # librdkafka's default (1 MB) is below the schema's bound for a job.
        "message.max.bytes": JOB_MAX_BYTES + (64 << 10),
        "error_cb": diag.on_error,
        "logger": kafka_log,
        **settings.properties,
    })


def create_consumer(settings: KafkaSettings, diag: Diagnostics,
                    partition_eof: bool = False) -> Consumer:
    return Consumer({
        "bootstrap.servers": settings.brokers,
        "client.id": settings.client_id,
        # The group only names the consumer: partitions are assigned by hand
        # and no offset is ever committed, so no group is ever joined and
        # clients share no state.
        "group.id": f"brig-client-{new_job_id()}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": partition_eof,
        # A client's own reply topic is created on first use where the
        # cluster allows it.
        "allow.auto.create.topics": True,
        "fetch.wait.max.ms": settings.fetch_wait_ms,
        "socket.nagle.disable": True,
        "socket.connection.setup.timeout.ms": int(settings.connect_timeout * 1000),
        "error_cb": diag.on_error,
        "logger": kafka_log,
        **settings.properties,
    })


def check_reachable(handle: Handle, brokers: str, timeout_s: float,
                    diag: Diagnostics) -> Optional[str]:
    """The cluster's id (None when it gives none); BrokerUnreachable unless
    the cluster answers a metadata request within timeout_s."""
    deadline = time.monotonic() + timeout_s
    # In short steps, serving the error callback (it has the reason in
    # words), so that a refused login ends the wait at once.
    while True:
        try:
            cluster_id = handle.list_topics(timeout=0.25).cluster_id
            return cluster_id if isinstance(cluster_id, str) else None
        except KafkaException as e:
            handle.poll(0)
            if diag.refused:
                raise BrokerUnreachable(
                    f"the Kafka broker at {brokers} refused this client: {diag.reason('')} "
                    f"(check kafka_config / kafka_properties: security.protocol, sasl.*, "
                    f"ssl.ca.location)") from None
            if time.monotonic() >= deadline:
                raise BrokerUnreachable(
                    f"cannot reach the Kafka broker at {brokers} within {timeout_s:g} s: "
                    f"{diag.reason(e.args[0].str())}") from None


def topic_partitions(handle: Handle, topic: str, deadline: float) -> list[int]:
    """The partition numbers of topic, waiting for an auto-created topic to
    get its partitions until deadline (time.monotonic())."""
    why = "no partitions"
    while True:
        remaining = max(deadline - time.monotonic(), 0)
        try:
            metadata = handle.list_topics(topic, timeout=remaining + 0.001)
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


def end_offset(consumer: Consumer, topic: str, partition: int, deadline: float) -> int:
    """Where the partition ends now (its high watermark), retrying until
    deadline."""
    while True:
        remaining = max(deadline - time.monotonic(), 0)
        why = "timed out"
        try:
            offsets = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                     timeout=remaining + 0.001)
            if offsets is not None:  # None: timed out
                return int(offsets[1])
        except KafkaException as e:
            why = e.args[0].str()
        if time.monotonic() >= deadline:
            raise BrigError(f"reading the end offset of {topic} [{partition}]: {why}")
        time.sleep(_RETRY_PAUSE_S)


def assign_at_end(consumer: Consumer, topic: str, deadline: float) -> None:
    """Assigns every partition of topic at its current end offset, fetched
    now: a message produced after this returns is read, and nothing older.

    This rather than subscribe() with auto.offset.reset=latest: a group
    assignment arrives asynchronously after a rebalance, so "latest" would be
    resolved at some unknown moment, possibly after a fast job's result was
    already on the topic, and that result would be skipped. Nor the logical
    OFFSET_END, which librdkafka also resolves only at the first fetch."""
    consumer.assign([TopicPartition(topic, p, end_offset(consumer, topic, p, deadline))
                     for p in topic_partitions(consumer, topic, deadline)])


def assign_at_beginning(consumer: Consumer, topic: str, deadline: float) -> int:
    """Assigns every partition of topic from its first message; returns how
    many partitions there are."""
    partitions = topic_partitions(consumer, topic, deadline)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    return len(partitions)
