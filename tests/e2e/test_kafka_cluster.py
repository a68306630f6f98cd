"""The real-Kafka fixture itself, and what brig's clients (Debian's librdkafka
2.0.2 through confluent-kafka) can do with Apache Kafka 4: a consumer group of
the classic protocol, 16 MiB messages, no acknowledged message lost when a
partition leader is killed, data and group offsets kept across a restart of
the whole cluster (a rolling restart is tested under brig's load, in
test_kafka_worker.py)."""
import re
import shutil
import threading
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from harness import wait_for
from kafka_cluster import KafkaCluster, produce, probe, read_partition


def values(n, tag="m"):
    return [f"{tag}-{i}".encode() for i in range(n)]


def test_cluster_has_three_brokers_and_serves_a_consumer_group(kafka):
    md = kafka.admin.list_topics(timeout=10)
    assert sorted(md.brokers) == [1, 2, 3]
    assert md.cluster_id == kafka.cluster_id
    topic = kafka.create_topic(kafka.topic_name("group"), partitions=3)
    plain = {"bootstrap.servers": kafka.bootstrap}
    for p in range(3):
        assert produce(plain, topic, values(10, f"p{p}"), partition=p) == [None] * 10

    # Two members of one group share the three partitions (the classic
    # protocol, which is all librdkafka 2.0.2 speaks), and each reads its own.
    group = f"test-group-{uuid.uuid4().hex[:8]}"
    members = [Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
               for _ in range(2)]
    got = []
    try:
        for member in members:
            member.subscribe([topic])

        def all_read():
            # Until the group has settled with a share for each and each has
            # read its share to the end: a member that read partitions
            # before a rebalance moved them may have been counted already
            # (CI: [8, -1001, 8] committed after 30 messages, duplicates
            # among them).
            for member in members:
                msg = member.poll(0.1)
                if msg is not None and msg.error() is None:
                    got.append(msg.value())
            assignments = [m.assignment() for m in members]
            if not all(assignments) or sum(len(a) for a in assignments) != 3:
                return False
            return all(tp.offset == 10 for m, a in zip(members, assignments)
                       for tp in m.position(a))
        wait_for(all_read, 60, "two members to read the 30 messages")
        assignments = [{tp.partition for tp in m.assignment()} for m in members]
        assert sorted(assignments[0] | assignments[1]) == [0, 1, 2]
        assert not assignments[0] & assignments[1]
        for member in members:
            member.commit(asynchronous=False)
        committed = members[0].committed([TopicPartition(topic, p) for p in range(3)],
                                         timeout=10)
        assert [tp.offset for tp in committed] == [10, 10, 10]
    finally:
        for member in members:
            member.close()
    # A partition moved by a rebalance is read again from its start.
    assert set(got) == set(sum((values(10, f"p{p}") for p in range(3)), []))


@pytest.mark.kafka
def test_a_cluster_id_that_starts_with_a_dash_is_formatted(tmp_path):
    """mk/kafka.sh once drew cluster ids from os.urandom, and one in 64 began
    with '-', which the format command's option parser took for an option:
    every start of that cluster failed (CI: all real-Kafka tests errored).
    New ids come from Kafka's own generator; a cluster that has such an id
    still starts."""
    directory = tmp_path / "kafka"
    cluster = KafkaCluster(str(directory), nodes=1)
    try:
        assert not cluster.cluster_id.startswith("-")
        cluster.stop()
        dashed = "-" + cluster.cluster_id[1:]
        env = directory / "cluster.env"
        env.write_text(re.sub(r"(?m)^CLUSTER_ID=.*$", f"CLUSTER_ID={dashed}", env.read_text()))
        shutil.rmtree(directory / "node1" / "data")
        cluster.start()  # returns once a message is produced and fetched back
        assert f"cluster.id={dashed}\n" in (directory / "node1" / "data" / "meta.properties").read_text()
        admin = AdminClient({"bootstrap.servers": probe.Cluster(str(directory)).bootstrap,
                             "logger": probe.QUIET})
        assert admin.list_topics(timeout=30).cluster_id == dashed
    finally:
        cluster.script("destroy")


