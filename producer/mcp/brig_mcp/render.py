"""What a model gets back from a job: a text block it can read (status, a
sentence for anything but success, stdout and stderr cut to a budget with
a marker saying so, the files), images as MCP image content, and the same
facts as structured content for programs.

Everything here comes from a job and is hostile: output is cut to a
budget, never trusted as markup, and images are recognised by their bytes,
not by what their names claim.
"""
import base64
from typing import List, Optional, Tuple

import brig
from mcp.types import CallToolResult, ImageContent, TextContent
from pydantic import BaseModel, Field

# Characters of stdout and stderr together in a call's text: a model's
# context is worth more than the middle of a long log.
OUTPUT_CHARS = 20000
# Characters of collected text files shown in a call's text, in all.
FILE_CHARS = 10000
# Characters of a cell's outputs' text, and of its exception's traceback.
OUTPUT_TEXT_CHARS = 10000
TRACEBACK_CHARS = 10000

# Statuses for which brig could not run the program at all: the call is an
# error (isError), where a program that failed is a result like any other.
NOT_RUN = {"rejected", "setup_error", "internal_error"}

_EXPLANATIONS = {
    "failed": "The program exited with an error.",
    "raised": "The code raised an exception.",
    "timeout": "The program was stopped: it ran past its time limit of {limit}. Look for an "
               "endless loop or a wait for input that never comes, or give a larger timeout.",
    "cpu_timeout": "The program was stopped: it used more CPU time than allowed. The "
                   "computation is too heavy, or loops forever.",
    "oom": "The program was killed: it used more memory than its limit. Process the data in "
           "smaller pieces.",
    "output_limit": "The program was stopped: it printed more than the output limit. Print "
                    "less, or a summary.",
    "seccomp": "The program was killed: it made a system call the sandbox forbids{call}. "
               "Network access, process tracing and the like are not available.",
    "signaled": "The program was killed by signal {signal}.",
    "compile_error": "The program did not compile; the compiler's messages are below.",
    "cancelled": "The run was cancelled before it finished; its output so far is below.",
    "setup_error": "The sandbox could not be prepared for this program: {error}",
    "rejected": "The sandbox refused the request: {error}",
    "internal_error": "The sandbox failed for reasons of its own, not the program's: {error}",
}


class ErrorInfo(BaseModel):
    name: str = Field(description="the exception's class, or why the run did not complete")
    value: Optional[str] = Field(None, description="its message")
    traceback: Optional[List[str]] = Field(None, description="the traceback, a frame each")


class FileInfo(BaseModel):
    path: str
    bytes: int
    type: str = Field(description="a MIME type for images, else text or binary")


class OmittedInfo(BaseModel):
    path: str
    reason: str


class InterpreterInfo(BaseModel):
    started: bool = Field(description="this call started a fresh interpreter: earlier "
                                      "variables are gone")
    execution_count: Optional[int] = None
    state_lost: bool = False


class OutputInfo(BaseModel):
    kind: str = Field(description="display, or result (the value of the last expression)")
    mime_types: List[str]


class RunOutput(BaseModel):
    job_id: str
    status: str = Field(description="ok, failed, timeout, cpu_timeout, oom, output_limit, "
                                    "seccomp, signaled, compile_error, cancelled, rejected, "
                                    "setup_error or internal_error")
    exit_code: Optional[int] = None
    signal: Optional[int] = None
    error: Optional[ErrorInfo] = None
    wall_ms: Optional[float] = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    files: List[FileInfo] = Field(default_factory=list)
    files_omitted: List[OmittedInfo] = Field(default_factory=list)
    outputs: List[OutputInfo] = Field(default_factory=list)
    outputs_truncated: bool = False
    interpreter: Optional[InterpreterInfo] = None


def cut(text: str, budget: int, keep_end: bool) -> str:
    """text within budget characters, with a marker where the cut is: the
    end of stderr matters most (a traceback ends with the error), the start
    and the end of stdout."""
    if len(text) <= budget:
        return text
    note = (f"\n[brig: {len(text) - budget} of {len(text)} characters cut here; "
            f"write long output to a file and read parts of it]\n")
    if keep_end:
        return note.lstrip("\n") + text[-budget:]
    head = budget // 2
    return text[:head] + note + text[len(text) - (budget - head):]


def image_type(data: bytes) -> Optional[str]:
    """The MIME type of an image format hosts show, by its first bytes."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def as_text(data: bytes) -> Optional[str]:
    """data as text when it is UTF-8 without NUL bytes, else None."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def file_kind(data: bytes) -> str:
    return image_type(data) or ("text" if as_text(data) is not None else "binary")


def image_block(data: bytes, mime: str) -> ImageContent:
    return ImageContent(type="image", data=base64.b64encode(data).decode("ascii"), mime_type=mime)


def _section(name: str, text: str, dropped: bool, budget: int, keep_end: bool) -> str:
    if not text:
        return ""
    note = " (past the output limit the sandbox dropped the rest)" if dropped else ""
    return f"--- {name}{note} ---\n{cut(text, budget, keep_end).rstrip(chr(10))}\n"


def _status_line(result: brig.Result) -> str:
    line = f"status: {result.status}"
    if result.exit_code is not None:
        line += f", exit code {result.exit_code}"
    if result.usage is not None:
        line += f", {result.usage.wall_us / 1e6:.2f} s"
    if result.runtime_name:
        line += f" ({result.runtime_name} {result.runtime_version or ''}".rstrip() + ")"
    return line + f", job {result.id}"


