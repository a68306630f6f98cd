"""Whether a cluster made by mk/kafka.sh serves clients, asked the way brig's
clients ask (librdkafka, through Debian's confluent-kafka): every node is a
registered broker, every partition has a leader and all its replicas in sync,
a message produced with acks=all on the plain listener is fetched back, and
the SASL_SSL listener lets `admin` in (with PLAIN: Debian's librdkafka 2.0.2
cannot do SCRAM with Kafka 4, see mk/kafka.sh). mk/kafka.sh runs it after a start;
the real-Kafka tests import it for the same checks.

    /usr/bin/python3 mk/kafka/probe.py CLUSTER_DIR [TIMEOUT_S]
"""
import logging
import os
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PROBE_TOPIC = "brig-probe"

# librdkafka logs each failed connection attempt; the reasons that matter
# come through error callbacks and go into the error that is raised.
QUIET = logging.getLogger("brig-kafka-probe")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


class Cluster:
    """What mk/kafka.sh wrote into a cluster directory."""

    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        env = {}
        with open(os.path.join(self.dir, "cluster.env")) as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                env[key] = value
        self.nodes = int(env["NODES"])
        self.cluster_id = env["CLUSTER_ID"]
        self.plain_ports = {n: int(env[f"PLAIN_{n}"]) for n in range(1, self.nodes + 1)}
        self.sasl_ports = {n: int(env[f"SASL_{n}"]) for n in range(1, self.nodes + 1)}
        self.bootstrap = self._read("bootstrap")
        self.bootstrap_sasl = self._read("bootstrap-sasl")
        self.ca = os.path.join(self.dir, "ca.pem")
        self.replication = min(self.nodes, 3)

    def _read(self, name):
        with open(os.path.join(self.dir, name)) as f:
            return f.read().strip()

    def password(self, user):
        return self._read(os.path.join("users", user))

    def sasl_config(self, user, password=None, ca=None, mechanism="PLAIN"):
        """librdkafka properties of a client that logs in as user over
        SASL_SSL (the password from users/<user> unless given); SCRAM-SHA-512
        needs librdkafka 2.6.1 or later."""
        return {
            "bootstrap.servers": self.bootstrap_sasl,
            "security.protocol": "SASL_SSL",
            "sasl.mechanisms": mechanism,
            "sasl.username": user,
            "sasl.password": self.password(user) if password is None else password,
            "ssl.ca.location": ca or self.ca,
            "ssl.endpoint.identification.algorithm": "https",
        }


def unhealthy(admin, nodes, timeout_s=10):
    """Why the cluster is not fully serving yet (empty when it is): brokers
    missing from the metadata, partitions without a leader or with replicas
    out of sync."""
    md = admin.list_topics(timeout=timeout_s)
    reasons = []
    missing = sorted(set(range(1, nodes + 1)) - set(md.brokers))
    if missing:
        reasons.append(f"brokers {missing} are not registered")
    for topic in md.topics.values():
        if topic.error is not None:
            reasons.append(f"topic {topic.topic}: {topic.error.str()}")
            continue
        for p in topic.partitions.values():
            if p.leader < 0:
                reasons.append(f"{topic.topic}[{p.id}] has no leader")
            elif sorted(p.isrs) != sorted(p.replicas):
                reasons.append(f"{topic.topic}[{p.id}] in sync {sorted(p.isrs)} "
                               f"of {sorted(p.replicas)}")
    return reasons


def create_topic(admin, name, partitions, replication, config=None, timeout_s=30):
    """Creates a topic; one that already exists is left as it is."""
    future = admin.create_topics([NewTopic(name, partitions, replication, config=config or {})],
                                 request_timeout=timeout_s)[name]
    try:
        future.result(timeout=timeout_s)
    except KafkaException as e:
        if e.args[0].name() != "TOPIC_ALREADY_EXISTS":
            raise


def round_trip(config, topic, timeout_s=20):
    """Produces one message with acks=all and fetches it back; returns the
    error text, or None when it came back."""
    errors = []
    value = uuid.uuid4().hex.encode()
    delivered = []
    producer = Producer(dict(config, acks="all", error_cb=errors.append,
                             **{"message.timeout.ms": timeout_s * 1000}))
    producer.produce(topic, value, on_delivery=lambda err, msg: delivered.append((err, msg)))
    producer.flush(timeout_s)
    if not delivered or delivered[0][0] is not None:
        return f"produce to {topic}: {delivered[0][0] if delivered else 'no delivery report'} {errors}"
    msg = delivered[0][1]
    consumer = Consumer(dict(config, **{"group.id": "brig-probe", "enable.auto.commit": False,
                                        "error_cb": errors.append}))
    try:
        consumer.assign([TopicPartition(topic, msg.partition(), msg.offset())])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = consumer.poll(0.5)
            if got is not None and got.error() is None and got.value() == value:
                return None
        return f"fetch from {topic}[{msg.partition()}]@{msg.offset()}: nothing came {errors}"
    finally:
        consumer.close()


def probe(cluster, timeout_s):
    """Waits until the cluster serves; raises RuntimeError with the last
    reason when it does not within timeout_s."""
    deadline = time.monotonic() + timeout_s
    plain = {"bootstrap.servers": cluster.bootstrap, "logger": QUIET}
    why = "not asked yet"
    while time.monotonic() < deadline:
        errors = []
        clients = [AdminClient(dict(plain, error_cb=errors.append)),
                   AdminClient(dict(cluster.sasl_config("admin"), logger=QUIET,
                                    error_cb=errors.append))]
        try:
            reasons = unhealthy(clients[0], cluster.nodes)
            if not reasons:
                create_topic(clients[0], PROBE_TOPIC, 1, cluster.replication)
                reasons = [r for r in [round_trip(plain, PROBE_TOPIC)] if r]
            if not reasons:
                brokers = clients[1].list_topics(timeout=10).brokers
                if len(brokers) == cluster.nodes:
                    return
                reasons = [f"SASL_SSL metadata lists brokers {sorted(brokers)}"]
            why = "; ".join(reasons[:5]) + (f" (+{len(reasons) - 5} more)" if len(reasons) > 5 else "")
        except KafkaException as e:
            for client in clients:
                client.poll(0)  # serves the error callbacks, which say why
            why = "; ".join([e.args[0].str()] + [err.str() for err in errors[-2:]])
        time.sleep(1)
    raise RuntimeError(f"the cluster in {cluster.dir} does not serve within {timeout_s} s: {why}")


def main():
    cluster = Cluster(sys.argv[1])
    try:
        probe(cluster, int(sys.argv[2]) if len(sys.argv) > 2 else 180)
    except RuntimeError as e:
        print(f"kafka: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