def test_a_16_mib_message_is_replicated_and_read_back(kafka):
    topic = kafka.create_topic(kafka.topic_name("large"))
    big = uuid.uuid4().bytes * (1 << 20)  # 16 MiB, as large as a result may be
    config = {"bootstrap.servers": kafka.bootstrap, "message.max.bytes": 17 << 20}
    assert produce(config, topic, [big]) == [None]
    assert read_partition({"bootstrap.servers": kafka.bootstrap}, topic, 0, 1) == [big]


def test_killing_the_leader_loses_no_acknowledged_message(kafka):
    topic = kafka.create_topic(kafka.topic_name("failover"))
    leader = kafka.leader(topic)
    sent = values(2000)
    acknowledged = [0]
    at_kill = []

    # The leader dies (kill -9) a third of the way through a stream that
    # the idempotent producer spreads over some seconds, so that messages are
    # in flight and queued while a new leader is elected: every one must
    # still be acknowledged, once, in order.
    def kill_when_started():
        wait_for(lambda: acknowledged[0] >= 700, 60, "700 acknowledgements")
        kafka.kill_node(leader)
        at_kill.append(acknowledged[0])

    def count(i, err):
        acknowledged[0] += err is None
    killer = threading.Thread(target=kill_when_started)
    killer.start()
    config = {"bootstrap.servers": kafka.bootstrap, "enable.idempotence": True}
    errors = produce(config, topic, sent, interval=0.005, delivered=count)
    killer.join()
    assert at_kill and at_kill[0] < 2000, "the leader died after the last acknowledgement"
    assert leader not in kafka.running_nodes()
    assert [e for e in errors if e is not None] == []
    wait_for(lambda: kafka.leaders(topic).get(0) not in (leader, -1, None), 30,
             "the metadata to name the new leader")
    assert read_partition({"bootstrap.servers": kafka.bootstrap}, topic, 0, 2000) == sent


def test_the_whole_cluster_restarts_with_its_data_and_group_offsets(kafka):
    """The whole cluster goes down the hard way (two nodes killed, the third
    left without a quorum) and comes back with its data, group offsets and
    identity."""
    topic = kafka.create_topic(kafka.topic_name("restart"))
    plain = {"bootstrap.servers": kafka.bootstrap}
    assert produce(plain, topic, values(100)) == [None] * 100
    group = f"test-group-{uuid.uuid4().hex[:8]}"
    committer = Consumer(dict(plain, **{"group.id": group}))
    committer.commit(offsets=[TopicPartition(topic, 0, 60)], asynchronous=False)
    committer.close()

    # Its broker waits for a controlled shutdown that no quorum can grant
    # (5 minutes in Kafka); mk/kafka.sh kills it once it is alone.
    kafka.kill_node(1)
    kafka.kill_node(2)
    stop = kafka.script("stop-node", "3")
    assert kafka.running_nodes() == []
    assert "node 3 killed: no controller quorum is left" in stop.stderr
    kafka.start()

    assert read_partition(plain, topic, 0, 100) == values(100)
    reader = Consumer(dict(plain, **{"group.id": group}))
    try:
        assert reader.committed([TopicPartition(topic, 0)], timeout=30)[0].offset == 60
    finally:
        reader.close()
    assert kafka.admin.list_topics(timeout=10).cluster_id == kafka.cluster_id


def test_partitions_can_be_added(kafka):
    topic = kafka.create_topic(kafka.topic_name("grow"), partitions=2)
    kafka.add_partitions(topic, 5)
    # The broker that answers the next metadata request may not have heard
    # of the new partitions yet.
    wait_for(lambda: sorted(kafka.leaders(topic)) == [0, 1, 2, 3, 4], 30,
             "every broker to know the 5 partitions")
    plain = {"bootstrap.servers": kafka.bootstrap}
    # A new producer's metadata may come from a broker that has not heard of
    # them either: it then refuses partition 4, sending nothing (CI: "Unknown
    # partition"), so it is tried again.
    def produced():
        try:
            return produce(plain, topic, values(3), partition=4) == [None] * 3
        except KafkaException:
            return False
    wait_for(produced, 60, "a producer to accept partition 4")
    assert read_partition(plain, topic, 4, 3) == values(3)
