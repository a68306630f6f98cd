"""The schema vectors, read by a second decoder written from schema/SCHEMA.md.

The C unit tests check the C decoder against schema/vectors/*.json; this file
checks the same vectors with Python's msgpack and an independent reading of the
spec, so the document, the bytes and the C code cannot drift apart. It also
checks that the vectors are reproducible, that they cover every field and every
rejection reason the spec lists, and that the spec's worked example is right.
"""
import json
import pathlib
import re
import socket
import subprocess
import sys

import msgpack
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
VECTORS = ROOT / "schema" / "vectors"
SPEC = ROOT / "schema" / "SCHEMA.md"

# Bounds, as SCHEMA.md states them (not read from the C headers on purpose).
MAX_BYTES = {"job": 16 << 20, "result": 16 << 20, "log_chunk": 1 << 20,
             "dead_letter": (16 << 20) + (64 << 10), "control": 4096, "runtimes": 1 << 20}
# The newest version of each kind a reader speaks (results: 2, for cancelled).
MAX_VERSION = {"result": 2}
MAX_DEPTH, MAX_OBJECTS, MAX_TOP_KEYS, MAX_MAP_ENTRIES = 8, 16384, 64, 256
UINT_MAX, TIME_MAX, ATTEMPT_MAX = 2**53 - 1, 253402300799999, 2**32 - 1
LIMITS = {  # name: (min, max)
    "wall_ms": (100, 600000), "cpu_ms": (100, 600000),
    "memory_bytes": (16 << 20, 8 << 30), "pids": (1, 4096),
    "output_bytes": (1 << 10, 8 << 20), "fsize_bytes": (4 << 10, 1 << 30),
    "disk_bytes": (1 << 20, 8 << 30), "tmp_bytes": (1 << 20, 4 << 30),
    "cpu_millis": (10, 64000), "collect_bytes": (1 << 10, 4 << 20),
}
STATUSES = {"ok", "failed", "signaled", "timeout", "cpu_timeout", "oom", "output_limit",
            "seccomp", "compile_error", "setup_error", "rejected", "internal_error"}
STATUSES_V2 = STATUSES | {"cancelled"}


class Refused(Exception):
    def __init__(self, field, reason):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


class Map(list):
    """A msgpack map as its (key, value) pairs, in order, duplicates kept."""


# --- field paths ---------------------------------------------------------------

def raw(text):
    """The bytes of a str decoded with surrogateescape (so broken UTF-8 survives)."""
    return text.encode("utf-8", "surrogateescape")


def key_path(parent, key):
    def esc(b):
        if b in b'"\\':
            return "\\" + chr(b)
        return chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}"
    prefix = f'{parent}["'
    room = 63 - len(prefix) - 2
    pieces = [esc(b) for b in raw(key)]
    body = "".join(pieces)
    if len(body) > room:
        body = ""
        for piece in pieces:
            if len(body) + len(piece) > room - 3:
                break
            body += piece
        body += "..."
    return f'{prefix}{body}"]'


def member_path(parent, key):
    plain = key != "" and re.fullmatch(r"[A-Za-z0-9_]+", key)
    joined = f"{parent}.{key}" if parent else key
    return joined if plain and len(joined) < 64 else key_path(parent, key)


# --- structure -----------------------------------------------------------------

def is_text(o):
    return isinstance(o, str)


def valid_utf8(text):
    try:
        raw(text).decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def type_name(o):
    if o is None:
        return "nil"
    if isinstance(o, bool):
        return "boolean"
    if isinstance(o, int):
        return "integer"
    if isinstance(o, float):
        return "float"
    if isinstance(o, str):
        return "string"
    if isinstance(o, bytes):
        return "binary"
    if isinstance(o, Map):
        return "map"
    if isinstance(o, list):
        return "array"
    return "extension"


