"""The Python client (producer/python/brig) without a broker: job encoding,
result and log chunk decoding against the schema vectors, limit validation,
log ordering and broker discovery."""
import json
import pathlib
import re
import sys
import time

import msgpack
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "producer" / "python"))

import brig  # noqa: E402
from brig.log_order import LogOrder  # noqa: E402
from brig.messages import WireLogChunk  # noqa: E402
from brig.schema import job_key  # noqa: E402

VECTORS = ROOT / "schema" / "vectors"


def vectors(kind, valid):
    found = []
    for description in sorted(VECTORS.glob("*.json")):
        meta = json.loads(description.read_text())
        if meta["kind"] == kind and meta["valid"] == valid:
            found.append(pytest.param(description.with_suffix(".msgpack").read_bytes(), meta,
                                      id=description.stem))
    assert found, f"no {kind} vectors in {VECTORS}"
    return found


# --- jobs ------------------------------------------------------------------------

def test_minimal_job_is_the_worked_example_byte_for_byte():
    job = brig.build_job(job_id="job-1", runtime="python", code="print(1)")
    assert brig.encode_job(job) == (VECTORS / "job_minimal.msgpack").read_bytes()
    assert job_key(job) == "job-1"


def test_job_key_is_the_session_when_there_is_one():
    assert job_key(brig.build_job(runtime="python", code="", session="s-1")) == "s-1"
    job = brig.build_job(runtime="python", code="", session="")
    assert "session" not in job and job_key(job) == job["id"]


def test_fresh_ids_are_unique_tokens():
    ids = {brig.build_job(runtime="python", code="")["id"] for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{24}", i) for i in ids)


def _build_from_message(message):
    """build_job called with the fields of a decoded job message."""
    fields = {k: v for k, v in message.items() if k in _JOB_FIELDS and v is not None}
    fields["job_id"] = fields.pop("id")
    return brig.build_job(**fields)


_JOB_FIELDS = {"id", "runtime", "argv", "code", "args", "stdin", "env", "files", "limits",
               "network", "session", "collect", "reply_topic", "stream_logs", "metadata",
               "deadline_ms", "replay_of", "executable", "secrets"}


def _canonical_job(message):
    """What a job means, per SCHEMA.md's canonical view: defaults dropped."""
    return {k: v for k, v in message.items()
            if k in _JOB_FIELDS and not _absent(v) and v != "none"}


@pytest.mark.parametrize("data,meta", vectors("job", valid=True))
def test_every_valid_job_vector_can_be_built(data, meta):
    message = msgpack.unpackb(data, raw=False)
    built = msgpack.unpackb(brig.encode_job(_build_from_message(message)), raw=False)
    assert built["v"] == 1
    assert _canonical_job(built) == _canonical_job(message)


# Invalid job vectors the client itself must refuse, before sending.
REFUSED_BY_CLIENT = {
    "job_limits_unknown", "job_limits_negative", "job_limits_too_small", "job_limits_too_big",
    "job_limits_float", "job_limits_not_map", "job_id_bad_char", "job_id_empty",
    "job_id_too_long", "job_id_wrong_type", "job_runtime_and_argv", "job_no_program",
    "job_code_missing", "job_code_with_argv", "job_argv_empty", "job_files_absolute",
    "job_files_dotdot", "job_reply_topic_bad_char", "job_reply_topic_dots",
    "job_session_bad_char", "job_stream_logs_int", "job_runtime_bad_char", "job_env_bad_name",
    "job_env_reserved", "job_env_reserved_prefix", "job_network_mode", "job_network_unknown_key",
    "job_network_allow_missing", "job_argv_program_empty", "job_files_control",
    "job_executable_not_in_files", "job_executable_without_files",
}


@pytest.mark.parametrize("data,meta", vectors("job", valid=False))
def test_invalid_job_vectors_refused_by_the_client_name_the_same_field(data, meta, request):
    name = request.node.callspec.id
    try:
        message = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException):
        pytest.skip("not a message msgpack-python can read")
    if not isinstance(message, dict) or not isinstance(message.get("id", ""), (str, int)):
        pytest.skip("not a job a caller could express")
    fields = {k: v for k, v in message.items() if k in _JOB_FIELDS}
    fields["job_id"] = fields.pop("id", None) if "id" in message else None
    if "id" not in message or message["id"] is None:
        pytest.skip("the client makes the id")
    if meta["error"]["field"] == "v":
        pytest.skip("the client writes the version itself")
    try:
        brig.build_job(**fields)
    except brig.InvalidJob as e:
        expected = meta["error"]["field"]
        # The client names runtime for a missing program, as the worker does.
        assert e.field == expected, f"{name}: client says {e}, worker would say {meta['error']}"
        return
    assert name not in REFUSED_BY_CLIENT, f"{name} should be refused by the client"


