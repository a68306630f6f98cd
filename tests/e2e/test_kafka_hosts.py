"""Workers on two "hosts" (network namespaces, each with its own state dir,
audit store and sessions dir) in one group on a real Kafka cluster, and what
a session keeps when its partition moves from one host to the other: its
files only where the sessions dir is storage both hosts share."""
import uuid

import pytest

from harness import Client, Worker, job, wait_for
from nethost import NetHost

TOPICS = ("jobs", "results", "logs", "dlq")


@pytest.fixture
def hosts(kafka):
    ports = [int(b.split(":")[1]) for b in kafka.bootstrap.split(",")]
    made = [NetHost(ports), NetHost(ports)]
    yield made
    for h in made:
        h.close()


def session_job(client, session, script):
    jid = client.submit(job(script, session=session))
    client.flush()
    (r,) = client.wait([jid], timeout=120)[jid]
    return r


@pytest.mark.parametrize("shared", [False, True], ids=["own-sessions-dirs", "shared-sessions-dir"])
def test_a_session_moving_between_hosts(tmp_path, kafka, hosts, shared):
    prefix = f"k{uuid.uuid4().hex[:10]}"
    kafka.created_topics.extend(f"{prefix}.{t}" for t in TOPICS)
    workers = []
    for i, host in enumerate(hosts):
        own = tmp_path / f"host{i}"
        own.mkdir()
        sessions = tmp_path / "shared-sessions" if shared else own / "sessions"
        workers.append(Worker(own, kafka.bootstrap, f"host{i}", group=f"g-{prefix}",
                              wrap=host.command,
                              extra=["--topic-prefix", prefix, "--partitions", "4",
                                     "--sessions-dir", str(sessions)]))
    client = None
    try:
        for w in workers:
            wait_for(lambda w=w: 'msg="assigned ' in w.log(), 120, f"{w.name} in the group")
        client = Client(kafka.bootstrap, prefix=prefix)
        first = session_job(client, "nb1", "echo kept > state; hostname")
        assert first["status"] == "ok"
        ran_on = first["worker_id"]
        owner = next(w for w in workers if w.name == ran_on)
        other = next(w for w in workers if w.name != ran_on)
        owner.stop()
        wait_for(lambda: other.log().count('msg="assigned ') >= 2, 120,
                 "the session's partition moving to the other host")
        second = session_job(client, "nb1", "cat state 2>/dev/null || echo gone")
        assert second["worker_id"] == other.name
        assert second["stdout"] == (b"kept\n" if shared else b"gone\n")
        for w in workers:
            db = w.audit()
            assert db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 1
            db.close()
    finally:
        if client:
            client.close()
        for w in workers:
            try:
                w.stop()
            except AssertionError:
                pass
