"""Real Apache Kafka for end-to-end tests: a three-node KRaft cluster made and
run by mk/kafka.sh in build/kafka-test (BRIG_KAFKA_DIR), apart from the
cluster of `make kafka`, so that tests killing brokers never touch it.

A pytest plugin (tests/e2e/conftest.py loads it). Fixtures:
  kafka_cluster  session-wide: makes and starts a new cluster unless one runs
                 (fetching the jars the first time), yields a KafkaCluster,
                 and stops it at the end if it started it.
  kafka          the same KafkaCluster for one test; afterwards it starts any
                 node the test stopped or killed (and waits until every
                 partition is back in sync) and deletes the topics the test
                 made, so the next test finds a whole cluster.
Every test that uses them carries the `kafka` marker: `-m kafka` runs only
those, `-m "not kafka"` all others.
"""
import os
import subprocess
import sys
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions

from conftest import ROOT
from harness import wait_for

sys.path.insert(0, str(ROOT / "mk" / "kafka"))
import probe  # noqa: E402  (mk/kafka/probe.py: the checks mk/kafka.sh makes)

KAFKA_DIR = os.environ.get("BRIG_KAFKA_DIR", str(ROOT / "build" / "kafka-test"))
NODES = 3


class KafkaCluster:
    """The cluster in KAFKA_DIR, driven through mk/kafka.sh."""

    def __init__(self, directory=KAFKA_DIR, nodes=NODES):
        self.dir = directory
        self.nodes = nodes
        self.created_topics = []
        self.start()
        self.info = probe.Cluster(directory)
        self.bootstrap = self.info.bootstrap
        self.bootstrap_sasl = self.info.bootstrap_sasl
        self.ca = self.info.ca
        self.cluster_id = self.info.cluster_id
        self.admin = AdminClient({"bootstrap.servers": self.bootstrap, "logger": probe.QUIET})

    def script(self, *args, check=True):
        run = subprocess.run([str(ROOT / "mk" / "kafka.sh"), *args], capture_output=True,
                             text=True, env=dict(os.environ, KAFKA_DIR=self.dir,
                                                 KAFKA_NODES=str(self.nodes)))
        if check and run.returncode != 0:
            raise AssertionError(f"mk/kafka.sh {' '.join(args)} failed ({run.returncode}):\n"
                                 f"{run.stdout}{run.stderr}")
        return run

    # The cluster and its nodes.

    def start(self):
        """Starts every node that does not run; returns once all are
        registered, every partition has all its replicas in sync, and a
        message produced with acks=all is fetched back."""
        self.script("start")

    def stop(self):
        """Stops the whole cluster; its data stays."""
        self.script("stop")

    def stop_node(self, node):
        """A clean stop (controlled shutdown) of one node."""
        self.script("stop-node", str(node))

    def kill_node(self, node):
        """kill -9 of one node."""
        self.script("kill-node", str(node))

    def running_nodes(self):
        lines = self.script("status", check=False).stdout.splitlines()
        return [int(line.split()[1].rstrip(":")) for line in lines if "running" in line]

    def rolling_restart(self):
        """Stops and starts each node in turn, each time waiting until the
        cluster is whole again, as an operator upgrading it would."""
        for node in range(1, self.nodes + 1):
            self.stop_node(node)
            self.start()

    def wait_healthy(self, timeout=120):
        """Waits until every node is a registered broker and every partition
        has a leader and all its replicas in sync."""
        why = []

        def healthy():
            why[:] = probe.unhealthy(self.admin, self.nodes)
            return not why
        wait_for(healthy, timeout, f"a healthy cluster (last: {why})")

    # Topics.

    def topic_name(self, what):
        """A topic name no earlier test run used (the cluster keeps its data)."""
        return f"test-{what}-{uuid.uuid4().hex[:8]}"

    def create_topic(self, name, partitions=1, replication=NODES, config=None):
        """Creates a topic (deleted after the test) and waits until each of
        its partitions has a leader."""
        probe.create_topic(self.admin, name, partitions, replication, config)
        self.created_topics.append(name)
        wait_for(lambda: all(leader >= 0 for leader in self.leaders(name).values())
                 and len(self.leaders(name)) == partitions, 30, f"leaders of {name}")
        return name

    def add_partitions(self, topic, total):
        """Grows topic to total partitions and waits until they have leaders."""
        future = self.admin.create_partitions([NewPartitions(topic, total)])[topic]
        future.result(timeout=30)
        wait_for(lambda: len(self.leaders(topic)) == total
                 and all(leader >= 0 for leader in self.leaders(topic).values()),
                 30, f"{total} partitions of {topic}")

    def leaders(self, topic):
        """{partition: leader node id (-1 while there is none)} as the
        cluster's metadata says now; {} for a topic it does not know (yet: a
        broker learns of a new topic a moment after its creation)."""
        md = self.admin.list_topics(topic, timeout=10).topics[topic]
        if md.error is not None and md.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return {}
        if md.error is not None:
            raise KafkaException(md.error)
        return {p.id: p.leader for p in md.partitions.values()}

    def leader(self, topic, partition=0, timeout=30):
        """The partition's leader, waiting while it has none."""
        found = {}
        wait_for(lambda: found.update(self.leaders(topic)) or found.get(partition, -1) >= 0,
                 timeout, f"a leader of {topic}[{partition}]")
        return found[partition]

    def delete_created_topics(self):
        """Deletes them; one a test deleted itself is already gone."""
        if self.created_topics:
            for future in self.admin.delete_topics(self.created_topics).values():
                try:
                    future.result(timeout=30)
                except KafkaException as e:
                    if e.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                        raise
            self.created_topics.clear()

    # Clients.

    def sasl_config(self, user, password=None, ca=None, mechanism="PLAIN"):
        """librdkafka properties to reach the SASL_SSL listener as user."""
        return self.info.sasl_config(user, password, ca, mechanism)


