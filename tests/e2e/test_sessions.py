"""Stateful sessions end to end: a session's jobs share /work across jobs and
worker processes, run one at a time, expire, can be removed, and the audit
store records the workspace's state before and after each job."""
import subprocess
import time

import pytest

from conftest import bin_path
from harness import Broker, Client, Worker, job


@pytest.fixture
def env(tmp_path):
    broker = Broker(partitions=4)
    client = Client(broker.bootstrap)
    sessions = tmp_path / "sessions"
    started = []

    def worker(name, *extra):
        w = Worker(tmp_path, broker.bootstrap, name, concurrency=2,
                   extra=["--sessions-dir", str(sessions), *extra])
        started.append(w)
        return w

    yield broker, client, sessions, worker
    for w in started:
        try:
            w.stop()
        except AssertionError:
            pass
    # Whatever a test left, so no tmpfs outlives it.
    subprocess.run([bin_path("brig"), "session", "rm", "--sessions-dir", str(sessions),
                    *session_ids(sessions)], capture_output=True)
    client.close()
    broker.stop()


def session_ids(sessions):
    out = subprocess.run([bin_path("brig"), "session", "ls", "--json", "--sessions-dir",
                          str(sessions)], capture_output=True, text=True, check=True).stdout
    import json
    return [json.loads(line)["id"] for line in out.splitlines()]


def run(client, code, session, **fields):
    jid = client.submit(job(code, runtime="python", session=session, **fields))
    client.flush()
    (result,) = client.wait([jid], timeout=120)[jid]
    return result


WRITE = """
import os
os.makedirs('lib', exist_ok=True)
open('lib/helper.py', 'w').write('ANSWER = 42\\n')
open('notes.txt', 'w').write('from job 1')
"""
READ = """
import sys
sys.path.insert(0, 'lib')
import helper
print(helper.ANSWER, open('notes.txt').read())
"""


def test_a_session_keeps_files_and_modules_between_jobs(env):
    _, client, _, worker = env
    worker("w")
    first = run(client, WRITE, "nb-1")
    assert first["status"] == "ok", first
    second = run(client, READ, "nb-1")
    assert second["status"] == "ok", second
    assert second["stdout"] == b"42 from job 1\n"
    other = run(client, READ, "nb-2")
    assert other["status"] == "failed", "another session saw nb-1's files"


def test_a_session_survives_its_partition_moving_to_another_worker(env):
    _, client, _, worker = env
    a = worker("a")
    assert run(client, WRITE, "moving")["status"] == "ok"
    assert a.stop() == 0
    worker("b")
    second = run(client, READ, "moving")
    assert second["stdout"] == b"42 from job 1\n", second


def test_sessions_can_be_listed_and_removed(env):
    _, client, sessions, worker = env
    worker("w")
    assert run(client, WRITE, "to-remove")["status"] == "ok"
    assert session_ids(sessions) == ["to-remove"]
    subprocess.run([bin_path("brig"), "session", "rm", "--sessions-dir", str(sessions),
                    "to-remove"], check=True)
    assert session_ids(sessions) == []
    again = run(client, READ, "to-remove")
    assert again["status"] == "failed", "a removed session kept its files"


def test_idle_sessions_expire(env):
    _, client, sessions, worker = env
    worker("w", "--session-ttl", "1s")
    assert run(client, WRITE, "short-lived")["status"] == "ok"
    deadline = time.monotonic() + 30
    while session_ids(sessions) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert session_ids(sessions) == []


def test_the_audit_store_records_the_workspace_state_around_each_job(env):
    _, client, _, worker = env
    w = worker("w")
    first = run(client, WRITE, "audited")
    second = run(client, "print('read only')", "audited")
    db = w.audit()
    rows = {r["job_id"]: r for r in db.execute(
        "SELECT job_id, state_before, state_after FROM attempts")}
    one, two = rows[first["id"]], rows[second["id"]]
    assert all(len(h) == 64 for h in (one["state_before"], one["state_after"],
                                        two["state_before"], two["state_after"]))
    assert one["state_before"] != one["state_after"], "job 1 wrote files"
    # Job 2 starts from job 1's end and changes nothing but python's cache.
    assert two["state_before"] == one["state_after"]
