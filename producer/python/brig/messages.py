"""The messages a client reads: results and log chunks, decoded from msgpack.

Decoding checks what a client relies on (the version, required fields, the
type and range of every known field) and names the field at fault. Unknown
top-level fields are kept in Result.extra: a newer worker may add fields
without a version change, and an older client must still read the result.
A nil value means the field is absent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional

from .display import (CellException, Interpreter, Output, decode_exception,
                      decode_interpreter, decode_outputs)
from .errors import SchemaError
from .rules import runtime_name_problem, syscall_problem
from .schema import RESULT_VERSION_MAX, STATUSES, STATUSES_V2_ONLY
from .wire import (Fields, array, binary, boolean, bounded, files, line, mapping, pairs, text,
                   time_ms, token, uint, unpack)


@dataclass(frozen=True)
class Usage:
    """The program's run; compile_us is the runtime's compile step, when it
    has one (not part of wall_us)."""
    wall_us: int
    cpu_us: int
    peak_memory_bytes: int
    compile_us: Optional[int] = None


@dataclass(frozen=True)
class OmittedFile:
    """A file that matched collect but was not returned, and why."""
    path: str
    reason: str


@dataclass
class Result:
    """One job's answer. stdout, stderr and files are bytes; times are Unix
    milliseconds, None when the worker did not say."""
    id: str
    attempt: int
    status: str
    exit_code: Optional[int] = None
    signal: Optional[int] = None
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    files: dict[str, bytes] = field(default_factory=dict)
    files_omitted: list[OmittedFile] = field(default_factory=list)
    files_omitted_truncated: bool = False
    usage: Optional[Usage] = None
    runtime_name: Optional[str] = None
    runtime_version: Optional[str] = None
    worker_id: Optional[str] = None
    received_ms: Optional[int] = None
    started_ms: Optional[int] = None
    finished_ms: Optional[int] = None
    error: Optional[str] = None
    syscall: Optional[str] = None
    metadata: dict[str, str] = field(default_factory=dict)
    session: Optional[str] = None
    replay_of: Optional[str] = None
    # A cell's rich results (SCHEMA.md 6.1): empty, None and False for a job
    # that is not a cell.
    outputs: list[Output] = field(default_factory=list)
    outputs_truncated: bool = False
    exception: Optional[CellException] = None
    interpreter: Optional[Interpreter] = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")

    @property
    def images(self) -> list[tuple[str, bytes]]:
        """(MIME type, bytes) of every raster image the cell displayed, in
        order: a chart to show a person or a model."""
        return [image for image in (o.image for o in self.outputs) if image is not None]


class LogChunk(NamedTuple):
    """A piece of a job's live output: stream is "stdout" or "stderr"."""
    stream: str
    data: bytes


@dataclass(frozen=True)
class WireLogChunk:
    """A log chunk as it travels: ordering needs attempt, seq and eos."""
    id: str
    attempt: int
    stream: str
    seq: int
    data: bytes
    ts_ms: int
    eos: bool = False


def _omitted(field: str, value: Any) -> list[OmittedFile]:
    entries = []
    for i, entry in enumerate(array(field, value, 256)):
        f = Fields(mapping(f"{field}[{i}]", entry), f"{field}[{i}]")
        entries.append(OmittedFile(f.need("path", line, high=1024),
                                   f.need("reason", line, high=256)))
    return entries


def _usage(field: str, value: Any) -> Usage:
    f = Fields(mapping(field, value), field)
    return Usage(f.need("wall_us", uint), f.need("cpu_us", uint),
                 f.need("peak_memory_bytes", uint), compile_us=f.get("compile_us", uint))


def _status(field: str, value: Any) -> str:
    if text(field, value) not in STATUSES:
        raise SchemaError(field, f"unknown status {value!r}: not one of the closed set")
    return str(value)


_RESULT_FIELDS = {"v", "id", "attempt", "status", "exit_code", "signal", "stdout", "stderr",
                  "stdout_truncated", "stderr_truncated", "files", "files_omitted",
                  "files_omitted_truncated", "usage", "runtime", "worker_id", "received_ms",
                  "started_ms", "finished_ms", "error", "syscall", "metadata", "session",
                  "replay_of", "outputs", "outputs_truncated", "exception", "interpreter"}


def decode_result(data: bytes) -> Result:
    """A Result from the bytes of a Kafka message; SchemaError when they
    break the schema."""
    message = unpack(data, RESULT_VERSION_MAX)
    f = Fields(message)
    if message.get("status") in STATUSES_V2_ONLY and message["v"] < 2:
        raise SchemaError("status", f"unknown status {message['status']!r}: a status of "
                                    f"results of version 2")
    runtime_name = runtime_version = None
    if "runtime" in message:
        runtime = Fields(mapping("runtime", message["runtime"]), "runtime")
        runtime_name = runtime.need("name", text, rule=runtime_name_problem)
        runtime_version = runtime.get("version", line, high=64)
    return Result(
        id=f.need("id", token),
        attempt=f.need("attempt", uint, low=1, high=(1 << 32) - 1),
        status=f.need("status", _status),
        exit_code=f.get("exit_code", uint, high=255),
        signal=f.get("signal", uint, low=1, high=64),
        stdout=f.get("stdout", binary) or b"",
        stderr=f.get("stderr", binary) or b"",
        stdout_truncated=bool(f.get("stdout_truncated", boolean)),
        stderr_truncated=bool(f.get("stderr_truncated", boolean)),
        files=f.get("files", files) or {},
        files_omitted=f.get("files_omitted", _omitted) or [],
        files_omitted_truncated=bool(f.get("files_omitted_truncated", boolean)),
        usage=f.get("usage", _usage),
        runtime_name=runtime_name,
        runtime_version=runtime_version,
        worker_id=f.get("worker_id", token),
        received_ms=f.get("received_ms", time_ms),
        started_ms=f.get("started_ms", time_ms),
        finished_ms=f.get("finished_ms", time_ms),
        error=f.get("error", bounded, high=1024),
        syscall=f.get("syscall", text, rule=syscall_problem),
        metadata=f.get("metadata", pairs) or {},
        session=f.get("session", token, allow_empty=True),
        replay_of=f.get("replay_of", token),
        outputs=f.get("outputs", decode_outputs) or [],
        outputs_truncated=bool(f.get("outputs_truncated", boolean)),
        exception=f.get("exception", decode_exception),
        interpreter=f.get("interpreter", decode_interpreter),
        extra={k: v for k, v in message.items() if k not in _RESULT_FIELDS},
    )


def _stream(field: str, value: Any) -> str:
    if text(field, value) not in ("stdout", "stderr"):
        raise SchemaError(field, f'unknown stream {value!r}: "stdout" or "stderr"')
    return str(value)


def decode_log_chunk(data: bytes) -> WireLogChunk:
    """A WireLogChunk from the bytes of a Kafka message."""
    f = Fields(unpack(data))
    return WireLogChunk(
        id=f.need("id", token),
        attempt=f.need("attempt", uint, low=1, high=(1 << 32) - 1),
        stream=f.need("stream", _stream),
        seq=f.need("seq", uint),
        data=f.need("data", binary),
        ts_ms=f.need("ts_ms", time_ms),
        eos=bool(f.get("eos", boolean)),
    )
