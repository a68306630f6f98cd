"""The tools, as a model sees them: names, descriptions and argument
schemas written for a model, each call turned into a brig job.

The SDK checks every argument against its type and range before a tool
runs, and answers a wrong one with a tool error naming the argument. The
client checks what the schema cannot say (a session's characters, a path's
form) and its InvalidJob names the job's field, which is_argument() turns
back into the tool's argument.
"""
import asyncio
import base64
import binascii
from contextlib import asynccontextmanager
from typing import Annotated, Dict, List, Optional

import brig
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from . import files as session_files
from .backend import Backend, Unavailable
from .render import RunOutput, progress_message, render

DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 600.0

# The job's fields as the tools' arguments call them.
_ARGUMENT_OF_FIELD = {"argv": "command", "runtime": "language", "limits.wall_ms": "timeout",
                      "limits.cpu_ms": "timeout", "id": "job_id"}

SERVER_INSTRUCTIONS = (
    "brig runs code in a sandbox: no network, limited time, memory and processes. Use "
    "run_code for a program in a language (list_runtimes says which), run_command for a "
    "command line. Give the same session name to calls that should share files; the "
    "session's files can be read, written and listed with read_file, write_file and "
    "list_files.")

Session = Annotated[Optional[str], Field(
    description="a name of your choice (letters, digits, . _ : -; up to 64) for a workspace "
                "that persists between calls: files written in one call are there in the "
                "next. Leave it out for a fresh, empty directory that is thrown away.")]
SessionRequired = Annotated[str, Field(
    description="the session whose files to use (the name given to run_code or run_command)")]
Files = Annotated[Optional[Dict[str, str]], Field(
    description="files to write in the working directory before running, as {relative "
                "path: text content}, e.g. {\"data.csv\": \"a,b\\n1,2\\n\"}")]
Timeout = Annotated[float, Field(
    ge=0.1, le=MAX_TIMEOUT_S,
    description=f"seconds the program may run (wall clock and CPU); default "
                f"{DEFAULT_TIMEOUT_S:g}, at most {MAX_TIMEOUT_S:g}")]
Collect = Annotated[Optional[List[str]], Field(
    description="files to bring back after the run, as paths or globs relative to the "
                "working directory (\"chart.png\", \"out/*.png\", \"out/**\"); images come "
                "back as images, text files as text")]
Stdin = Annotated[Optional[str], Field(description="text for the program's standard input")]


def is_argument(e: brig.InvalidJob) -> ToolError:
    """The client's refusal of a job, naming the tool's argument."""
    field = e.field
    for job_field, argument in _ARGUMENT_OF_FIELD.items():
        if field == job_field or field.startswith(job_field + "["):
            field = argument + field[len(job_field):]
            break
    return ToolError(f"invalid argument {field}: {e.reason}" if field else str(e))


def _limits(timeout: float) -> dict:
    ms = max(int(timeout * 1000), 100)
    return {"wall_ms": ms, "cpu_ms": ms}


async def _run(backend: Backend, ctx: Context, timeout: float, **job) -> CallToolResult:
    sent = 0

    async def output(stream: str, data: bytes) -> None:
        nonlocal sent
        sent += len(data)
        await ctx.report_progress(sent, None, progress_message(stream, data))

    async def submitted(job_id: str) -> None:
        await ctx.report_progress(0, None, f"job {job_id} submitted")

    # Live output costs the workers a log stream and this server a reader:
    # only for a host that asked for progress.
    meta = ctx.request_context.meta or {}
    progress = meta.get("progress_token") is not None
    try:
        result = await backend.run(wait_s=timeout, output=output if progress else None,
                                   submitted=submitted if progress else None,
                                   limits=_limits(timeout), **job)
    except brig.InvalidJob as e:
        raise is_argument(e) from None
    except Unavailable as e:
        raise ToolError(str(e)) from None
    return render(result, timeout)