class Scan:
    """SCHEMA.md's structural walk (§1 bounds, §2 step 2) over the raw bytes, in byte order.

    It does not use msgpack's own errors: msgpack-python finds a short message before
    it looks at any bound, where the spec reports whichever problem comes first."""

    def __init__(self, message):
        self.message, self.pos, self.objects = message, 0, 0

    def take(self, n):
        if len(self.message) - self.pos < n:
            raise Refused("", "truncated")
        self.pos += n
        return self.message[self.pos - n:self.pos]

    def length(self, width):
        return int.from_bytes(self.take(width), "big")

    def item(self, field):
        """One object: ("map" or "array", its count, None) or (kind, size, payload)."""
        t = self.take(1)[0]
        kind, n = "scalar", 0
        if t == 0xC1:
            raise Refused("", "invalid msgpack")
        if t <= 0x7F or t >= 0xE0 or t in (0xC0, 0xC2, 0xC3):
            pass
        elif t <= 0x8F or t in (0xDE, 0xDF):
            kind, n = "map", t & 0x0F if t <= 0x8F else self.length(2 if t == 0xDE else 4)
        elif t <= 0x9F or t in (0xDC, 0xDD):
            kind, n = "array", t & 0x0F if t <= 0x9F else self.length(2 if t == 0xDC else 4)
        elif t <= 0xBF or 0xD9 <= t <= 0xDB:
            kind, n = "str", t & 0x1F if t <= 0xBF else self.length(1 << (t - 0xD9))
        elif 0xC4 <= t <= 0xC6:
            n = self.length(1 << (t - 0xC4))
        elif 0xC7 <= t <= 0xC9:
            n = self.length(1 << (t - 0xC7))
            self.take(1)  # the ext type
        elif t in (0xCA, 0xCB):
            n = 4 if t == 0xCA else 8
        elif 0xCC <= t <= 0xD3:
            n = 1 << ((t - 0xCC) % 4)
        else:  # fixext 1-16
            self.take(1)
            n = 1 << (t - 0xD4)
        self.objects += 1
        if self.objects > MAX_OBJECTS:
            raise Refused(field, "too many objects")
        if kind in ("map", "array"):
            # each element takes a byte at least: a count the rest cannot hold is cut short
            if (2 * n if kind == "map" else n) > len(self.message) - self.pos:
                raise Refused("", "truncated")
            return kind, n, None
        return kind, n, self.take(n)

    def children(self, item, level, field):
        kind, n, _ = item
        if kind == "map" and n > MAX_MAP_ENTRIES:
            raise Refused(field, "too many entries")
        for _ in range(2 * n if kind == "map" else n if kind == "array" else 0):
            self.walk(level + 1, field)

    def walk(self, level, field):
        if level > MAX_DEPTH:
            raise Refused(field, "too deep")
        self.children(self.item(field), level, field)


def scan(message):
    s = Scan(message)
    top = s.item("")
    if top[0] != "map":
        s.children(top, 1, "")
    elif top[1] > MAX_TOP_KEYS:
        raise Refused("", "too many keys")
    else:
        for _ in range(top[1]):
            key = s.item("")
            s.children(key, 2, "")
            name = key[2].decode("utf-8", "surrogateescape") if key[0] == "str" else None
            s.walk(2, member_path("", name) if name is not None else "")
    if s.pos != len(message):
        raise Refused("", "trailing bytes")


def check_key(key, seen, parent, dotted):
    if not is_text(key):
        raise Refused(parent, "key is not a string")
    path = member_path(parent, key) if dotted else key_path(parent, key)
    if not valid_utf8(key):
        raise Refused(path, "key is not valid UTF-8")
    if key in seen:
        raise Refused(path, "duplicate key")
    seen.add(key)


def check_unknown(o, field):
    if is_text(o) and not valid_utf8(o):
        raise Refused(field, "not valid UTF-8")
    if isinstance(o, Map):
        seen = set()
        for k, v in o:
            if not is_text(k):
                raise Refused(field, "key is not a string")
            if not valid_utf8(k):
                raise Refused(field, "key is not valid UTF-8")
            if k in seen:
                raise Refused(field, "duplicate key")
            seen.add(k)
            check_unknown(v, field)
    elif isinstance(o, list):
        for v in o:
            check_unknown(v, field)


def fields(o, parent, names, unknown_allowed):
    """A map of named fields: {name: value} with nil as absent."""
    seen, values = set(), {}
    for k, v in o:
        check_key(k, seen, parent, True)
        if k in names:
            if v is not None:
                values[k] = v
        elif not unknown_allowed:
            raise Refused(member_path(parent, k), "unknown key")
        else:
            check_unknown(v, member_path(parent, k))
    return values


def named_map(o, field, names, unknown_allowed):
    if not isinstance(o, Map):
        raise Refused(field, "wrong type")
    return fields(o, field, names, unknown_allowed)