def test_limits_are_checked_with_clear_messages():
    assert brig.check_limits({"wall_ms": 500, "memory_bytes": 64 << 20}) == {
        "wall_ms": 500, "memory_bytes": 64 << 20}
    with pytest.raises(brig.InvalidJob, match=r"limits\.memory_mb: unknown limit; the limits "
                                              r"are: wall_ms, cpu_ms"):
        brig.check_limits({"memory_mb": 512})
    with pytest.raises(brig.InvalidJob, match=r"limits\.wall_ms: negative: -1"):
        brig.check_limits({"wall_ms": -1})
    with pytest.raises(brig.InvalidJob, match=r"limits\.wall_ms: out of range: 50 "
                                              r"\(min 100, max 600000\)"):
        brig.check_limits({"wall_ms": 50})
    with pytest.raises(brig.InvalidJob, match=r"limits\.pids: expected an integer, got float"):
        brig.check_limits({"pids": 2.0})
    with pytest.raises(brig.InvalidJob, match=r"limits\.pids: expected an integer, got bool"):
        brig.check_limits({"pids": True})
    with pytest.raises(brig.InvalidJob, match=r"^limits: expected a dict"):
        brig.check_limits([("wall_ms", 500)])
    assert brig.check_limits(None) == {}


def test_limit_table_matches_bounds_h():
    """The client's table is a copy: it must stay equal to schema/bounds.h."""
    defines = {}
    for line in (ROOT / "schema" / "bounds.h").read_text().splitlines():
        m = re.match(r"#define (BRIG_\w+) (.*?)\s*(/\*.*)?$", line)
        if m:
            defines[m.group(1)] = m.group(2)

    def value(name):
        expr = re.sub(r"\(unsigned long long\)", "", defines[name])
        expr = re.sub(r"(\d+)u?ll|(\d+)u\b", lambda m: m.group(1) or m.group(2), expr)
        return eval(re.sub(r"BRIG_\w+", lambda m: str(value(m.group())), expr))  # noqa: S307

    for name, (low, high, default) in brig.LIMITS.items():
        prefix = "BRIG_" + name.upper()
        assert (low, high, default) == (value(prefix + "_MIN"), value(prefix + "_MAX"),
                                        value(prefix + "_DEFAULT")), name
    assert len(brig.LIMITS) == len([d for d in defines if d.endswith("_DEFAULT")])
    assert brig.SCHEMA_VERSION == value("BRIG_SCHEMA_VERSION")


def test_status_set_matches_status_c():
    text = (ROOT / "schema" / "status.c").read_text()
    assert tuple(re.findall(r'\[BRIG_STATUS_\w+\] = "(\w+)"', text)) == brig.STATUSES


