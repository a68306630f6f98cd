#!/usr/bin/python3
"""Writes the schema test vectors: <name>.msgpack and its <name>.json description.

Run it from anywhere with Debian's python3 (python3-msgpack):
    /usr/bin/python3 schema/vectors/generate.py [--out DIR]
It is deterministic: the same script writes the same bytes. Messages are encoded
by hand here (see enc()) so that vectors can hold what a normal encoder refuses
to write: duplicate keys, non-string keys, broken UTF-8, truncation.

A description is {"kind", "description", "valid"} plus, for a valid vector,
"expected": the decoded content in the canonical JSON view of SCHEMA.md
("Test vectors"), or for an invalid one "error": {"field", "reason"}, where
field is exact and reason a keyword the decoder's reason must contain.
"""
import argparse
import pathlib
import struct

from vector_kit import (ALL_LIMITS_MAX, ALL_LIMITS_MIN, DROP, Pairs, Raw, chunk, control, enc, invalid, job, letter, nested, raw_str, result, valid, write)

HERE = pathlib.Path(__file__).resolve().parent


# --- valid jobs -------------------------------------------------------------

valid("job_minimal", "job", job(),
      "the smallest runtime job: v, id, runtime, code (as str); SCHEMA.md's worked example")
valid("job_full", "job", job(
    id="batch-7:run.2_x", code=b"import sys\nprint(sys.stdin.read())\n",
    args=["--flag", "", "é"], stdin=b"\x00\x01data\xff",
    env={"DEBUG": "1", "_X": "", "LC_ALL": "C.UTF-8"},
    files={"data/input.csv": b"a,b\n1,2\n", "lib/helper.py": b"", "README": "text as str"},
    limits=ALL_LIMITS_MIN | {"memory_bytes": 512 << 20},
    network={"allow": ["pypi.org", "*.example.com:443", "10.0.0.1:5432",
                       "[2001:db8::1]:8443", "localhost"]},
    session="sess-42", collect=["out/*.png", "**/*.log", "result.json"],
    reply_topic="agent-7.results", stream_logs=True,
    metadata={"agent": "planner", "trace": "ab12", "note": "ünïcödé ✓"},
    deadline_ms=1764000060000, replay_of="job-0"),
    "every job field with a runtime")
valid("job_executable", "job", {
    "v": 1, "id": "script-job", "argv": ["./run.sh"],
    "files": {"run.sh": b"#!/bin/sh\necho hi\n", "bin/tool": b"\x7fELF", "data.txt": b"1\n"},
    "executable": ["run.sh", "bin/tool"]},
    "two of three input files marked executable (written 0755)")
valid("job_argv", "job", {
    "v": 1, "id": "argv-job", "argv": ["/usr/bin/env", "bash", "-c", "cat in.txt"],
    "files": {"in.txt": b"hi\n"}, "network": "none", "stream_logs": False},
    "argv instead of runtime, no code; network \"none\" and false booleans are the defaults")
valid("job_limits_max", "job", job(limits=ALL_LIMITS_MAX), "every limit at its maximum")
valid("job_unknown_keys", "job", {
    "v": 1, "x_future": {"nested": [1, 2.5, None, {"deep": b"\x00"}]},
    "id": "job-1", "runtime": "python", "code": "print(1)",
    "x_ext": Raw(b"\xd4\x05\x01"), "session": None, "x_list": ["a", True]},
    "unknown keys (any well-formed value, even ext) are ignored; nil means absent")
valid("job_empty_values", "job", job(session="", network={"allow": []}, code=b"",
                                     stdin=b"", args=[]),
      "an empty session (stateless), an empty allow list (no hosts), empty code and stdin")
valid("job_long_names", "job", job(
    id="J" * 64, reply_topic="t." * 124 + "t", session="S" * 64, replay_of="r" * 64),
    "id, session and replay_of at 64 bytes, reply_topic at Kafka's 249")
valid("job_int_encodings", "job", Pairs([
    ("v", Raw(b"\xcf" + struct.pack(">Q", 1))),
    ("id", "job-1"), ("runtime", "node"), ("code", "1"),
    ("limits", Pairs([("wall_ms", Raw(b"\xd2" + struct.pack(">i", 2000))),
                      ("pids", Raw(b"\xcd" + struct.pack(">H", 8)))])),
]), "integers in any msgpack encoding of their value (uint64 v, int32 and uint16 limits)",
    expected={"id": "job-1", "runtime": "node", "code": "31",
              "limits": {"wall_ms": 2000, "pids": 8}})
