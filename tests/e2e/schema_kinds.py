"""The message kinds of brig's wire schema, read as SCHEMA.md describes them,
on the structure, value and text rules of schema_reader.py."""
import msgpack

from schema_reader import (  # the rules every kind is written in
    ATTEMPT_MAX, LIMITS, MAX_BYTES, MAX_VERSION, Map, Refused, STATUSES, STATUSES_V2,
    TIME_MAX, UINT_MAX, array, boolean, data, env_name, fields, files, is_text, named_map,
    net_rule, pairs, path_check, raw, required, runtime_name, scan, single_line,
    syscall_name, text, texts, token, topic, uint, charset, keyed_map, key_path)

# --- the four kinds ------------------------------------------------------------

ID = (1, 64, token)
SESSION = (0, 64, token)
TOPIC = (1, 249, topic)
METADATA_KEY = (1, 64, single_line)
METADATA_VALUE = (0, 1024, None)

JOB = ["v", "id", "runtime", "argv", "code", "args", "stdin", "env", "files", "limits",
       "network", "session", "collect", "reply_topic", "stream_logs", "metadata",
       "deadline_ms", "replay_of", "executable", "secrets"]
RESULT = ["v", "id", "attempt", "status", "exit_code", "signal", "stdout", "stderr",
          "stdout_truncated", "stderr_truncated", "files", "files_omitted",
          "files_omitted_truncated", "usage", "runtime", "worker_id", "received_ms",
          "started_ms", "finished_ms", "error", "syscall", "metadata", "session", "replay_of",
          "outputs", "outputs_truncated", "exception", "interpreter"]
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
    if "secrets" in f:
        out["secrets"] = texts(f["secrets"], "secrets", 16, 1, 128, env_name)
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
    read_cell(f, out)
    return out


def mime_type(b):
    bad = charset(rb"[a-z0-9!#$&^_.+/-]*")(b)
    if bad:
        return bad
    kind, slash, sub = b.partition(b"/")
    return None if kind and sub and b"/" not in sub else "invalid MIME type"


def read_cell(f, out):
    """SCHEMA.md section 6.1: outputs, outputs_truncated, exception, interpreter."""
    if "outputs" in f:
        outputs, total = [], 0
        for i, entry in enumerate(array(f["outputs"], "outputs", 256)):
            field = f"outputs[{i}]"
            e = named_map(entry, field, {"kind", "data"}, True)
            kind = text(required(e, "kind", f"{field}.kind"), f"{field}.kind", 1, 32,
                        charset(rb"[a-z_]*"))
            bundle = keyed_map(required(e, "data", f"{field}.data"), f"{field}.data", 16,
                               (3, 127, mime_type))
            if not bundle:
                raise Refused(f"{field}.data", "empty")
            values = {k: data(v, key_path(f"{field}.data", k), 2 << 20) for k, v in bundle}
            total += sum(len(bytes.fromhex(v)) for v in values.values())
            if total > 2 << 20:
                raise Refused(f"{field}.data", "too long")
            outputs.append({"kind": kind, "data": values})
        out["outputs"] = outputs
    if "outputs_truncated" in f:
        out["outputs_truncated"] = boolean(f["outputs_truncated"], "outputs_truncated")
    if "exception" in f:
        e = named_map(f["exception"], "exception", {"name", "value", "traceback"}, True)
        out["exception"] = {"name": text(required(e, "name", "exception.name"),
                                         "exception.name", 1, 256, single_line)}
        if "value" in e:
            out["exception"]["value"] = text(e["value"], "exception.value", 0, 64 << 10)
        if "traceback" in e:
            traceback = texts(e["traceback"], "exception.traceback", 256, 0, 16 << 10)
            if traceback:
                out["exception"]["traceback"] = traceback
    if "interpreter" in f:
        i = named_map(f["interpreter"], "interpreter",
                      {"started", "execution_count", "state_lost"}, True)
        out["interpreter"] = {"started": boolean(required(i, "started", "interpreter.started"),
                                                 "interpreter.started")}
        if "execution_count" in i:
            out["interpreter"]["execution_count"] = uint(
                i["execution_count"], "interpreter.execution_count", 1, UINT_MAX)
        if "state_lost" in i and boolean(i["state_lost"], "interpreter.state_lost"):
            out["interpreter"]["state_lost"] = True


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


