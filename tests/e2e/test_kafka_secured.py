"""Every brig program and client on the cluster's SASL_SSL listener, with the
ACL recipe of mk/kafka/acls.sh: the worker as User:brig-worker, agents as
User:agent-a and User:agent-b, the fleet's auditor as User:brig-auditor,
each given its properties through --kafka-config / -X (or kafka_config= in
Python). Under the recipe an agent runs and cancels its jobs and lists the
runtimes, the worker reads cancel requests, announces its runtimes and
publishes its audit records, and the auditor syncs them; an agent may not
read another agent's replies nor the audit topic, and wrong credentials are a
clear error at once."""
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest

from conftest import ROOT, bin_path
from harness import Worker, wait_for
from kafka_cluster import probe
from test_cancel import cancellations, running

sys.path.insert(0, str(ROOT / "producer" / "python"))
import brig  # noqa: E402

TOPICS = ("jobs", "results", "logs", "dlq", "control", "runtimes", "audit")
USERS = ("brig-worker", "brig-auditor", "agent-a", "agent-b")


def properties_file(path, config):
    path.write_text("".join(f"{k}={v}\n" for k, v in config.items()
                            if k != "bootstrap.servers"))
    return str(path)


@pytest.fixture(scope="module")
def secured(tmp_path_factory, kafka_cluster):
    """A prefix with the recipe's ACLs, a worker logged in as brig-worker,
    and the agents' reply topics, for the whole module (AclCommand is a JVM
    start each time): (prefix, each user's properties file, the worker)."""
    kafka = kafka_cluster
    tmp_path = tmp_path_factory.mktemp("secured")
    for path in (tmp_path, *tmp_path.parents):  # jails search the state dir
        if path.stat().st_mode & 0o001 == 0:
            path.chmod(path.stat().st_mode | 0o711)
    prefix = f"k{uuid.uuid4().hex[:10]}"
    group = f"g-{prefix}"
    env = dict(os.environ, KAFKA_DIR=kafka.dir)
    acls = str(ROOT / "mk" / "kafka" / "acls.sh")
    subprocess.run([acls, "worker", "brig-worker", prefix, group], env=env, check=True)
    subprocess.run([acls, "auditor", "brig-auditor", prefix], env=env, check=True)
    for agent in ("agent-a", "agent-b"):
        subprocess.run([acls, "agent", agent, prefix], env=env, check=True)
        probe.create_topic(kafka.admin, f"{prefix}.reply.{agent}", 2, 3, None)
    topics = [f"{prefix}.{t}" for t in TOPICS] + [f"{prefix}.reply.{a}" for a in ("agent-a",
                                                                                   "agent-b")]
    props = {user: properties_file(tmp_path / f"{user}.properties", kafka.sasl_config(user))
             for user in USERS}
    worker = Worker(tmp_path, kafka.bootstrap_sasl, "secured", group=group,
                    extra=["--topic-prefix", prefix, "--kafka-config", props["brig-worker"]])
    try:
        wait_for(lambda: 'msg="assigned ' in worker.log(), 120, "the worker in its group")
        yield prefix, props, worker
    finally:
        worker.stop()
        for future in kafka.admin.delete_topics(topics).values():
            future.result(timeout=30)


def brig_cli(kafka, prefix, props, agent, *args, reply=None):
    return subprocess.run(
        [bin_path("brig"), *args[:1], "--brokers", kafka.bootstrap_sasl, "--topic-prefix", prefix,
         "--kafka-config", props[agent], "--reply-topic", reply or f"{prefix}.reply.{agent}",
         *args[1:]], capture_output=True, text=True, timeout=120)


def test_every_client_runs_jobs_over_sasl_ssl_within_the_acls(kafka, secured):
    prefix, props, _ = secured
    r = brig_cli(kafka, prefix, props, "agent-a", "run", "--", "echo", "from the CLI")
    assert r.returncode == 0 and r.stdout == "from the CLI\n", r.stderr

    with brig.Client(brokers=kafka.bootstrap_sasl, topic_prefix=prefix,
                     reply_topic=f"{prefix}.reply.agent-b", kafka_config=props["agent-b"]) as c:
        result = c.run("print('from Python')", lang="python", timeout=60)
    assert result.status == "ok" and result.stdout == b"from Python\n"

    # -X given after the file wins over the file's value of a key.
    r = brig_cli(kafka, prefix, props, "agent-a", "run", "-X", "client.id=agent-a-cli", "--",
                 "true")
    assert r.returncode == 0, r.stderr


def test_an_agent_may_not_read_another_agents_replies(kafka, secured):
    prefix, props, _ = secured
    started = time.monotonic()
    r = brig_cli(kafka, prefix, props, "agent-a", "wait", "some-job",
                 reply=f"{prefix}.reply.agent-b")
    assert r.returncode != 0
    assert "may not use it (Kafka ACLs)" in r.stderr, r.stderr
    assert time.monotonic() - started < 20

    with pytest.raises(brig.BrigError, match="may not use it"):
        brig.Client(brokers=kafka.bootstrap_sasl, topic_prefix=prefix,
                    reply_topic=f"{prefix}.reply.agent-b", kafka_config=props["agent-a"])


