"""The asyncio brig client: the same calls as Client, as coroutines that
never block the event loop.

confluent-kafka blocks, so the Kafka side is transport.Transport, whose own
threads own the producer and the reply consumer: a delivery report or a
result resolves the future a coroutine awaits through the loop's
call_soon_threadsafe, and no executor thread is taken per call. What reads
with a consumer of its own (logs, runtimes) and the blocking connect and
close run on a thread of their own each.
"""
from __future__ import annotations

import asyncio
import inspect
import threading
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Optional, Sequence, TypeVar, Union

from .config import ClientBase, cancel_request
from .errors import BrigError, ClientClosed, JobTimeout
from .logs import read_logs
from .messages import LogChunk, Result
from .runtimes import WorkerRuntimes, read_runtimes
from .schema import Content, Files, Job, build_job, new_job_id
from .session_files import (LIST_ARGV, TRUE_ARGV, SessionFile, checked, file_of, listing_of,
                            read_options)
from .transport import Transport, result_of

T = TypeVar("T")

_QUEUE_FULL_PAUSE_S = 0.05
# How long live output may trail its job's result before the reading stops.
OUTPUT_GRACE_S = 2.0

OnOutput = Callable[[LogChunk], Union[None, Awaitable[None]]]


def _settle(future: asyncio.Future[T], value: T, error: Optional[BaseException]) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    """call_soon_threadsafe from a client thread; a loop already closed has
    no one left to tell."""
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        pass


