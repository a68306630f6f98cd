"""The SASL_SSL listener of the real-Kafka cluster (TLS with the CA in
ca.pem, SCRAM-SHA-512 and PLAIN logins) and the ACL recipe of
mk/kafka/acls.sh: an agent writes jobs and reads its own replies, nothing
more; the worker reads jobs in its group and writes results and replies."""
import json
import os
import subprocess
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from conftest import ROOT
from harness import wait_for
from kafka_cluster import probe, produce, read_partition

PYCLIENT = ROOT / "build" / "kafka-pyclient"
PREFIX = "acltest"


def first_errors(config, timeout=20):
    """The errors a client with config reports while it connects (waiting
    until there is one, at most timeout s)."""
    errors = []
    producer = Producer(dict(config, error_cb=errors.append, logger=probe.QUIET))
    wait_for(lambda: producer.poll(0.1) is not None and errors, timeout, "an error")
    return errors


def test_admin_produces_and_consumes_over_sasl_ssl(kafka):
    topic = kafka.create_topic(kafka.topic_name("sasl"))
    config = kafka.sasl_config("admin")
    sent = [b"over TLS", b"as admin"]
    assert produce(config, topic, sent) == [None, None]
    assert read_partition(config, topic, 0, 2) == sent


def test_a_wrong_password_is_refused_with_a_clear_error(kafka):
    errors = first_errors(kafka.sasl_config("agent-a", password="not-the-password"))
    assert errors[0].code() == KafkaError._AUTHENTICATION
    assert "Invalid username or password" in errors[0].str()


def test_a_server_certificate_from_another_ca_is_refused_with_a_clear_error(kafka, tmp_path):
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=not the brokers' CA", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(other_ca)], check=True, capture_output=True)
    errors = first_errors(kafka.sasl_config("admin", ca=str(other_ca)))
    assert "certificate verify failed" in errors[0].str()


@pytest.mark.xfail(strict=True, reason="Kafka 4 compares the SCRAM client-final nonce with "
                   "equals; librdkafka before 2.6.1 (Debian 12 has 2.0.2) sends the client "
                   "nonce twice (librdkafka pull request 4895)")
def test_scram_sha_512_with_debian_librdkafka(kafka):
    topic = kafka.create_topic(kafka.topic_name("scram"))
    config = kafka.sasl_config("admin", mechanism="SCRAM-SHA-512")
    assert produce(config, topic, [b"scram"], timeout=10) == [None]


@pytest.fixture(scope="session")
def scram_client():
    """PYTHONPATH of a confluent-kafka whose librdkafka can do SCRAM with
    Kafka 4 (mk/kafka/scram-client.txt), installed from PyPI the first time."""
    if not (PYCLIENT / "confluent_kafka").is_dir():
        subprocess.run([str(ROOT / "mk" / "deps.sh"), "python3-pip"], check=True)
        subprocess.run(
            ["/usr/bin/python3", "-m", "pip", "install", "--quiet", "--no-deps",
             "--only-binary=:all:", "--require-hashes", "--target", str(PYCLIENT),
             "-r", str(ROOT / "mk" / "kafka" / "scram-client.txt")], check=True)
    return str(PYCLIENT)


def test_scram_sha_512_with_librdkafka_2_6_1_or_later(kafka, scram_client):
    topic = kafka.create_topic(kafka.topic_name("scram"))
    script = (
        "import json, sys, confluent_kafka, probe\n"
        "cluster = probe.Cluster(sys.argv[1])\n"
        "config = cluster.sasl_config('admin', mechanism='SCRAM-SHA-512')\n"
        "print(json.dumps([confluent_kafka.libversion()[0], probe.round_trip(config, sys.argv[2])]))\n")
    env = dict(os.environ, PYTHONPATH=f"{scram_client}:{ROOT / 'mk' / 'kafka'}")
    run = subprocess.run(["/usr/bin/python3", "-c", script, kafka.dir, topic], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    version, failure = json.loads(run.stdout)
    assert tuple(map(int, version.split("."))) >= (2, 6, 1)
    assert failure is None


# ACLs: mk/kafka/acls.sh for two agents and the worker, on topics of PREFIX.

@pytest.fixture(scope="module")
def acls(kafka_cluster):
    env = dict(os.environ, KAFKA_DIR=kafka_cluster.dir)
    for args in (["agent", "agent-a", PREFIX], ["agent", "agent-b", PREFIX],
                 ["worker", "brig-worker", PREFIX]):
        subprocess.run([str(ROOT / "mk" / "kafka" / "acls.sh"), *args], env=env, check=True)
    for suffix in ("jobs", "results", "reply.agent-a", "reply.agent-b"):
        probe.create_topic(kafka_cluster.admin, f"{PREFIX}.{suffix}", 1, kafka_cluster.nodes)
    return kafka_cluster


def end_offset(config, topic):
    consumer = Consumer(dict(config, **{"group.id": "test-watermarks"}))
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        consumer.close()


def fetch_error(config, topic):
    """The error code a consumer of config gets when it subscribes to topic
    (one that assigns partitions by hand is not told: librdkafka 2.0.2 only
    retries the metadata request that was refused)."""
    consumer = Consumer(dict(config, **{"group.id": f"brig-client-{uuid.uuid4().hex[:8]}",
                                        "logger": probe.QUIET}))
    got = []
    try:
        consumer.subscribe([topic])
        wait_for(lambda: got.append(consumer.poll(0.2)) or (got[-1] and got[-1].error()),
                 30, f"an error reading {topic}")
    finally:
        consumer.close()
    return got[-1].error().code()


def test_an_agent_writes_jobs_and_reads_its_own_replies_only(acls):
    agent_a = acls.sasl_config("agent-a")
    worker = acls.sasl_config("brig-worker")
    job = uuid.uuid4().hex.encode()
    assert produce(agent_a, f"{PREFIX}.jobs", [job]) == [None]

    # The worker reads it in its consumer group and answers on agent-a's
    # reply topic and on the results topic.
    reader = Consumer(dict(worker, **{"group.id": "brig-workers",
                                      "auto.offset.reset": "earliest"}))
    got = []
    try:
        reader.subscribe([f"{PREFIX}.jobs"])
        wait_for(lambda: got.append(reader.poll(0.2)) or (
            got[-1] is not None and got[-1].error() is None and got[-1].value() == job),
            60, "the worker to read the job")
        reader.commit(asynchronous=False)
    finally:
        reader.close()
    reply_topic = f"{PREFIX}.reply.agent-a"
    offset = end_offset(agent_a, reply_topic)
    assert produce(worker, reply_topic, [b"result of " + job]) == [None]
    assert produce(worker, f"{PREFIX}.results", [b"result of " + job]) == [None]
    assert read_partition(agent_a, reply_topic, 0, 1, offset) == [b"result of " + job]

    # What is not agent-a's is refused.
    assert fetch_error(agent_a, f"{PREFIX}.reply.agent-b") == \
        KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert fetch_error(agent_a, f"{PREFIX}.jobs") == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert fetch_error(agent_a, f"{PREFIX}.results") == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert [e.code() for e in produce(agent_a, f"{PREFIX}.results", [b"forged"], timeout=20)] \
        == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
    assert [e.code() for e in produce(agent_a, reply_topic, [b"forged"], timeout=20)] \
        == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
