"""Cancel (SCHEMA.md section 8a): a waiting job is answered cancelled unrun,
a running one is stopped and answered cancelled, one cancelled before it
arrives is answered cancelled when it comes; unknown and finished jobs are
left alone, asking twice is asking once, and each act is audited."""
import os
import signal
import subprocess
import sys
import time

from conftest import ROOT, bin_path
from harness import job, wait_for

sys.path.insert(0, str(ROOT / "producer" / "python"))
import brig  # noqa: E402

BROKER_PARTITIONS = 2


def attempts(worker, job_id):
    db = worker.audit()
    try:
        return db.execute("SELECT COUNT(*) FROM attempts WHERE job_id = ?", (job_id,)).fetchone()[0]
    finally:
        db.close()


def cancellations(worker):
    db = worker.audit()
    try:
        return [tuple(row) for row in db.execute("SELECT job_id, requested_by, state FROM "
                                                 "cancellations ORDER BY id")]
    finally:
        db.close()


def running(worker, job_id):
    if not os.path.exists(worker.audit_db):
        return False
    db = worker.audit()
    try:
        return db.execute("SELECT 1 FROM attempts WHERE job_id = ? AND state = 'running'",
                          (job_id,)).fetchone() is not None
    finally:
        db.close()


def test_a_waiting_job_is_answered_cancelled_unrun(workers, client):
    w = workers("w", concurrency=1)
    # One key, so one partition: the busy job comes first. It holds the only
    # slot until the waiting one's cancel is on record, however slowly a
    # loaded machine delivers it; then it goes too.
    busy = client.submit(job("sleep 30", limits={"wall_ms": 40000}), key="in-order")
    waiting = client.submit(job("echo should not run"), key="in-order")
    client.flush()
    wait_for(lambda: running(w, busy), what="the first job running")
    client.cancel(waiting, by="alice")
    wait_for(lambda: cancellations(w) == [(waiting, "alice", "waiting")],
             what="the waiting job's cancel on record", timeout=60)
    client.cancel(busy, by="alice")
    results = client.wait([busy, waiting], timeout=60)
    (r,) = results[waiting]
    assert r["v"] == 2 and r["status"] == "cancelled" and r["attempt"] == 1
    assert r["error"] == "cancelled before it ran by alice"
    assert results[busy][0]["status"] == "cancelled"
    assert attempts(w, waiting) == 0
    assert cancellations(w) == [(waiting, "alice", "waiting"), (busy, "alice", "running")]


def test_a_running_job_is_stopped_and_answered_cancelled(workers, client):
    w = workers("w")
    jid = client.submit(job("echo started; sleep 30; echo finished", stream_logs=True,
                            limits={"wall_ms": 60000}))
    client.flush()
    wait_for(lambda: client.logs.get(jid), what="the job's first output")
    started = time.monotonic()
    client.cancel(jid, by="bob")
    client.cancel(jid, by="bob again")  # asking twice is asking once
    (r,) = client.wait([jid], timeout=30)[jid]
    assert time.monotonic() - started < 10
    assert r["status"] == "cancelled" and r["stdout"] == b"started\n"
    assert r["error"] == "cancelled while it ran by bob"
    time.sleep(1)
    assert len(client.results[jid]) == 1
    assert cancellations(w) == [(jid, "bob", "running")]


def test_a_job_cancelled_before_it_arrives(workers, client):
    w = workers("w")
    wait_for(lambda: 'msg="assigned ' in w.log(), what="the worker in its group")
    client.cancel("early-bird", by=None)
    time.sleep(0.5)
    client.submit(job("echo should not run", id="early-bird"))
    client.flush()
    (r,) = client.wait(["early-bird"], timeout=60)["early-bird"]
    assert r["status"] == "cancelled" and r["error"] == "cancelled before it ran"
    assert attempts(w, "early-bird") == 0
    assert cancellations(w) == [("early-bird", None, "not yet arrived")]


def test_unknown_and_finished_jobs_are_left_alone(workers, client):
    w = workers("w")
    done = client.submit(job("echo done"))
    client.flush()
    client.wait([done])
    client.cancel(done)
    client.cancel("no-such-job")
    after = client.submit(job("echo still working"))
    client.flush()
    assert client.wait([after])[after][0]["stdout"] == b"still working\n"
    time.sleep(1)
    assert [r["status"] for r in client.results[done]] == ["ok"]
    assert "no-such-job" not in client.results
    assert cancellations(w) == []


def brig_env(broker):
    return dict(os.environ, BRIG_BROKERS=broker.bootstrap)


def test_brig_cancel_and_ctrl_c_in_brig_run(workers, client, broker):
    w = workers("w")
    env = brig_env(broker)
    run = subprocess.Popen([bin_path("brig"), "run", "--id", "ctrl-c", "--", "sh", "-c",
                            "echo started; sleep 30"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    wait_for(lambda: running(w, "ctrl-c"), what="brig run's job running")
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 130, err
    assert "cancelling job ctrl-c (Ctrl-C again to leave without waiting)" in err
    assert "cancelled while it ran" in err and out == "started\n"

    slow = client.submit(job("sleep 30", id="by-command"))
    client.flush()
    wait_for(lambda: running(w, "by-command"), what="the job running")
    r = subprocess.run([bin_path("brig"), "cancel", "--by", "carol", "by-command"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "asked to cancel job by-command" in r.stderr
    assert client.wait([slow], timeout=30)[slow][0]["status"] == "cancelled"
    w_result = subprocess.run([bin_path("brig"), "wait", "--timeout", "20s", "by-command"],
                              env=env, capture_output=True, text=True, timeout=60)
    assert w_result.returncode == 130, w_result.stderr


def test_the_python_client_cancels(workers, broker):
    workers("w")
    with brig.Client(brokers=broker.bootstrap) as c:
        jid = c.submit("import time; time.sleep(30)", lang="python")
        time.sleep(2)
        c.cancel(jid, by="python")
        result = c.wait(jid, timeout=30)
    assert result.status == "cancelled"
    assert result.error in ("cancelled while it ran by python", "cancelled before it ran by python")