def test_job_field_types_are_checked():
    cases = [
        (dict(runtime="python", code=1), "code"),
        (dict(runtime="python", code="", env={"A": 1}), 'env["A"]'),
        (dict(runtime="python", code="", args="-v"), "args"),
        (dict(runtime="python", code="", args=["-v", 2]), "args[1]"),
        (dict(runtime="python", code="", files={"a": 3}), 'files["a"]'),
        (dict(runtime="python", code="", files={"/etc/x": b""}), 'files["/etc/x"]'),
        (dict(runtime="python", code="", network={"deny": []}), "network.deny"),
        (dict(runtime="python", code="", network="all"), "network"),
        (dict(runtime="python", code="", env={"A\n": "1"}), r'env["A\x0a"]'),
        (dict(runtime="python", code="", env={"PATH": "/x"}), 'env["PATH"]'),
        (dict(runtime="python", code="", metadata={"k": None}), 'metadata["k"]'),
        (dict(runtime="python", code="", network=["ok.org", 5]), "network.allow[1]"),
        (dict(runtime="python", code="", stream_logs=1), "stream_logs"),
        (dict(runtime="python", code="", deadline_ms=True), "deadline_ms"),
        (dict(runtime="python", code="", deadline_ms=time.time() * 1000), "deadline_ms"),
        (dict(runtime="python", code="", deadline_ms=int(time.time() * 1e6)), "deadline_ms"),
        (dict(runtime="python", code="\ud800"), ""),
        (dict(runtime="Python", code=""), "runtime"),
        (dict(argv=[]), "argv"),
        (dict(), "runtime"),
    ]
    for fields, field in cases:
        with pytest.raises(brig.InvalidJob) as caught:
            brig.encode_job(brig.build_job(**fields))
        assert caught.value.field == field, (fields, str(caught.value))


def test_job_content_types_are_kept():
    job = brig.build_job(runtime="python", code=b"\xff", stdin=bytearray(b"in"),
                         files={"a/b.bin": b"\x00", "t.txt": "text"},
                         network=["pypi.org"], stream_logs=True)
    back = msgpack.unpackb(brig.encode_job(job), raw=False)
    assert back["code"] == b"\xff" and back["stdin"] == b"in"
    assert back["files"] == {"a/b.bin": b"\x00", "t.txt": "text"}
    assert back["network"] == {"allow": ["pypi.org"]} and back["stream_logs"] is True
    assert "network" not in brig.build_job(runtime="python", code="", network="none")


def test_a_job_over_16_mib_is_refused_before_sending():
    job = brig.build_job(runtime="python", code="", files={"big": b"x" * (16 << 20)})
    with pytest.raises(brig.InvalidJob, match="too large"):
        brig.encode_job(job)


# --- results and log chunks -------------------------------------------------------

def _canonical_result(r):
    hexed = {"stdout": r.stdout.hex(), "stderr": r.stderr.hex()}
    out = {"id": r.id, "attempt": r.attempt, "status": r.status, "exit_code": r.exit_code,
           "signal": r.signal, **hexed, "stdout_truncated": r.stdout_truncated,
           "stderr_truncated": r.stderr_truncated,
           "files": {p: c.hex() for p, c in r.files.items()},
           "files_omitted": [{"path": o.path, "reason": o.reason} for o in r.files_omitted],
           "files_omitted_truncated": r.files_omitted_truncated,
           "usage": r.usage and {k: v for k, v in (
               ("wall_us", r.usage.wall_us), ("cpu_us", r.usage.cpu_us),
               ("peak_memory_bytes", r.usage.peak_memory_bytes),
               ("compile_us", r.usage.compile_us)) if v is not None},
           "runtime": r.runtime_name and {k: v for k, v in (("name", r.runtime_name),
                                                            ("version", r.runtime_version)) if v},
           "worker_id": r.worker_id, "received_ms": r.received_ms, "started_ms": r.started_ms,
           "finished_ms": r.finished_ms, "error": r.error, "syscall": r.syscall,
           "metadata": r.metadata, "session": r.session, "replay_of": r.replay_of,
           **_canonical_cell(r)}
    return {k: v for k, v in out.items() if not _absent(v)}


def _canonical_cell(r):
    """SCHEMA.md 6.1's fields as the vectors' expected views write them."""
    exception = r.exception and {k: v for k, v in (
        ("name", r.exception.name), ("value", r.exception.value),
        ("traceback", list(r.exception.traceback))) if not _absent(v)}
    interpreter = r.interpreter and {"started": r.interpreter.started, **{k: v for k, v in (
        ("execution_count", r.interpreter.execution_count),
        ("state_lost", r.interpreter.state_lost)) if not _absent(v)}}
    return {"outputs": [{"kind": o.kind, "data": {m: d.hex() for m, d in o.data.items()}}
                        for o in r.outputs],
            "outputs_truncated": r.outputs_truncated, "exception": exception,
            "interpreter": interpreter}