valid("job_depth_max", "job", job(x_deep=nested(7)),
      "an unknown value nested to level 8, the deepest allowed")

# --- invalid messages (framing) ----------------------------------------------

MINIMAL = enc(job())
invalid("msg_empty", "job", b"", "", "truncated", "zero bytes")
invalid("msg_truncated", "job", MINIMAL[:-3], "", "truncated", "a job cut short")
invalid("msg_trailing", "job", MINIMAL + b"\xc0", "", "trailing bytes", "a nil after the map")
invalid("msg_not_a_map", "job", ["v", 1], "", "not a map", "an array at the top")
invalid("msg_reserved_byte", "job", b"\x85" + MINIMAL[1:] + b"\xa1x\xc1", "",
        "invalid msgpack", "0xc1, the byte msgpack never uses, as a fifth value")
invalid("msg_huge_array_header", "job", b"\x81\xa1x\xdd\xff\xff\xff\xff\x01", "", "truncated",
        "an array header claiming 2^32-1 elements in 9 bytes: refused without allocating")
invalid("msg_map_header_past_end", "job", b"\xdf\xff\xff\xff\xff\xa1v\x01", "", "truncated",
        "a top-level map claiming 2^32-1 keys over 3 bytes: the bytes left decide before the "
        "key bound")
invalid("msg_nested_map_header_past_end", "job", job(x_map=Raw(b"\xde\x01\x2c\x00\x00")),
        "", "truncated", "a nested map claiming 300 entries with 2 bytes left: truncated before "
        "the entry bound")
invalid("msg_array_header_past_end", "job", job(padding=Raw(b"\xdc\x4e\x20" + b"\x00" * 16400)),
        "", "truncated", "an array claiming 20000 elements with 16400 bytes left: truncated "
        "before the object bound")
invalid("msg_map_header_fits", "job", b"\xde\x00\x41\xd9\xff" + b"\x00" * 128, "",
        "too many keys", "65 keys claimed with the 130 bytes that 65 keys need at least: the key "
        "bound decides, though the first key is cut short later")
invalid("msg_too_deep", "job", job(x_deep=nested(8)), "x_deep", "too deep",
        "an unknown value nested to level 9")
invalid("msg_too_many_objects", "job", job(padding=[0] * 16384), "padding", "too many objects",
        "16384 array elements after the other keys pass 16384 objects")
invalid("msg_too_many_keys", "job", job(**{f"k{i:02}": 0 for i in range(61)}), "",
        "too many keys", "65 top-level keys")
invalid("msg_map_too_many_entries", "job", job(x_map={f"k{i}": 0 for i in range(257)}),
        "x_map", "too many entries", "a nested map of 257 entries")
invalid("msg_key_not_string", "job", Pairs(list(job().items()) + [(7, "seven")]), "",
        "key is not a string", "an integer key at the top")
invalid("msg_key_bad_utf8", "job", Pairs(list(job().items()) + [(raw_str(b"k\xff"), 1)]),
        '["k\\xff"]', "key is not valid UTF-8", "a top-level key with a byte that is not UTF-8")
invalid("msg_duplicate_key", "job", Pairs(list(job().items()) + [("id", "job-2")]), "id",
        "duplicate key", "id given twice: which one would the worker run?")
invalid("msg_duplicate_empty_key", "job", Pairs(list(job().items()) + [("", 1), ("", 2)]),
        '[""]', "duplicate key", "the empty key twice (found by fuzzing: empty strings)")
invalid("msg_unknown_bad_utf8", "job", job(x_extra=[raw_str(b"\xed\xa0\x80")]), "x_extra",
        "not valid UTF-8", "an encoded surrogate inside an unknown field")
invalid("msg_unknown_int_key", "job", job(x_extra=Pairs([(1, 2)])), "x_extra",
        "key is not a string", "an integer map key inside an unknown field")
invalid("msg_unknown_duplicate", "job", job(x_extra=Pairs([("a", 1), ("a", 2)])), "x_extra",
        "duplicate key", "a duplicate key inside an unknown field")

# --- version -----------------------------------------------------------------

invalid("version_missing", "job", job(v=DROP), "v", "missing", "no v")
invalid("version_2", "job", job(v=2), "v", "unsupported version", "a newer version")
invalid("version_0", "job", job(v=0), "v", "unsupported version", "version 0 never existed")
invalid("version_string", "job", job(v="1"), "v", "wrong type", "v as a string")
invalid("version_2_job", "job", job(v=2, runtime=5), "v", "unsupported version",
        "the version is checked before any field of a newer message")

