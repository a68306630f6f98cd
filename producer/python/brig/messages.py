"""The messages a client reads: results and log chunks, decoded from msgpack.

Decoding checks what a client relies on (the version, required fields, the
type and range of every known field) and names the field at fault. Unknown
top-level fields are kept in Result.extra: a newer worker may add fields
without a version change, and an older client must still read the result.
A nil value means the field is absent.
"""
from dataclasses import dataclass, field
from typing import Any, Dict, List, NamedTuple, Optional

import msgpack

from .errors import SchemaError
from .rules import (key_path, path_problem, runtime_name_problem, single_line_problem,
                    syscall_problem, token_problem)
from .schema import RESULT_VERSION_MAX, SCHEMA_VERSION, STATUSES, STATUSES_V2_ONLY, TIME_MS_MAX

_UINT_MAX = (1 << 53) - 1


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
    files: Dict[str, bytes] = field(default_factory=dict)
    files_omitted: List[OmittedFile] = field(default_factory=list)
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
    metadata: Dict[str, str] = field(default_factory=dict)
    session: Optional[str] = None
    replay_of: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self):
        return self.status == "ok"

    @property
    def stdout_text(self):
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def stderr_text(self):
        return self.stderr.decode("utf-8", errors="replace")


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


def _map_of_pairs(pairs):
    """Every map of a message, at any depth: str keys, each once (msgpack
    itself would keep the last of two values silently)."""
    result = {}
    for key, value in pairs:
        if not isinstance(key, str):
            raise SchemaError("", f"key is not a string: got {type(key).__name__}")
        if key in result:
            raise SchemaError("", f"duplicate key {key!r}")
        result[key] = value
    return result


def _unpack(data, newest=1):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SchemaError("", f"expected bytes, got {type(data).__name__}")
    try:
        message = msgpack.unpackb(bytes(data), raw=False, object_pairs_hook=_map_of_pairs)
    except SchemaError:
        raise
    except msgpack.ExtraData:
        raise SchemaError("", "trailing bytes after the message") from None
    except UnicodeDecodeError as e:
        raise SchemaError("", f"a string is not valid UTF-8: {e.reason}") from None
    except (ValueError, msgpack.UnpackException) as e:
        raise SchemaError("", f"invalid msgpack: {e}") from None
    if not isinstance(message, dict):
        raise SchemaError("", f"not a map: the message is of type {type(message).__name__}")
    version = message.get("v")
    if version is None:
        raise SchemaError("v", "missing: this field is required")
    if isinstance(version, bool) or not isinstance(version, int):
        raise SchemaError("v", f"wrong type: expected unsigned integer, got "
                               f"{type(version).__name__}")
    if not SCHEMA_VERSION <= version <= newest:
        spoken = f"versions 1 to {newest}" if newest > 1 else f"version {SCHEMA_VERSION}"
        raise SchemaError("v", f"unsupported version {version}: this client speaks {spoken}")
    return {k: v for k, v in message.items() if v is not None}


class _Fields:
    """Typed access to a message's fields, each error naming its field."""

    def __init__(self, message, parent=""):
        self.message = message
        self.parent = parent

    def path(self, name):
        return f"{self.parent}.{name}" if self.parent else name

    def get(self, name, kind, required=False, **bounds):
        if self.message.get(name) is None:  # nil means absent
            if required:
                raise SchemaError(self.path(name), "missing: this field is required")
            return None
        return kind(self.path(name), self.message[name], **bounds)


def _uint(field, value, low=0, high=_UINT_MAX):
    if isinstance(value, bool) or not isinstance(value, int):
        raise SchemaError(field, f"wrong type: expected unsigned integer, got "
                                 f"{type(value).__name__}")
    if not low <= value <= high:
        raise SchemaError(field, f"out of range: {value} (min {low}, max {high})")
    return value


def _time(field, value):
    return _uint(field, value, 1, TIME_MS_MAX)


def _text(field, value, nonempty=True, rule=None):
    if not isinstance(value, str):
        raise SchemaError(field, f"wrong type: expected string, got {type(value).__name__}")
    if nonempty and not value:
        raise SchemaError(field, "empty")
    if "\0" in value:
        raise SchemaError(field, f"contains NUL at position {value.index(chr(0))}")
    problem = rule(value) if rule else None
    if problem:
        raise SchemaError(field, problem)
    return value


def _token(field, value, allow_empty=False):
    return _text(field, value, not allow_empty,
                 lambda text: token_problem(text, allow_empty=allow_empty))


def _line(field, value, high):
    return _text(field, value, rule=lambda text: single_line_problem(text, high))


def _bounded(field, value, high):
    def too_long(text):
        size = len(text.encode("utf-8"))
        return f"too long: {size} bytes (max {high})" if size > high else None
    return _text(field, value, rule=too_long)


def _bytes(field, value):
    if isinstance(value, str):
        return value.encode("utf-8")
    if not isinstance(value, bytes):
        raise SchemaError(field, f"wrong type: expected binary or string, got "
                                 f"{type(value).__name__}")
    return value


