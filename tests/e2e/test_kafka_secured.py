"""Every brig program and client on the cluster's SASL_SSL listener, with the
ACL recipe of mk/kafka/acls.sh: the worker as User:brig-worker, agents as
User:agent-a and User:agent-b, each given its properties through
--kafka-config / -X (or kafka_config= in Python). An agent may not read
another agent's replies, and wrong credentials are a clear error at once."""
import os
import subprocess
import sys
import time
import uuid

import pytest

from conftest import ROOT, bin_path
from harness import Worker, wait_for
from kafka_cluster import probe

sys.path.insert(0, str(ROOT / "producer" / "python"))
import brig  # noqa: E402

TOPICS = ("jobs", "results", "logs", "dlq")


def properties_file(path, config):
    path.write_text("".join(f"{k}={v}\n" for k, v in config.items()
                            if k != "bootstrap.servers"))
    return str(path)


@pytest.fixture(scope="module")
def secured(tmp_path_factory, kafka_cluster):
    """A prefix with the recipe's ACLs, a worker logged in as brig-worker,
    and the agents' reply topics, for the whole module (AclCommand is a JVM
    start each time)."""
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
    for agent in ("agent-a", "agent-b"):
        subprocess.run([acls, "agent", agent, prefix], env=env, check=True)
        probe.create_topic(kafka.admin, f"{prefix}.reply.{agent}", 2, 3, None)
    topics = [f"{prefix}.{t}" for t in TOPICS] + [f"{prefix}.reply.{a}" for a in ("agent-a",
                                                                                   "agent-b")]
    props = {user: properties_file(tmp_path / f"{user}.properties", kafka.sasl_config(user))
             for user in ("brig-worker", "agent-a", "agent-b")}
    worker = Worker(tmp_path, kafka.bootstrap_sasl, "secured", group=group,
                    extra=["--topic-prefix", prefix, "--kafka-config", props["brig-worker"]])
    try:
        wait_for(lambda: 'msg="assigned ' in worker.log(), 120, "the worker in its group")
        yield prefix, props
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
    prefix, props = secured
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
    prefix, props = secured
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
    prefix, props = secured
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