# --- job fields --------------------------------------------------------------

invalid("job_id_missing", "job", job(id=DROP), "id", "missing", "no id")
invalid("job_id_empty", "job", job(id=""), "id", "empty", "an empty id")
invalid("job_id_too_long", "job", job(id="J" * 65), "id", "too long", "65 bytes")
invalid("job_id_bad_char", "job", job(id="a/b"), "id", "invalid character", "a slash in an id")
invalid("job_id_wrong_type", "job", job(id=17), "id", "wrong type", "an integer id")
invalid("job_runtime_and_argv", "job", job(argv=["/bin/true"]), "argv", "conflict",
        "runtime and argv together")
invalid("job_no_program", "job", job(runtime=DROP, code=DROP), "runtime", "missing",
        "neither runtime nor argv")
invalid("job_runtime_bad_char", "job", job(runtime="Python"), "runtime", "invalid character",
        "runtime names are lowercase")
invalid("job_argv_empty", "job", job(runtime=DROP, code=DROP, argv=[]), "argv", "empty",
        "an empty argv")
invalid("job_argv_program_empty", "job", job(runtime=DROP, code=DROP, argv=["", "x"]),
        "argv[0]", "empty", "an empty program name")
invalid("job_argv_element_type", "job", job(runtime=DROP, code=DROP, argv=["/bin/echo", 5]),
        "argv[1]", "wrong type", "an integer argument")
invalid("job_code_missing", "job", job(code=DROP), "code", "missing",
        "a runtime job without code")
invalid("job_code_with_argv", "job", job(runtime=DROP, argv=["/bin/true"]), "code", "conflict",
        "code with argv")
invalid("job_code_bad_utf8", "job", job(code=raw_str(b"print('\xc3')")), "code",
        "not valid UTF-8", "code as a str that is not UTF-8 (binary data must be sent as bin)")
invalid("job_args_too_many", "job", job(args=["a"] * 129), "args", "too many", "129 arguments")
invalid("job_args_nul", "job", job(args=["a\x00b"]), "args[0]", "contains NUL",
        "a NUL inside an argument")
invalid("job_args_too_long", "job", job(args=["ok", "x" * 4097]), "args[1]", "too long",
        "an argument of 4097 bytes")
invalid("job_stdin_wrong_type", "job", job(stdin=3), "stdin", "wrong type", "stdin as an integer")
invalid("job_env_bad_name", "job", job(env={"1X": "v"}), 'env["1X"]', "invalid character",
        "an env name starting with a digit")
invalid("job_env_reserved", "job", job(env={"PATH": "/tmp"}), 'env["PATH"]', "reserved name",
        "PATH is the jail's")
invalid("job_env_reserved_prefix", "job", job(env={"BRIG_JOB": "x"}), 'env["BRIG_JOB"]',
        "reserved name", "the BRIG_ prefix is brig's")
invalid("job_env_value_too_long", "job", job(env={"A": "v" * 4097}), 'env["A"]', "too long",
        "an env value of 4097 bytes")
invalid("job_env_too_many", "job", job(env={f"V{i}": "" for i in range(65)}), "env", "too many",
        "65 env entries")
invalid("job_env_duplicate", "job", job(env=Pairs([("A", "1"), ("A", "2")])), 'env["A"]',
        "duplicate key", "an env name twice")
invalid("job_env_value_type", "job", job(env={"A": 1}), 'env["A"]', "wrong type",
        "an integer env value")
invalid("job_files_absolute", "job", job(files={"/etc/passwd": b""}), 'files["/etc/passwd"]',
        "invalid path", "an absolute path")
invalid("job_files_dotdot", "job", job(files={"a/../../b": b""}), 'files["a/../../b"]',
        "invalid path", "a .. component")
invalid("job_files_empty_component", "job", job(files={"a//b": b""}), 'files["a//b"]',
        "invalid path", "an empty component")
invalid("job_files_trailing_slash", "job", job(files={"dir/": b""}), 'files["dir/"]',
        "invalid path", "a trailing slash")
invalid("job_files_control", "job", job(files={"a\nb": b""}), 'files["a\\x0ab"]',
        "control character", "a newline in a file name")
invalid("job_files_conflict", "job", job(files={"a/b": b"1", "a": b"2"}), 'files["a/b"]',
        "path conflict", "a is a file, so a/b cannot be")
invalid("job_files_value_type", "job", job(files={"a": 5}), 'files["a"]', "wrong type",
        "file content as an integer")
