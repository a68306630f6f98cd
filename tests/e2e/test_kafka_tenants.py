"""Tenants on the cluster's SASL_SSL listener under the recipe's tenant role
(mk/kafka/acls.sh tenant NAME): the Kafka principals agent-a and agent-b are
tenants of those names to a worker started with --tenants. Each signs its
jobs with its key and gets its results on <prefix>.results.<tenant>; the
cluster itself refuses a tenant that reads another tenant's results or logs,
whatever its client does, and a tenant's prefixed grant does not reach a
tenant whose name merely starts with the same letters."""
import json
import os
import subprocess
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition

from conftest import ROOT, bin_path
from harness import Worker, wait_for
from test_kafka_secured import properties_file
from test_tenants import keygen

TENANTS = ("agent-a", "agent-b")
TOPICS = ("jobs", "results", "logs", "dlq", "control", "runtimes", "audit")


@pytest.fixture(scope="module")
def tenants_cluster(tmp_path_factory, kafka_cluster):
    """(the cluster, a prefix with the recipe's worker and tenant ACLs, each
    principal's properties file, each tenant's key file, the worker)."""
    kafka = kafka_cluster
    tmp_path = tmp_path_factory.mktemp("tenants")
    for path in (tmp_path, *tmp_path.parents):  # jails search the state dir
        if path.stat().st_mode & 0o001 == 0:
            path.chmod(path.stat().st_mode | 0o711)
    prefix = f"t{uuid.uuid4().hex[:10]}"
    group = f"g-{prefix}"
    env = dict(os.environ, KAFKA_DIR=kafka.dir)
    acls = str(ROOT / "mk" / "kafka" / "acls.sh")
    subprocess.run([acls, "worker", "brig-worker", prefix, group], env=env, check=True)
    for tenant in TENANTS:
        subprocess.run([acls, "tenant", tenant, prefix], env=env, check=True)
    keys = {t: keygen(tmp_path, t) for t in TENANTS}
    tenants = tmp_path / "tenants.json"
    tenants.write_text(json.dumps({"tenants": [{"name": t, "keys": [keys[t][1]]}
                                               for t in TENANTS]}))
    props = {user: properties_file(tmp_path / f"{user}.properties", kafka.sasl_config(user))
             for user in ("brig-worker", *TENANTS)}
    worker = Worker(tmp_path, kafka.bootstrap_sasl, "tenants", group=group,
                    extra=["--topic-prefix", prefix, "--kafka-config", props["brig-worker"],
                           "--tenants", str(tenants)])
    try:
        wait_for(lambda: 'msg="assigned ' in worker.log(), 120, "the worker in its group")
        yield kafka, prefix, props, {t: keys[t][0] for t in TENANTS}, worker
    finally:
        worker.stop()
        names = [f"{prefix}.{t}" for t in TOPICS] + [f"{prefix}.{kind}.{t}" for t in TENANTS
                                                      for kind in ("results", "logs")]
        existing = set(kafka.admin.list_topics(timeout=30).topics)
        for future in kafka.admin.delete_topics([n for n in names if n in existing]).values():
            future.result(timeout=30)


def brig_run(kafka, prefix, props, keys, tenant, *argv):
    return subprocess.run(
        [bin_path("brig"), "run", "--brokers", kafka.bootstrap_sasl, "--topic-prefix", prefix,
         "--kafka-config", props[tenant], "--tenant", tenant, "--key", str(keys[tenant]),
         "--", *argv], capture_output=True, text=True, timeout=180)


def first_error(kafka, user, topic):
    """What the cluster answers user about topic: a fetch of its partition
    0's offsets ("allowed" when they come), or the metadata's error code."""
    consumer = Consumer(dict(kafka.sasl_config(user), **{
        "group.id": f"brig-client-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}))
    try:
        error = consumer.list_topics(topic, timeout=60).topics[topic].error
        if error is not None:
            return error.code()
        consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=60)
        return "allowed"
    finally:
        consumer.close()


def test_each_tenant_runs_signed_jobs_on_its_own_topics(tenants_cluster):
    kafka, prefix, props, keys, worker = tenants_cluster
    for tenant in TENANTS:
        r = brig_run(kafka, prefix, props, keys, tenant, "sh", "-c", f"echo {tenant}")
        assert r.returncode == 0, r.stderr + worker.log()[-3000:]
        assert r.stdout == f"{tenant}\n"
    assert first_error(kafka, "agent-a", f"{prefix}.results.agent-a") == "allowed"


def test_a_tenant_may_not_read_another_tenants_results_or_logs(tenants_cluster):
    kafka, prefix, props, keys, _ = tenants_cluster
    r = brig_run(kafka, prefix, props, keys, "agent-a", "echo", "for a only")
    assert r.returncode == 0, r.stderr
    for topic in (f"{prefix}.results.agent-a", f"{prefix}.logs.agent-a"):
        assert first_error(kafka, "agent-b", topic) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # The prefixed grant of agent-a ends in a dot: it is not agent-ab's.
    assert first_error(kafka, "agent-a", f"{prefix}.results.agent-ab") == \
        KafkaError.TOPIC_AUTHORIZATION_FAILED
