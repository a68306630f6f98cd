"""The Python client (producer/python/brig) against a real brig-worker that runs
its embedded broker: one worker serves the whole file, found by the client
through $BRIG_STATE_DIR as an agent on the same host would find it."""
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import msgpack
import pytest

from conftest import detach_mounts_under, bin_path

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "producer" / "python"))

import brig  # noqa: E402

# Generous: jobs wait for a free slot, and the machine may be loaded.
ANSWER_S = 120


@pytest.fixture(scope="module")
def worker():
    """brig-worker with no flags: its embedded broker's address appears in
    $BRIG_STATE_DIR/broker. The environment points there for the module, so
    that Client() and the example find it.

    Not under pytest's tmp_path: that is mode 0700, and the jail, which keeps
    its roots in the state directory, must be able to reach them."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="brig-python-client-", dir="/tmp"))
    tmp.chmod(0o755)
    state, data = tmp / "state", tmp / "data"
    state.mkdir()
    data.mkdir()
    log_path = tmp / "worker.log"
    env = dict(os.environ, BRIG_STATE_DIR=str(state), BRIG_DATA_DIR=str(data))
    env.pop("BRIG_BROKERS", None)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([bin_path("brig-worker")], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    saved = {name: os.environ.get(name) for name in ("BRIG_STATE_DIR", "BRIG_BROKERS")}
    os.environ["BRIG_STATE_DIR"] = str(state)
    os.environ.pop("BRIG_BROKERS", None)
    try:
        deadline = time.monotonic() + 60
        while not (state / "broker").exists():
            assert proc.poll() is None, f"brig-worker exited:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"no broker address:\n{log_path.read_text()}"
            time.sleep(0.1)
        yield log_path
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        detach_mounts_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def client(worker):
    with brig.Client() as c:
        yield c


def explained(result, worker_log):
    return f"{result}\nworker log:\n{worker_log.read_text(errors='replace')[-4000:]}"


def test_run_python_prints(client, worker):
    result = client.run("print('hello from brig')", timeout=ANSWER_S)
    assert result.ok, explained(result, worker)
    assert result.status == "ok" and result.exit_code == 0
    assert result.stdout == b"hello from brig\n" and result.stdout_text == "hello from brig\n"
    assert result.stderr == b"" and not result.stdout_truncated
    assert result.runtime_name == "python" and result.runtime_version
    assert result.usage is not None and result.usage.wall_us > 0
    assert result.worker_id and result.attempt == 1
    assert result.received_ms <= result.started_ms <= result.finished_ms


def test_non_zero_exit_is_failed_with_the_exit_code(client, worker):
    result = client.run("import sys\nprint('bad input', file=sys.stderr)\nsys.exit(3)",
                        timeout=ANSWER_S)
    assert result.status == "failed", explained(result, worker)
    assert not result.ok and result.exit_code == 3
    assert result.stderr_text == "bad input\n"


def test_stdin_env_args_and_files_reach_the_program(client, worker):
    code = ("import os, sys\n"
            "print(sys.stdin.read().upper())\n"
            "print(os.environ['GREETING'])\n"
            "print(sys.argv[1:])\n"
            "print(open('data/input.txt').read())\n"
            "print(open('blob.bin', 'rb').read().hex())\n")
    result = client.run(code, stdin="from stdin", env={"GREETING": "hi there"},
                        args=["-x", "two words"],
                        files={"data/input.txt": "file content", "blob.bin": b"\x00\xff"},
                        timeout=ANSWER_S)
    assert result.ok, explained(result, worker)
    assert result.stdout_text.splitlines() == [
        "FROM STDIN", "hi there", "['-x', 'two words']", "file content", "00ff"]


def test_collected_files_come_back(client, worker):
    result = client.run("import os\nos.makedirs('out')\nopen('out/r.txt', 'w').write('made')\n",
                        collect=["out/*.txt"], timeout=ANSWER_S)
    assert result.ok, explained(result, worker)
    assert result.files == {"out/r.txt": b"made"}


def test_wall_clock_limit_gives_timeout(client, worker):
    result = client.run("import time\ntime.sleep(60)", limits={"wall_ms": 500},
                        timeout=ANSWER_S)
    assert result.status == "timeout", explained(result, worker)
    assert not result.ok and result.exit_code is None


def test_argv_job(client, worker):
    result = client.run_argv(["/bin/sh", "-c", "cat in.txt; echo \"$0\""], files={"in.txt": "x"},
                             timeout=ANSWER_S)
    assert result.ok, explained(result, worker)
    assert result.stdout_text == "x/bin/sh\n"
    assert result.runtime_name is None


def test_invalid_limits_never_leave_the_client(client):
    with pytest.raises(brig.InvalidJob, match=r"limits\.wall_ms: out of range"):
        client.run("print(1)", limits={"wall_ms": 5})
    with pytest.raises(brig.InvalidJob, match=r"limits\.memory_mb: unknown limit"):
        client.submit("print(1)", limits={"memory_mb": 5})


def test_unknown_runtime_is_rejected_by_the_worker(client, worker):
    result = client.run("x", lang="cobol-85", timeout=ANSWER_S)
    assert result.status == "rejected", explained(result, worker)
    assert result.error and "unknown runtime" in result.error


def test_submit_then_wait(client, worker):
    job_id = client.submit("print(21 * 2)", metadata={"step": "7"})
    result = client.wait(job_id, timeout=ANSWER_S)
    assert result.id == job_id and result.ok, explained(result, worker)
    assert result.stdout == b"42\n" and result.metadata == {"step": "7"}


def test_wait_times_out_and_can_wait_again(client, worker):
    job_id = client.submit("import time\ntime.sleep(2)\nprint('late')")
    with pytest.raises(brig.JobTimeout) as caught:
        client.wait(job_id, timeout=0.05)
    assert caught.value.job_id == job_id and isinstance(caught.value, TimeoutError)
    result = client.wait(job_id, timeout=ANSWER_S)
    assert result.stdout == b"late\n", explained(result, worker)


def test_results_iterator_yields_each_job_once(client, worker):
    ids = [client.submit(f"print({n} * {n})") for n in range(5)]
    seen = {}
    for result in client.results(ids, timeout=ANSWER_S):
        assert result.id not in seen
        seen[result.id] = result
    assert set(seen) == set(ids)
    for n, job_id in enumerate(ids):
        assert seen[job_id].stdout_text == f"{n * n}\n", explained(seen[job_id], worker)


def test_results_without_ids_waits_for_every_watched_job(client, worker):
    ids = {client.submit("print('a')"), client.submit("print('b')")}
    assert {r.id for r in client.results(timeout=ANSWER_S)} == ids


def test_logs_stream_in_order(client, worker):
    code = ("import sys, time\n"
            "for i in range(5):\n"
            "    print(f'line {i}', flush=True)\n"
            "    print(f'err {i}', file=sys.stderr, flush=True)\n"
            "    time.sleep(0.2)\n")
    job_id = client.submit(code, stream_logs=True)
    chunks = list(client.logs(job_id, timeout=ANSWER_S))
    stdout = b"".join(data for stream, data in chunks if stream == "stdout")
    stderr = b"".join(data for stream, data in chunks if stream == "stderr")
    assert stdout == b"".join(f"line {i}\n".encode() for i in range(5))
    assert stderr == b"".join(f"err {i}\n".encode() for i in range(5))
    result = client.wait(job_id, timeout=ANSWER_S)
    assert result.ok and result.stdout == stdout, explained(result, worker)
    # Read again after the end, without following: the same chunks.
    assert list(client.logs(job_id, follow=False, timeout=ANSWER_S)) == chunks


def test_two_threads_share_one_client(client, worker):
    outcomes = {}

    def run(n):
        outcomes[n] = client.run(f"import time\ntime.sleep(0.3)\nprint({n})", timeout=ANSWER_S)

    threads = [threading.Thread(target=run, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {n: r.stdout for n, r in outcomes.items()} == {1: b"1\n", 2: b"2\n"}


def test_own_reply_topic(worker):
    with brig.Client(reply_topic="brig.results.python-test", client_id="pytest") as own:
        result = own.run("print('mine')", timeout=ANSWER_S)
    assert result.stdout == b"mine\n", explained(result, worker)


def test_the_reply_consumer_is_assigned_and_barely_waits_on_the_embedded_broker(client):
    # The embedded broker (librdkafka's mock) answers a fetch only when its
    # wait ends, so every result would wait for it: 1 ms there. Partitions
    # are assigned by hand: no group is joined, so no rebalance delays a reply.
    assert client._config.settings.fetch_wait_ms == 1
    assigned = client._transport.consumer.assignment()
    assert assigned and {tp.topic for tp in assigned} == {"brig.results"}


def test_unreachable_broker_is_a_clear_error_not_a_hang():
    started = time.monotonic()
    with pytest.raises(brig.BrokerUnreachable, match=r"cannot reach the Kafka broker at "
                                                     r"127\.0\.0\.1:1 within"):
        brig.Client(brokers="127.0.0.1:1")
    # The bound is the client's connect timeout (5 s), with room for a loaded machine.
    assert time.monotonic() - started < 30


@pytest.fixture(scope="module")
def tool(worker):
    """The example, loaded from its file; its shared client closed at the end."""
    spec = importlib.util.spec_from_file_location(
        "agent_tool", ROOT / "producer" / "python" / "examples" / "agent_tool.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["agent_tool"] = module  # as an import would: its dataclasses look it up
    spec.loader.exec_module(module)
    yield module
    if module._client is not None:
        module._client.close()
    del sys.modules["agent_tool"]


def test_agent_tool_on_success(tool):
    answer = tool.execute_code("print(sum(range(10)))")
    assert answer.startswith("status: ok, exit code 0"), answer
    assert "--- stdout ---\n45\n" in answer
    assert tool.TOOL["name"] == "execute_code"
    assert tool.TOOL["parameters"]["required"] == ["code"]


def test_agent_tool_on_failure(tool):
    answer = tool.execute_code("print('x' * 10000)\nraise ValueError('boom')")
    assert answer.startswith("status: failed, exit code 1"), answer
    assert "characters cut" in answer
    assert answer.rstrip().endswith("ValueError: boom")
    assert len(answer) < tool.OUTPUT_BUDGET + 500
    answer = tool.execute_code("console.log(1)", language="cobol")
    assert answer.startswith("error: unknown language 'cobol'")


def test_agent_tool_explains_a_timeout(tool, monkeypatch):
    monkeypatch.setattr(tool, "WALL_MS", 500)
    answer = tool.execute_code("while True: pass")
    assert answer.startswith("status: timeout") or answer.startswith("status: cpu_timeout"), \
        answer
    assert "stopped because" in answer


def test_agent_tool_keeps_a_session_and_brings_files_and_images_back(tool):
    first = tool.execute({"code": "open('notes.txt', 'w').write(open('in.txt').read() * 2)",
                          "session": "agent-tool", "files": {"in.txt": "ab"}})
    assert first.text.startswith("status: ok"), first.text
    png = "\\x89PNG\\r\\n\\x1a\\n"
    second = tool.execute({
        "code": f"open('chart.png', 'wb').write(b'{png}' + bytes(8))\nprint('drawn')",
        "session": "agent-tool", "collect": ["notes.txt", "*.png"]})
    assert "--- file notes.txt (4 bytes) ---\nabab\n" in second.text, second.text
    assert "--- file chart.png (16 bytes, an image: shown) ---" in second.text
    assert second.images == [("image/png", b"\x89PNG\r\n\x1a\n" + bytes(8))]
    assert not second.is_error
    refused = tool.execute({"code": "print(1)", "collect": "*.png"})
    assert refused.is_error and "collect must be an array" in refused.text


def test_agent_tool_describes_a_cells_value_exception_and_lost_state(tool):
    result = brig.decode_result(msgpack.packb({
        "v": 1, "id": "j-1", "attempt": 1, "status": "failed", "session": "s",
        "outputs": [{"kind": "result", "data": {"text/plain": b"41"}},
                    {"kind": "display", "data": {"image/png": b"\x89PNG\r\n\x1a\n"}}],
        "exception": {"name": "ValueError", "value": "boom",
                      "traceback": ["Cell In[2], line 1\n", "  raise ValueError('boom')"]},
        "interpreter": {"started": True, "execution_count": 1, "state_lost": True}},
        use_bin_type=True))
    text = tool.describe(result)
    assert "started a fresh interpreter" in text and "the interpreter ended" in text
    assert "--- value ---\n41\n" in text
    assert text.endswith("--- exception ---\nCell In[2], line 1\n"
                         "  raise ValueError('boom')\nValueError: boom\n"), text
    assert tool.images_of(result) == [("image/png", b"\x89PNG\r\n\x1a\n")]
