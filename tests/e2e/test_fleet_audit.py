"""The fleet audit: workers on two hosts publish every committed audit
record to <prefix>.audit; on a third host that ran nothing, `brig audit
sync` builds a store from the topic, and `brig audit show` and `brig replay`
work there. A sync run twice gives the same store, and records a worker
committed but had not delivered when it was killed are published when it
starts again."""
import hashlib
import os
import sqlite3
import subprocess

import pytest

from conftest import bin_path
from confluent_kafka.admin import ConfigResource

from harness import Client, Worker, job, wait_for

TABLES = ("messages", "jobs", "attempts", "redeliveries", "dead_letters", "connections",
          "skipped_offsets")


def brig(env, *args, timeout=120):
    return subprocess.run([bin_path("brig"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def host(tmp_path, name):
    """A host's own directory: its worker's state, data and audit store."""
    d = tmp_path / name
    d.mkdir()
    return d


def held(worker):
    return any('msg="assigned ' in line and 'msg="assigned 0 ' not in line
               for line in worker.log().splitlines())


def query(path, sql, *args):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def outbox_empty(worker):
    return query(worker.audit_db, "SELECT COUNT(*) FROM outbox") == [(0,)]


def content(path):
    """Row counts, and a hash of every row, of the tables brig audit reads."""
    counts, digest = {}, hashlib.sha256()
    for table in TABLES:
        rows = query(path, f"SELECT * FROM {table} ORDER BY 1")
        counts[table] = len(rows)
        digest.update(repr(rows).encode())
    return counts, digest.hexdigest()


def summary(path):
    """What each job's history is, without the ids that differ per store."""
    jobs = {}
    for (job_id,) in query(path, "SELECT job_id FROM jobs"):
        attempts = query(path, "SELECT worker_id, state, status, exit_code, result FROM attempts"
                               " WHERE job_id = ? ORDER BY started_ms", job_id)
        redeliveries = query(path, "SELECT r.worker_id, a.worker_id, a.started_ms"
                                   " FROM redeliveries r JOIN attempts a ON a.id = r.answered_with"
                                   " WHERE r.job_id = ? ORDER BY r.ts_ms", job_id)
        messages = query(path, "SELECT count(*) FROM messages WHERE job_id = ?", job_id)
        jobs[job_id] = (attempts, redeliveries, messages)
    return jobs


@pytest.fixture
def third_host(tmp_path, broker):
    """brig's environment on a host that ran no job: an empty data dir."""
    data = host(tmp_path, "host-c") / "data"
    return dict(os.environ, BRIG_DATA_DIR=str(data), BRIG_BROKERS=broker.bootstrap), data


def run_on_two_hosts_replay_on_a_third(tmp_path, bootstrap, new_client, env, data, extra=()):
    """Jobs run by two workers on their own hosts; the third host syncs,
    twice, then shows and replays a job of each."""
    a = Worker(host(tmp_path, "host-a"), bootstrap, "worker-a", extra=extra)
    b = Worker(host(tmp_path, "host-b"), bootstrap, "worker-b", extra=extra)
    client = None
    try:
        wait_for(lambda: held(a) and held(b), 90, "both workers to hold partitions")
        client = new_client()
        ids = [client.submit(job(f"echo hello {i}")) for i in range(12)]
        client.flush()
        client.wait(ids)
        ran = {w.name: {r[0] for r in query(w.audit_db, "SELECT job_id FROM attempts")}
               for w in (a, b)}
        assert ran["worker-a"] and ran["worker-b"], ran
        wait_for(lambda: outbox_empty(a) and outbox_empty(b), 60, "the records to be delivered")

        r = brig(env, "audit", "sync", *extra)
        assert r.returncode == 0, r.stderr
        assert f"into {data}/fleet.db" in r.stdout and " 0 refused" in r.stdout, r.stdout
        fleet = data / "fleet.db"
        first = content(fleet)
        assert first[0]["jobs"] == 12 and first[0]["attempts"] == 12, first
        # Every job as its worker recorded it.
        for w in (a, b):
            mine = summary(w.audit_db)
            assert {k: v for k, v in summary(fleet).items() if k in mine} == mine

        # Again: nothing new, the same store.
        r = brig(env, "audit", "sync", *extra)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("synced 0 record(s)"), r.stdout
        assert content(fleet) == first

        r = brig(env, "audit", "ls", "--limit", "0")
        assert r.returncode == 0, r.stderr
        assert set(ids) <= {line.split()[0] for line in r.stdout.splitlines()[1:]}
        for worker, jobs in ran.items():
            job_id = sorted(jobs)[0]
            r = brig(env, "audit", "show", job_id)
            assert r.returncode == 0, r.stderr
            assert f"worker     {worker}" in r.stdout and "fleet.db" in r.stdout, r.stdout
            r = brig(env, "replay", *extra, job_id)
            assert r.returncode == 0, r.stdout + r.stderr
            assert r.stdout.startswith("REPRODUCED"), r.stdout
    finally:
        if client:
            client.close()
        a.stop()
        b.stop()


def test_jobs_run_on_two_hosts_are_replayed_from_a_third(tmp_path, broker, third_host):
    env, data = third_host
    run_on_two_hosts_replay_on_a_third(tmp_path, broker.bootstrap,
                                       lambda: Client(broker.bootstrap), env, data)


@pytest.mark.kafka
def test_the_fleet_audit_on_a_real_cluster(tmp_path, kafka):
    """The same on Apache Kafka: the workers create <prefix>.audit (kept
    for good) next to their other topics."""
    prefix = kafka.topic_name("fleet")
    kafka.created_topics.extend(f"{prefix}.{t}" for t in ("jobs", "results", "logs", "dlq",
                                                          "audit"))
    data = host(tmp_path, "host-c") / "data"
    env = dict(os.environ, BRIG_DATA_DIR=str(data), BRIG_BROKERS=kafka.bootstrap)
    run_on_two_hosts_replay_on_a_third(tmp_path, kafka.bootstrap,
                                       lambda: Client(kafka.bootstrap, prefix=prefix), env, data,
                                       extra=("--topic-prefix", prefix))
    resource = ConfigResource(ConfigResource.Type.TOPIC, f"{prefix}.audit")
    configs = kafka.admin.describe_configs([resource])[resource].result()
    assert configs["retention.ms"].value == "-1"
    assert configs["cleanup.policy"].value == "delete"


def test_records_committed_before_a_kill_are_published_on_restart(tmp_path, broker, client,
                                                                  third_host):
    env, data = third_host
    w = Worker(host(tmp_path, "host-a"), broker.bootstrap, "worker-a")
    try:
        wait_for(lambda: held(w), 60, "the worker to hold partitions")
        ids = [client.submit(job(f"sleep 2; echo slow {i}")) for i in range(2)]
        client.flush()
        wait_for(lambda: len(query(w.audit_db, "SELECT 1 FROM attempts")) == 2, 60,
                 "both jobs to start")
        # The ends are committed, but neither their answers nor their audit
        # records can be delivered: then the worker dies.
        broker.down()
        wait_for(lambda: query(w.audit_db, "SELECT COUNT(*) FROM attempts"
                                           " WHERE state = 'finished'") == [(2,)],
                 60, "both jobs to finish")
        assert query(w.audit_db, "SELECT COUNT(*) FROM outbox WHERE kind = 'attempt_end'") \
            == [(2,)]
        w.kill9()
        broker.up()
        w.start()
        client.wait(ids)
        wait_for(lambda: outbox_empty(w), 60, "the records to be delivered")
        assert "audit record(s) committed before this start wait for brig.audit" in w.log()

        r = brig(env, "audit", "sync")
        assert r.returncode == 0, r.stderr
        fleet = data / "fleet.db"
        assert summary(fleet) == summary(w.audit_db)
        assert content(fleet)[0] == content(w.audit_db)[0]
        for job_id in ids:
            r = brig(env, "audit", "show", "--json", job_id)
            assert r.returncode == 0 and '"status":"ok"' in r.stdout, r.stdout + r.stderr
    finally:
        w.stop()


def test_sync_refuses_a_workers_own_store(tmp_path, broker, third_host):
    env, _ = third_host
    w = Worker(host(tmp_path, "host-a"), broker.bootstrap, "worker-a")
    wait_for(lambda: held(w), 60, "the worker to hold partitions")
    w.stop()
    r = brig(env, "audit", "sync", "--out", w.audit_db)
    assert r.returncode == 125
    assert "a worker's own audit store" in r.stderr
