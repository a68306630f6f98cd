"""brig-worker end to end: real workers, the real Kafka protocol (the test
broker), faults injected, and the audit stores checked afterwards."""
import contextlib
import fcntl
import os
import signal
import subprocess
import time

import msgpack
import pytest

from conftest import bin_path
from harness import Client, job, wait_for


def executions(worker_list):
    """job id -> number of attempts that ran it (finished or not), over every store."""
    runs = {}
    for w in worker_list:
        db = w.audit()
        for row in db.execute("SELECT job_id FROM attempts"):
            runs[row["job_id"]] = runs.get(row["job_id"], 0) + 1
        db.close()
    return runs


def held_partitions(worker):
    """How many partitions the worker's log says it holds now."""
    held = 0
    for line in worker.log().splitlines():
        if 'msg="assigned ' in line:
            held = int(line.split('msg="assigned ')[1].split()[0])
        elif 'msg="released ' in line:
            held = 0
    return held


def test_worker_without_arguments_embeds_a_broker_and_runs_jobs(tmp_path):
    state = tmp_path / "state"
    env = dict(os.environ, BRIG_STATE_DIR=str(state), BRIG_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.Popen([bin_path("brig-worker")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().split()
        assert line[:1] == ["brokers"], proc.stderr.read()
        wait_for(lambda: (state / "broker").exists(), what="the state file")
        bootstrap, limit = (state / "broker").read_text().splitlines()
        assert bootstrap == line[1]
        assert limit == "message_max_bytes 2617344"  # 2.5 MiB less 4 KiB
        c = Client(bootstrap)
        try:
            ids = [c.submit(job(f"echo hello {i}")) for i in range(5)]
            c.flush()
            results = c.wait(ids, timeout=60)
        finally:
            c.close()
        for i, jid in enumerate(ids):
            (r,) = results[jid]
            assert r["status"] == "ok" and r["stdout"] == f"hello {i}\n".encode()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "IN MEMORY ONLY" in err
    assert not (state / "broker").exists(), "the state file outlived the broker"


def embedded_worker(tmp_path, name, state):
    """A brig-worker without --brokers, its address line read."""
    env = dict(os.environ, BRIG_STATE_DIR=str(state), BRIG_DATA_DIR=str(tmp_path / f"data-{name}"))
    log = open(tmp_path / f"{name}.log", "w+")
    proc = subprocess.Popen([bin_path("brig-worker"), "--worker-id", name,
                             "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"],
                            env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline().split()
    log.seek(0)
    assert line[:1] == ["brokers"], log.read()
    return proc, line[1], log


def run_echo(bootstrap, text):
    c = Client(bootstrap)
    try:
        jid = c.submit(job(f"echo {text}"))
        c.flush()
        (r,) = c.wait([jid], timeout=60)[jid]
    finally:
        c.close()
    assert r["status"] == "ok" and r["stdout"] == f"{text}\n".encode(), r


def stop(proc, sig=signal.SIGTERM):
    proc.send_signal(sig)
    proc.wait(timeout=60)
    return proc.returncode


def test_a_second_worker_joins_the_embedded_broker(tmp_path):
    """Workers of one state dir without --brokers share the first one's
    embedded broker; only its owner removes the state file, and a worker
    whose broker went away says so and stops."""
    state = tmp_path / "state"
    owner, address, owner_log = embedded_worker(tmp_path, "owner", state)
    joiner, joined, joiner_log = embedded_worker(tmp_path, "joiner", state)
    try:
        assert joined == address
        assert (state / "broker").read_text().splitlines()[0] == address
        run_echo(address, "both")
        assert stop(joiner) == 0
        assert (state / "broker").read_text().splitlines()[0] == address, \
            "a worker that joined removed the owner's state file"
        run_echo(address, "owner alone")

        joiner, _, joiner_log = embedded_worker(tmp_path, "joiner2", state)
        assert stop(owner) == 0
        assert not (state / "broker").exists()
        joiner.wait(timeout=30)
        joiner_log.seek(0)
        text = joiner_log.read()
        assert joiner.returncode != 0
        assert "stopped with the brig-worker that ran it" in text, text
    finally:
        for p in (owner, joiner):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_a_new_owner_replaces_a_killed_owners_state_file(tmp_path):
    """An owner killed with -9 leaves its state file naming a broker that is
    gone: the next worker owns a new broker (the lock, not the file, says who
    owns), and the one after joins the new broker."""
    state = tmp_path / "state"
    first, address, _ = embedded_worker(tmp_path, "first", state)
    stop(first, signal.SIGKILL)
    assert (state / "broker").exists()
    second, new_address, _ = embedded_worker(tmp_path, "second", state)
    third = None
    try:
        assert new_address != address
        assert (state / "broker").read_text().splitlines()[0] == new_address
        third, joined, _ = embedded_worker(tmp_path, "third", state)
        assert joined == new_address
        run_echo(new_address, "fresh")
    finally:
        if third is not None:
            assert stop(third) == 0
        assert stop(second) == 0


def test_three_workers_share_1000_jobs_each_run_once(workers, client):
    pool = [workers(f"w{i}", concurrency=2) for i in range(3)]
    # Jobs only once the three hold all 6 partitions in one generation: a
    # member joining later makes the test broker refuse the revoked
    # partitions' offset commits, and their jobs come back to be answered
    # again from the audit store (at least once, by design).
    wait_for(lambda: all(held_partitions(w) for w in pool) and
             sum(held_partitions(w) for w in pool) == 6, what="one generation of all three")
    ids = [client.submit(job("true")) for _ in range(1000)]
    client.flush()
    results = client.wait(ids, timeout=300)
    runs = executions(pool)
    for jid in ids:
        assert [r["status"] for r in results[jid]] == ["ok"], results[jid]
        assert runs.get(jid) == 1, f"job {jid} ran {runs.get(jid, 0)} times"
    used = [w.name for w in pool if any(True for _ in w.audit().execute("SELECT 1 FROM attempts LIMIT 1"))]
    assert len(used) >= 2, f"only {used} took jobs: the group did not share the load"


@pytest.fixture
def prompt_client(broker):
    """A client whose fetches wait 1 ms: the test broker answers a fetch only
    when its wait is over, so output arrives here as soon as a job wrote it."""
    c = Client(broker.bootstrap, consumer_settings={"fetch.wait.max.ms": 1})
    yield c
    c.close()


def test_kill_9_of_a_worker_loses_nothing(workers, prompt_client):
    client = prompt_client
    victim = workers("victim", concurrency=2)
    ids = [client.submit(job("echo started; sleep 0.3", stream_logs=True)) for _ in range(60)]
    client.flush()
    # Killed the moment a job's first output arrives: its code has run, so its
    # attempt must already be on disk.
    deadline = time.monotonic() + 60
    while not client.logs and time.monotonic() < deadline:
        time.sleep(0.001)
    victim.kill9()
    with client.lock:
        started = set(client.logs)
    assert started, "no job of the victim's started"
    db = victim.audit()
    states = {row["job_id"]: row["state"] for row in db.execute("SELECT job_id, state FROM attempts")}
    db.close()
    assert started <= set(states), f"started with no attempt on disk: {started - set(states)}"
    interrupted = {jid for jid, state in states.items() if state == "running"}
    assert interrupted, "the kill found no job running"

    survivor = workers("survivor", concurrency=2)
    results = client.wait(ids, timeout=120)
    for jid in ids:
        assert any(r["status"] == "ok" for r in results[jid]), results[jid]
    runs = executions([victim, survivor])
    assert all(runs.get(jid, 0) >= 1 for jid in ids)
    assert all(runs[jid] >= 2 for jid in interrupted), "an interrupted job was not run again"

    victim.start()
    wait_for(lambda: "marked abandoned" in victim.log(), timeout=30,
             what="the restarted worker to mark abandoned attempts")
    db = victim.audit()
    abandoned = {row["job_id"] for row in db.execute("SELECT job_id FROM attempts WHERE state = 'abandoned'")}
    db.close()
    assert abandoned == interrupted


def workspace_mounts(state):
    """{mount point: maker's pid} of the brig workspaces under state, as
    this process's mountinfo lists them (source brig-workspace:<pid>-<start>)."""
    found = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype, source = fields[fields.index("-") + 1:][:2]
            if fstype == "tmpfs" and source.startswith("brig-workspace:") and \
                    fields[4].startswith(f"{state}/"):
                found[fields[4]] = int(source.split(":")[1].split("-")[0])
    return found


@contextlib.contextmanager
def uids_held(workspaces):
    """Holds the host-uid locks of the workspaces' uids (ws/<uid>), as a
    brig process that took a dead worker's uids would: the worker started
    next gets other uids, so only its reclaim can unmount what the dead one
    left (with the same uids its start-up sweep of its own uids does it).
    Chunks of 1024 uids from 0x70000000, one lock file each (sandbox/user.c)."""
    held = []
    try:
        for chunk in {(int(os.path.basename(p)) - 0x70000000) // 1024 for p in workspaces}:
            fd = os.open(f"/run/brig/uids/{chunk}", os.O_RDWR | os.O_CREAT, 0o600)
            held.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass  # another brig process holds it: just as good
        yield
    finally:
        for fd in held:
            os.close(fd)


def test_a_restarted_worker_unmounts_a_killed_workers_workspaces(tmp_path, workers, client):
    """kill -9 leaves the tmpfs workspaces of the jobs it interrupted mounted;
    the worker started again on the same state dir unmounts them, and leaves
    a live worker's alone (two groups, so that both run the same jobs)."""
    state = tmp_path / "state"
    quick = ["--drain-timeout", "1s"]
    victim = workers("victim", concurrency=2, group="victim", extra=quick)
    bystander = workers("bystander", concurrency=1, group="bystander", extra=quick)
    for _ in range(2):  # running until the end (the drain timeout stops them)
        client.submit(job("sleep 300", limits={"wall_ms": 300000}))
    client.flush()

    def mounts_of(pid):
        return {point for point, maker in workspace_mounts(state).items() if maker == pid}

    wait_for(lambda: len(mounts_of(victim.proc.pid)) == 2 and mounts_of(bystander.proc.pid),
             what="both workers running the jobs")
    dead_pid = victim.proc.pid
    victim.kill9()
    left = mounts_of(dead_pid)
    kept = mounts_of(bystander.proc.pid)
    try:
        assert len(left) == 2, "kill -9 left no workspace mounted: nothing to reclaim"
        with uids_held(left):
            victim.start()
            # Its log goes on from the first run's, which consumed too.
            wait_for(lambda: victim.log().count(" consuming ") == 2 or
                     victim.proc.poll() is not None, what="the restarted worker to start")
        assert not left & set(workspace_mounts(state)), "the dead worker's workspaces stay"
        assert "reclaimed what dead workers left: 2 workspace(s)" in victim.log(), victim.log()
        assert kept <= set(workspace_mounts(state)), "a live worker's workspace was unmounted"
        assert bystander.proc.poll() is None
    finally:
        for point in left & set(workspace_mounts(state)):  # never leave them on the host
            subprocess.run(["umount", "-l", point], check=False)


def test_broker_down_for_10_seconds_loses_nothing(workers, client, broker):
    pool = [workers("a", concurrency=2), workers("b", concurrency=2)]
    first = [client.submit(job("sleep 0.05")) for _ in range(100)]
    client.flush()
    wait_for(lambda: sum(len(v) for v in client.results.values()) >= 10, what="progress")
    broker.down()
    time.sleep(10)
    broker.up()
    second = [client.submit(job("true")) for _ in range(100)]
    client.flush()
    results = client.wait(first + second, timeout=300)
    for jid in first + second:
        assert any(r["status"] == "ok" for r in results[jid]), results[jid]
    for w in pool:
        assert w.proc.poll() is None, f"worker {w.name} died:\n{w.log()}"


def malformed(i):
    """The i-th of 1000 invalid messages, and the job id a rejection can name."""
    kind = i % 8
    if kind == 0:
        return b"\xc1", None                                  # never-used msgpack byte
    if kind == 1:
        return b"not msgpack at all", None
    if kind == 2:
        return msgpack.packb([1, 2, 3]), None                 # not a map
    if kind == 3:
        return msgpack.packb({"v": 1}), None                  # no id
    if kind == 4:
        return msgpack.packb({"v": 1, "id": "x" * 100, "argv": ["true"]}), None
    if kind == 5:
        return b"", None
    jid = f"bad-{i}"
    if kind == 6:
        return msgpack.packb({"v": 1, "id": jid, "argv": ["true"],
                              "limits": {"memory_bytes": "lots"}}), jid
    return msgpack.packb({"v": 1, "id": jid, "runtime": "cobol", "code": "x"}), jid


# What the dead letter of each kind of malformed(i) says: (reason keyword,
# field).
MALFORMED_REASONS = {
    0: ("invalid msgpack", ""),
    1: ("trailing bytes", ""),
    2: ("not a map", ""),
    3: ("missing", "id"),
    4: ("too long", "id"),
    5: ("truncated", ""),
    6: ("wrong type", "limits.memory_bytes"),
    7: ("unknown runtime", "runtime"),
}


def submit_malformed_among_valid(client, count=1000):
    """count malformed messages, keyed bad<i>, with a valid job after every
    tenth; returns the valid jobs' ids."""
    valid = []
    for i in range(count):
        raw, _ = malformed(i)
        client.submit(None, key=f"bad{i}", raw=raw)
        if i % 10 == 0:
            valid.append(client.submit(job("true")))
    client.flush()
    return valid


def check_malformed_answered(client, valid, jobs_topic, count=1000, timeout=300):
    """Every malformed message is one dead letter that holds it and says why,
    those with an id are answered rejected once, and every valid job is
    answered ok once."""
    bad_ids = [jid for jid in (malformed(i)[1] for i in range(count)) if jid]
    results = client.wait(valid + bad_ids, timeout=timeout,
                          condition=lambda: len(client.dead_letters) >= count)
    time.sleep(1)  # a second letter or answer of one message would be here by now
    letters = {letter["key"]: letter for letter in client.dead_letters}
    assert len(client.dead_letters) == count and len(letters) == count
    for i in range(count):
        raw, jid = malformed(i)
        letter = letters[f"bad{i}".encode()]
        reason, field = MALFORMED_REASONS[i % 8]
        assert letter["data"] == raw and letter["topic"] == jobs_topic, letter
        assert "offset" in letter and letter.get("id") == jid, letter
        assert reason in letter["reason"] and letter.get("field", "") == field, letter
    for jid in valid:
        assert [r["status"] for r in client.results[jid]] == ["ok"], client.results[jid]
    for jid in bad_ids:
        (r,) = client.results[jid]
        assert r["status"] == "rejected" and letters[f"bad{jid[4:]}".encode()]["reason"] in \
            r["error"], r
    return results


def test_malformed_messages_go_to_the_dlq_and_valid_jobs_complete(workers, client):
    workers("w", concurrency=2)
    valid = submit_malformed_among_valid(client)
    check_malformed_answered(client, valid, "brig.jobs")


def test_sigterm_lets_in_flight_jobs_finish_and_a_restart_does_not_rerun_them(workers, client):
    w = workers("w", concurrency=2)
    ids = [client.submit(job("sleep 1")) for _ in range(2)]
    client.flush()
    wait_for(lambda: "running" in {r["state"] for r in w.audit().execute("SELECT state FROM attempts")},
             what="the jobs to start")
    assert w.stop(timeout=60) == 0, w.log()
    results = client.wait(ids, timeout=10)
    assert all([r["status"] for r in results[jid]] == ["ok"] for jid in ids)
    w.start()
    later = client.submit(job("true"))
    client.flush()
    client.wait([later], timeout=60)
    runs = executions([w])
    assert all(runs[jid] == 1 for jid in ids), runs


def test_a_job_longer_than_max_poll_interval_does_not_rebalance(workers, client):
    w = workers("w", concurrency=1, extra=["-X", "max.poll.interval.ms=3000",
                                           "-X", "session.timeout.ms=3000",
                                           "-X", "heartbeat.interval.ms=500"])
    jid = client.submit(job("sleep 8", limits={"wall_ms": 20000}))
    client.flush()
    results = client.wait([jid], timeout=60)
    assert [r["status"] for r in results[jid]] == ["ok"]
    assert executions([w])[jid] == 1
    assert w.log().count("assigned") == 1, w.log()
    assert "released" not in w.log()


def test_jobs_still_running_at_the_drain_timeout_are_stopped_and_answered(workers, client):
    w = workers("w", concurrency=1, extra=["--drain-timeout", "1s"])
    jid = client.submit(job("sleep 60", limits={"wall_ms": 120000}))
    client.flush()
    wait_for(lambda: "running" in {r["state"] for r in w.audit().execute("SELECT state FROM attempts")},
             what="the job to start")
    started = time.monotonic()
    assert w.stop(timeout=60) == 0, w.log()
    assert time.monotonic() - started < 30, "the drain did not stop the job"
    (result,) = client.wait([jid], timeout=10)[jid]
    assert result["status"] == "internal_error"
    assert "drain timeout" in result["error"]


def test_jobs_of_one_session_run_one_at_a_time_in_order(workers, client):
    workers("w", concurrency=2)
    ids = [client.submit(job("sleep 0.3", session="notebook-1")) for _ in range(4)]
    others = [client.submit(job("sleep 0.3")) for _ in range(4)]
    client.flush()
    results = client.wait(ids + others, timeout=120)
    spans = [(results[i][0]["started_ms"], results[i][0]["finished_ms"]) for i in ids]
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end, f"session jobs overlapped or ran out of order: {spans}"
    assert all(results[i][0]["status"] == "ok" for i in ids + others)


def test_input_files_with_bad_paths_are_rejected(workers, client):
    workers("w", concurrency=1)
    paths = ["../escape", "/etc/passwd", "a/../../b", "a//b", "x\x00y"]
    ids = {client.submit(job("true", files={path: b"data"})): path for path in paths}
    client.flush()
    results = client.wait(ids, timeout=60)
    for jid, path in ids.items():
        (result,) = results[jid]
        assert result["status"] == "rejected", (path, result)
        assert result["error"].startswith("files"), (path, result["error"])
