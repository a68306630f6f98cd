"""The job side of the wire schema (schema/SCHEMA.md, schema/bounds.h): the
names and bounds a client needs, and building a job message.

The client checks types and the obvious mistakes, each with a message naming
the field; the worker checks everything else and answers a job it refuses
with a result of status "rejected" whose error names the field.
"""
from __future__ import annotations

import secrets
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import msgpack

from .errors import InvalidJob
from .rules import (env_name_problem, key_path, path_problem, runtime_name_problem,
                    token_problem, topic_problem)

SCHEMA_VERSION = 1
# Results are version 2 when their status is cancelled (SCHEMA.md section 3).
RESULT_VERSION_MAX = 2

JOB_MAX_BYTES = 16 << 20
# Unix milliseconds up to the last one of 9999: catches microseconds sent by
# mistake.
TIME_MS_MAX = 253402300799999
SECRETS_MAX = 16

# The closed set of outcomes (schema/status.h).
STATUSES = ("ok", "failed", "signaled", "timeout", "cpu_timeout", "oom", "output_limit",
            "seccomp", "compile_error", "setup_error", "rejected", "internal_error", "cancelled")
# The status a version 1 result may not have.
STATUSES_V2_ONLY = ("cancelled",)

# Every job limit: name -> (min, max, default). Absent means the default.
LIMITS = {
    "wall_ms": (100, 600000, 10000),
    "cpu_ms": (100, 600000, 10000),
    "memory_bytes": (16 << 20, 8 << 30, 256 << 20),
    "pids": (1, 4096, 64),
    "output_bytes": (1 << 10, 8 << 20, 1 << 20),
    "fsize_bytes": (4 << 10, 1 << 30, 64 << 20),
    "disk_bytes": (1 << 20, 8 << 30, 128 << 20),
    "tmp_bytes": (1 << 20, 4 << 30, 64 << 20),
    "cpu_millis": (10, 64000, 1000),
    "collect_bytes": (1 << 10, 4 << 20, 1 << 20),
}

# What a client takes for code, stdin and file contents: str goes as UTF-8
# text, bytes as they are.
Content = Union[str, bytes, bytearray]
Files = Mapping[str, Content]
# None or "none": no network; else allow rules ("pypi.org", "*.example.com:443").
Network = Union[None, str, Sequence[str], Mapping[str, Sequence[str]]]
Job = dict[str, Any]


def new_job_id() -> str:
    """A fresh random job id: 24 hex digits, as the C client makes them."""
    return secrets.token_hex(12)


def _check(field: str, value: Any, problem_of: Callable[[str], Optional[str]],
           described: str = "a string") -> None:
    _expect(field, value, str, described)
    problem = problem_of(value)
    if problem:
        raise InvalidJob(field, problem)


def check_topic(field: str, value: Any) -> None:
    """Kafka topic names: [A-Za-z0-9._-], at most 249 bytes, not . or .."""
    _check(field, value, topic_problem, "a topic name")


def check_limits(limits: Optional[Mapping[str, int]]) -> dict[str, int]:
    """The limits map as given, after the client-side checks: known names,
    integers within the schema's bounds."""
    if limits is None:
        return {}
    _expect("limits", limits, dict, "a dict of limit name to integer")
    for name, value in limits.items():
        if name not in LIMITS:
            raise InvalidJob(f"limits.{name}",
                             f"unknown limit; the limits are: {', '.join(LIMITS)}")
        field = f"limits.{name}"
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidJob(field, f"expected an integer, got {type(value).__name__}")
        low, high, _ = LIMITS[name]
        if value < 0:
            raise InvalidJob(field, f"negative: {value}")
        if not low <= value <= high:
            raise InvalidJob(field, f"out of range: {value} (min {low}, max {high})")
    return dict(limits)


def _expect(field: str, value: Any, types: Union[type, tuple[type, ...]],
            described: str) -> None:
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise InvalidJob(field, f"expected {described}, got bool")
    if not isinstance(value, types):
        raise InvalidJob(field, f"expected {described}, got {type(value).__name__}")


