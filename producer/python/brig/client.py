"""The blocking brig client: publishes jobs to <prefix>.jobs and hands each
result that comes back on the reply topic to whoever waits for that job id.

The Kafka side (the producer, the reply consumer and their threads) is
transport.Transport; waits here block on its condition. Every method may be
called from any number of threads at once; close() is the last call.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

from .config import ClientBase, cancel_request
from .errors import BrigError, JobTimeout
from .logs import read_logs
from .messages import LogChunk, Result
from .runtimes import WorkerRuntimes, read_runtimes
from .schema import Content, Files, Job, Network, build_job, new_job_id
from .session_files import (LIST_ARGV, TRUE_ARGV, SessionFile, checked, file_of, listing_of,
                            read_options)
from .transport import Transport, result_of

_QUEUE_FULL_PAUSE_S = 0.05
# How long live output may trail its job's result before the reading stops.
OUTPUT_GRACE_S = 2.0


class Client(ClientBase):
    """Connects to the broker (raising BrokerUnreachable within
    connect_timeout seconds when it does not answer), positions the reply
    consumer and starts its threads.

    brokers: "host:port,..."; None finds them (discover.discover_brokers).
    topic_prefix: topics <prefix>.jobs, .results, .logs, .runtimes, .control.
    reply_topic: where results come back; None is <prefix>.results (for a
        tenant, see below). Give each client its own (e.g.
        "brig.results.<name>") so that many clients do not read each other's
        results; with a real Kafka cluster that topic must exist or
        auto-creation must be on.
    delivery_timeout: seconds for the broker to take a job.
    kafka_config: a file of librdkafka properties ("key=value" a line: TLS,
        SASL, tuning); None is $BRIG_KAFKA_CONFIG, or none.
    kafka_properties: a dict of more properties, which win over the file's
        (and over every setting of brig's).
    tenant, key_file: sign every job and cancel for tenant with the Ed25519
        key of key_file (`brig keygen --out FILE`; group and others must not
        read it), for workers started with --tenants; None takes
        $BRIG_TENANT and $BRIG_KEY. A tenant's results come on
        <prefix>.results.<tenant> (the default reply topic then) or a topic
        under it, and its live output on <prefix>.logs.<tenant>.
    """

    def _setup(self) -> None:
        self._transport = Transport(self._config.settings, self._config.topics.reply,
                                    signer=self._config.signer)

    # --- submitting ---------------------------------------------------------------

    def submit(self, code: Content, lang: str = "python", *, stdin: Optional[Content] = None,
               files: Optional[Files] = None, args: Optional[Sequence[str]] = None,
               env: Optional[Mapping[str, str]] = None,
               limits: Optional[Mapping[str, int]] = None,
               collect: Optional[Sequence[str]] = None, session: Optional[str] = None,
               network: Network = None, stream_logs: bool = False,
               metadata: Optional[Mapping[str, str]] = None, deadline_ms: Optional[int] = None,
               job_id: Optional[str] = None, executable: Optional[Sequence[str]] = None,
               secrets: Optional[Sequence[str]] = None) -> str:
        """Publishes a job that runs code with the runtime lang; returns its
        id once the broker has it. The job is watched: its result is kept
        until wait() or results() takes it, or forget() drops it.

        code, stdin and the values of files: str (sent as UTF-8 text) or
        bytes. files: {relative path: content}, written under /work;
        executable: the paths among them written with mode 0755. limits:
        {name: int} with the names of brig.LIMITS. network: None or "none",
        or a list of allow rules ("pypi.org", "*.example.com:443").
        collect: globs of files to send back. session: jobs of one session
        share /work (and, for python/javascript/typescript, a live
        interpreter) on one worker, in order. stream_logs: publish live
        output for logs(). deadline_ms: Unix ms after which a worker must
        not start the job (a job that must not run twice should have one).
        job_id: None makes a fresh random id. secrets: names of the worker's
        secrets the job uses (brig-worker --secrets; it sees placeholders)."""
        return self.submit_job(build_job(
            job_id=job_id, runtime=lang, code=code, args=args, stdin=stdin, env=env,
            files=files, limits=limits, network=network, session=session, collect=collect,
            stream_logs=stream_logs, metadata=metadata, deadline_ms=deadline_ms,
            executable=executable, secrets=secrets))

    def submit_argv(self, argv: Sequence[str], **options: Any) -> str:
        """Publishes a job that runs argv as given in /work (the program
        comes from files or the jail's read-only system); returns its id.
        options: the keywords of submit() but args."""
        return self.submit_job(build_job(argv=argv, **options))

    def submit_job(self, job: Job) -> str:
        """Publishes a job dict made by brig.build_job (this client sets its
        reply_topic); returns its id once the broker has it."""
        if self._config.topics.job_reply is not None:
            job["reply_topic"] = self._config.topics.job_reply
        job_id: str = job["id"]
        key, value = self._config.encode(job)
        # Watched before it is produced: a fast result must find it.
        self._transport.watch(job_id)
        try:
            self._send(self._config.topics.jobs, key, value, f"job {job_id}")
        except BaseException:
            self.forget(job_id)
            raise
        return job_id

    def _send(self, topic: str, key: str, value: bytes, what: str) -> None:
        done = threading.Event()
        failure: list[Optional[BrigError]] = []

        def delivered(error: Optional[BrigError]) -> None:
            failure.append(error)
            done.set()

        deadline = time.monotonic() + self._transport.delivery_wait
        while True:
            try:
                self._transport.send(topic, key, value, what, delivered)
                break
            except BufferError:  # the local queue is full: let it drain
                if time.monotonic() >= deadline:
                    raise self._transport.full_queue(what, topic) from None
                time.sleep(_QUEUE_FULL_PAUSE_S)
        if not done.wait(max(deadline - time.monotonic(), 0)):
            raise self._transport.no_report(what, topic)
        if failure[0] is not None:
            raise failure[0]

    # --- waiting ------------------------------------------------------------------

    def run(self, code: Content, lang: str = "python", *, timeout: Optional[float] = None,
            on_output: Optional[Callable[[LogChunk], None]] = None, **options: Any) -> Result:
        """Submits a job and waits for its Result. timeout (seconds, None for
        none) covers the whole call; when it runs out, JobTimeout is raised
        and the job is no longer watched. on_output(chunk) gets the job's live
        output as it comes, on a thread of its own (the job is sent with
        stream_logs); what it raises, run raises once the job has ended.
        options: the keywords of submit() (stdin, files, args, env, limits,
        collect, session, network, metadata, deadline_ms, job_id,
        executable, secrets)."""
        return self._run(timeout, on_output, lambda stream_logs: self.submit(
            code, lang, stream_logs=stream_logs, **options))

    def run_argv(self, argv: Sequence[str], *, timeout: Optional[float] = None,
                 on_output: Optional[Callable[[LogChunk], None]] = None,
                 **options: Any) -> Result:
        """run() for an explicit argv (see submit_argv)."""
        return self._run(timeout, on_output, lambda stream_logs: self.submit_argv(
            argv, stream_logs=stream_logs, **options))

    def _run(self, timeout: Optional[float], on_output: Optional[Callable[[LogChunk], None]],
             submit: Callable[[bool], str]) -> Result:
        started = time.monotonic()
        job_id = submit(on_output is not None)
        pump = None if on_output is None else _OutputPump(self, job_id, on_output)
        remaining = None if timeout is None else max(timeout - (time.monotonic() - started), 0)
        try:
            result = self.wait(job_id, remaining)
        except BaseException:
            self.forget(job_id)
            if pump is not None:
                pump.finish(0, reraise=False)
            raise
        if pump is not None:
            pump.finish(OUTPUT_GRACE_S)
        return result

    def wait(self, job_id: str, timeout: Optional[float] = None) -> Result:
        """The Result of job_id, waiting up to timeout seconds (None: no
        limit). A job submitted elsewhere is watched from this call on. When
        the time runs out, JobTimeout is raised and the job stays watched, so
        a later wait still gets its result. SchemaError when the result that
        came breaks the schema."""
        deadline = None if timeout is None else time.monotonic() + timeout
        t = self._transport
        with t.cond:
            t.watch(job_id)
            while job_id not in t.arrived:
                self._wait_a_while(deadline, lambda: JobTimeout(
                    f"no result for job {job_id} within {timeout:g} s", job_id))
            outcome = t.arrived.pop(job_id)
            t.watched.discard(job_id)
        return result_of(outcome)

    def results(self, ids: Optional[Sequence[str]] = None,
                timeout: Optional[float] = None) -> Iterator[Result]:
        """Yields the Result of each id as it arrives, until all have come.
        ids=None: every job this client watches at the time of the call.
        timeout (seconds, None for none) covers the whole iteration; when it
        runs out, JobTimeout names the jobs still missing (they stay
        watched)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        t = self._transport
        with t.cond:
            t.check_open()
            pending = set(t.watched) if ids is None else set(ids)
            t.watched |= pending
        while pending:
            with t.cond:
                ready = [i for i in t.arrived if i in pending]
                while not ready:
                    self._wait_a_while(deadline, lambda: JobTimeout(
                        f"{len(pending)} job(s) had no result within {timeout:g} s: "
                        f"{', '.join(sorted(pending)[:5])}", sorted(pending)[0]))
                    ready = [i for i in t.arrived if i in pending]
                taken = [t.arrived.pop(i) for i in ready]
                t.watched -= set(ready)
            pending -= set(ready)
            for outcome in taken:
                yield result_of(outcome)

    def _wait_a_while(self, deadline: Optional[float],
                      timed_out: Callable[[], JobTimeout]) -> None:
        """One wait on the condition (held by the caller) until deadline."""
        self._transport.check_open()
        if deadline is None:
            self._transport.cond.wait()
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise timed_out()
        self._transport.cond.wait(remaining)

    def cancel(self, job_id: str, by: Optional[str] = None) -> None:
        """Asks the workers to cancel job_id and returns once the broker has
        the request: a waiting job is answered cancelled without running, a
        running one is stopped and answered cancelled (a cell is interrupted,
        its interpreter lives on); a job already answered, or unknown, is
        left as it is. The answer arrives as the job's result (wait() returns
        it). by: who asks, for the workers' audit stores (default
        user@host)."""
        self._send(self._config.topics.control, job_id, cancel_request(job_id, by),
                   f"the cancel request of job {job_id}")

    def forget(self, job_id: str) -> None:
        """Stops watching job_id and drops its result if it came."""
        self._transport.forget(job_id)

    def runtimes(self, timeout: float = 10.0) -> list[WorkerRuntimes]:
        """What the pool can run: a WorkerRuntimes(worker_id, started_ms,
        runtimes) for each worker that announced itself and has not left,
        sorted by worker id, each runtime a RuntimeInfo(name, aliases,
        version, warm, image). Read from <prefix>.runtimes with a consumer
        of its own; BrigError when that takes longer than timeout seconds."""
        return read_runtimes(self._config.settings, self._config.topics.runtimes, timeout)

    def logs(self, job_id: str, follow: bool = True,
             timeout: Optional[float] = None) -> Iterator[LogChunk]:
        """Yields LogChunk(stream, data) of a job submitted with
        stream_logs=True, in order, from its first chunk. With follow, until
        both its streams have ended (a job without stream_logs never ends
        them: give a timeout); without, up to what the logs topic holds now.
        JobTimeout when timeout seconds run out first."""
        return read_logs(self._config.settings, self._config.topics.logs, job_id, follow,
                         timeout)

    def session(self, session_id: Optional[str] = None) -> Session:
        """A Session: jobs that share /work (and a live interpreter) on one
        worker. session_id: None makes a fresh one."""
        return Session(self, session_id or new_job_id())

    # --- closing ------------------------------------------------------------------

    def close(self) -> None:
        """Stops the client's threads and releases the Kafka handles. Waits
        in other threads raise ClientClosed."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _OutputPump:
    """Hands a job's live output to a callback from a thread of its own."""

    def __init__(self, client: Client, job_id: str,
                 on_output: Callable[[LogChunk], None]) -> None:
        self._stop = threading.Event()
        self._failure: Optional[BaseException] = None
        chunks = read_logs(client._config.settings, client._config.topics.logs, job_id,
                           True, None, self._stop)

        def pump() -> None:
            try:
                for chunk in chunks:
                    on_output(chunk)
            except BaseException as e:  # noqa: BLE001 - run() raises it
                self._failure = e

        self._thread = threading.Thread(target=pump, name=f"brig-output-{job_id}", daemon=True)
        self._thread.start()

    def finish(self, grace: float, reraise: bool = True) -> None:
        """Lets the output end within grace seconds, then stops reading;
        raises what the callback raised."""
        self._thread.join(grace)
        self._stop.set()
        self._thread.join()
        if reraise and self._failure is not None:
            raise self._failure


class Session:
    """The jobs of one session: its files in /work stay from one job to the
    next (until the workers' --session-ttl of idleness), and python,
    javascript and typescript jobs run as cells of a live interpreter whose
    variables persist (Result.interpreter says when it started afresh).
    Sessions live on the host of the worker that holds their partition."""

    def __init__(self, client: Client, session_id: str) -> None:
        self.client = client
        self.id = session_id

    def run(self, code: Content, lang: str = "python", **options: Any) -> Result:
        """Client.run in this session."""
        return self.client.run(code, lang, session=self.id, **options)

    def run_argv(self, argv: Sequence[str], **options: Any) -> Result:
        return self.client.run_argv(argv, session=self.id, **options)

    def submit(self, code: Content, lang: str = "python", **options: Any) -> str:
        return self.client.submit(code, lang, session=self.id, **options)

    def write_files(self, files: Files, executable: Optional[Sequence[str]] = None,
                    timeout: Optional[float] = 60) -> None:
        """Writes files ({relative path: str or bytes}) into the session's
        /work; BrigError when the worker refuses them."""
        checked("writing files", self.run_argv(TRUE_ARGV, files=files, executable=executable,
                                               timeout=timeout))

    def read_file(self, path: str, timeout: Optional[float] = 60) -> bytes:
        """The content of a regular file of the session (up to 4 MiB);
        FileNotFoundError when there is none (a link is not followed)."""
        return file_of(path, self.run_argv(TRUE_ARGV, timeout=timeout, **read_options(path)))

    def list_files(self, timeout: Optional[float] = 60) -> list[SessionFile]:
        """SessionFile(path, size) of every regular file in /work but the
        session's packages (.venv, node_modules), in path order."""
        return listing_of(self.run_argv(LIST_ARGV, timeout=timeout))