invalid("job_files_key_type", "job", job(files=Pairs([(b"a", b"")])), "files",
        "key is not a string", "a bin key")
invalid("job_files_long_key", "job",
        job(files={'dir/"q"/' + "é" * 30 + "/..": b""}),
        'files["dir/\\"q\\"/\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9..."]',
        "invalid path", "the error names a long key escaped and cut to fit 63 bytes")
invalid("job_limits_unknown", "job", job(limits={"memory_mb": 512}), "limits.memory_mb",
        "unknown key", "a misspelt limit is an error, not a silent default")
invalid("job_limits_too_small", "job", job(limits={"memory_bytes": 1}), "limits.memory_bytes",
        "out of range", "1 byte of memory")
invalid("job_limits_too_big", "job", job(limits={"wall_ms": 600001}), "limits.wall_ms",
        "out of range", "just over ten minutes")
invalid("job_limits_negative", "job", job(limits={"pids": -1}), "limits.pids", "out of range",
        "a negative limit")
invalid("job_limits_float", "job", job(limits={"cpu_ms": 1000.0}), "limits.cpu_ms",
        "wrong type", "a float limit, even a whole one")
invalid("job_limits_not_map", "job", job(limits=[1]), "limits", "wrong type", "limits as an array")
invalid("job_network_mode", "job", job(network="all"), "network", "unknown network mode",
        "the only string mode is none")
invalid("job_network_allow_missing", "job", job(network={}), "network.allow", "missing",
        "a network map without allow")
invalid("job_network_unknown_key", "job", job(network={"allow": [], "deny": []}),
        "network.deny", "unknown key", "a rule kind v1 does not know")
invalid("job_network_uppercase", "job", job(network={"allow": ["PyPI.org"]}),
        "network.allow[0]", "invalid host", "hosts are lowercase")
invalid("job_network_broad_wildcard", "job", job(network={"allow": ["api.x.io", "*.com"]}),
        "network.allow[1]", "invalid wildcard", "*.com is too broad")
invalid("job_network_port_zero", "job", job(network={"allow": ["x.io:0"]}), "network.allow[0]",
        "invalid port", "port 0")
invalid("job_network_port_big", "job", job(network={"allow": ["x.io:65536"]}),
        "network.allow[0]", "invalid port", "port 65536")
invalid("job_network_port_leading_zero", "job", job(network={"allow": ["x.io:080"]}),
        "network.allow[0]", "invalid port", "a port with a leading zero")
invalid("job_network_bad_ipv4", "job", job(network={"allow": ["1.2.3.999"]}),
        "network.allow[0]", "invalid host", "a numeric name that is no IPv4 address")
invalid("job_network_bad_ipv6", "job", job(network={"allow": ["[2001:db8::g]:443"]}),
        "network.allow[0]", "invalid host", "a bracketed name that is no IPv6 address")
invalid("job_network_too_many", "job", job(network={"allow": ["x.io"] * 65}), "network.allow",
        "too many", "65 rules")
invalid("job_session_bad_char", "job", job(session="my session"), "session",
        "invalid character", "a space in a session id")
invalid("job_collect_absolute", "job", job(collect=["out/*", "/etc/*"]), "collect[1]",
        "invalid pattern", "an absolute glob")
invalid("job_collect_not_array", "job", job(collect="*.png"), "collect", "wrong type",
        "collect as a single string")
invalid("job_reply_topic_dots", "job", job(reply_topic=".."), "reply_topic", "invalid topic",
        "Kafka refuses .. as a topic")
invalid("job_reply_topic_too_long", "job", job(reply_topic="t" * 250), "reply_topic",
        "too long", "250 bytes")
invalid("job_reply_topic_bad_char", "job", job(reply_topic="res/ults"), "reply_topic",
        "invalid character", "a slash in a topic")
invalid("job_stream_logs_int", "job", job(stream_logs=1), "stream_logs", "wrong type",
        "1 for true")
invalid("job_metadata_too_many", "job", job(metadata={f"k{i}": "v" for i in range(17)}),
        "metadata", "too many", "17 metadata entries")
invalid("job_metadata_value_type", "job", job(metadata={"n": 1}), 'metadata["n"]',
        "wrong type", "a number as metadata value")
invalid("job_metadata_key_empty", "job", job(metadata={"": "v"}), 'metadata[""]', "empty",
        "an empty metadata key")
invalid("job_deadline_zero", "job", job(deadline_ms=0), "deadline_ms", "out of range",
        "deadline 0")
invalid("job_deadline_microseconds", "job", job(deadline_ms=1764000000000000),
        "deadline_ms", "out of range", "microseconds instead of milliseconds")