# --- values --------------------------------------------------------------------

def required(values, name, field=None):
    if name not in values:
        raise Refused(field or name, "missing")
    return values[name]


def uint(o, field, lo, hi):
    if isinstance(o, bool) or not isinstance(o, int):
        raise Refused(field, "wrong type")
    if not lo <= o <= hi:
        raise Refused(field, "out of range")
    return o


def boolean(o, field):
    if not isinstance(o, bool):
        raise Refused(field, "wrong type")
    return o


def text_problem(b, lo, hi, check):
    if len(b) < lo:
        return "empty"
    if len(b) > hi:
        return "too long"
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return "not valid UTF-8"
    if b"\0" in b:
        return "contains NUL"
    return check(b) if check else None


def text(o, field, lo, hi, check=None):
    if not is_text(o):
        raise Refused(field, "wrong type")
    problem = text_problem(raw(o), lo, hi, check)
    if problem:
        raise Refused(field, problem)
    return o


def data(o, field, hi):
    if not isinstance(o, (bytes, str)):
        raise Refused(field, "wrong type")
    b = raw(o) if is_text(o) else o
    if len(b) > hi:
        raise Refused(field, "too long")
    if is_text(o) and not valid_utf8(o):
        raise Refused(field, "not valid UTF-8")
    return b.hex()


def array(o, field, hi):
    if not isinstance(o, list) or isinstance(o, Map):
        raise Refused(field, "wrong type")
    if len(o) > hi:
        raise Refused(field, "too many")
    return o


def texts(o, field, hi, lo_len, hi_len, check=None):
    return [text(v, f"{field}[{i}]", lo_len, hi_len, check)
            for i, v in enumerate(array(o, field, hi))]


def keyed_map(o, field, hi, key_rule):
    if not isinstance(o, Map):
        raise Refused(field, "wrong type")
    if len(o) > hi:
        raise Refused(field, "too many")
    seen = set()
    for k, _ in o:
        check_key(k, seen, field, False)
        problem = text_problem(raw(k), *key_rule)
        if problem:
            raise Refused(key_path(field, k), problem)
    return o


def pairs(o, field, hi, key_rule, value_rule):
    return {k: text(v, key_path(field, k), *value_rule)
            for k, v in keyed_map(o, field, hi, key_rule)}


def files(o, field):
    entries = keyed_map(o, field, 256, (1, 1024, path_check("path")))
    out = {k: data(v, key_path(field, k), sys.maxsize) for k, v in entries}
    names = [raw(k) for k, _ in entries]
    for name in names:
        for other in names:
            if name.startswith(other + b"/"):
                raise Refused(key_path(field, name.decode()), "path conflict")
    return out


# --- text rules ----------------------------------------------------------------

def charset(pattern):
    def check(b):
        return None if re.fullmatch(pattern, b) else "invalid character"
    return check


token = charset(rb"[A-Za-z0-9._:-]*")
runtime_name = charset(rb"[a-z0-9][a-z0-9._+-]*")
syscall_name = charset(rb"[a-z0-9_]*")


def topic(b):
    return "invalid topic" if b in (b".", b"..") else charset(rb"[A-Za-z0-9._-]*")(b)


def env_name(b):
    if not re.fullmatch(rb"[A-Za-z_][A-Za-z0-9_]*", b):
        return "invalid character"
    if b in (b"PATH", b"HOME", b"LANG") or b.startswith(b"BRIG_"):
        return "reserved name"
    return None


def single_line(b):
    return "control character" if re.search(rb"[\x00-\x1f\x7f]", b) else None


def path_check(noun):
    def check(b):
        if single_line(b):
            return "control character"
        if b.startswith(b"/"):
            return f"invalid {noun}"
        for part in b.split(b"/"):
            if part in (b"", b".", b"..") or len(part) > 255:
                return f"invalid {noun}"
        return None
    return check


def address(family, b):
    try:
        socket.inet_pton(family, b.decode())
        return True
    except (OSError, UnicodeDecodeError, ValueError):
        return False