def test_wrong_credentials_are_a_clear_error_at_once(kafka, secured, tmp_path):
    prefix, props, _ = secured
    started = time.monotonic()
    r = brig_cli(kafka, prefix, props, "agent-a", "run", "-X", "sasl.password=wrong", "--", "true")
    assert r.returncode != 0
    assert "refused this client" in r.stderr and "Invalid username or password" in r.stderr
    assert time.monotonic() - started < 5

    started = time.monotonic()
    with pytest.raises(brig.BrigError, match="refused this client"):
        brig.Client(brokers=kafka.bootstrap_sasl, topic_prefix=prefix, kafka_config=props["agent-a"],
                    kafka_properties={"sasl.password": "wrong"})
    assert time.monotonic() - started < 5

    started = time.monotonic()
    w = subprocess.run([bin_path("brig-worker"), "--brokers", kafka.bootstrap_sasl,
                        "--topic-prefix", prefix, "--kafka-config", props["brig-worker"],
                        "-X", "ssl.ca.location=/etc/ssl/certs/ca-certificates.crt",
                        "--state-dir", str(tmp_path / "s2"), "--audit-db", str(tmp_path / "a2.db")],
                       capture_output=True, text=True, timeout=60)
    assert w.returncode != 0
    assert "refused this worker" in w.stderr and "certificate verify failed" in w.stderr, w.stderr
    assert time.monotonic() - started < 10


def test_an_agent_cancels_its_running_job_within_the_acls(kafka, secured):
    prefix, props, worker = secured
    r = brig_cli(kafka, prefix, props, "agent-a", "submit", "--wall-time", "300s", "--", "sh",
                 "-c", "echo started; sleep 600")
    assert r.returncode == 0, r.stderr
    jid = r.stdout.strip()
    wait_for(lambda: running(worker, jid), 60, "the job running")
    r = brig_cli(kafka, prefix, props, "agent-a", "cancel", "--by", "agent-a", jid)
    assert r.returncode == 0, r.stderr
    r = brig_cli(kafka, prefix, props, "agent-a", "wait", "--json", "--timeout", "120s", jid)
    result = json.loads(r.stdout)
    assert result["status"] == "cancelled", result
    assert result["error"] == "cancelled while it ran by agent-a"
    assert (jid, "agent-a", "running") in cancellations(worker)
    assert "control reader:" not in worker.log()


def test_the_worker_announces_its_runtimes_and_publishes_its_audit(kafka, secured, tmp_path):
    prefix, props, worker = secured
    assert f"runtime(s) on {prefix}.runtimes" in worker.log()
    r = brig_cli(kafka, prefix, props, "agent-b", "runtimes", "--json")
    assert r.returncode == 0, r.stderr
    (record,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert record["worker_id"] == "secured"
    assert "python" in [rt["name"] for rt in record["runtimes"]]
    with brig.Client(brokers=kafka.bootstrap_sasl, topic_prefix=prefix,
                     reply_topic=f"{prefix}.reply.agent-b", kafka_config=props["agent-b"]) as c:
        assert [w.worker_id for w in c.runtimes()] == ["secured"]

    r = brig_cli(kafka, prefix, props, "agent-b", "run", "--", "echo", "audited")
    assert r.returncode == 0, r.stderr
    with worker.audit() as db:
        jobs = {row[0] for row in db.execute("SELECT job_id FROM attempts")}
    fleet = tmp_path / "fleet.db"

    def synced():
        r = audit_sync(kafka, prefix, props, "brig-auditor", fleet)
        assert r.returncode == 0, r.stderr
        with sqlite3.connect(fleet) as db:
            return {row[0] for row in db.execute("SELECT job_id FROM attempts")} == jobs
    # The worker publishes each record after its commit: the last may be
    # on its way.
    wait_for(synced, 60, "the auditor's store to hold every job the worker ran")
    assert "it is published again" not in worker.log()


def audit_sync(kafka, prefix, props, user, out):
    return subprocess.run(
        [bin_path("brig"), "audit", "sync", "--brokers", kafka.bootstrap_sasl, "--topic-prefix",
         prefix, "--kafka-config", props[user], "--out", str(out), "--timeout", "20s"],
        capture_output=True, text=True, timeout=120)


def test_an_agent_may_not_read_the_audit_topic(kafka, secured, tmp_path):
    prefix, props, _ = secured
    started = time.monotonic()
    r = audit_sync(kafka, prefix, props, "agent-a", tmp_path / "fleet.db")
    assert r.returncode == 125, r.stderr
    assert "may not use it (Kafka ACLs)" in r.stderr, r.stderr
    assert time.monotonic() - started < 20
