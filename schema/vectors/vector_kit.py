"""The kit generate.py writes the schema test vectors with: messages encoded
by hand (enc(), Raw, Pairs: what a normal encoder refuses to write), the
canonical JSON view of SCHEMA.md ("Test vectors"), valid()/invalid() to add
a vector, default messages of each kind, and write()."""
import json
import struct

import msgpack


class Raw(bytes):
    """Bytes placed into a message as they are."""


class Pairs(list):
    """A map given as (key, value) pairs, in order, duplicates allowed."""


def enc(x):
    if isinstance(x, Raw):
        return bytes(x)
    if isinstance(x, Pairs):
        return map_header(len(x)) + b"".join(enc(k) + enc(v) for k, v in x)
    if isinstance(x, dict):
        return enc(Pairs(x.items()))
    if isinstance(x, list):
        return array_header(len(x)) + b"".join(enc(v) for v in x)
    return msgpack.packb(x, use_bin_type=True)


def map_header(n):
    if n < 16:
        return bytes([0x80 | n])
    if n < 0x10000:
        return b"\xde" + struct.pack(">H", n)
    return b"\xdf" + struct.pack(">I", n)


def array_header(n):
    if n < 16:
        return bytes([0x90 | n])
    if n < 0x10000:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


def raw_str(data):
    """A msgpack str holding data as it is (possibly not UTF-8)."""
    n = len(data)
    if n < 32:
        return Raw(bytes([0xA0 | n]) + data)
    return Raw(b"\xd9" + bytes([n]) + data)


# The canonical JSON view: which fields each kind has, and which are bytes.
FIELDS = {
    "job": ["id", "runtime", "argv", "code", "args", "stdin", "env", "files", "limits",
            "network", "session", "collect", "reply_topic", "stream_logs", "metadata",
            "deadline_ms", "replay_of", "executable", "secrets"],
    "result": ["id", "attempt", "status", "exit_code", "signal", "stdout", "stderr",
               "stdout_truncated", "stderr_truncated", "files", "files_omitted",
               "files_omitted_truncated", "usage", "runtime", "worker_id", "received_ms",
               "started_ms", "finished_ms", "error", "syscall", "metadata", "session",
               "replay_of", "outputs", "outputs_truncated", "exception", "interpreter"],
    "log_chunk": ["id", "attempt", "stream", "seq", "data", "ts_ms", "eos"],
    "dead_letter": ["data", "data_truncated", "id", "topic", "partition", "offset", "key",
                    "key_truncated", "reason", "field", "received_ms", "worker_id"],
    "control": ["op", "id", "by", "ts_ms"],
    "runtimes": ["worker_id", "started_ms", "runtimes"],
}
RUNTIME_ENTRY = ["name", "aliases", "version", "warm", "image"]
BYTES = {"code", "stdin", "stdout", "stderr", "data", "key"}
USAGE = ["wall_us", "cpu_us", "peak_memory_bytes"]


def hexed(value):
    return (value.encode() if isinstance(value, str) else value).hex()


def canonical(kind, message):
    """What a decoder must make of a valid message, as SCHEMA.md describes it."""
    out = {}
    for name in FIELDS[kind]:
        value = message.get(name)
        if value is None or value is False or value == [] or value == {}:
            continue
        if name in BYTES:
            value = hexed(value)
        elif name == "files":
            value = {path: hexed(content) for path, content in value.items()}
        elif name == "network":
            if value == "none":
                continue
            value = {"allow": value["allow"]}
        elif name == "files_omitted":
            value = [{"path": entry["path"], "reason": entry["reason"]} for entry in value]
        elif name == "usage":
            value = {k: value[k] for k in USAGE + ["compile_us"] if k in value}
        elif name == "runtime" and kind == "result":
            value = {k: value[k] for k in ("name", "version") if k in value}
        elif name == "outputs":
            value = [{"kind": o["kind"], "data": {m: hexed(d) for m, d in o["data"].items()}}
                     for o in value]
        elif name == "exception":
            value = {k: value[k] for k in ("name", "value", "traceback")
                     if k in value and value[k] != []}
        elif name == "interpreter":
            value = {k: value[k] for k in ("started", "execution_count", "state_lost")
                     if k in value and (k == "started" or value[k])}
        elif name == "runtimes":
            value = [{k: e[k] for k in RUNTIME_ENTRY
                      if e.get(k) is not None and e[k] is not False and e[k] != []}
                     for e in value]
        out[name] = value
    return out


VECTORS = []


def valid(name, kind, message, description, expected=None):
    VECTORS.append((name, enc(message), {
        "kind": kind, "description": description, "valid": True,
        "expected": expected if expected is not None else canonical(kind, message)}))


def invalid(name, kind, data, field, reason, description):
    VECTORS.append((name, data if isinstance(data, bytes) else enc(data), {
        "kind": kind, "description": description, "valid": False,
        "error": {"field": field, "reason": reason}}))


def job(**fields):
    message = {"v": 1, "id": "job-1", "runtime": "python", "code": "print(1)"}
    for key, value in fields.items():
        if value is DROP:
            message.pop(key, None)
        else:
            message[key] = value
    return message


def result(**fields):
    message = {"v": 1, "id": "job-1", "attempt": 1, "status": "ok"}
    message.update(fields)
    return {k: v for k, v in message.items() if v is not DROP}


def chunk(**fields):
    message = {"v": 1, "id": "job-1", "attempt": 1, "stream": "stdout", "seq": 0,
               "data": b"hello\n", "ts_ms": 1764000000000}
    message.update(fields)
    return {k: v for k, v in message.items() if v is not DROP}


def letter(**fields):
    message = {"v": 1, "data": b"\x81\xa1v\x01", "topic": "brig.jobs", "partition": 0,
               "offset": 41, "reason": "id: missing: this field is required",
               "received_ms": 1764000000000, "worker_id": "worker-a"}
    message.update(fields)
    return {k: v for k, v in message.items() if v is not DROP}


def control(**fields):
    message = {"v": 1, "op": "cancel", "id": "job-1", "by": "alice@laptop",
               "ts_ms": 1764000000000}
    message.update(fields)
    return {k: v for k, v in message.items() if v is not DROP}


DROP = object()
ALL_LIMITS_MIN = {"wall_ms": 100, "cpu_ms": 100, "memory_bytes": 16 << 20, "pids": 1,
                  "output_bytes": 1 << 10, "fsize_bytes": 4 << 10, "disk_bytes": 1 << 20,
                  "tmp_bytes": 1 << 20, "cpu_millis": 10, "collect_bytes": 1 << 10}
ALL_LIMITS_MAX = {"wall_ms": 600000, "cpu_ms": 600000, "memory_bytes": 8 << 30, "pids": 4096,
                  "output_bytes": 8 << 20, "fsize_bytes": 1 << 30, "disk_bytes": 8 << 30,
                  "tmp_bytes": 4 << 30, "cpu_millis": 64000, "collect_bytes": 4 << 20}


def nested(levels, leaf=0):
    """A value nested in arrays: level 1 is the value itself."""
    value = leaf
    for _ in range(levels - 1):
        value = [value]
    return value


def write(out):
    out.mkdir(parents=True, exist_ok=True)
    for stale in list(out.glob("*.msgpack")) + list(out.glob("*.json")):
        stale.unlink()
    names = set()
    for name, data, description in VECTORS:
        assert name not in names, name
        names.add(name)
        (out / f"{name}.msgpack").write_bytes(data)
        (out / f"{name}.json").write_text(
            json.dumps(description, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return len(names)