valid("job_secrets", "job", job(
    network={"allow": ["api.example.com:443"]}, secrets=["OPENAI_API_KEY", "gh_token"]),
    "two secrets by name: the jail sees placeholders, the worker keeps the values")
invalid("job_secrets_bad_name", "job", job(secrets=["API-KEY"]), "secrets[0]",
        "invalid character", "a secret name is an environment variable's name")
invalid("job_secrets_reserved", "job", job(secrets=["KEY", "PATH"]), "secrets[1]",
        "reserved name", "a secret cannot take a name the jail sets")
invalid("job_secrets_too_many", "job", job(secrets=[f"K{i}" for i in range(17)]), "secrets",
        "too many", "17 secrets")
invalid("job_secrets_type", "job", job(secrets="KEY"), "secrets", "wrong type",
        "secrets as a string, not an array")
invalid("job_executable_not_in_files", "job", job(
    files={"run.sh": b"echo hi\n"}, executable=["run.sh", "other.sh"]),
    "executable[1]", "not in files", "an executable path that names no input file")
invalid("job_executable_without_files", "job", job(executable=["run.sh"]), "executable[0]",
        "not in files", "executable without files")
invalid("job_executable_dotdot", "job", job(files={"a": b""}, executable=["../a"]),
        "executable[0]", "invalid path", "an executable path outside /work")
invalid("job_executable_type", "job", job(files={"a": b""}, executable="a"), "executable",
        "wrong type", "executable as a string, not an array")
invalid("job_replay_of_bad", "job", job(replay_of="job 0"), "replay_of", "invalid character",
        "replay_of must be a job id")

# --- results -----------------------------------------------------------------

valid("result_minimal", "result", result(), "v, id, attempt, status")
valid("result_full", "result", result(
    attempt=2, status="failed", exit_code=3, stdout=b"partial\n", stderr=b"Traceback\xff",
    stdout_truncated=True, stderr_truncated=False,
    files={"out/plot.png": b"\x89PNG\r\n", "result.json": b"{}"},
    files_omitted=[{"path": "out/huge.bin", "reason": "over collect_bytes"},
                   {"path": "out/link", "reason": "symlink", "x_future": 1}],
    files_omitted_truncated=True,
    usage={"wall_us": 1520000, "cpu_us": 990000, "peak_memory_bytes": 48 << 20},
    runtime={"name": "python", "version": "3.11.2"}, worker_id="worker-a",
    received_ms=1764000000000, started_ms=1764000000004, finished_ms=1764000001530,
    error="exit status 3", metadata={"agent": "planner"}, session="sess-42",
    replay_of="job-0"), "every result field")
valid("result_rejected", "result", result(
    status="rejected", worker_id="worker-b", received_ms=1764000000000,
    error="limits.memory_bytes: out of range: 1 (min 16777216, max 8589934592)"),
    "a rejected job: error says why")
valid("result_seccomp", "result", result(
    status="seccomp", signal=31, syscall="ptrace", stderr=b"", stderr_truncated=True,
    usage={"wall_us": 0, "cpu_us": 0, "peak_memory_bytes": 0, "io": 7},
    runtime={"name": "c++"}), "a seccomp kill: signal and syscall; unknown usage keys ignored")
valid("result_compiled", "result", result(
    status="ok", exit_code=0, stdout=b"hello\n",
    usage={"wall_us": 41000, "cpu_us": 30000, "peak_memory_bytes": 9 << 20,
           "compile_us": 5200},
    runtime={"name": "typescript", "version": "esbuild 0.17.0, node v20.20.2"}),
    "a job whose runtime compiles first: usage.compile_us, apart from wall_us")
invalid("result_status_unknown", "result", result(status="success"), "status", "unknown status",
        "a status outside the closed set")
invalid("result_status_missing", "result", result(status=DROP), "status", "missing",
        "no status")
invalid("result_attempt_zero", "result", result(attempt=0), "attempt", "out of range",
        "attempts count from 1")
invalid("result_attempt_missing", "result", result(attempt=DROP), "attempt", "missing",
        "no attempt")
invalid("result_exit_code_big", "result", result(exit_code=256), "exit_code", "out of range",
        "exit codes are 0..255")
invalid("result_signal_zero", "result", result(signal=0), "signal", "out of range",
        "signal 0 is no signal")
invalid("result_stdout_type", "result", result(stdout=["a"]), "stdout", "wrong type",
        "stdout as an array")