def _text_list(field: str, value: Any) -> list[str]:
    _expect(field, value, (list, tuple), "a list of strings")
    for i, item in enumerate(value):
        _expect(f"{field}[{i}]", item, str, "a string")
    return list(value)


def _text_map(field: str, value: Any,
              name_problem: Optional[Callable[[str], Optional[str]]] = None) -> dict[str, str]:
    _expect(field, value, dict, "a dict of string to string")
    for name, item in value.items():
        _expect(field, name, str, "string keys")
        problem = name_problem(name) if name_problem else None
        if problem:
            raise InvalidJob(key_path(field, name), problem)
        _expect(key_path(field, name), item, str, "a string")
    return dict(value)


def _files(value: Any) -> dict[str, Union[str, bytes]]:
    _expect("files", value, dict, "a dict of relative path to bytes or str")
    for path, content in value.items():
        _expect("files", path, str, "string paths")
        _expect(key_path("files", path), content, (bytes, bytearray, str), "bytes or str")
        problem = path_problem(path)
        if problem:
            raise InvalidJob(key_path("files", path), problem)
    return {path: bytes(c) if isinstance(c, bytearray) else c for path, c in value.items()}


def _network(value: Any) -> Union[str, dict[str, list[str]]]:
    """None and "none" leave the job without network; a list of
    "host[:port]" rules (or the map {"allow": [...]}) allows just those."""
    if isinstance(value, str):
        if value != "none":
            raise InvalidJob("network", f'unknown network mode {value!r}: the only string is '
                                        f'"none"; give a list of allow rules for access')
        return value
    if isinstance(value, dict):
        for key in value:
            if key != "allow":
                raise InvalidJob(f"network.{key}", "unknown key: the only key is allow")
        if value.get("allow") is None:
            raise InvalidJob("network.allow", "missing: the list of allow rules")
        value = value["allow"]
    return {"allow": _text_list("network.allow", value)}