def _absent(value):
    """Left out of SCHEMA.md's canonical view (section 12). Empty bytes are
    compared as absent too: a Result does not tell them apart."""
    return value is None or value is False or value in ([], {}, "")


@pytest.mark.parametrize("data,meta", vectors("result", valid=True))
def test_valid_result_vectors_decode_to_their_expected_content(data, meta):
    expected = {k: v for k, v in meta["expected"].items() if not _absent(v)}
    # A client skips the kinds of output it does not know (SCHEMA.md 6.1).
    outputs = [o for o in expected.pop("outputs", []) if o["kind"] in ("display", "result")]
    if outputs:
        expected["outputs"] = outputs
    assert _canonical_result(brig.decode_result(data)) == expected


@pytest.mark.parametrize("data,meta", vectors("runtimes", valid=True))
def test_valid_runtimes_vectors_decode(data, meta):
    record = brig.decode_runtimes(data)
    view = {"worker_id": record.worker_id, "started_ms": record.started_ms,
            "runtimes": [{k: v for k, v in (("name", r.name), ("aliases", list(r.aliases)),
                                            ("version", r.version), ("warm", r.warm),
                                            ("image", r.image)) if not _absent(v)}
                         for r in record.runtimes]}
    assert view == meta["expected"]


@pytest.mark.parametrize("data,meta", vectors("log_chunk", valid=True))
def test_valid_log_chunk_vectors_decode(data, meta):
    chunk = brig.decode_log_chunk(data)
    view = {"id": chunk.id, "attempt": chunk.attempt, "stream": chunk.stream,
            "seq": chunk.seq, "data": chunk.data.hex(), "ts_ms": chunk.ts_ms, "eos": chunk.eos}
    assert {k: v for k, v in view.items() if not _absent(v)} == \
        {k: v for k, v in meta["expected"].items() if not _absent(v)}


READERS = {"result": brig.decode_result, "log_chunk": brig.decode_log_chunk,
           "runtimes": brig.decode_runtimes}


@pytest.mark.parametrize("data,meta", [v for kind in READERS for v in vectors(kind, valid=False)])
def test_invalid_vectors_of_what_clients_read_are_refused_naming_the_field(data, meta):
    with pytest.raises(brig.SchemaError) as caught:
        READERS[meta["kind"]](data)
    assert caught.value.field == meta["error"]["field"]
    assert meta["error"]["reason"] in caught.value.reason


def _result_bytes(**fields):
    return msgpack.packb({"v": 1, "id": "j-1", "attempt": 1, "status": "ok", **fields},
                         use_bin_type=True)


def test_unknown_result_fields_are_kept_in_extra_and_nil_is_absent():
    r = brig.decode_result(_result_bytes(
        x_new={"nested": [1, "two"]}, exit_code=None, stdout="héllo\n",
        usage={"wall_us": 5, "cpu_us": 4, "peak_memory_bytes": 3, "io_bytes": 9},
        runtime={"name": "python", "version": None, "arch": "x86_64"}))
    assert r.extra == {"x_new": {"nested": [1, "two"]}}
    assert r.exit_code is None and r.ok
    assert r.stdout == "héllo\n".encode() and r.stdout_text == "héllo\n"
    assert r.usage == brig.Usage(5, 4, 3)
    assert (r.runtime_name, r.runtime_version) == ("python", None)
    assert r.stderr == b"" and r.files == {} and r.files_omitted == []


def test_a_failed_result_decodes_every_field():
    r = brig.decode_result(_result_bytes(
        status="failed", exit_code=3, stderr=b"bad\xff", stderr_truncated=True,
        files={"out/x": b"\x01"}, files_omitted=[{"path": "big", "reason": "over"}],
        worker_id="w-1", received_ms=1, started_ms=2, finished_ms=3, error="exit status 3",
        metadata={"k": "v"}, session="s", replay_of="j-0"))
    assert not r.ok and r.exit_code == 3
    assert r.stderr == b"bad\xff" and r.stderr_text == "bad\ufffd" and r.stderr_truncated
    assert r.files == {"out/x": b"\x01"}
    assert r.files_omitted == [brig.OmittedFile("big", "over")]
    assert (r.worker_id, r.received_ms, r.started_ms, r.finished_ms) == ("w-1", 1, 2, 3)
    assert (r.metadata, r.session, r.replay_of) == ({"k": "v"}, "s", "j-0")