invalid("result_truncated_type", "result", result(stderr_truncated="yes"), "stderr_truncated",
        "wrong type", "a string for a boolean")
invalid("result_files_dotdot", "result", result(files={"../x": b""}), 'files["../x"]',
        "invalid path", "a collected file outside /work")
invalid("result_omitted_not_array", "result", result(files_omitted={"path": "a"}),
        "files_omitted", "wrong type", "files_omitted as a map")
invalid("result_omitted_truncated_type", "result", result(files_omitted_truncated=1),
        "files_omitted_truncated", "wrong type", "files_omitted_truncated as an integer")
invalid("result_omitted_no_reason", "result", result(files_omitted=[{"path": "a"}]),
        "files_omitted[0].reason", "missing", "an omitted file without a reason")
invalid("result_usage_missing_cpu", "result", result(usage={"wall_us": 1,
                                                            "peak_memory_bytes": 1}),
        "usage.cpu_us", "missing", "usage without cpu_us")
invalid("result_usage_compile_negative", "result", result(usage={
    "wall_us": 1, "cpu_us": 1, "peak_memory_bytes": 1, "compile_us": -1}),
    "usage.compile_us", "out of range", "a negative compile time")
invalid("result_runtime_no_name", "result", result(runtime={"version": "1"}), "runtime.name",
        "missing", "runtime without a name")
invalid("result_worker_id_bad", "result", result(worker_id="worker a"), "worker_id",
        "invalid character", "a space in a worker id")
invalid("result_time_zero", "result", result(started_ms=0), "started_ms", "out of range",
        "a zero timestamp")
invalid("result_error_empty", "result", result(error=""), "error", "empty", "an empty error")
invalid("result_syscall_bad", "result", result(status="seccomp", syscall="PTRACE"), "syscall",
        "invalid character", "syscall names are lowercase")

# --- log chunks --------------------------------------------------------------

valid("log_chunk_stdout", "log_chunk", chunk(), "a chunk of stdout")
valid("log_chunk_eos", "log_chunk", chunk(stream="stderr", seq=17, data=b"", eos=True,
                                          attempt=2), "the end of stderr, with no data")
invalid("log_chunk_stream_unknown", "log_chunk", chunk(stream="stdin"), "stream",
        "unknown stream", "stdin is no output stream")
invalid("log_chunk_seq_negative", "log_chunk", chunk(seq=-1), "seq", "out of range",
        "a negative sequence number")
invalid("log_chunk_data_missing", "log_chunk", chunk(data=DROP), "data", "missing", "no data")
invalid("log_chunk_ts_missing", "log_chunk", chunk(ts_ms=DROP), "ts_ms", "missing",
        "no timestamp")
invalid("log_chunk_attempt_missing", "log_chunk", chunk(attempt=DROP), "attempt", "missing",
        "no attempt")
invalid("log_chunk_eos_type", "log_chunk", chunk(eos="true"), "eos",
        "wrong type", "eos as a string")

# --- dead letters ------------------------------------------------------------

valid("dead_letter_full", "dead_letter", letter(
    data=b"\x82\xa1v\x01\xa2id\xa5job-9", data_truncated=True, id="job-9", key=b"job-9",
    key_truncated=True, field="runtime", reason="runtime: missing: a job needs runtime or argv"),
    "every dead-letter field")
valid("dead_letter_empty_key", "dead_letter", letter(key=b""),
      "an empty key, which Kafka tells from a null one (no key field)")
valid("dead_letter_minimal", "dead_letter", letter(data=b"\xc1garbage", partition=3,
                                                   reason="invalid msgpack"),
      "garbage: no id could be recovered")
invalid("dead_letter_partition_negative", "dead_letter", letter(partition=-1), "partition",
        "out of range", "a negative partition")
invalid("dead_letter_topic_missing", "dead_letter", letter(topic=DROP), "topic", "missing",
        "no topic")
invalid("dead_letter_field_too_long", "dead_letter", letter(field="f" * 64), "field",
        "too long", "a field path longer than struct brig_error holds")
invalid("dead_letter_reason_missing", "dead_letter", letter(reason=DROP), "reason", "missing",
        "no reason")
invalid("dead_letter_key_too_long", "dead_letter", letter(key=b"k" * (16 << 10 | 1)), "key",
        "too long", "a key of 16 KiB and one byte")
invalid("dead_letter_key_type", "dead_letter", letter(key=7), "key", "wrong type",
        "a key as an integer")
invalid("dead_letter_data_type", "dead_letter", letter(data=[1]), "data", "wrong type",
        "data as an array")