def build_job(*, job_id: Optional[str] = None, runtime: Optional[str] = None,
              code: Optional[Content] = None, argv: Optional[Sequence[str]] = None,
              args: Optional[Sequence[str]] = None, stdin: Optional[Content] = None,
              env: Optional[Mapping[str, str]] = None, files: Optional[Files] = None,
              limits: Optional[Mapping[str, int]] = None, network: Network = None,
              session: Optional[str] = None, collect: Optional[Sequence[str]] = None,
              reply_topic: Optional[str] = None, stream_logs: bool = False,
              metadata: Optional[Mapping[str, str]] = None, deadline_ms: Optional[int] = None,
              replay_of: Optional[str] = None,
              executable: Optional[Sequence[str]] = None,
              secrets: Optional[Sequence[str]] = None) -> Job:
    """The job as the dict that goes on the wire. Exactly one of runtime (with
    code) and argv. Absent and default fields are left out. executable: paths
    of files to write with mode 0755. secrets: names of the worker's secrets
    the job uses (SCHEMA.md 5): it sees a placeholder for each, and the
    worker's egress proxy puts the value in where the operator bound it."""
    if runtime is not None and argv is not None:
        raise InvalidJob("argv", "conflict: a job has a runtime or an argv, not both")
    if runtime is None and argv is None:
        raise InvalidJob("runtime", "missing: a job needs a runtime (with code) or an argv")
    job: Job = {"v": SCHEMA_VERSION, "id": new_job_id() if job_id is None else job_id}
    _check("id", job["id"], token_problem)
    if runtime is not None:
        _check("runtime", runtime, runtime_name_problem, "a runtime name")
        if code is None:
            raise InvalidJob("code", "missing: a job with a runtime needs code")
        _expect("code", code, (str, bytes, bytearray), "str or bytes")
        job["runtime"] = runtime
        job["code"] = bytes(code) if isinstance(code, bytearray) else code
    else:
        if code is not None:
            raise InvalidJob("code", "conflict: code goes with runtime; an argv job brings "
                                     "its program in files")
        job["argv"] = _text_list("argv", argv)
        if not job["argv"]:
            raise InvalidJob("argv", "empty: argv needs at least the program")
        if not job["argv"][0]:
            raise InvalidJob("argv[0]", "empty: the program name is empty")
    if args:
        job["args"] = _text_list("args", args)
    if stdin is not None:
        _expect("stdin", stdin, (str, bytes, bytearray), "str or bytes")
        job["stdin"] = bytes(stdin) if isinstance(stdin, bytearray) else stdin
    if env:
        job["env"] = _text_map("env", env, env_name_problem)
    if files:
        job["files"] = _files(files)
    if limits:
        job["limits"] = check_limits(limits)
    if network is not None and network != "none":
        job["network"] = _network(network)
    if session:
        _check("session", session, token_problem)
        job["session"] = session
    if collect:
        job["collect"] = _text_list("collect", collect)
    if reply_topic is not None:
        check_topic("reply_topic", reply_topic)
        job["reply_topic"] = reply_topic
    _expect("stream_logs", stream_logs, bool, "a bool")
    if stream_logs:
        job["stream_logs"] = True
    if metadata:
        job["metadata"] = _text_map("metadata", metadata)
    if deadline_ms is not None:
        _expect("deadline_ms", deadline_ms, int, "Unix milliseconds")
        if not 1 <= deadline_ms <= TIME_MS_MAX:
            raise InvalidJob("deadline_ms", f"out of range: {deadline_ms} (Unix milliseconds, "
                                            f"max {TIME_MS_MAX})")
        job["deadline_ms"] = deadline_ms
    if replay_of is not None:
        _check("replay_of", replay_of, token_problem)
        job["replay_of"] = replay_of
    if executable:
        job["executable"] = _text_list("executable", executable)
        for i, path in enumerate(job["executable"]):
            if path not in job.get("files", {}):
                raise InvalidJob(f"executable[{i}]", f"not in files: {path!r} is not one of "
                                                     f"the job's files")
    if secrets:
        job["secrets"] = _text_list("secrets", secrets)
        if len(job["secrets"]) > SECRETS_MAX:
            raise InvalidJob("secrets", f"too many elements: {len(job['secrets'])} "
                                        f"(max {SECRETS_MAX})")
        for i, name in enumerate(job["secrets"]):
            problem = env_name_problem(name)
            if problem:
                raise InvalidJob(f"secrets[{i}]", problem)
    return job


def encode_job(job: Job) -> bytes:
    """msgpack bytes of a job dict from build_job: str stays str (UTF-8
    text), bytes become bin, as the schema reads them."""
    try:
        data: bytes = msgpack.packb(job, use_bin_type=True)
    except UnicodeEncodeError as e:
        raise InvalidJob("", f"a string cannot be sent as UTF-8: {e.reason} in "
                             f"{e.object[max(e.start - 20, 0):e.end + 20]!r}") from None
    if len(data) > JOB_MAX_BYTES:
        raise InvalidJob("", f"too large: {len(data)} bytes encoded (max {JOB_MAX_BYTES})")
    return data


def job_key(job: Job) -> str:
    """The Kafka key: the session keeps a session's jobs in order on one
    partition; other jobs spread by id."""
    key: str = job.get("session") or job["id"]
    return key


def encode_cancel(job_id: str, by: Optional[str], ts_ms: int) -> bytes:
    """msgpack bytes of a control message asking to cancel job_id
    (SCHEMA.md section 8a)."""
    _check("id", job_id, token_problem)
    message = {"v": SCHEMA_VERSION, "op": "cancel", "id": job_id, "ts_ms": ts_ms}
    if by is not None:
        _check("by", by, lambda v: None if 1 <= len(v.encode()) <= 128 and "\n" not in v
               and all(ord(c) >= 0x20 for c in v) else "1 to 128 bytes on one line, no control "
               "characters")
        message["by"] = by
    data: bytes = msgpack.packb(message, use_bin_type=True)
    return data
