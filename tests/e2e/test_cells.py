"""Cells end to end (SCHEMA.md 6.1): a session's Python jobs run in one live
interpreter kept by the worker, so one cell's variables are there for the
next; rich outputs, exceptions, limits and the interpreter's end come back in
the result. Through the embedded broker, with the real worker and jail."""
import struct
import subprocess

import pytest

from conftest import bin_path
from harness import Broker, Client, Worker, job, wait_for


@pytest.fixture
def env(tmp_path):
    broker = Broker(partitions=2)
    client = Client(broker.bootstrap)
    sessions = tmp_path / "sessions"
    started = []

    def worker(name="w", *extra):
        w = Worker(tmp_path, broker.bootstrap, name, concurrency=2,
                   extra=["--sessions-dir", str(sessions), "--interrupt-grace", "1s", *extra])
        started.append(w)
        return w

    worker.sessions = sessions
    yield client, worker
    for w in started:
        try:
            w.stop()
        except AssertionError:
            pass
    ids = [p.name[:-len(".json")] for p in sessions.glob("*.json")] if sessions.exists() else []
    if ids:
        subprocess.run([bin_path("brig"), "session", "rm", "--sessions-dir", str(sessions), *ids],
                       capture_output=True)
    client.close()
    broker.stop()


def cell(client, code, session, runtime="python", **fields):
    jid = client.submit(job(code, runtime=runtime, session=session, **fields))
    client.flush()
    (result,) = client.wait([jid], timeout=180)[jid]
    return result


def text(result, kind="result", mime="text/plain"):
    found = [o["data"][mime] for o in result.get("outputs", [])
             if o["kind"] == kind and mime in o["data"]]
    assert found, result
    return found[0].decode() if isinstance(found[0], bytes) else found[0]


def test_state_persists_and_the_last_expression_is_the_result(env):
    client, worker = env
    worker()
    first = cell(client, "x = 1", "s1")
    assert first["status"] == "ok", first
    assert first["interpreter"]["started"] is True
    assert first["interpreter"]["execution_count"] == 1
    assert "outputs" not in first
    second = cell(client, "print('hello'); x + 1", "s1")
    assert second["status"] == "ok", second
    assert second["interpreter"]["started"] is False
    assert second["interpreter"]["execution_count"] == 2
    assert second["stdout"] == b"hello\n"
    assert text(second) == "2"
    for i in range(3, 101):
        r = cell(client, "x += 1; x", "s1")
        assert r["status"] == "ok" and r["interpreter"]["execution_count"] == i, r
    assert text(r) == "99"


def test_an_exception_comes_back_and_the_session_lives_on(env):
    client, worker = env
    worker()
    cell(client, "y = 7", "s2")
    r = cell(client, "def f():\n    return 1 / 0\nf()", "s2")
    assert r["status"] == "failed", r
    assert "exit_code" not in r
    exc = r["exception"]
    assert exc["name"] == "ZeroDivisionError"
    assert exc["value"] == "division by zero"
    assert any("return 1 / 0" in line for line in exc["traceback"]), exc
    assert not any("\x1b[" in line for line in exc["traceback"]), "colours in the traceback"
    assert text(cell(client, "y", "s2")) == "7"


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_a_figure_left_open_is_a_png_and_a_dataframe_is_html(env):
    client, worker = env
    worker()
    r = cell(client, "import matplotlib.pyplot as plt\n"
                     "fig = plt.figure(figsize=(4, 3), dpi=100)\n"
                     "plt.plot([1, 2, 3])", "s3")
    assert r["status"] == "ok", r
    pngs = [o["data"]["image/png"] for o in r["outputs"] if "image/png" in o["data"]]
    assert len(pngs) == 1, r["outputs"]
    # The inline backend crops to the drawing (bbox_inches='tight').
    width, height = png_size(pngs[0])
    assert 300 <= width <= 400 and 200 <= height <= 300, (width, height)
    r = cell(client, "import pandas as pd\npd.DataFrame({'a': [1, 2]})", "s3")
    assert r["status"] == "ok", r
    assert "<table" in text(r, mime="text/html")
    assert "a" in text(r)


def test_two_sessions_do_not_see_each_others_variables(env):
    client, worker = env
    worker()
    assert cell(client, "secret = 42", "a")["status"] == "ok"
    r = cell(client, "secret", "b")
    assert r["status"] == "failed" and r["exception"]["name"] == "NameError", r


def test_the_prebuilt_shell_is_the_sessions_own(env):
    """The warm server builds the shell before its fork: what the shell took
    from the server (its directory, home, __main__, profile) is the
    kernel's, and a later session sees nothing of an earlier one's."""
    client, worker = env
    worker()
    assert cell(client, "leak = 1\nleak", "first")["status"] == "ok"
    r = cell(client, "import os, sys\nip = get_ipython()\n"
             "print(ip.home_dir == os.environ['HOME'], [str(d) for d in _dh],\n"
             "      ip.starting_dir, sys.modules['__main__'] is ip.user_module,\n"
             "      os.path.isdir(os.path.join(ip.profile_dir.location, 'db')),\n"
             "      os.path.isdir(os.path.join(ip.profile_dir.location, 'startup')),\n"
             "      'leak' in ip.user_ns, dict(Out))", "second")
    assert r["status"] == "ok", r
    assert r["stdout"].decode() == "True ['/work'] /work True True True False {}\n", r