# --- cells (section 6.1) -------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
valid("result_cell", "result", result(
    status="ok", stdout=b"hello\n", session="nb1",
    outputs=[{"kind": "display", "data": {"image/png": PNG, "text/plain": "<Figure 640x480>"}},
             {"kind": "display", "data": {"text/html": "<table></table>",
                                          "text/plain": "   a\n0  1"}, "x_meta": {"w": 1}},
             {"kind": "result", "data": {"application/json": '{"a": 1}',
                                         "image/svg+xml": "<svg/>"}}],
    interpreter={"started": False, "execution_count": 7}),
    "a cell: displays then the last expression's value, MIME bundles of raw bytes; unknown keys"
    " of an output ignored")
valid("result_cell_exception", "result", result(
    status="failed", session="nb1",
    exception={"name": "NameError", "value": "name 'x' is not defined",
               "traceback": ["Cell In[1], line 1\n----> 1 x", "NameError: name 'x' is not"
                             " defined"]},
    interpreter={"started": True, "execution_count": 1}),
    "a cell that raised: name, value and traceback; a fresh interpreter")
valid("result_cell_lost", "result", result(
    status="oom", session="nb1", outputs_truncated=True,
    exception={"name": "MemoryError", "traceback": [], "x_future": 1},
    interpreter={"started": False, "state_lost": True, "x_future": "y"}),
    "an interpreter that ended during the cell; an empty traceback and unknown keys")
valid("result_cell_unknown_kind", "result", result(
    outputs=[{"kind": "update_display", "data": {"text/plain": "1"}}]),
    "an output kind this reader does not know still decodes, for the client to skip")
invalid("result_outputs_not_array", "result", result(outputs={"kind": "result"}), "outputs",
        "wrong type", "outputs is an array")
invalid("result_output_kind_missing", "result", result(outputs=[{"data": {"text/plain": "1"}}]),
        "outputs[0].kind", "missing", "an output without a kind")
invalid("result_output_kind_bad", "result", result(
    outputs=[{"kind": "Display", "data": {"text/plain": "1"}}]), "outputs[0].kind",
    "invalid character", "output kinds are [a-z_]")
invalid("result_output_data_empty", "result", result(outputs=[{"kind": "result", "data": {}}]),
        "outputs[0].data", "empty", "a bundle with no MIME type")
invalid("result_output_mime_no_slash", "result", result(
    outputs=[{"kind": "result", "data": {"text": "1"}}]), 'outputs[0].data["text"]',
    "invalid MIME type", "a MIME type without a subtype")
invalid("result_output_mime_upper", "result", result(
    outputs=[{"kind": "result", "data": {"Text/Plain": "1"}}]), 'outputs[0].data["Text/Plain"]',
    "invalid character", "MIME types are lower case")
invalid("result_output_too_many_mimes", "result", result(
    outputs=[{"kind": "result", "data": {f"text/x-{i}": "" for i in range(17)}}]),
    "outputs[0].data", "too many", "a bundle of more than 16 MIME types")
invalid("result_outputs_too_many", "result", result(
    outputs=[{"kind": "display", "data": {"text/plain": ""}}] * 257), "outputs", "too many",
    "more than 256 outputs")
invalid("result_output_data_type", "result", result(
    outputs=[{"kind": "result", "data": {"text/plain": 1}}]), 'outputs[0].data["text/plain"]',
    "wrong type", "MIME data is bytes")
invalid("result_outputs_truncated_type", "result", result(outputs_truncated="no"),
        "outputs_truncated", "wrong type", "outputs_truncated is a bool")
invalid("result_exception_no_name", "result", result(exception={"value": "x"}),
        "exception.name", "missing", "an exception without its name")
invalid("result_exception_name_lines", "result", result(exception={"name": "A\nB"}),
        "exception.name", "control character", "an exception name is one line")
invalid("result_traceback_type", "result", result(exception={"name": "E", "traceback": "t"}),
        "exception.traceback", "wrong type", "a traceback is an array of text")
invalid("result_interpreter_no_started", "result", result(interpreter={"execution_count": 1}),
        "interpreter.started", "missing", "interpreter.started is required")
invalid("result_execution_count_zero", "result", result(
    interpreter={"started": True, "execution_count": 0}), "interpreter.execution_count",
    "out of range", "cells count from 1")

# --- cancelled results (version 2) -------------------------------------------

valid("result_cancelled_v2", "result", result(v=2, status="cancelled",
                                               error="cancelled by alice@laptop"),
      "a cancelled job: status cancelled is a version 2 result's")
