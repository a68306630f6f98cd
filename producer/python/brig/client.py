"""The brig client: publishes jobs to <prefix>.jobs and hands each result that
comes back on the reply topic to whoever waits for that job id.

One consumer, on one background thread, reads the reply topic for every wait
of the client. It is positioned at the end of the topic's partitions before
the constructor returns, so the result of any job submitted afterwards is
read (see kafka_setup.assign_at_end for why explicit offsets and not a group
subscription). Results of ids nobody watches (other clients' jobs on a shared
topic) are skipped without being decoded.

Every method may be called from any number of threads at once; close() is the
last call.
"""
import getpass
import socket
import threading
import time

from .discover import discover_brokers, discover_message_max
from .errors import BrigError, ClientClosed, JobTimeout, SchemaError
from .kafka_setup import (Diagnostics, assign_at_end, check_reachable, create_consumer,
                          create_producer)
from .kafka_setup import kafka_properties as kafka_properties_of
from .logs import read_logs
from .messages import decode_result
from .runtimes import read_runtimes
from .schema import build_job, check_topic, encode_cancel, encode_job, job_key

_POLL_S = 0.1


class Client:
    """Connects to the broker (raising BrokerUnreachable within
    connect_timeout seconds when it does not answer), positions the reply
    consumer and starts its thread.

    brokers: "host:port,..."; None finds them (discover.discover_brokers).
    topic_prefix: topics <prefix>.jobs, .results, .logs, .runtimes.
    reply_topic: where results come back; None is <prefix>.results. Give
        each client its own (e.g. "brig.results.<name>") so that many clients
        do not read each other's results; with a real Kafka cluster that
        topic must exist or auto-creation must be on.
    delivery_timeout: seconds for the broker to take a job.
    kafka_config: a file of librdkafka properties ("key=value" a line: TLS,
        SASL, tuning); None is $BRIG_KAFKA_CONFIG, or none.
    kafka_properties: a dict of more properties, which win over the file's.
    """

    def __init__(self, brokers=None, topic_prefix="brig", reply_topic=None, client_id=None,
                 connect_timeout=5.0, delivery_timeout=10.0, kafka_config=None,
                 kafka_properties=None):
        check_topic("topic_prefix", topic_prefix)
        if reply_topic is not None:
            check_topic("reply_topic", reply_topic)
        self.brokers = discover_brokers(brokers)
        self._message_max = discover_message_max(brokers)
        self.jobs_topic = f"{topic_prefix}.jobs"
        self.control_topic = f"{topic_prefix}.control"
        self.logs_topic = f"{topic_prefix}.logs"
        self.runtimes_topic = f"{topic_prefix}.runtimes"
        self.reply_topic = reply_topic or f"{topic_prefix}.results"
        for topic in (self.jobs_topic, self.logs_topic, self.reply_topic):
            check_topic("topic", topic)
        # Jobs name their reply topic only when it is not the default one.
        self._job_reply_topic = None if self.reply_topic == f"{topic_prefix}.results" \
            else self.reply_topic
        self.client_id = client_id or "brig-client"
        self.connect_timeout = connect_timeout
        self.delivery_timeout = delivery_timeout

        self._cond = threading.Condition()
        self._watched = set()   # ids whose result is kept when it arrives
        self._arrived = {}      # id -> Result or SchemaError, in arrival order
        self._failure = None    # why the consumer thread stopped, if it did
        self._closed = False

        self._diag = Diagnostics()
        self.kafka_properties = kafka_properties_of(kafka_config, kafka_properties)
        self._consumer = create_consumer(self.brokers, self.client_id, connect_timeout,
                                         self._diag, extra=self.kafka_properties)
        try:
            check_reachable(self._consumer, self.brokers, connect_timeout, self._diag)
            # Positioned before any submit, so no result can slip past.
            assign_at_end(self._consumer, self.reply_topic, time.monotonic() + connect_timeout)
            self._producer = create_producer(self.brokers, self.client_id, delivery_timeout,
                                             self._diag, extra=self.kafka_properties)
        except BaseException:
            self._consumer.close()
            raise
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._consume, name="brig-client-results",
                                        daemon=True)
        self._thread.start()

    # --- submitting ---------------------------------------------------------

    def submit(self, code, lang="python", *, stdin=None, files=None, args=None, env=None,
               limits=None, collect=None, session=None, network=None, stream_logs=False,
               metadata=None, deadline_ms=None, job_id=None, executable=None):
        """Publishes a job that runs code with the runtime lang; returns its
        id once the broker has it. The job is watched: its result is kept
        until wait() or results() takes it, or forget() drops it.

        code, stdin and the values of files: str (sent as UTF-8 text) or
        bytes. files: {relative path: content}, written under /work;
        executable: the paths among them written with mode 0755. limits:
        {name: int} with the names of brig.LIMITS. network: None or "none",
        or a list of allow rules ("pypi.org", "*.example.com:443").
        collect: globs of files to send back. stream_logs: publish live
        output for logs(). deadline_ms: Unix ms after which a worker must
        not start the job (a job that must not run twice should have one).
        job_id: None makes a fresh random id."""
        return self._submit(build_job(
            job_id=job_id, runtime=lang, code=code, args=args, stdin=stdin, env=env,
            files=files, limits=limits, network=network, session=session, collect=collect,
            reply_topic=self._job_reply_topic, stream_logs=stream_logs, metadata=metadata,
            deadline_ms=deadline_ms, executable=executable))

    def submit_argv(self, argv, *, stdin=None, files=None, env=None, limits=None,
                    collect=None, session=None, network=None, stream_logs=False,
                    metadata=None, deadline_ms=None, job_id=None, executable=None):
        """Publishes a job that runs argv as given in /work (the program
        comes from files or the jail's read-only system); returns its id.
        The keywords are those of submit()."""
        return self._submit(build_job(
            job_id=job_id, argv=argv, stdin=stdin, env=env, files=files, limits=limits,
            network=network, session=session, collect=collect,
            reply_topic=self._job_reply_topic, stream_logs=stream_logs, metadata=metadata,
            deadline_ms=deadline_ms, executable=executable))

    def _submit(self, job):
        value = encode_job(job)
        job_id = job["id"]
        if self._message_max is not None and len(value) > self._message_max:
            raise BrigError(f"job {job_id} is {len(value)} bytes, and the embedded broker at "
                            f"{self.brokers} keeps messages of at most {self._message_max} bytes "
                            f"(it deletes older ones past a few MiB a partition): send larger "
                            f"jobs through a Kafka cluster (brokers=)")
        with self._cond:
            self._check_open()
            # Watched before it is produced: a fast result must find it.
            self._watched.add(job_id)
        try:
            self._produce(job_id, job_key(job), value)
        except BaseException:
            self.forget(job_id)
            raise
        return job_id

    def _produce(self, job_id, key, value, topic=None):
        topic = topic or self.jobs_topic
        delivered = threading.Event()
        outcome = {}

        def on_delivery(err, _msg):
            outcome["err"] = err
            delivered.set()

        # The delivery report comes by message.timeout.ms at the latest; the
        # second of slack only guards against a stuck librdkafka.
        deadline = time.monotonic() + self.delivery_timeout + 1.0
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:  # the local queue is full: let it drain
                self._producer.poll(_POLL_S)
                if time.monotonic() >= deadline:
                    raise BrigError(f"delivering job {job_id} to {topic}: the local "
                                    f"send queue stayed full") from None
        while not delivered.is_set():
            self._producer.poll(_POLL_S)
            if time.monotonic() >= deadline and not delivered.is_set():
                raise BrigError(f"delivering job {job_id} to {topic}: no delivery "
                                f"report within {self.delivery_timeout:g} s "
                                f"({self._diag.reason('no error reported')})")
        if outcome["err"] is not None:
            raise BrigError(f"delivering job {job_id} to {topic}: "
                            f"{self._diag.reason(outcome['err'].str())}")

    # --- waiting --------------------------------------------------------------

    def run(self, code, lang="python", stdin=None, files=None, args=None, env=None,
            limits=None, collect=None, session=None, network=None, timeout=None, **more):
        """Submits a job and waits for its Result. timeout (seconds, None for
        none) covers the whole call; when it runs out, JobTimeout is raised
        and the job is no longer watched. more: the other submit() keywords
        (stream_logs, metadata, deadline_ms, job_id, executable)."""
        return self._run(timeout, lambda: self.submit(
            code, lang, stdin=stdin, files=files, args=args, env=env, limits=limits,
            collect=collect, session=session, network=network, **more))

    def run_argv(self, argv, stdin=None, files=None, env=None, limits=None, collect=None,
                 session=None, network=None, timeout=None, **more):
        """run() for an explicit argv (see submit_argv)."""
        return self._run(timeout, lambda: self.submit_argv(
            argv, stdin=stdin, files=files, env=env, limits=limits, collect=collect,
            session=session, network=network, **more))

    def _run(self, timeout, submit):
        started = time.monotonic()
        job_id = submit()
        remaining = None if timeout is None else max(timeout - (time.monotonic() - started), 0)
        try:
            return self.wait(job_id, remaining)
        except JobTimeout:
            self.forget(job_id)
            raise

    def wait(self, job_id, timeout=None):
        """The Result of job_id, waiting up to timeout seconds (None: no
        limit). A job submitted elsewhere is watched from this call on. When
        the time runs out, JobTimeout is raised and the job stays watched, so
        a later wait still gets its result. SchemaError when the result that
        came breaks the schema."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._check_open()
            self._watched.add(job_id)
            while job_id not in self._arrived:
                self._wait_a_while(deadline, lambda: JobTimeout(
                    f"no result for job {job_id} within {timeout:g} s", job_id))
            outcome = self._arrived.pop(job_id)
            self._watched.discard(job_id)
        if isinstance(outcome, SchemaError):
            raise outcome
        return outcome

    def results(self, ids=None, timeout=None):
        """Yields the Result of each id as it arrives, until all have come.
        ids=None: every job this client watches at the time of the call.
        timeout (seconds, None for none) covers the whole iteration; when it
        runs out, JobTimeout names the jobs still missing (they stay
        watched)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._check_open()
            pending = set(self._watched) if ids is None else set(ids)
            self._watched |= pending
        while pending:
            with self._cond:
                ready = [i for i in self._arrived if i in pending]
                while not ready:
                    self._wait_a_while(deadline, lambda: JobTimeout(
                        f"{len(pending)} job(s) had no result within {timeout:g} s: "
                        f"{', '.join(sorted(pending)[:5])}", sorted(pending)[0]))
                    ready = [i for i in self._arrived if i in pending]
                taken = [self._arrived.pop(i) for i in ready]
                self._watched -= set(ready)
            pending -= set(ready)
            for outcome in taken:
                if isinstance(outcome, SchemaError):
                    raise outcome
                yield outcome

    def _wait_a_while(self, deadline, timed_out):
        """One wait on the condition (held by the caller) until deadline."""
        self._check_open()
        if deadline is None:
            self._cond.wait()
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise timed_out()
        self._cond.wait(remaining)

    def cancel(self, job_id, by=None):
        """Asks the workers to cancel job_id and returns once the broker has
        the request: a waiting job is answered cancelled without running, a
        running one is stopped and answered cancelled; a job already
        answered, or unknown, is left as it is. The answer arrives as the
        job's result (wait() returns it). by: who asks, for the workers'
        audit stores (default user@host)."""
        if by is None:
            by = f"{getpass.getuser()}@{socket.gethostname()}"
        value = encode_cancel(job_id, by, int(time.time() * 1000))
        with self._cond:
            self._check_open()
        self._produce(job_id, job_id, value, topic=self.control_topic)

    def forget(self, job_id):
        """Stops watching job_id and drops its result if it came."""
        with self._cond:
            self._watched.discard(job_id)
            self._arrived.pop(job_id, None)

    def runtimes(self, timeout=10.0):
        """What the pool can run: a WorkerRuntimes(worker_id, started_ms,
        runtimes) for each worker that announced itself and has not left,
        sorted by worker id, each runtime a RuntimeInfo(name, aliases,
        version, warm, image). Read from <prefix>.runtimes with a consumer
        of its own; BrigError when that takes longer than timeout seconds."""
        return read_runtimes(self.brokers, self.runtimes_topic, self.client_id, timeout)

    def logs(self, job_id, follow=True, timeout=None):
        """Yields LogChunk(stream, data) of a job submitted with
        stream_logs=True, in order, from its first chunk. With follow, until
        both its streams have ended (a job without stream_logs never ends
        them: give a timeout); without, up to what the logs topic holds now.
        JobTimeout when timeout seconds run out first."""
        return read_logs(self.brokers, self.logs_topic, self.client_id, job_id, follow, timeout,
                         self.connect_timeout, self.kafka_properties)

    # --- the consumer thread ------------------------------------------------------

    def _consume(self):
        try:
            while not self._stop.is_set():
                msg = self._consumer.poll(_POLL_S)
                if msg is None or msg.error():
                    continue  # librdkafka retries by itself; the error callback keeps why
                self._take(msg)
        except Exception as e:  # noqa: BLE001 - any failure must reach the waiters
            with self._cond:
                self._failure = e
                self._cond.notify_all()

    def _take(self, msg):
        key = msg.key()
        key_id = key.decode("utf-8", errors="replace") if key is not None else None
        with self._cond:
            if key_id is not None and key_id not in self._watched:
                return
        try:
            outcome = decode_result(msg.value())
            job_id = outcome.id
        except SchemaError as e:
            if key_id is None:
                return
            outcome, job_id = e, key_id
            e.args = (f"the result of job {key_id} on {msg.topic()} [{msg.partition()}] at "
                      f"offset {msg.offset()} breaks the schema: {e}",)
        with self._cond:
            # The first result wins: a later one is a redelivery or a retry.
            if job_id in self._watched and job_id not in self._arrived:
                self._arrived[job_id] = outcome
                self._cond.notify_all()

    def _check_open(self):
        if self._closed:
            raise ClientClosed("the client is closed")
        if self._failure is not None:
            raise ClientClosed(f"the client's result consumer stopped: {self._failure!r}")

    # --- closing ------------------------------------------------------------------

    def close(self):
        """Stops the consumer thread and releases the Kafka handles. Waits in
        other threads raise ClientClosed."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._stop.set()
        self._thread.join()
        self._consumer.close()
        self._producer.flush(self.delivery_timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