async def _in_session(backend: Backend, session: str, action):
    """action(brig.AsyncSession)'s value; the client's refusals as tool
    errors, naming the argument when one is at fault."""
    try:
        return await action(await backend.session(session))
    except brig.InvalidJob as e:
        raise is_argument(e) from None
    except FileNotFoundError as e:
        raise ToolError(f"{e} (list_files shows what there is)") from None
    except (brig.BrigError, Unavailable) as e:
        raise ToolError(str(e)) from None


def build(backend: Backend) -> MCPServer:
    @asynccontextmanager
    async def lifespan(_server: MCPServer):
        # Connected ahead of the first call, so that it does not wait.
        warm_up = asyncio.ensure_future(backend.warm_up())
        try:
            yield {}
        finally:
            warm_up.cancel()

    server = MCPServer("brig", instructions=SERVER_INSTRUCTIONS, log_level="WARNING",
                       lifespan=lifespan)

    @server.tool(annotations=ToolAnnotations(title="Run code", open_world_hint=False))
    async def run_code(
        code: Annotated[str, Field(description="the complete program source")],
        ctx: Context,
        language: Annotated[str, Field(
            description="python (the default), javascript, typescript, bash, sh, c, r, java, "
                        "go, ruby, or another runtime list_runtimes shows")] = "python",
        session: Session = None,
        files: Files = None,
        collect: Collect = None,
        stdin: Stdin = None,
        timeout: Timeout = DEFAULT_TIMEOUT_S,
    ) -> Annotated[CallToolResult, RunOutput]:
        """Run a program in a sandbox and get back its status, exit code, stdout and stderr,
        and images. The sandbox has no network, a time limit (timeout), 256 MiB of memory
        and 64 processes; Python has numpy, pandas, matplotlib and scipy. Each call runs in
        a fresh directory unless you give a session, whose directory persists between calls.
        To see a chart, save it to a file and name it in collect (plt.savefig("chart.png"),
        collect=["chart.png"]). Print what you want to see: stdout and stderr are cut to
        about 20000 characters, with a note where. A status other than ok comes with a
        sentence saying what happened (timeout, out of memory, a forbidden system call)."""
        return await _run(backend, ctx, timeout, code=code, lang=language, session=session,
                          files=files, collect=collect, stdin=stdin)

    @server.tool(annotations=ToolAnnotations(title="Run a command", open_world_hint=False))
    async def run_command(
        command: Annotated[List[str], Field(
            min_length=1,
            description="the program and its arguments, e.g. [\"ls\", \"-la\"]; for pipes "
                        "and redirections use [\"bash\", \"-c\", \"...\"]")],
        ctx: Context,
        session: Session = None,
        files: Files = None,
        collect: Collect = None,
        stdin: Stdin = None,
        timeout: Timeout = DEFAULT_TIMEOUT_S,
    ) -> Annotated[CallToolResult, RunOutput]:
        """Run a command line in a sandbox, in the session's directory when a session is
        given (e.g. to run the tests of files written earlier, or pip install a package into
        the session). The sandbox's programs: bash, coreutils, python3, node, gcc, git-less
        Debian userland; no network unless the operator allows it. Returns the status, exit
        code, stdout, stderr and the collected files, as run_code does."""
        return await _run(backend, ctx, timeout, argv=command, session=session, files=files,
                          collect=collect, stdin=stdin)

    @server.tool(annotations=ToolAnnotations(title="Read a session file", read_only_hint=True,
                                             open_world_hint=False))
    async def read_file(
        session: SessionRequired,
        path: Annotated[str, Field(description="the file's path relative to the session's "
                                               "directory, e.g. \"out/result.json\"")],
    ) -> CallToolResult:
        """Read a file from a session's directory. Text comes back as text (cut to about
        50000 characters, with a note), images (PNG, JPEG, GIF, WebP) as images, anything
        else as its size only. Large files: read a part with run_command (head -c, sed -n)."""
        data = await _in_session(backend, session, lambda s: s.read_file(path))
        return session_files.render_read(session, path, data)

    @server.tool(annotations=ToolAnnotations(title="Write a session file", open_world_hint=False))
    async def write_file(
        session: SessionRequired,
        path: Annotated[str, Field(description="the file's path relative to the session's "
                                               "directory; directories are made as needed")],
        content: Annotated[str, Field(description="the file's content")],
        encoding: Annotated[str, Field(
            pattern="^(text|base64)$",
            description="text (the default: content is written as UTF-8) or base64 (content "
                        "is decoded first, for binary files)")] = "text",
        executable: Annotated[bool, Field(description="make the file executable")] = False,
    ) -> CallToolResult:
        """Write a file into a session's directory, replacing any file of that name, so that
        the session's later calls find it."""
        if encoding == "base64":
            try:
                data = base64.b64decode(content, validate=True)
            except binascii.Error as e:
                raise ToolError(f"invalid argument content: not base64 ({e})") from None
        else:
            data = content.encode("utf-8")
        await _in_session(backend, session, lambda s: s.write_files(
            {path: data}, executable=[path] if executable else None))
        return session_files.text(f"wrote {len(data)} bytes to {path} in session {session}",
                                  {"path": path, "bytes": len(data)})

    @server.tool(annotations=ToolAnnotations(title="List session files", read_only_hint=True,
                                             open_world_hint=False))
    async def list_files(
        session: SessionRequired,
        path: Annotated[str, Field(description="only the files under this directory, relative "
                                               "to the session's directory; default: all")]
        = ".",
    ) -> CallToolResult:
        """List the files of a session's directory with their sizes, in path order. The
        session's installed packages (.venv, node_modules) are left out."""
        files = await _in_session(backend, session, lambda s: s.list_files())
        return session_files.render_list(session, path, files)

    @server.tool(annotations=ToolAnnotations(title="List runtimes", read_only_hint=True,
                                             open_world_hint=False))
    async def list_runtimes() -> CallToolResult:
        """List the languages the sandbox can run (the language argument of run_code), with
        their versions and aliases."""
        try:
            workers = await backend.runtimes()
        except Unavailable as e:
            raise ToolError(str(e)) from None
        runtimes: Dict[str, brig.RuntimeInfo] = {}
        for worker in workers:
            for runtime in worker.runtimes:
                runtimes.setdefault(runtime.name, runtime)
        if not runtimes:
            return session_files.error("no worker has announced its runtimes: none may be running")
        lines = [f"{r.name} {r.version or ''}".rstrip()
                 + (f" (also: {', '.join(r.aliases)})" if r.aliases else "")
                 for r in sorted(runtimes.values(), key=lambda r: r.name)]
        return session_files.text("\n".join(lines), {"runtimes": [
            {"name": r.name, "version": r.version, "aliases": list(r.aliases)}
            for r in sorted(runtimes.values(), key=lambda r: r.name)]})

    @server.tool(annotations=ToolAnnotations(title="Cancel a run", destructive_hint=True,
                                             open_world_hint=False))
    async def cancel(
        job_id: Annotated[Optional[str], Field(
            description="the job to stop (the job id a run_code or run_command answer names)")]
        = None,
        session: Annotated[Optional[str], Field(
            description="stop what this server is running in the session instead")] = None,
    ) -> CallToolResult:
        """Stop a run that is still going, e.g. one started by another call that takes too
        long. A stopped run answers its own call with status cancelled."""
        if (job_id is None) == (session is None):
            raise ToolError("give job_id or session, one of them")
        try:
            ids = await backend.cancel(job_id, session)
        except brig.InvalidJob as e:
            raise is_argument(e) from None
        except Unavailable as e:
            raise ToolError(str(e)) from None
        if not ids:
            return session_files.text(f"nothing is running in session {session}", {"cancelled": []})
        return session_files.text(f"asked the workers to cancel {', '.join(ids)}",
                                  {"cancelled": ids})

    return server