def produce(config, topic, values, partition=0, timeout=90, interval=0, delivered=None):
    """Produces values (bytes) to one partition with acks=all, interval s
    apart; returns the delivery errors (None for each delivered message), in
    order. delivered(index, error) is called on each delivery report."""
    results = {}

    def report(i, err):
        results[i] = err
        if delivered:
            delivered(i, err)
    producer = Producer(dict(config, acks="all", **{"message.timeout.ms": timeout * 1000}))
    for i, value in enumerate(values):
        producer.produce(topic, value, partition=partition,
                         on_delivery=lambda err, msg, i=i: report(i, err))
        producer.poll(interval)
    producer.flush(timeout + 10)
    return [results.get(i, "no delivery report") for i in range(len(values))]


def read_partition(config, topic, partition, count, offset=0, timeout=60):
    """The values of count messages of one partition from offset on."""
    consumer = Consumer(dict(config, **{"group.id": f"test-reader-{uuid.uuid4().hex[:8]}",
                                        "enable.auto.commit": False}))
    values = []
    deadline = time.monotonic() + timeout
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        while len(values) < count and time.monotonic() < deadline:
            values += [m.value() for m in consumer.consume(count - len(values), 0.5)
                       if m.error() is None]
    finally:
        consumer.close()
    assert len(values) >= count, \
        f"{len(values)} of {count} messages of {topic}[{partition}] came in {timeout} s"
    return values


@pytest.fixture(scope="session")
def kafka_cluster():
    script = [str(ROOT / "mk" / "kafka.sh")]
    env = dict(os.environ, KAFKA_DIR=KAFKA_DIR, KAFKA_NODES=str(NODES))
    was_running = subprocess.run(script + ["status"], capture_output=True, env=env).returncode == 0
    if not was_running:
        # A new cluster, as CI's fresh clone gets: a node's start replays the
        # whole metadata log, so one kept from earlier runs (thousands of
        # topics made and deleted) made each restart a minute slower.
        subprocess.run(script + ["destroy"], capture_output=True, env=env, check=True)
    cluster = KafkaCluster()
    yield cluster
    if not was_running:
        cluster.stop()


@pytest.fixture
def kafka(kafka_cluster):
    yield kafka_cluster
    if len(kafka_cluster.running_nodes()) < kafka_cluster.nodes:
        kafka_cluster.start()
    kafka_cluster.delete_created_topics()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "kafka: runs against a real Apache Kafka cluster (mk/kafka.sh)")


def pytest_collection_modifyitems(items):
    for item in items:
        if "kafka_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)
