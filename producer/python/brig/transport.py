"""The Kafka side of a client, shared by Client and AsyncClient: a producer,
the consumer of the reply topic, and the two threads that own them.

The reply consumer is positioned at the end of the reply topic's partitions
before the constructor returns, so the result of any job submitted afterwards
is read (see kafka_setup.assign_at_end for why explicit offsets and not a
group subscription: no consumer group is ever joined). Its thread keeps the
results of watched job ids until they are taken, and tells the listeners each
time one arrives; results of ids nobody watches (other clients' jobs on a
shared topic) are skipped without being decoded. The other thread serves the
producer's delivery reports, so a send never waits for a caller to poll.

Both threads block in librdkafka and wake on their own at most every
_POLL_S while idle.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Optional, Union

from confluent_kafka import KafkaError, Message

from .errors import BrigError, ClientClosed, SchemaError
from .kafka_setup import (MOCK_FETCH_WAIT_MS, Diagnostics, KafkaSettings, assign_at_end,
                          check_reachable, create_consumer, create_producer, is_mock_cluster)
from .messages import Result, decode_result
from .sign import Signer

_POLL_S = 0.25

Outcome = Union[Result, SchemaError]
# Called from the delivery thread: None once the broker has the message.
Delivered = Callable[[Optional[BrigError]], None]


def result_of(outcome: Outcome) -> Result:
    """The Result that came, or the SchemaError it was, raised."""
    if isinstance(outcome, SchemaError):
        raise outcome
    return outcome


class Transport:
    """Connects (BrokerUnreachable within settings.connect_timeout when the
    cluster does not answer), positions the reply consumer and starts the
    threads. on_arrival(job_id) is called from the consumer thread, outside
    the lock, after a watched job's result has been kept. signer, when
    given, signs every message sent."""

    def __init__(self, settings: KafkaSettings, reply_topic: str,
                 on_arrival: Optional[Callable[[str], None]] = None,
                 signer: Optional[Signer] = None) -> None:
        self.settings = settings
        self.reply_topic = reply_topic
        self._signer = signer
        self.cond = threading.Condition()
        self.watched: set[str] = set()        # ids whose result is kept when it arrives
        self.arrived: dict[str, Outcome] = {}  # id -> Result or SchemaError, in arrival order
        self._failure: Optional[BaseException] = None  # why the consumer thread stopped
        self._closed = False
        self._on_arrival = on_arrival
        self.diag = Diagnostics()

        self.producer = create_producer(settings, self.diag)
        cluster_id = check_reachable(self.producer, settings.brokers,
                                     settings.connect_timeout, self.diag)
        if is_mock_cluster(cluster_id):
            settings.fetch_wait_ms = MOCK_FETCH_WAIT_MS
        self.consumer = create_consumer(settings, self.diag)
        try:
            # Positioned before any submit, so no result can slip past.
            assign_at_end(self.consumer, reply_topic,
                          time.monotonic() + settings.connect_timeout)
        except BaseException:
            self.consumer.close()
            raise
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._consume, name="brig-client-results", daemon=True),
            threading.Thread(target=self._deliver, name="brig-client-deliveries", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # --- sending ------------------------------------------------------------------

    def send(self, topic: str, key: str, value: bytes, what: str, done: Delivered) -> None:
        """Hands a message to the producer; done is called once the broker
        has it, or with the reason it did not take it (what says what the
        message is, for that reason). BufferError when the local queue is
        full: retry after a pause."""
        self.check_open()

        def on_delivery(err: Optional[KafkaError], _msg: Message) -> None:
            done(None if err is None else BrigError(
                f"delivering {what} to {topic}: {self.diag.reason(err.str())}"))

        headers = None if self._signer is None else \
            self._signer.headers(topic, key.encode(), value)
        self.producer.produce(topic, value=value, key=key, headers=headers,
                              on_delivery=on_delivery)

    def no_report(self, what: str, topic: str) -> BrigError:
        """The error for a delivery report that never came."""
        return BrigError(f"delivering {what} to {topic}: no delivery report within "
                         f"{self.settings.delivery_timeout:g} s "
                         f"({self.diag.reason('no error reported')})")

    def full_queue(self, what: str, topic: str) -> BrigError:
        return BrigError(f"delivering {what} to {topic}: the local send queue stayed full")

    @property
    def delivery_wait(self) -> float:
        """How long a delivery report may take: it comes by message.timeout.ms
        at the latest; the second of slack only guards against a stuck
        librdkafka."""
        return self.settings.delivery_timeout + 1.0

    def _deliver(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(_POLL_S)

    # --- results ------------------------------------------------------------------

    def watch(self, job_id: str) -> None:
        with self.cond:
            self.check_open()
            self.watched.add(job_id)

    def take(self, job_id: str) -> Optional[Outcome]:
        """The result of job_id if it came (no longer watched then); the
        caller holds cond or not."""
        with self.cond:
            outcome = self.arrived.pop(job_id, None)
            if outcome is not None:
                self.watched.discard(job_id)
            return outcome

    def forget(self, job_id: str) -> None:
        with self.cond:
            self.watched.discard(job_id)
            self.arrived.pop(job_id, None)

    def _consume(self) -> None:
        try:
            while not self._stop.is_set():
                msg = self.consumer.poll(_POLL_S)
                if msg is None or msg.error():
                    continue  # librdkafka retries by itself; the error callback keeps why
                self._keep(msg)
        except Exception as e:  # noqa: BLE001 - any failure must reach the waiters
            with self.cond:
                self._failure = e
                self.cond.notify_all()
            if self._on_arrival:
                self._on_arrival("")

    def _keep(self, msg: Message) -> None:
        key = msg.key()
        key_id = key.decode("utf-8", errors="replace") if key is not None else None
        with self.cond:
            if key_id is not None and key_id not in self.watched:
                return
        outcome: Outcome
        try:
            outcome = decode_result(msg.value() or b"")
            job_id = outcome.id
        except SchemaError as e:
            if key_id is None:
                return
            outcome, job_id = e, key_id
            e.args = (f"the result of job {key_id} on {msg.topic()} [{msg.partition()}] at "
                      f"offset {msg.offset()} breaks the schema: {e}",)
        with self.cond:
            # The first result wins: a later one is a redelivery or a retry.
            if job_id not in self.watched or job_id in self.arrived:
                return
            self.arrived[job_id] = outcome
            self.cond.notify_all()
        if self._on_arrival:
            self._on_arrival(job_id)

    def check_open(self) -> None:
        """ClientClosed once closed or when the consumer thread failed."""
        if self._closed:
            raise ClientClosed("the client is closed")
        if self._failure is not None:
            raise ClientClosed(f"the client's result consumer stopped: {self._failure!r}")

    # --- closing ------------------------------------------------------------------

    def close(self) -> None:
        """Stops the threads and releases the Kafka handles (blocks up to
        the delivery timeout for messages still queued). Waits in other
        threads raise ClientClosed."""
        with self.cond:
            if self._closed:
                return
            self._closed = True
            self.cond.notify_all()
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.consumer.close()
        self.producer.flush(self.settings.delivery_timeout)
