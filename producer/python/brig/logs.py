"""Reading one job's live log chunks from the logs topic, with a consumer of
its own that starts at the beginning, so no chunk is missed however late the
reader comes."""
from __future__ import annotations

import threading
import time
from typing import Iterable, Iterator, Optional

from confluent_kafka import KafkaError

from .errors import JobTimeout, SchemaError
from .kafka_setup import (Diagnostics, KafkaSettings, assign_at_beginning, check_reachable,
                          create_consumer)
from .log_order import LogOrder
from .messages import LogChunk, WireLogChunk, decode_log_chunk

_POLL_S = 0.1


def read_logs(settings: KafkaSettings, topic: str, job_id: str, follow: bool,
              timeout: Optional[float],
              stop: Optional[threading.Event] = None) -> Iterator[LogChunk]:
    """Yields LogChunk(stream, data) of job_id in order. With follow, until
    both streams of the job's latest attempt have ended; without, until the
    end of the topic as it was when reading began. JobTimeout when timeout
    (seconds, None for none) runs out first. Setting stop ends the reading
    early, as if the logs had ended (within _POLL_S)."""
    diag = Diagnostics()
    consumer = create_consumer(settings, diag, partition_eof=not follow)
    try:
        check_reachable(consumer, settings.brokers, settings.connect_timeout, diag)
        partitions = assign_at_beginning(consumer, topic,
                                         time.monotonic() + settings.connect_timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        order = LogOrder()
        at_end: set[int] = set()
        key = job_id.encode()
        while True:
            if follow and order.finished or stop is not None and stop.is_set():
                return
            if not follow and len(at_end) == partitions:
                yield from _visible(order.flush())
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise JobTimeout(f"the logs of job {job_id} did not end within {timeout:g} s",
                                 job_id)
            msg = consumer.poll(_POLL_S)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition() or 0)
                continue
            if msg.key() is not None and msg.key() != key:
                continue
            try:
                chunk = decode_log_chunk(msg.value() or b"")
            except SchemaError:
                continue  # a broken chunk is lost output; the result still has all of it
            if chunk.id == job_id:
                yield from _visible(order.feed(chunk))
    finally:
        consumer.close()


def _visible(chunks: Iterable[WireLogChunk]) -> Iterator[LogChunk]:
    """The chunks that carry output; an end-of-stream marker may be empty."""
    return (LogChunk(c.stream, c.data) for c in chunks if c.data)