valid("result_v2_ok", "result", result(v=2), "version 2 with a version 1 status")
invalid("result_cancelled_v1", "result", result(status="cancelled"), "status",
        "unknown status", "cancelled in a version 1 result")
invalid("result_v3", "result", result(v=3), "v", "unsupported version",
        "a result version this reader does not speak")

# --- control messages --------------------------------------------------------

valid("control_cancel", "control", control(), "a cancel, saying who asked")
valid("control_cancel_minimal", "control", control(by=DROP), "a cancel that does not say who")
invalid("control_op_unknown", "control", control(op="pause"), "op", "unknown op",
        "an op the workers do not know")
invalid("control_id_missing", "control", control(id=DROP), "id", "missing", "no job id")
invalid("control_by_too_long", "control", control(by="x" * 129), "by", "too long",
        "a requester of 129 bytes")
invalid("control_by_newline", "control", control(by="a\nb"), "by", "control character",
        "a requester with a line break")
invalid("control_ts_missing", "control", control(ts_ms=DROP), "ts_ms", "missing",
        "no time")
invalid("control_v2", "control", control(v=2), "v", "unsupported version",
        "control messages are version 1 only")


# --- runtimes records -------------------------------------------------------

def runtimes(**fields):
    message = {"v": 1, "worker_id": "worker-a", "started_ms": 1764000000000,
               "runtimes": [{"name": "python", "aliases": ["py", "python3"],
                             "version": "Python 3.11.2"}]}
    message.update(fields)
    return {k: v for k, v in message.items() if v is not DROP}


valid("runtimes_minimal", "runtimes", runtimes(runtimes=[{"name": "sh"}]),
      "one runtime with a name only: no aliases, version unknown, cold, the host's /usr")
valid("runtimes_full", "runtimes", runtimes(runtimes=[
    {"name": "python", "aliases": ["py", "python3"], "version": "Python 3.11.2",
     "warm": False},
    {"name": "python-warm", "aliases": [], "version": "Python 3.11.2", "warm": True,
     "x_preload": ["numpy"]},
    {"name": "typescript", "aliases": ["ts"], "version": "esbuild 0.17.0, node v20.20.2",
     "image": "sha256:" + "ab" * 32},
], x_host="h1"), "every field; unknown keys in the record and in an entry are ignored")
invalid("runtimes_empty", "runtimes", runtimes(runtimes=[]), "runtimes", "empty",
        "a worker with no runtime")
invalid("runtimes_missing", "runtimes", runtimes(runtimes=DROP), "runtimes", "missing",
        "no runtimes")
invalid("runtimes_worker_missing", "runtimes", runtimes(worker_id=DROP), "worker_id", "missing",
        "no worker id")
invalid("runtimes_started_zero", "runtimes", runtimes(started_ms=0), "started_ms",
        "out of range", "a zero start time")
invalid("runtimes_name_bad", "runtimes", runtimes(runtimes=[{"name": "sh"}, {"name": "Ruby"}]),
        "runtimes[1].name", "invalid character", "runtime names are lowercase")
invalid("runtimes_alias_bad", "runtimes", runtimes(runtimes=[{"name": "ts", "aliases": [""]}]),
        "runtimes[0].aliases[0]", "empty", "an empty alias")
invalid("runtimes_aliases_too_many", "runtimes", runtimes(runtimes=[
    {"name": "x", "aliases": [f"a{i}" for i in range(17)]}]), "runtimes[0].aliases",
    "too many", "17 aliases")
invalid("runtimes_version_newline", "runtimes", runtimes(runtimes=[
    {"name": "x", "version": "1.0\n2.0"}]), "runtimes[0].version", "control character",
    "a version of two lines")
invalid("runtimes_warm_type", "runtimes", runtimes(runtimes=[{"name": "x", "warm": 1}]),
        "runtimes[0].warm", "wrong type", "warm as an integer")
invalid("runtimes_entry_not_map", "runtimes", runtimes(runtimes=["python"]), "runtimes[0]",
        "wrong type", "an entry as a string")
invalid("runtimes_too_many", "runtimes", runtimes(runtimes=[{"name": "x"}] * 257), "runtimes",
        "too many", "257 runtimes")
invalid("runtimes_image_empty", "runtimes", runtimes(runtimes=[{"name": "x", "image": ""}]),
        "runtimes[0].image", "empty", "an empty image")




def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=HERE)
    args = parser.parse_args()
    print(f"{write(args.out)} vectors in {args.out}")


if __name__ == "__main__":
    main()
