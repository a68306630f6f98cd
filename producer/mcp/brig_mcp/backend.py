"""brig behind the tools: one brig.Client for the server's whole life, made
on first use (or by warm_up at start) so that a server started before its
broker still starts, and every later call reuses the client's connections
and reply consumer instead of paying for them again.

The client's calls block, so they run on worker threads. A call whose MCP
request is cancelled (notifications/cancelled, or the host giving up)
asks the workers to cancel its job before it lets the cancellation go on.
"""
import threading
from functools import partial
from typing import Awaitable, Callable, Dict, List, Optional

import anyio
import anyio.to_thread
import brig

# Once a job's own time is up, how long its answer may still take: a free
# slot, a compile step, the result's way back.
ANSWER_SLACK_S = 60.0

Output = Callable[[str, bytes], Awaitable[None]]


class Unavailable(Exception):
    """brig could not do what the tool asked; the message is for the model."""


class Backend:
    def __init__(self, client_options: Dict[str, object]):
        self._options = client_options
        self._client: Optional[brig.Client] = None
        self._lock = threading.Lock()
        self._running: Dict[str, Optional[str]] = {}  # job id -> its session

    def _connect(self) -> brig.Client:
        with self._lock:
            if self._client is None:
                self._client = brig.Client(**self._options)
            return self._client

    def warm_up(self) -> None:
        """Connects in the background, so that the first call finds the
        client ready; a failure is only reported by the calls."""
        def connect():
            try:
                self._connect()
            except brig.BrigError:
                pass
        threading.Thread(target=connect, name="brig-mcp-connect", daemon=True).start()

    async def client(self) -> brig.Client:
        try:
            return await anyio.to_thread.run_sync(self._connect)
        except brig.BrigError as e:
            raise Unavailable(f"brig is not reachable: {e}") from None

    async def run(self, *, code: Optional[str] = None, lang: Optional[str] = None,
                  argv: Optional[List[str]] = None, wait_s: float,
                  output: Optional[Output] = None,
                  submitted: Optional[Callable[[str], Awaitable[None]]] = None,
                  **job) -> brig.Result:
        """Runs a job (code with lang, or argv; job: the other keywords of
        Client.submit) and returns its Result. output, when given, gets the
        job's stdout and stderr as they come, until the result is there;
        submitted gets the job's id once the broker has the job."""
        client = await self.client()
        if argv is not None:
            submit = partial(client.submit_argv, argv, stream_logs=output is not None, **job)
        else:
            submit = partial(client.submit, code, lang, stream_logs=output is not None, **job)
        try:
            job_id = await anyio.to_thread.run_sync(submit)
        except brig.InvalidJob:
            raise
        except brig.BrigError as e:
            raise Unavailable(f"brig did not take the job: {e}") from None
        self._running[job_id] = job.get("session")
        try:
            if submitted is not None:
                await submitted(job_id)
            async with anyio.create_task_group() as tasks:
                if output is not None:
                    tasks.start_soon(self._follow, client, job_id, output, wait_s)
                result = await anyio.to_thread.run_sync(
                    partial(client.wait, job_id, wait_s + ANSWER_SLACK_S), abandon_on_cancel=True)
                tasks.cancel_scope.cancel()
            return result
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(partial(client.cancel, job_id, by="brig-mcp"))
            raise
        except brig.JobTimeout:
            client.forget(job_id)
            raise Unavailable(f"no answer for job {job_id} within {wait_s + ANSWER_SLACK_S:g} "
                              f"s: the workers may be busy or stopped. The job may still run; "
                              f"cancel it with cancel(job_id=\"{job_id}\")") from None
        finally:
            del self._running[job_id]

    @staticmethod
    async def _follow(client: brig.Client, job_id: str, output: Output, wait_s: float) -> None:
        """Hands the job's live output to output, from a thread that reads
        the logs topic, until cancelled (the result came)."""
        stop = threading.Event()

        def read():
            chunks = client.logs(job_id, follow=True, timeout=wait_s + ANSWER_SLACK_S)
            try:
                for stream, data in chunks:
                    if stop.is_set():
                        return
                    anyio.from_thread.run(output, stream, data)
            except (brig.BrigError, RuntimeError):
                # Live output is a courtesy (the result has all of it), and
                # the request may have ended meanwhile (RuntimeError: no loop).
                pass
            finally:
                chunks.close()

        try:
            await anyio.to_thread.run_sync(read, abandon_on_cancel=True)
        finally:
            stop.set()

    async def cancel(self, job_id: Optional[str], session: Optional[str]) -> List[str]:
        """Asks the workers to cancel job_id, or the jobs of session this
        server is running; returns the ids asked for."""
        client = await self.client()
        ids = [job_id] if job_id else [i for i, s in self._running.items() if s == session]
        for i in ids:
            try:
                await anyio.to_thread.run_sync(partial(client.cancel, i, by="brig-mcp"))
            except brig.InvalidJob:
                raise
            except brig.BrigError as e:
                raise Unavailable(f"asking the workers to cancel {i}: {e}") from None
        return ids

    async def runtimes(self) -> List[brig.WorkerRuntimes]:
        client = await self.client()
        try:
            return await anyio.to_thread.run_sync(client.runtimes)
        except brig.BrigError as e:
            raise Unavailable(f"reading the workers' runtimes: {e}") from None