def test_a_cells_outputs_have_helpers_by_mime_type():
    png, jpeg = b"\x89PNG\r\n\x1a\nIHDR", b"\xff\xd8\xff\xe0"
    r = brig.decode_result(_result_bytes(
        status="failed", session="nb", outputs=[
            {"kind": "display", "data": {"image/png": png, "text/plain": b"<Figure>"}},
            {"kind": "display", "data": {"text/html": "<b>x</b>", "image/svg+xml": "<svg/>"}},
            {"kind": "result", "data": {"application/json": b'{"a": [1]}', "image/jpeg": jpeg,
                                        "text/markdown": "# t"}}],
        outputs_truncated=True,
        exception={"name": "ValueError", "value": "bad", "traceback": ["frame 1", "frame 2"]},
        interpreter={"started": True, "execution_count": 3}))
    first, second, third = r.outputs
    assert first == brig.Output("display", {"image/png": png, "text/plain": b"<Figure>"})
    assert first.mime_types == ["image/png", "text/plain"]
    assert (first.png, first.text, first.html, first.json) == (png, "<Figure>", None, None)
    assert (second.html, second.svg, second.png, second.image) == ("<b>x</b>", "<svg/>", None,
                                                                   None)
    assert (third.json, third.jpeg, third.markdown) == ({"a": [1]}, jpeg, "# t")
    assert r.images == [("image/png", png), ("image/jpeg", jpeg)]
    assert r.outputs_truncated
    assert r.exception == brig.CellException("ValueError", "bad", ("frame 1", "frame 2"))
    assert r.interpreter == brig.Interpreter(started=True, execution_count=3, state_lost=False)


def test_cell_fields_are_absent_from_other_results():
    r = brig.decode_result(_result_bytes())
    assert (r.outputs, r.outputs_truncated, r.exception, r.interpreter, r.images) == \
        ([], False, None, None, [])


def test_the_outputs_data_is_bounded_in_all():
    big = {"kind": "display", "data": {"image/png": b"x" * (1 << 20)}}
    with pytest.raises(brig.SchemaError) as caught:
        brig.decode_result(_result_bytes(outputs=[big, big, big]))
    assert caught.value.field == "outputs[2].data" and "too long" in caught.value.reason


@pytest.mark.parametrize("data,reason", [
    (b"\x93\x01\x02\x03", "not a map"),
    (b"\x81\xa1v", "invalid msgpack"),
    (_result_bytes() + b"\x00", "trailing bytes"),
    (b"\x82\xa1v\x01\xa1v\x01", "duplicate key"),
    (b"\x81\x01\x02", "invalid msgpack"),
    (msgpack.packb({"v": 1, "id": "j", "attempt": 1, "status": "ok", "x": {b"k": 1}},
                   use_bin_type=True), "key is not a string"),
    (msgpack.packb({"v": "1"}), "wrong type"),
    (msgpack.packb({"id": "j"}), "missing"),
    ("a str", "expected bytes"),
])
def test_broken_messages_are_refused(data, reason):
    with pytest.raises(brig.SchemaError, match=reason):
        brig.decode_result(data)


# --- log order --------------------------------------------------------------------

def _chunk(seq, data=b"", stream="stdout", attempt=1, eos=False):
    return WireLogChunk("j", attempt, stream, seq, data, 1, eos)


def _feed(order, *chunks):
    return [(c.stream, c.seq, c.data) for chunk in chunks for c in order.feed(chunk)]