@pytest.mark.parametrize("crash", [
    "import os; os._exit(3)",
    "import ctypes; ctypes.string_at(0)",
])
def test_a_dead_interpreter_loses_the_state_and_the_next_cell_starts_fresh(env, crash):
    client, worker = env
    worker()
    cell(client, "z = 1", "s4")
    r = cell(client, crash, "s4")
    assert r["interpreter"]["state_lost"] is True, r
    assert r["status"] in ("failed", "signaled"), r
    r = cell(client, "z", "s4")
    assert r["interpreter"]["started"] is True, r
    assert r["interpreter"]["execution_count"] == 1
    assert r["exception"]["name"] == "NameError"


def test_an_endless_cell_is_interrupted_and_the_state_survives(env):
    client, worker = env
    worker()
    cell(client, "kept = 'yes'", "s5")
    r = cell(client, "while True: pass", "s5", limits={"wall_ms": 1000, "cpu_ms": 60000})
    assert r["status"] == "timeout", r
    assert r["exception"]["name"] == "KeyboardInterrupt"
    assert not r["interpreter"].get("state_lost"), r
    r = cell(client, "while True: pass", "s5", limits={"wall_ms": 60000, "cpu_ms": 500})
    assert r["status"] == "cpu_timeout", r
    r = cell(client, "kept", "s5")
    assert text(r) == "'yes'" and r["interpreter"]["started"] is False, r


def test_a_cell_that_ignores_the_interrupt_is_killed_after_the_grace(env):
    client, worker = env
    worker()
    r = cell(client, "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                     "while True: time.sleep(0.01)", "s6", limits={"wall_ms": 500})
    assert r["status"] == "timeout", r
    assert r["interpreter"]["state_lost"] is True
    assert cell(client, "1", "s6")["interpreter"]["started"] is True


def test_a_memory_bomb_is_oom_and_loses_the_state(env):
    client, worker = env
    worker()
    cell(client, "m = 1", "s7", limits={"memory_bytes": 256 << 20})
    r = cell(client, "b = []\nwhile True: b.append(bytearray(16 << 20))", "s7")
    assert r["status"] == "oom", r
    assert r["interpreter"]["state_lost"] is True
    assert cell(client, "2", "s7")["interpreter"]["started"] is True


def test_brig_session_rm_ends_the_interpreter(env):
    client, worker = env
    worker()
    assert cell(client, "gone = 1", "rm-me")["status"] == "ok"
    subprocess.run([bin_path("brig"), "session", "rm", "--sessions-dir", str(worker.sessions),
                    "rm-me"], check=True)
    r = cell(client, "gone", "rm-me")
    assert r["interpreter"]["started"] is True, r
    assert r["exception"]["name"] == "NameError"


def test_a_rebalance_ends_the_moved_sessions_interpreter(env):
    import zlib
    client, worker = env
    a = worker("a")
    # librdkafka's default partitioner: CRC32 of the key; one session per
    # partition of the two.
    names = {}
    for i in range(100):
        names.setdefault(zlib.crc32(f"rb-{i}".encode()) % 2, f"rb-{i}")
    sessions = [names[0], names[1]]
    for s in sessions:
        assert cell(client, "v = 1", s)["status"] == "ok"
    b = worker("b")
    b.wait_consuming()
    wait_for(lambda: 'msg="assigned ' in b.log(), what="b to get a partition")
    started = {s: cell(client, "v", s)["interpreter"]["started"] for s in sessions}
    assert sorted(started.values()) == [False, True], started
    (moved,) = [s for s in sessions if started[s]]
    assert f"session {moved}: its interpreter ended" in a.log(), a.log()


def test_max_interpreters_evicts_the_least_recently_used_idle_one(env):
    client, worker = env
    worker("w", "--max-interpreters", "2")
    for s in ("lru-a", "lru-b"):
        assert cell(client, "here = 1", s)["status"] == "ok"
    assert cell(client, "here", "lru-a")["interpreter"]["started"] is False
    # A third session: lru-b, idle the longest, makes room.
    assert cell(client, "here = 1", "lru-c")["interpreter"]["started"] is True
    assert cell(client, "here", "lru-a")["interpreter"]["started"] is False
    r = cell(client, "here", "lru-b")
    assert r["interpreter"]["started"] is True and r["exception"]["name"] == "NameError", r


def test_a_flood_of_output_is_stopped_at_output_bytes_and_the_state_survives(env):
    client, worker = env
    worker()
    cell(client, "kept = 3", "flood")
    r = cell(client, "while True: print('y' * 1000)", "flood", limits={"output_bytes": 65536})
    assert r["status"] == "output_limit", r
    assert r["stdout_truncated"] is True and len(r["stdout"]) == 65536
    r = cell(client, "kept", "flood")
    assert text(r) == "3" and r["interpreter"]["started"] is False, r