def _bool(field, value):
    if not isinstance(value, bool):
        raise SchemaError(field, f"wrong type: expected boolean, got {type(value).__name__}")
    return value


def _map(field, value):
    if not isinstance(value, dict):
        raise SchemaError(field, f"wrong type: expected map, got {type(value).__name__}")
    return value


def _files(field, value):
    return {_text(key_path(field, path), path, rule=path_problem):
            _bytes(key_path(field, path), content)
            for path, content in _map(field, value).items()}


def _pairs(field, value):
    return {_text(key_path(field, name), name): _text(key_path(field, name), text,
                                                      nonempty=False)
            for name, text in _map(field, value).items()}


def _omitted(field, value):
    if not isinstance(value, list):
        raise SchemaError(field, f"wrong type: expected array, got {type(value).__name__}")
    entries = []
    for i, entry in enumerate(value):
        fields = _Fields(_map(f"{field}[{i}]", entry), f"{field}[{i}]")
        entries.append(OmittedFile(fields.get("path", _line, required=True, high=1024),
                                   fields.get("reason", _line, required=True, high=256)))
    return entries


def _usage(field, value):
    fields = _Fields(_map(field, value), field)
    return Usage(*(fields.get(name, _uint, required=True)
                   for name in ("wall_us", "cpu_us", "peak_memory_bytes")),
                 compile_us=fields.get("compile_us", _uint))


def _status(field, value):
    if _text(field, value) not in STATUSES:
        raise SchemaError(field, f"unknown status {value!r}: not one of the closed set")
    return value


_RESULT_FIELDS = {"v", "id", "attempt", "status", "exit_code", "signal", "stdout", "stderr",
                  "stdout_truncated", "stderr_truncated", "files", "files_omitted",
                  "files_omitted_truncated", "usage", "runtime", "worker_id", "received_ms",
                  "started_ms", "finished_ms", "error", "syscall", "metadata", "session",
                  "replay_of"}


def decode_result(data):
    """A Result from the bytes of a Kafka message; SchemaError when they
    break the schema."""
    message = _unpack(data, RESULT_VERSION_MAX)
    f = _Fields(message)
    if message.get("status") in STATUSES_V2_ONLY and message["v"] < 2:
        raise SchemaError("status", f"unknown status {message['status']!r}: a status of "
                                    f"results of version 2")
    runtime_name = runtime_version = None
    if "runtime" in message:
        runtime = _Fields(_map("runtime", message["runtime"]), "runtime")
        runtime_name = runtime.get("name", _text, required=True, rule=runtime_name_problem)
        runtime_version = runtime.get("version", _line, high=64)
    return Result(
        id=f.get("id", _token, required=True),
        attempt=f.get("attempt", _uint, required=True, low=1, high=(1 << 32) - 1),
        status=f.get("status", _status, required=True),
        exit_code=f.get("exit_code", _uint, high=255),
        signal=f.get("signal", _uint, low=1, high=64),
        stdout=f.get("stdout", _bytes) or b"",
        stderr=f.get("stderr", _bytes) or b"",
        stdout_truncated=bool(f.get("stdout_truncated", _bool)),
        stderr_truncated=bool(f.get("stderr_truncated", _bool)),
        files=f.get("files", _files) or {},
        files_omitted=f.get("files_omitted", _omitted) or [],
        files_omitted_truncated=bool(f.get("files_omitted_truncated", _bool)),
        usage=f.get("usage", _usage),
        runtime_name=runtime_name,
        runtime_version=runtime_version,
        worker_id=f.get("worker_id", _token),
        received_ms=f.get("received_ms", _time),
        started_ms=f.get("started_ms", _time),
        finished_ms=f.get("finished_ms", _time),
        error=f.get("error", _bounded, high=1024),
        syscall=f.get("syscall", _text, rule=syscall_problem),
        metadata=f.get("metadata", _pairs) or {},
        session=f.get("session", _token, allow_empty=True),
        replay_of=f.get("replay_of", _token),
        extra={k: v for k, v in message.items() if k not in _RESULT_FIELDS},
    )


def _stream(field, value):
    if _text(field, value) not in ("stdout", "stderr"):
        raise SchemaError(field, f'unknown stream {value!r}: "stdout" or "stderr"')
    return value


def decode_log_chunk(data):
    """A WireLogChunk from the bytes of a Kafka message."""
    f = _Fields(_unpack(data))
    return WireLogChunk(
        id=f.get("id", _token, required=True),
        attempt=f.get("attempt", _uint, required=True, low=1, high=(1 << 32) - 1),
        stream=f.get("stream", _stream, required=True),
        seq=f.get("seq", _uint, required=True),
        data=f.get("data", _bytes, required=True),
        ts_ms=f.get("ts_ms", _time, required=True),
        eos=bool(f.get("eos", _bool)),
    )