def test_log_order_restores_order_and_drops_duplicates():
    order = LogOrder()
    assert _feed(order, _chunk(1, b"b"), _chunk(0, b"a"), _chunk(0, b"a"), _chunk(1, b"b"),
                 _chunk(0, b"E", stream="stderr")) == [
        ("stdout", 0, b"a"), ("stdout", 1, b"b"), ("stderr", 0, b"E")]
    assert not order.finished
    assert _feed(order, _chunk(2, eos=True), _chunk(2, b"late", stream="stderr", eos=True)) == [
        ("stdout", 2, b"")]
    assert not order.finished  # stderr's end is held behind the gap at seq 1
    assert _feed(order, _chunk(1, b"F", stream="stderr"), _chunk(3, b"after end")) == [
        ("stderr", 1, b"F"), ("stderr", 2, b"late")]
    assert order.finished


def test_log_order_follows_the_newest_attempt():
    order = LogOrder()
    assert _feed(order, _chunk(0, b"old"), _chunk(0, b"new", attempt=2),
                 _chunk(1, b"stale"), _chunk(1, b"next", attempt=2)) == [
        ("stdout", 0, b"old"), ("stdout", 0, b"new"), ("stdout", 1, b"next")]


def test_log_order_flush_skips_gaps():
    order = LogOrder()
    assert _feed(order, _chunk(3, b"d"), _chunk(2, b"c")) == []
    assert [(c.seq, c.data) for c in order.flush()] == [(2, b"c"), (3, b"d")]


# --- broker discovery -----------------------------------------------------------

@pytest.fixture
def clean_env(monkeypatch):
    for name in ("BRIG_BROKERS", "BRIG_STATE_DIR", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_discovery_prefers_the_argument_then_the_environment(clean_env, tmp_path):
    (tmp_path / "broker").write_text("127.0.0.1:3\n")
    clean_env.setenv("BRIG_STATE_DIR", str(tmp_path))
    assert brig.discover_brokers("a:1") == "a:1"
    clean_env.setenv("BRIG_BROKERS", "b:2")
    assert brig.discover_brokers(None) == "b:2"
    assert brig.discover_brokers("a:1") == "a:1"
    clean_env.setenv("BRIG_BROKERS", "")
    assert brig.discover_brokers("") == "127.0.0.1:3"


def test_discovery_state_dir_order(clean_env, tmp_path):
    clean_env.setattr("os.geteuid", lambda: 1000)
    assert brig.state_dir() == "/run/brig"
    clean_env.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert brig.state_dir() == str(tmp_path / "brig")
    clean_env.setattr("os.geteuid", lambda: 0)
    assert brig.state_dir() == "/run/brig"
    clean_env.setenv("BRIG_STATE_DIR", "/somewhere")
    assert brig.state_dir() == "/somewhere"


def test_discovery_reads_the_state_file_of_a_user(clean_env, tmp_path):
    clean_env.setattr("os.geteuid", lambda: 1000)
    clean_env.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    (tmp_path / "brig").mkdir()
    (tmp_path / "brig" / "broker").write_text("127.0.0.1:4,127.0.0.1:5\nignored\n")
    assert brig.discover_brokers() == "127.0.0.1:4,127.0.0.1:5"


def test_discovery_without_any_broker_says_where_it_looked(clean_env, tmp_path):
    clean_env.setenv("BRIG_STATE_DIR", str(tmp_path))
    with pytest.raises(brig.BrokerNotFound, match=re.escape(str(tmp_path / "broker")) +
                       ": No such file or directory"):
        brig.discover_brokers()
    (tmp_path / "broker").write_text("")
    with pytest.raises(brig.BrokerNotFound, match="empty file"):
        brig.discover_brokers()
    with pytest.raises(brig.BrokerNotFound):
        brig.Client()


def test_client_checks_topic_names_before_connecting(clean_env):
    with pytest.raises(brig.InvalidJob, match="reply_topic"):
        brig.Client(brokers="127.0.0.1:1", reply_topic="no spaces")
    with pytest.raises(brig.InvalidJob, match="topic_prefix"):
        brig.Client(brokers="127.0.0.1:1", topic_prefix="..")


def test_only_librdkafkas_mock_cluster_is_taken_for_the_embedded_broker():
    from brig.kafka_setup import is_mock_cluster
    assert is_mock_cluster("mockCluster1c2a7e0")
    assert not is_mock_cluster("MkU3OEVBNTcwNTJENDM2Qg") and not is_mock_cluster(None)