def net_rule(b):
    """An allow-list entry's canonical form, or Refused's reason."""
    if b.startswith(b"["):
        host, sep, rest = b[1:].partition(b"]")
        if not sep:
            return None, "invalid host"
        if not re.fullmatch(rb"[0-9a-f:.]*", host) or not address(socket.AF_INET6, host):
            return None, "invalid host"
        if rest and not rest.startswith(b":"):
            return None, "invalid host"
        port = rest[1:] if rest else None
        wildcard = False
    else:
        host, sep, port = b.rpartition(b":")
        if not sep:
            host, port = b, None
        wildcard = host.startswith(b"*.")
        host = host[2:] if wildcard else host
        labels = host.split(b".")
        if not 1 <= len(host) <= 253:
            return None, "invalid host"
        for label in labels:
            if not re.fullmatch(rb"[a-z0-9-]{1,63}", label) or label[:1] == b"-" \
                    or label[-1:] == b"-":
                return None, "invalid host"
        if labels[-1].isdigit():
            if wildcard:
                return None, "invalid wildcard"
            if not address(socket.AF_INET, host):
                return None, "invalid host"
        if wildcard and len(labels) < 2:
            return None, "invalid wildcard"
    if port is not None and not (re.fullmatch(rb"[1-9][0-9]{0,4}", port)
                                 and int(port) <= 65535):
        return None, "invalid port"
    return b.decode(), None


# --- the four kinds ------------------------------------------------------------

ID = (1, 64, token)
SESSION = (0, 64, token)
TOPIC = (1, 249, topic)
METADATA_KEY = (1, 64, single_line)
METADATA_VALUE = (0, 1024, None)

JOB = ["v", "id", "runtime", "argv", "code", "args", "stdin", "env", "files", "limits",
       "network", "session", "collect", "reply_topic", "stream_logs", "metadata",
       "deadline_ms", "replay_of", "executable"]
RESULT = ["v", "id", "attempt", "status", "exit_code", "signal", "stdout", "stderr",
          "stdout_truncated", "stderr_truncated", "files", "files_omitted",
          "files_omitted_truncated", "usage", "runtime", "worker_id", "received_ms",
          "started_ms", "finished_ms", "error", "syscall", "metadata", "session", "replay_of"]
LOG_CHUNK = ["v", "id", "attempt", "stream", "seq", "data", "ts_ms", "eos"]
DEAD_LETTER = ["v", "data", "data_truncated", "id", "topic", "partition", "offset", "key",
               "key_truncated", "reason", "field", "received_ms", "worker_id"]
CONTROL = ["v", "op", "id", "by", "ts_ms"]
RUNTIMES = ["v", "worker_id", "started_ms", "runtimes"]
KINDS = {"job": JOB, "result": RESULT, "log_chunk": LOG_CHUNK, "dead_letter": DEAD_LETTER,
         "control": CONTROL, "runtimes": RUNTIMES}


def read_job(f):
    out = {"id": text(required(f, "id"), "id", *ID)}
    if "runtime" in f:
        out["runtime"] = text(f["runtime"], "runtime", 1, 32, runtime_name)
    if "argv" in f:
        out["argv"] = texts(f["argv"], "argv", 128, 0, 4096)
    if "code" in f:
        out["code"] = data(f["code"], "code", 1 << 20)
    if "args" in f:
        out["args"] = texts(f["args"], "args", 128, 0, 4096)
    if "stdin" in f:
        out["stdin"] = data(f["stdin"], "stdin", 4 << 20)
    if "env" in f:
        out["env"] = pairs(f["env"], "env", 64, (1, 128, env_name), (0, 4096, None))
    if "files" in f:
        out["files"] = files(f["files"], "files")
    if "limits" in f:
        given = named_map(f["limits"], "limits", LIMITS, False)
        out["limits"] = {name: uint(value, f"limits.{name}", *LIMITS[name])
                         for name, value in given.items()}
    if "network" in f:
        network = f["network"]
        if is_text(network):
            if network != "none":
                raise Refused("network", "unknown network mode")
        elif isinstance(network, Map):
            allow = required(fields(network, "network", {"allow"}, False), "allow",
                             "network.allow")
            rules = []
            for i, entry in enumerate(array(allow, "network.allow", 64)):
                rule, problem = net_rule(raw(text(entry, f"network.allow[{i}]", 1, 261)))
                if problem:
                    raise Refused(f"network.allow[{i}]", problem)
                rules.append(rule)
            out["network"] = {"allow": rules}
        else:
            raise Refused("network", "wrong type")
    if "session" in f:
        out["session"] = text(f["session"], "session", *SESSION)
    if "collect" in f:
        out["collect"] = texts(f["collect"], "collect", 32, 1, 256, path_check("pattern"))
    if "reply_topic" in f:
        out["reply_topic"] = text(f["reply_topic"], "reply_topic", *TOPIC)
    if "stream_logs" in f:
        out["stream_logs"] = boolean(f["stream_logs"], "stream_logs")
    if "metadata" in f:
        out["metadata"] = pairs(f["metadata"], "metadata", 16, METADATA_KEY, METADATA_VALUE)
    if "deadline_ms" in f:
        out["deadline_ms"] = uint(f["deadline_ms"], "deadline_ms", 1, TIME_MAX)
    if "replay_of" in f:
        out["replay_of"] = text(f["replay_of"], "replay_of", *ID)
    if "executable" in f:
        out["executable"] = texts(f["executable"], "executable", 256, 1, 1024,
                                  path_check("path"))
    # rules that tie fields together
    if "runtime" in f and "argv" in f:
        raise Refused("argv", "conflict")
    if "runtime" not in f and "argv" not in f:
        raise Refused("runtime", "missing")
    if "argv" in f and not out["argv"]:
        raise Refused("argv", "empty")
    if "argv" in f and out["argv"][0] == "":
        raise Refused("argv[0]", "empty")
    if "runtime" in f and "code" not in f:
        raise Refused("code", "missing")
    if "argv" in f and "code" in f:
        raise Refused("code", "conflict")
    for i, path in enumerate(out.get("executable", [])):
        if path not in out.get("files", {}):
            raise Refused(f"executable[{i}]", "not in files")
    return out


