"""brig behind the tools: one brig.AsyncClient for the server's whole life,
connected on first use (or by warm_up at start) so that a server started
before its broker still starts, and every later call reuses the client's
connections and reply consumer instead of paying for them again.

A call whose MCP request is cancelled (notifications/cancelled, or the host
giving up) asks the workers to cancel its job before the cancellation goes
on.
"""
import asyncio
from typing import Any, Awaitable, Callable, Dict, List, Optional

import anyio
import brig

# Once a job's own time is up, how long its answer may still take: a free
# slot, a compile step, the result's way back.
ANSWER_SLACK_S = 60.0

Output = Callable[[str, bytes], Awaitable[None]]
Submitted = Callable[[str], Awaitable[None]]


class Unavailable(Exception):
    """brig could not do what the tool asked; the message is for the model."""


class Backend:
    def __init__(self, client_options: Dict[str, Any]):
        self._options = client_options
        self._connecting: Optional[asyncio.Task] = None
        self._running: Dict[str, Optional[str]] = {}  # job id -> its session

    async def client(self) -> brig.AsyncClient:
        """The connected client. Connecting is a task of its own that every
        caller waits for, so that a call cancelled meanwhile does not drop a
        client half made (with its threads) for the next call to make again;
        after a failure the next call tries again."""
        task = self._connecting
        if task is None or task.done() and (task.cancelled() or task.exception() is not None):
            task = asyncio.ensure_future(brig.AsyncClient.connect(**self._options))
            # A failure no call waited for is not an unhandled one.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            self._connecting = task
        try:
            return await asyncio.shield(task)
        except brig.BrigError as e:
            raise Unavailable(f"brig is not reachable: {e}") from None

    async def warm_up(self) -> None:
        """Connects ahead of the first call; a failure is only reported by
        the calls, which try again."""
        try:
            await self.client()
        except Unavailable:
            pass

    async def session(self, session: str) -> brig.AsyncSession:
        return (await self.client()).session(session)

    async def run(self, *, code: Optional[str] = None, lang: Optional[str] = None,
                  argv: Optional[List[str]] = None, wait_s: float,
                  output: Optional[Output] = None, submitted: Optional[Submitted] = None,
                  **job: Any) -> brig.Result:
        """Runs a job (code with lang, or argv; job: the other keywords of
        AsyncClient.submit) and returns its Result. output, when given, gets
        the job's stdout and stderr as they come, until the result is there;
        submitted gets the job's id once the broker has it."""
        client = await self.client()
        try:
            if argv is not None:
                job_id = await client.submit_argv(argv, stream_logs=output is not None, **job)
            else:
                job_id = await client.submit(code, lang, stream_logs=output is not None, **job)
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
                    tasks.start_soon(self._follow, client, job_id, output)
                result = await client.wait(job_id, wait_s + ANSWER_SLACK_S)
                tasks.cancel_scope.cancel()
            return result
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                try:
                    await client.cancel(job_id, by="brig-mcp")
                except brig.BrigError:
                    pass  # no one is left to tell; the job stops at its time limit
            raise
        except brig.JobTimeout:
            raise Unavailable(f"no answer for job {job_id} within {wait_s + ANSWER_SLACK_S:g} "
                              f"s: the workers may be busy or stopped. The job may still run; "
                              f"cancel it with cancel(job_id=\"{job_id}\")") from None
        except brig.BrigError as e:
            raise Unavailable(f"waiting for the result of job {job_id}: {e}") from None
        finally:
            client.forget(job_id)
            del self._running[job_id]

    @staticmethod
    async def _follow(client: brig.AsyncClient, job_id: str, output: Output) -> None:
        try:
            async for chunk in client.logs(job_id):
                await output(chunk.stream, chunk.data)
        except brig.BrigError:
            pass  # live output is a courtesy: the result has all of it

    async def cancel(self, job_id: Optional[str], session: Optional[str]) -> List[str]:
        """Asks the workers to cancel job_id, or the jobs of session this
        server is running; returns the ids asked for."""
        client = await self.client()
        ids = [job_id] if job_id else [i for i, s in self._running.items() if s == session]
        for i in ids:
            try:
                await client.cancel(i, by="brig-mcp")
            except brig.InvalidJob:
                raise
            except brig.BrigError as e:
                raise Unavailable(f"asking the workers to cancel {i}: {e}") from None
        return ids

    async def runtimes(self) -> List[brig.WorkerRuntimes]:
        client = await self.client()
        try:
            return await client.runtimes()
        except brig.BrigError as e:
            raise Unavailable(f"reading the workers' runtimes: {e}") from None