def _error(result: brig.Result) -> Optional[ErrorInfo]:
    if result.exception is not None:
        e = result.exception
        return ErrorInfo(name=e.name, value=e.value, traceback=list(e.traceback) or None)
    if result.status == "seccomp":
        return ErrorInfo(name="seccomp", value=f"forbidden system call {result.syscall or '?'}")
    if result.error:
        return ErrorInfo(name=result.status, value=result.error)
    return None


def _files(result: brig.Result) -> Tuple[str, List[FileInfo], List[ImageContent]]:
    """The text that lists the collected files (with the text files' own
    text, within FILE_CHARS), their descriptions, and the images."""
    lines, infos, images = [], [], []
    left = FILE_CHARS
    for path, data in result.files.items():
        kind = file_kind(data)
        infos.append(FileInfo(path=path, bytes=len(data), type=kind))
        if kind.startswith("image/"):
            images.append(image_block(data, kind))
            lines.append(f"{path}: {kind}, {len(data)} bytes (shown below)")
        elif kind == "binary":
            lines.append(f"{path}: binary, {len(data)} bytes")
        else:
            text = cut(as_text(data) or "", max(left, 0), keep_end=False)
            left -= len(text)
            lines.append(f"{path}: text, {len(data)} bytes\n{text.rstrip(chr(10))}")
    for omitted in result.files_omitted:
        lines.append(f"{omitted.path}: not returned ({omitted.reason})")
    text = "--- files ---\n" + "\n".join(lines) + "\n" if lines else ""
    return text, infos, images


def _cell(result: brig.Result) -> Tuple[str, List[ImageContent]]:
    """The text of a cell's interpreter, outputs and exception, and the
    images it displayed; empty for a job that was not a cell."""
    text, images = "", []
    interpreter = result.interpreter
    if interpreter is not None:
        if interpreter.state_lost:
            text += ("interpreter: it ended during this cell (out of memory, a crash, or an "
                     "interrupt it did not heed); the next call starts a fresh one\n")
        elif interpreter.started:
            text += "interpreter: a fresh one started for this cell; what earlier calls " \
                    "defined is gone\n"
    shown = []
    for output in result.outputs:
        image = output.image
        # The cell names the type; the bytes must agree, or a host gets an
        # image it cannot decode.
        if image is not None and image_type(image[1]) == image[0]:
            images.append(image_block(image[1], image[0]))
            shown.append(f"[{output.kind}] {image[0]}, {len(image[1])} bytes (shown below)")
        elif output.text is not None:
            shown.append(f"[{output.kind}] {output.text}")
        else:
            shown.append(f"[{output.kind}] {', '.join(output.mime_types)}")
    if result.outputs_truncated:
        shown.append("[brig: the cell displayed more than a result holds; the rest was dropped]")
    if shown:
        text += "--- outputs ---\n" + cut("\n".join(shown), OUTPUT_TEXT_CHARS,
                                            keep_end=False).rstrip("\n") + "\n"
    if result.exception is not None:
        e = result.exception
        trace = "".join(e.traceback) or f"{e.name}: {e.value or ''}"
        text += "--- exception ---\n" + cut(trace, TRACEBACK_CHARS, keep_end=True).rstrip("\n") \
            + "\n"
    return text, images


def render(result: brig.Result, timeout_s: float) -> CallToolResult:
    """The answer to a run_code or run_command call."""
    status = "raised" if result.exception is not None else result.status
    explanation = _EXPLANATIONS.get(status, "").format(
        limit=f"{timeout_s:g} s", call=f" ({result.syscall})" if result.syscall else "",
        signal=result.signal, error=result.error or "no reason given.")
    stdout, stderr = result.stdout_text, result.stderr_text
    # stderr gets what stdout leaves of the budget, and at least a third.
    stderr_budget = max(OUTPUT_CHARS - len(stdout), OUTPUT_CHARS // 3)
    stdout_budget = OUTPUT_CHARS - min(len(stderr), stderr_budget)
    text = _status_line(result) + "\n" + (explanation + "\n" if explanation else "")
    text += _section("stdout", stdout, result.stdout_truncated, stdout_budget, keep_end=False)
    text += _section("stderr", stderr, result.stderr_truncated, stderr_budget, keep_end=True)
    cell_text, cell_images = _cell(result)
    files_text, files, images = _files(result)
    text += cell_text + files_text
    if not (stdout or stderr or cell_text or files_text):
        text += "(no output)\n"
    structured = RunOutput(
        job_id=result.id, status=result.status, exit_code=result.exit_code,
        signal=result.signal, error=_error(result),
        wall_ms=result.usage.wall_us / 1000 if result.usage else None,
        stdout_truncated=result.stdout_truncated, stderr_truncated=result.stderr_truncated,
        files=files,
        files_omitted=[OmittedInfo(path=o.path, reason=o.reason) for o in result.files_omitted],
        outputs=[OutputInfo(kind=o.kind, mime_types=o.mime_types) for o in result.outputs],
        outputs_truncated=result.outputs_truncated,
        interpreter=None if result.interpreter is None else InterpreterInfo(
            started=result.interpreter.started,
            execution_count=result.interpreter.execution_count,
            state_lost=result.interpreter.state_lost))
    content: List = [TextContent(type="text", text=text)]
    content.extend(cell_images + images)
    return CallToolResult(content=content, structured_content=structured.model_dump(mode="json"),
                          is_error=result.status in NOT_RUN)


def progress_message(stream: str, data: bytes, limit: int = 4000) -> str:
    """A piece of live output as a progress notification's message."""
    text = data.decode("utf-8", errors="replace")
    return f"[{stream}] {cut(text, limit, keep_end=True)}"

