"""Cells that attack the channel between the worker and their kernel
(worker/interp_channel.h): the cell shares the kernel's process, finds the
channel at descriptor 6 and writes what it likes there. The worker must
neither crash nor be confused: it ends that interpreter with a clear error
and state_lost, and the session's next cell starts a fresh one. A cell
cannot reach another session's interpreter either."""
import time

import pytest

from harness import job

from test_cells import cell, env, text  # noqa: F401  (env is a fixture)

FRAME = """
import os, struct, msgpack
def frame(obj):
    body = msgpack.packb(obj, use_bin_type=True)
    return struct.pack('>I', len(body)) + body
"""


@pytest.mark.parametrize("attack, why", [
    ("os.write(6, b'garbage that is not a frame at all')", "protocol"),
    ("os.write(6, b'\\xff\\xff\\xff\\xff' + b'x' * 100)", "a frame of 4294967295 bytes"),
    ("os.write(6, frame({'t': 'output', 'kind': 'display',"
     " 'data': {f'text/x{i}': 'a' for i in range(17)}}))", "17 MIME types"),
    ("os.write(6, frame({'t': 'error', 'name': 'E', 'value': 'v',"
     " 'traceback': ['x'] * 100000}))", "traceback: 100000 entries"),
    ("os.write(6, frame({'t': 'ready'}))", "ready twice"),
    ("os.write(6, frame({'t': 'output', 'kind': 'result', 'data': {'text/plain': 'a'}}));"
     "os.write(6, frame({'t': 'output', 'kind': 'result', 'data': {'text/plain': 'b'}}))",
     "two results"),
    ("os.write(6, frame({'t': 'done', 'status': 'ok'}) + frame({'t': 'done', 'status': 'ok'}))",
     "after the cell's done"),
])
def test_junk_on_the_channel_ends_the_interpreter_not_the_worker(env, attack, why):
    client, worker = env
    w = worker()
    cell(client, "state = 1", "victim")
    r = cell(client, FRAME + attack + "\nimport time; time.sleep(2)", "victim")
    assert r["interpreter"]["state_lost"] is True, r
    assert r["status"] == "failed", r
    assert "protocol" in r["error"] and why in r["error"], r["error"]
    r = cell(client, "state", "victim")
    assert r["interpreter"]["started"] is True, r
    assert r["exception"]["name"] == "NameError"
    assert text(cell(client, "6 * 7", "victim")) == "42"
    assert w.proc.poll() is None, w.log()


def test_a_frame_between_cells_means_a_fresh_interpreter(env):
    client, worker = env
    worker()
    r = cell(client, FRAME + "import threading\nkept = 1\n"
             "threading.Timer(0.3, lambda: os.write(6, frame({'t': 'dropped'}))).start()",
             "late")
    assert r["status"] == "ok", r
    time.sleep(1)
    r = cell(client, "kept", "late")
    assert r["interpreter"]["started"] is True, r
    assert r["exception"]["name"] == "NameError"


def test_output_past_the_bounds_is_dropped_by_the_worker(env):
    client, worker = env
    worker()
    # Past the kernel's own checks: frames forged straight onto the channel.
    r = cell(client, FRAME + "for i in range(300):\n"
             "    os.write(6, frame({'t': 'output', 'kind': 'display',"
             " 'data': {'text/plain': str(i), 'image/png': b'\\0' * 10000}}))\n"
             "os.write(6, frame({'t': 'output', 'kind': 'display',"
             " 'data': {'text/plain': 'bad \\udcff utf8 and nul \\0'.encode('utf-8', 'surrogateescape')"
             ".decode('utf-8', 'replace') + '\\0'}}))", "bounds")
    assert r["status"] == "ok", r
    assert r["outputs_truncated"] is True
    assert 0 < len(r["outputs"]) <= 256
    assert sum(len(v) for o in r["outputs"] for v in o["data"].values()) <= 2 << 20


def test_a_cell_cannot_reach_another_sessions_interpreter(env):
    client, worker = env
    worker()
    assert cell(client, "import os; secret = 'mine'; os.getpid()", "owner")["status"] == "ok"
    probe = """
import os, signal
seen = sorted(p for p in os.listdir('/proc') if p.isdigit())
killed = 0
for pid in range(2, 5000):
    if pid == os.getpid():
        continue
    try:
        os.kill(pid, signal.SIGKILL)
        killed += 1
    except (ProcessLookupError, PermissionError):
        pass
len(seen), killed, os.listdir('/work')
"""
    r = cell(client, probe, "intruder")
    assert r["status"] == "ok", r
    r = cell(client, "secret", "owner")
    assert r["interpreter"]["started"] is False, r
    assert text(r) == "'mine'"


def test_cancel_interrupts_a_running_cell_and_keeps_the_session(env):
    client, worker = env
    worker()
    cell(client, "kept = 'still here'", "cancel")
    jid = client.submit(job("import time\nwhile True: time.sleep(0.05)", runtime="python",
                            session="cancel"))
    client.flush()
    time.sleep(3)
    client.cancel(jid)
    (r,) = client.wait([jid], timeout=60)[jid]
    assert r["status"] == "cancelled", r
    assert not r["interpreter"].get("state_lost"), r
    r = cell(client, "kept", "cancel")
    assert r["interpreter"]["started"] is False and text(r) == "'still here'", r