def read_result(f, version):
    out = {"id": text(required(f, "id"), "id", *ID),
           "attempt": uint(required(f, "attempt"), "attempt", 1, ATTEMPT_MAX)}
    status = text(required(f, "status"), "status", 1, 32)
    if status not in (STATUSES_V2 if version >= 2 else STATUSES):
        raise Refused("status", "unknown status")
    out["status"] = status
    if "exit_code" in f:
        out["exit_code"] = uint(f["exit_code"], "exit_code", 0, 255)
    if "signal" in f:
        out["signal"] = uint(f["signal"], "signal", 1, 64)
    for name in ("stdout", "stderr"):
        if name in f:
            out[name] = data(f[name], name, 8 << 20)
    for name in ("stdout_truncated", "stderr_truncated"):
        if name in f:
            out[name] = boolean(f[name], name)
    if "files" in f:
        out["files"] = files(f["files"], "files")
    if "files_omitted" in f:
        omitted = []
        for i, entry in enumerate(array(f["files_omitted"], "files_omitted", 256)):
            field = f"files_omitted[{i}]"
            e = named_map(entry, field, {"path", "reason"}, True)
            omitted.append({
                "path": text(required(e, "path", f"{field}.path"), f"{field}.path", 1, 1024,
                             single_line),
                "reason": text(required(e, "reason", f"{field}.reason"), f"{field}.reason", 1,
                               256, single_line)})
        out["files_omitted"] = omitted
    if "files_omitted_truncated" in f:
        out["files_omitted_truncated"] = boolean(f["files_omitted_truncated"],
                                                 "files_omitted_truncated")
    if "usage" in f:
        names = ["wall_us", "cpu_us", "peak_memory_bytes"]
        u = named_map(f["usage"], "usage", set(names) | {"compile_us"}, True)
        out["usage"] = {n: uint(required(u, n, f"usage.{n}"), f"usage.{n}", 0, UINT_MAX)
                        for n in names}
        if "compile_us" in u:
            out["usage"]["compile_us"] = uint(u["compile_us"], "usage.compile_us", 0, UINT_MAX)
    if "runtime" in f:
        r = named_map(f["runtime"], "runtime", {"name", "version"}, True)
        out["runtime"] = {"name": text(required(r, "name", "runtime.name"), "runtime.name", 1,
                                       32, runtime_name)}
        if "version" in r:
            out["runtime"]["version"] = text(r["version"], "runtime.version", 1, 64,
                                             single_line)
    if "worker_id" in f:
        out["worker_id"] = text(f["worker_id"], "worker_id", *ID)
    for name in ("received_ms", "started_ms", "finished_ms"):
        if name in f:
            out[name] = uint(f[name], name, 1, TIME_MAX)
    if "error" in f:
        out["error"] = text(f["error"], "error", 1, 1024)
    if "syscall" in f:
        out["syscall"] = text(f["syscall"], "syscall", 1, 64, syscall_name)
    if "metadata" in f:
        out["metadata"] = pairs(f["metadata"], "metadata", 16, METADATA_KEY, METADATA_VALUE)
    if "session" in f:
        out["session"] = text(f["session"], "session", *SESSION)
    if "replay_of" in f:
        out["replay_of"] = text(f["replay_of"], "replay_of", *ID)
    return out


