"""What the pool's workers can run: the runtimes records they announce on
<prefix>.runtimes (SCHEMA.md section 9), a compacted topic read from its
beginning to the end it had when the read began, the last value of each key
kept and a tombstone (null value) removing its worker. Compaction leaves
gaps in the offsets, so the end of a partition is also known from the
partition-EOF event."""
import time
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from .errors import BrigError, SchemaError
from .kafka_setup import Diagnostics, check_reachable, create_consumer, topic_partitions
from .messages import _Fields, _bool, _line, _map, _text, _time, _token, _unpack
from .rules import runtime_name_problem

_POLL_S = 0.1


@dataclass(frozen=True)
class RuntimeInfo:
    """One runtime of a worker: a job may name it or any of its aliases, and
    is recorded under name. version is None when its version command failed;
    image None when it runs on the worker's own /usr."""
    name: str
    aliases: Tuple[str, ...] = ()
    version: Optional[str] = None
    warm: bool = False
    image: Optional[str] = None


@dataclass(frozen=True)
class WorkerRuntimes:
    """What one worker announced when it started (Unix ms)."""
    worker_id: str
    started_ms: int
    runtimes: List[RuntimeInfo] = field(default_factory=list)


def _name(field_name, value):
    return _text(field_name, value, rule=runtime_name_problem)


def _entry(field_name, value):
    f = _Fields(_map(field_name, value), field_name)
    aliases = f.get("aliases", _names) or ()
    return RuntimeInfo(name=f.get("name", _name, required=True), aliases=tuple(aliases),
                       version=f.get("version", _line, high=64),
                       warm=bool(f.get("warm", _bool)),
                       image=f.get("image", _line, high=1024))


def _names(field_name, value):
    if not isinstance(value, list):
        raise SchemaError(field_name, f"wrong type: expected array, got {type(value).__name__}")
    if len(value) > 16:
        raise SchemaError(field_name, f"too many: {len(value)} aliases (max 16)")
    return [_name(f"{field_name}[{i}]", alias) for i, alias in enumerate(value)]


def _entries(field_name, value):
    if not isinstance(value, list):
        raise SchemaError(field_name, f"wrong type: expected array, got {type(value).__name__}")
    if not value:
        raise SchemaError(field_name, "empty: a worker offers at least one runtime")
    if len(value) > 256:
        raise SchemaError(field_name, f"too many: {len(value)} runtimes (max 256)")
    return [_entry(f"{field_name}[{i}]", entry) for i, entry in enumerate(value)]


def decode_runtimes(data):
    """A WorkerRuntimes from the bytes of a runtimes record."""
    f = _Fields(_unpack(data))
    return WorkerRuntimes(worker_id=f.get("worker_id", _token, required=True),
                          started_ms=f.get("started_ms", _time, required=True),
                          runtimes=f.get("runtimes", _entries, required=True))


def _ends(consumer, topic, partitions, deadline):
    """{partition: the offset where it ends now}."""
    ends = {}
    for partition in partitions:
        try:
            offsets = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=max(deadline - time.monotonic(), 0.001))
        except KafkaException as e:
            raise BrigError(f"asking where {topic} [{partition}] ends: {e.args[0].str()}") from None
        if offsets is None:
            raise BrigError(f"asking where {topic} [{partition}] ends: timed out")
        ends[partition] = offsets[1]
    return ends


def read_runtimes(brokers, topic, client_id, timeout):
    """The WorkerRuntimes of every worker whose last word on topic is not a
    tombstone, sorted by worker id; records that do not decode are skipped.
    BrigError when the read takes longer than timeout seconds."""
    diag = Diagnostics()
    consumer = create_consumer(brokers, client_id, timeout, diag, partition_eof=True)
    try:
        check_reachable(consumer, brokers, timeout, diag)
        deadline = time.monotonic() + timeout
        partitions = topic_partitions(consumer, topic, deadline)
        ends = _ends(consumer, topic, partitions, deadline)
        # Offset 0 rather than OFFSET_BEGINNING: a partition the cluster has
        # trimmed starts at its low watermark, which the fetch resets to.
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        read_to = {p: 0 for p in partitions}
        workers = {}
        while any(read_to[p] < ends[p] for p in partitions):
            if time.monotonic() >= deadline:
                raise BrigError(f"reading {topic} to its end took longer than {timeout:g} s")
            msg = consumer.poll(_POLL_S)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    read_to[msg.partition()] = max(read_to[msg.partition()], msg.offset())
                continue
            read_to[msg.partition()] = max(read_to[msg.partition()], msg.offset() + 1)
            key = msg.key()
            if key is None:
                continue
            if msg.value() is None:
                workers.pop(key, None)
                continue
            try:
                record = decode_runtimes(msg.value())
            except SchemaError:
                continue
            if record.worker_id.encode() == key:
                workers[key] = record
        return sorted(workers.values(), key=lambda w: w.worker_id)
    finally:
        consumer.close()