async def in_thread(fn: Callable[[], T], name: str) -> T:
    """fn() run on a thread of its own, awaited."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def body() -> None:
        try:
            value = fn()
        except BaseException as e:  # noqa: BLE001 - the awaiting coroutine gets it
            _call_soon(loop, _settle, future, None, e)
        else:
            _call_soon(loop, _settle, future, value, None)

    threading.Thread(target=body, name=name, daemon=True).start()
    return await future


class AsyncClient(ClientBase):
    """Client for asyncio. The arguments are Client's; connecting happens in
    connect() or on entering `async with`:

        async with brig.AsyncClient() as client:
            result = await client.run("print(6 * 7)")

    Every coroutine must run on the loop that connected the client."""

    def _setup(self) -> None:
        self._transport: Optional[Transport] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        # Futures woken when the result of their job id arrives.
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}

    @classmethod
    async def connect(cls, **arguments: Any) -> AsyncClient:
        """A connected client: AsyncClient(**arguments), started."""
        client = cls(**arguments)
        await client.start()
        return client

    async def start(self) -> None:
        """Connects (BrokerUnreachable within connect_timeout) and positions
        the reply consumer."""
        if self._transport is not None:
            return
        self._loop = asyncio.get_running_loop()
        loop = self._loop
        self._transport = await in_thread(
            lambda: Transport(self._config.settings, self._config.topics.reply,
                              on_arrival=lambda job_id: _call_soon(loop, self._wake, job_id),
                              signer=self._config.signer),
            "brig-client-connect")

    def _t(self) -> Transport:
        if self._transport is None:
            raise ClientClosed("the client is not connected: await client.start() first")
        return self._transport

    def _wake(self, job_id: str) -> None:
        """On the loop: wakes the waiters of job_id; "" (the consumer thread
        failed) wakes every waiter."""
        ids = list(self._waiters) if job_id == "" else [job_id]
        for i in ids:
            for future in self._waiters.pop(i, []):
                _settle(future, None, None)

    async def _arrival(self, ids: Sequence[str], timeout: Optional[float]) -> bool:
        """Waits until a result of one of ids may have arrived; False when
        timeout seconds passed first."""
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()
        for i in ids:
            self._waiters.setdefault(i, []).append(future)
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            for i in ids:
                waiting = self._waiters.get(i, [])
                if future in waiting:
                    waiting.remove(future)
                if not waiting:
                    self._waiters.pop(i, None)

    # --- submitting ---------------------------------------------------------------

    async def submit(self, code: Content, lang: str = "python", **options: Any) -> str:
        """Client.submit: returns the job's id once the broker has it."""
        return await self.submit_job(build_job(runtime=lang, code=code, **options))

    async def submit_argv(self, argv: Sequence[str], **options: Any) -> str:
        return await self.submit_job(build_job(argv=argv, **options))

    async def submit_job(self, job: Job) -> str:
        """Client.submit_job."""
        t = self._t()
        if self._config.topics.job_reply is not None:
            job["reply_topic"] = self._config.topics.job_reply
        job_id: str = job["id"]
        key, value = self._config.encode(job)
        t.watch(job_id)
        try:
            await self._send(self._config.topics.jobs, key, value, f"job {job_id}")
        except BaseException:
            self.forget(job_id)
            raise
        return job_id

    async def _send(self, topic: str, key: str, value: bytes, what: str) -> None:
        t = self._t()
        assert self._loop is not None
        loop = self._loop
        delivered: asyncio.Future[Optional[BrigError]] = loop.create_future()
        deadline = time.monotonic() + t.delivery_wait
        while True:
            try:
                t.send(topic, key, value, what,
                       lambda error: _call_soon(loop, _settle, delivered, error, None))
                break
            except BufferError:  # the local queue is full: let it drain
                if time.monotonic() >= deadline:
                    raise t.full_queue(what, topic) from None
                await asyncio.sleep(_QUEUE_FULL_PAUSE_S)
        try:
            error = await asyncio.wait_for(delivered, max(deadline - time.monotonic(), 0))
        except asyncio.TimeoutError:
            raise t.no_report(what, topic) from None
        if error is not None:
            raise error

    # --- waiting ------------------------------------------------------------------

    async def run(self, code: Content, lang: str = "python", *, timeout: Optional[float] = None,
                  on_output: Optional[OnOutput] = None, **options: Any) -> Result:
        """Client.run. on_output(chunk), a function or a coroutine function,
        gets the job's live output as it comes (the job is sent with
        stream_logs)."""
        return await self._run(timeout, on_output, lambda stream_logs: self.submit(
            code, lang, stream_logs=stream_logs, **options))

    async def run_argv(self, argv: Sequence[str], *, timeout: Optional[float] = None,
                       on_output: Optional[OnOutput] = None, **options: Any) -> Result:
        return await self._run(timeout, on_output, lambda stream_logs: self.submit_argv(
            argv, stream_logs=stream_logs, **options))

    async def _run(self, timeout: Optional[float], on_output: Optional[OnOutput],
                   submit: Callable[[bool], Awaitable[str]]) -> Result:
        started = time.monotonic()
        job_id = await submit(on_output is not None)
        pump = None if on_output is None else asyncio.ensure_future(
            self._pump(job_id, on_output))
        remaining = None if timeout is None else max(timeout - (time.monotonic() - started), 0)
        try:
            result = await self.wait(job_id, remaining)
        except BaseException:
            self.forget(job_id)
            if pump is not None:
                pump.cancel()
            raise
        if pump is not None:
            try:
                await asyncio.wait_for(pump, OUTPUT_GRACE_S)
            except asyncio.TimeoutError:
                pass  # the output's end never came (a job that did not start)
        return result

    async def _pump(self, job_id: str, on_output: OnOutput) -> None:
        async for chunk in self.logs(job_id):
            outcome = on_output(chunk)
            if inspect.isawaitable(outcome):
                await outcome

    async def wait(self, job_id: str, timeout: Optional[float] = None) -> Result:
        """Client.wait."""
        t = self._t()
        deadline = None if timeout is None else time.monotonic() + timeout
        t.watch(job_id)
        while True:
            outcome = t.take(job_id)
            if outcome is not None:
                return result_of(outcome)
            t.check_open()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0 or \
                    not await self._arrival([job_id], remaining):
                raise JobTimeout(f"no result for job {job_id} within {timeout:g} s", job_id)

    async def results(self, ids: Optional[Sequence[str]] = None,
                      timeout: Optional[float] = None) -> AsyncIterator[Result]:
        """Client.results: each Result as it arrives."""
        t = self._t()
        deadline = None if timeout is None else time.monotonic() + timeout
        with t.cond:
            t.check_open()
            pending = set(t.watched) if ids is None else set(ids)
            t.watched |= pending
        while pending:
            for job_id in sorted(pending):
                outcome = t.take(job_id)
                if outcome is not None:
                    pending.discard(job_id)
                    yield result_of(outcome)
            if not pending:
                return
            t.check_open()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0 or \
                    not await self._arrival(sorted(pending), remaining):
                raise JobTimeout(f"{len(pending)} job(s) had no result within {timeout:g} s: "
                                 f"{', '.join(sorted(pending)[:5])}", sorted(pending)[0])

    async def cancel(self, job_id: str, by: Optional[str] = None) -> None:
        """Client.cancel."""
        await self._send(self._config.topics.control, job_id, cancel_request(job_id, by),
                         f"the cancel request of job {job_id}")

    def forget(self, job_id: str) -> None:
        self._t().forget(job_id)

    async def runtimes(self, timeout: float = 10.0) -> list[WorkerRuntimes]:
        """Client.runtimes."""
        return await in_thread(lambda: read_runtimes(
            self._config.settings, self._config.topics.runtimes, timeout), "brig-runtimes")

    async def logs(self, job_id: str, follow: bool = True,
                   timeout: Optional[float] = None) -> AsyncIterator[LogChunk]:
        """Client.logs as an async iterator: a thread of its own reads them."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Union[LogChunk, BaseException, None]] = asyncio.Queue()
        stop = threading.Event()

        def read() -> None:
            try:
                for chunk in read_logs(self._config.settings, self._config.topics.logs, job_id,
                                       follow, timeout, stop):
                    _call_soon(loop, queue.put_nowait, chunk)
            except BaseException as e:  # noqa: BLE001 - the iterating coroutine gets it
                _call_soon(loop, queue.put_nowait, e)
            else:
                _call_soon(loop, queue.put_nowait, None)

        reader = threading.Thread(target=read, name=f"brig-logs-{job_id}", daemon=True)
        reader.start()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()

    def session(self, session_id: Optional[str] = None) -> AsyncSession:
        """Client.session."""
        return AsyncSession(self, session_id or new_job_id())

    # --- closing ------------------------------------------------------------------

    async def close(self) -> None:
        """Client.close; waits in other coroutines raise ClientClosed."""
        if self._transport is None:
            return
        await in_thread(self._transport.close, "brig-client-close")
        self._wake("")

    async def __aenter__(self) -> AsyncClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncSession:
    """Session for AsyncClient."""

    def __init__(self, client: AsyncClient, session_id: str) -> None:
        self.client = client
        self.id = session_id

    async def run(self, code: Content, lang: str = "python", **options: Any) -> Result:
        return await self.client.run(code, lang, session=self.id, **options)

    async def run_argv(self, argv: Sequence[str], **options: Any) -> Result:
        return await self.client.run_argv(argv, session=self.id, **options)

    async def submit(self, code: Content, lang: str = "python", **options: Any) -> str:
        return await self.client.submit(code, lang, session=self.id, **options)

    async def write_files(self, files: Files, executable: Optional[Sequence[str]] = None,
                          timeout: Optional[float] = 60) -> None:
        checked("writing files", await self.run_argv(TRUE_ARGV, files=files,
                                                     executable=executable, timeout=timeout))

    async def read_file(self, path: str, timeout: Optional[float] = 60) -> bytes:
        return file_of(path, await self.run_argv(TRUE_ARGV, timeout=timeout,
                                                 **read_options(path)))

    async def list_files(self, timeout: Optional[float] = 60) -> list[SessionFile]:
        return listing_of(await self.run_argv(LIST_ARGV, timeout=timeout))