def read_log_chunk(f):
    out = {"id": text(required(f, "id"), "id", *ID),
           "attempt": uint(required(f, "attempt"), "attempt", 1, ATTEMPT_MAX)}
    stream = text(required(f, "stream"), "stream", 1, 6)
    if stream not in ("stdout", "stderr"):
        raise Refused("stream", "unknown stream")
    out["stream"] = stream
    out["seq"] = uint(required(f, "seq"), "seq", 0, UINT_MAX)
    out["data"] = data(required(f, "data"), "data", 64 << 10)
    out["ts_ms"] = uint(required(f, "ts_ms"), "ts_ms", 1, TIME_MAX)
    if "eos" in f:
        out["eos"] = boolean(f["eos"], "eos")
    return out


def read_dead_letter(f):
    out = {"data": data(required(f, "data"), "data", 16 << 20)}
    if "data_truncated" in f:
        out["data_truncated"] = boolean(f["data_truncated"], "data_truncated")
    if "id" in f:
        out["id"] = text(f["id"], "id", *ID)
    out["topic"] = text(required(f, "topic"), "topic", *TOPIC)
    out["partition"] = uint(required(f, "partition"), "partition", 0, 2**31 - 1)
    out["offset"] = uint(required(f, "offset"), "offset", 0, UINT_MAX)
    if "key" in f:
        out["key"] = data(f["key"], "key", 16 << 10)
    if "key_truncated" in f:
        out["key_truncated"] = boolean(f["key_truncated"], "key_truncated")
    out["reason"] = text(required(f, "reason"), "reason", 1, 1024)
    if "field" in f:
        out["field"] = text(f["field"], "field", 0, 63, single_line)
    out["received_ms"] = uint(required(f, "received_ms"), "received_ms", 1, TIME_MAX)
    out["worker_id"] = text(required(f, "worker_id"), "worker_id", *ID)
    return out


def read_control(f):
    op = text(required(f, "op"), "op", 1, 32)
    if op != "cancel":
        raise Refused("op", "unknown op")
    out = {"op": op, "id": text(required(f, "id"), "id", *ID)}
    if "by" in f:
        out["by"] = text(f["by"], "by", 1, 128, single_line)
    out["ts_ms"] = uint(required(f, "ts_ms"), "ts_ms", 1, TIME_MAX)
    return out


def read_runtimes(f):
    out = {"worker_id": text(required(f, "worker_id"), "worker_id", *ID),
           "started_ms": uint(required(f, "started_ms"), "started_ms", 1, TIME_MAX)}
    entries = array(required(f, "runtimes"), "runtimes", 256)
    if not entries:
        raise Refused("runtimes", "empty")
    out["runtimes"] = []
    for i, entry in enumerate(entries):
        field = f"runtimes[{i}]"
        e = named_map(entry, field, {"name", "aliases", "version", "warm", "image"}, True)
        view = {"name": text(required(e, "name", f"{field}.name"), f"{field}.name", 1, 32,
                             runtime_name)}
        if "aliases" in e:
            view["aliases"] = texts(e["aliases"], f"{field}.aliases", 16, 1, 32, runtime_name)
        if "version" in e:
            view["version"] = text(e["version"], f"{field}.version", 1, 64, single_line)
        if "warm" in e:
            view["warm"] = boolean(e["warm"], f"{field}.warm")
        if "image" in e:
            view["image"] = text(e["image"], f"{field}.image", 1, 1024, single_line)
        out["runtimes"].append(canonical(view))
    return out


READERS = {"job": read_job, "result": read_result, "log_chunk": read_log_chunk,
           "dead_letter": read_dead_letter, "control": read_control, "runtimes": read_runtimes}


