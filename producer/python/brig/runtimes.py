"""What the pool's workers can run: the runtimes records they announce on
<prefix>.runtimes (SCHEMA.md section 9), a compacted topic read from its
beginning to the end it had when the read began, the last value of each key
kept and a tombstone (null value) removing its worker. Compaction leaves
gaps in the offsets, so the end of a partition is also known from the
partition-EOF event."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

from confluent_kafka import KafkaError, TopicPartition

from .errors import BrigError, SchemaError
from .kafka_setup import (Diagnostics, KafkaSettings, check_reachable, create_consumer,
                          end_offset, topic_partitions)
from .rules import runtime_name_problem
from .wire import Fields, array, boolean, line, mapping, text, time_ms, token, unpack

_POLL_S = 0.1


@dataclass(frozen=True)
class RuntimeInfo:
    """One runtime of a worker: a job may name it or any of its aliases, and
    is recorded under name. version is None when its version command failed;
    image is its root image's digest ("sha256:<hex>"), None when it runs on
    the worker's own /usr."""
    name: str
    aliases: tuple[str, ...] = ()
    version: Optional[str] = None
    warm: bool = False
    image: Optional[str] = None


@dataclass(frozen=True)
class WorkerRuntimes:
    """What one worker announced when it started (Unix ms)."""
    worker_id: str
    started_ms: int
    runtimes: list[RuntimeInfo] = field(default_factory=list)


def _name(field_name: str, value: Any) -> str:
    return text(field_name, value, rule=runtime_name_problem)


def _entry(field_name: str, value: Any) -> RuntimeInfo:
    f = Fields(mapping(field_name, value), field_name)
    return RuntimeInfo(name=f.need("name", _name), aliases=tuple(f.get("aliases", _names) or ()),
                       version=f.get("version", line, high=64),
                       warm=bool(f.get("warm", boolean)),
                       image=f.get("image", line, high=1024))


def _names(field_name: str, value: Any) -> list[str]:
    return [_name(f"{field_name}[{i}]", alias)
            for i, alias in enumerate(array(field_name, value, 16))]


def _entries(field_name: str, value: Any) -> list[RuntimeInfo]:
    entries = array(field_name, value, 256)
    if not entries:
        raise SchemaError(field_name, "empty: a worker offers at least one runtime")
    return [_entry(f"{field_name}[{i}]", entry) for i, entry in enumerate(entries)]


def decode_runtimes(data: bytes) -> WorkerRuntimes:
    """A WorkerRuntimes from the bytes of a runtimes record."""
    f = Fields(unpack(data))
    return WorkerRuntimes(worker_id=f.need("worker_id", token),
                          started_ms=f.need("started_ms", time_ms),
                          runtimes=f.need("runtimes", _entries))


def read_runtimes(settings: KafkaSettings, topic: str, timeout: float) -> list[WorkerRuntimes]:
    """The WorkerRuntimes of every worker whose last word on topic is not a
    tombstone, sorted by worker id; records that do not decode are skipped.
    BrigError when the read takes longer than timeout seconds."""
    diag = Diagnostics()
    consumer = create_consumer(settings, diag, partition_eof=True)
    try:
        check_reachable(consumer, settings.brokers, timeout, diag)
        deadline = time.monotonic() + timeout
        partitions = topic_partitions(consumer, topic, deadline)
        ends = {p: end_offset(consumer, topic, p, deadline) for p in partitions}
        # Offset 0 rather than OFFSET_BEGINNING: a partition the cluster has
        # trimmed starts at its low watermark, which the fetch resets to.
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        read_to = {p: 0 for p in partitions}
        workers: dict[bytes, WorkerRuntimes] = {}
        while any(read_to[p] < ends[p] for p in partitions):
            if time.monotonic() >= deadline:
                raise BrigError(f"reading {topic} to its end took longer than {timeout:g} s")
            msg = consumer.poll(_POLL_S)
            if msg is None:
                continue
            partition, offset, error = msg.partition() or 0, msg.offset() or 0, msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    read_to[partition] = max(read_to[partition], offset)
                continue
            read_to[partition] = max(read_to[partition], offset + 1)
            key = msg.key()
            if key is None:
                continue
            value = msg.value()
            if value is None:
                workers.pop(key, None)
                continue
            try:
                record = decode_runtimes(value)
            except SchemaError:
                continue
            if record.worker_id.encode() == key:
                workers[key] = record
        return sorted(workers.values(), key=lambda w: w.worker_id)
    finally:
        consumer.close()