def canonical(view):
    """SCHEMA.md's JSON view drops false booleans and empty arrays and maps."""
    return {k: v for k, v in view.items() if v is not False and v != [] and v != {}}


def decode(kind, message):
    if len(message) > MAX_BYTES[kind]:
        raise Refused("", "too large")
    scan(message)
    top = msgpack.unpackb(message, raw=False, strict_map_key=False, use_list=True,
                          unicode_errors="surrogateescape", object_pairs_hook=Map)
    if not isinstance(top, Map):
        raise Refused("", "not a map")
    f = fields(top, "", set(KINDS[kind]), True)
    v = required(f, "v")
    newest = MAX_VERSION.get(kind, 1)
    if isinstance(v, int) and not isinstance(v, bool) and not 1 <= v <= newest:
        raise Refused("v", "unsupported version")
    uint(v, "v", 1, newest)
    if kind == "result":
        return canonical(read_result(f, v))
    return canonical(READERS[kind](f))


def strict_decode(message):
    """msgpack as strict as Python allows: raises on what a v1 reader must refuse."""
    return msgpack.unpackb(message, raw=False, strict_map_key=True,
                           object_pairs_hook=lambda pairs: pairs)


# --- the tests -----------------------------------------------------------------

def load_vectors():
    vectors = []
    for path in sorted(VECTORS.glob("*.msgpack")):
        description = json.loads(path.with_suffix(".json").read_text())
        vectors.append((path.stem, path.read_bytes(), description))
    return vectors


ALL = load_vectors()


@pytest.mark.parametrize("name,message,description", ALL, ids=[v[0] for v in ALL])
def test_vector(name, message, description):
    kind = description["kind"]
    if description["valid"]:
        assert decode(kind, message) == description["expected"]
        strict_decode(message)  # well-formed for the strictest reader too
    else:
        with pytest.raises(Refused) as refused:
            decode(kind, message)
        assert refused.value.field == description["error"]["field"]
        assert description["error"]["reason"] in refused.value.reason


def test_enough_vectors():
    assert len(ALL) >= 40


def test_vectors_are_reproducible(tmp_path):
    subprocess.run([sys.executable, str(VECTORS / "generate.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    committed = {p.name: p.read_bytes() for p in VECTORS.iterdir()
                 if p.suffix in (".msgpack", ".json")}
    generated = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(generated) == sorted(committed)
    changed = [name for name in committed if committed[name] != generated[name]]
    assert changed == []


def test_every_field_in_a_valid_vector():
    seen = {kind: set() for kind in KINDS}
    for _, _, description in ALL:
        if description["valid"]:
            seen[description["kind"]] |= set(description["expected"])
    for kind, names in KINDS.items():
        missing = set(names) - {"v"} - seen[kind]
        assert missing == set(), f"{kind} fields no valid vector holds: {missing}"


def spec_reasons():
    """The keywords of SCHEMA.md's rejection table: | `keyword` | ... | where |."""
    rows = re.findall(r"^\| `([^`]+)` \|.*\| (vectors|unit tests) \|$", SPEC.read_text(),
                      re.MULTILINE)
    assert rows, "no rejection table found in SCHEMA.md"
    return rows


def test_every_spec_reason_in_a_vector():
    used = [d["error"]["reason"] for _, _, d in ALL if not d["valid"]]
    for keyword, where in spec_reasons():
        if where == "vectors":
            assert any(keyword in reason for reason in used), keyword


def test_every_vector_reason_in_the_spec():
    keywords = [keyword for keyword, _ in spec_reasons()]
    for name, _, description in ALL:
        if not description["valid"]:
            reason = description["error"]["reason"]
            assert any(k in reason or reason in k for k in keywords), (name, reason)


def test_worked_example():
    block = re.search(r"```hex\n(.*?)```", SPEC.read_text(), re.DOTALL).group(1)
    spec_bytes = bytes.fromhex("".join(re.findall(r"\b[0-9a-f]{2}\b",
                                                  re.sub(r"#.*", "", block))))
    assert spec_bytes == (VECTORS / "job_minimal.msgpack").read_bytes()


def test_too_large_without_a_file():
    """Message size bounds come before parsing (no vector: they would be megabytes)."""
    for kind, limit in MAX_BYTES.items():
        with pytest.raises(Refused) as refused:
            decode(kind, b"\x80" * (limit + 1))
        assert refused.value.reason == "too large"
