"""brig-worker on a real three-node Apache Kafka cluster (kafka_cluster.py):
its topics, several workers and hosts, broker faults, a worker cut off from
the cluster, bad messages, drains, and partitions added while jobs flow.
Each test checks the results, the dead letters and the audit stores exactly.

Every test uses a topic prefix and a group of its own; the topics the
workers create are deleted afterwards."""
import datetime
import re
import subprocess
import threading
import time
import uuid

import msgpack
import pytest
from confluent_kafka.admin import ConfigResource

from conftest import bin_path
from harness import Client, Worker, job, wait_for
from kafka_cluster import produce, read_partition
from nethost import NetHost
from test_kafka_cluster import values
from test_worker import check_malformed_answered, submit_malformed_among_valid

TOPICS = ("jobs", "results", "logs", "dlq")


@pytest.fixture
def prefix(kafka):
    name = f"k{uuid.uuid4().hex[:10]}"
    yield name
    kafka.created_topics.extend(f"{name}.{t}" for t in TOPICS
                                if f"{name}.{t}" not in kafka.created_topics)


@pytest.fixture
def pool(tmp_path, kafka, prefix):
    """Starts workers on the cluster: pool(name, **Worker kwargs)."""
    started = []

    def start(name, partitions=6, extra=(), **kwargs):
        w = Worker(tmp_path, kafka.bootstrap, name, group=f"g-{prefix}",
                   extra=["--topic-prefix", prefix, "--partitions", str(partitions), *extra],
                   **kwargs)
        started.append(w)
        return w

    yield start
    for w in started:
        try:
            w.stop()
        except AssertionError:
            pass


@pytest.fixture
def client(kafka, prefix, pool):
    """A client of the test's topics; the first worker creates them."""
    clients = []

    def make(**settings):
        c = Client(kafka.bootstrap, prefix=prefix, consumer_settings=settings)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def runs_and_deliveries(workers):
    """{job id: (runs, deliveries)} over every worker's audit store."""
    counts = {}
    for w in workers:
        db = w.audit()
        for (jid,) in db.execute("SELECT job_id FROM attempts"):
            runs, deliveries = counts.get(jid, (0, 0))
            counts[jid] = (runs + 1, deliveries)
        for (jid,) in db.execute("SELECT job_id FROM messages WHERE job_id IS NOT NULL"):
            runs, deliveries = counts.get(jid, (0, 0))
            counts[jid] = (runs, deliveries + 1)
        db.close()
    return counts


def check_every_job_answered_and_runs_accounted(client, ids, workers, timeout=300):
    """Each job has an ok result, ran at least once, and ran again only where
    it was delivered again (an extra run is a redelivery in the stores)."""
    results = client.wait(ids, timeout=timeout)
    counts = runs_and_deliveries(workers)
    for jid in ids:
        assert {r["status"] for r in results[jid]} == {"ok"}, results[jid]
        runs, deliveries = counts.get(jid, (0, 0))
        assert runs >= 1, f"job {jid} never ran"
        assert runs <= deliveries, f"job {jid} ran {runs} times for {deliveries} deliveries"
    return counts


def wait_assigned(worker, timeout=90):
    wait_for(lambda: 'msg="assigned ' in worker.log(), timeout, f"{worker.name} assigned")


def held_partitions(worker):
    """How many partitions the worker holds, from its log: cooperative
    rebalancing assigns and releases them a few at a time."""
    held = 0
    for verb, n in re.findall(r'msg="(assigned|released) (\d+) partition', worker.log()):
        held += int(n) if verb == "assigned" else -int(n)
    return held


def rebalances(workers):
    """Each worker's assignment changes, for a failure's message."""
    return {w.name: re.findall(r'ts=(\S+) .*msg="((?:assigned|released|lost) \d+) partition',
                               w.log()) for w in workers}


def wait_group_settled(workers, partitions, timeout=90, quiet=3.0):
    """Until every worker holds a share of the partitions, together all of
    them, with no change for quiet seconds: a rebalance that moves a
    partition while its jobs run makes its new owner run them again (a
    redelivery), which a test of one run per job must not start under."""
    last = {}

    def settled():
        state = tuple(held_partitions(w) for w in workers)
        if sum(state) != partitions or min(state) < 1:
            last.clear()
            return False
        if last.get("state") != state:
            last.update(state=state, since=time.monotonic())
        return time.monotonic() - last["since"] >= quiet
    wait_for(settled, timeout, "the group to settle")


def test_the_worker_creates_its_topics_as_brig_needs_them(kafka, prefix, pool, tmp_path):
    w = pool("w", partitions=6)
    wait_assigned(w)
    configs = kafka.admin.describe_configs(
        [ConfigResource("topic", f"{prefix}.{t}") for t in TOPICS])
    settings = {res.name: {k: v.value for k, v in future.result(timeout=30).items()}
                for res, future in configs.items()}
    for t in ("jobs", "results", "dlq"):
        assert int(settings[f"{prefix}.{t}"]["max.message.bytes"]) >= 16842752
    for t in TOPICS:
        assert settings[f"{prefix}.{t}"]["min.insync.replicas"] == "2"
        assert set(kafka.leaders(f"{prefix}.{t}")) == set(range(6))
        md = kafka.admin.list_topics(f"{prefix}.{t}", timeout=10).topics[f"{prefix}.{t}"]
        assert all(len(p.replicas) == 3 for p in md.partitions.values())
    assert settings[f"{prefix}.jobs"]["retention.ms"] == "604800000"
    r = subprocess.run([bin_path("brig"), "run", "--brokers", kafka.bootstrap, "--topic-prefix",
                        prefix, "--", "echo", "on a real cluster"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stdout == "on a real cluster\n", r.stderr


def test_a_cluster_that_refuses_creation_is_told_what_to_create(kafka, tmp_path):
    """agent-b may create nothing: the worker stops at start and names every
    topic with the settings it needs."""
    props = tmp_path / "agent-b.properties"
    props.write_text("".join(f"{k}={v}\n" for k, v in kafka.sasl_config("agent-b").items()
                             if k != "bootstrap.servers"))
    prefix = f"k{uuid.uuid4().hex[:10]}"
    r = subprocess.run([bin_path("brig-worker"), "--brokers", kafka.bootstrap_sasl,
                        "--kafka-config", str(props), "--topic-prefix", prefix,
                        "--state-dir", str(tmp_path / "state"), "--audit-db",
                        str(tmp_path / "a.db")], capture_output=True, text=True, timeout=90)
    assert r.returncode != 0
    assert f"topic {prefix}.jobs is missing and the cluster refused to create it" in r.stderr, \
        r.stderr
    assert "TOPIC_AUTHORIZATION_FAILED" in r.stderr
    assert "max.message.bytes=20971520" in r.stderr and "replication 3" in r.stderr


def test_a_topic_with_small_messages_is_reported_and_results_still_answer(kafka, prefix, pool,
                                                                        client):
    kafka.create_topic(f"{prefix}.results", partitions=3,
                       config={"max.message.bytes": "1048588"})
    w = pool("w")
    wait_assigned(w)
    assert f"topic {prefix}.results takes messages of at most 1048588 bytes" in w.log()
    c = client()
    jid = c.submit(job("head -c 3000000 /dev/zero", limits={"output_bytes": 8 << 20}))
    small = c.submit(job("echo fits"))
    c.flush()
    results = c.wait([jid, small], timeout=120)
    assert results[jid][0]["status"] == "internal_error"
    assert "too large for the Kafka cluster" in results[jid][0]["error"]
    assert results[small][0]["stdout"] == b"fits\n"
    assert w.proc.poll() is None, "the worker stopped over one large result"


def test_three_workers_share_1000_jobs_each_run_once(pool, client):
    workers = [pool(f"w{i}", concurrency=2) for i in range(3)]
    wait_group_settled(workers, 6)
    c = client()
    ids = [c.submit(job("true")) for _ in range(1000)]
    c.flush()
    counts = check_every_job_answered_and_runs_accounted(c, ids, workers)
    # A worker the group expelled (its session expired: seen here once, all
    # three at once 10 s into the load on a loaded machine) loses its
    # partitions, and their jobs run again: redeliveries, accounted above.
    if not any('msg="lost ' in w.log() for w in workers):
        assert all(counts[jid][0] == 1 for jid in ids), \
            f"a job ran twice without a failure; the workers' rebalances: {rebalances(workers)}"
    used = [w for w in workers if runs_and_deliveries([w])]
    assert len(used) >= 2, "the group did not share the load"


def test_kill_9_of_the_leader_of_the_jobs_partitions_loses_nothing(kafka, prefix, pool, client):
    workers = [pool(f"w{i}", concurrency=2) for i in range(2)]
    for w in workers:
        wait_assigned(w)
    c = client()
    leaders = kafka.leaders(f"{prefix}.jobs")
    victim = max(set(leaders.values()), key=list(leaders.values()).count)
    ids = []
    for i in range(400):
        ids.append(c.submit(job("true")))
        if i == 150:
            kafka.kill_node(victim)
        time.sleep(0.005)
    c.flush()
    check_every_job_answered_and_runs_accounted(c, ids, workers)


def test_the_whole_cluster_stopped_for_20_seconds_loses_nothing(kafka, prefix, pool, client):
    w = pool("w", concurrency=2)
    wait_assigned(w)
    c = client()
    ids = [c.submit(job("sleep 0.05")) for _ in range(200)]
    c.flush()  # on disk, on three nodes, before the stop
    kafka.stop()
    time.sleep(20)
    kafka.start()
    check_every_job_answered_and_runs_accounted(c, ids, [w])


def test_a_rolling_restart_under_load_loses_nothing(kafka, pool, client):
    """Every node stopped and started in turn while jobs flow: every job is
    answered, and so is every message acknowledged to a plain producer
    before and after (test_kafka_cluster.py's checks, on this restart)."""
    workers = [pool(f"w{i}", concurrency=2) for i in range(2)]
    for w in workers:
        wait_assigned(w)
    plain = {"bootstrap.servers": kafka.bootstrap}
    topic = kafka.create_topic(kafka.topic_name("rolling"), partitions=2)
    assert produce(plain, topic, values(50, "before")) == [None] * 50
    c = client()
    ids, stop = [], threading.Event()

    def submit():
        while not stop.is_set():
            ids.append(c.submit(job("true")))
            time.sleep(0.02)
    feeder = threading.Thread(target=submit)
    feeder.start()
    try:
        kafka.rolling_restart()
    finally:
        stop.set()
        feeder.join()
    c.flush()
    assert len(ids) > 100
    check_every_job_answered_and_runs_accounted(c, ids, workers)
    assert sorted(kafka.running_nodes()) == [1, 2, 3]
    assert produce(plain, topic, values(50, "after")) == [None] * 50
    assert read_partition(plain, topic, 0, 100) == values(50, "before") + values(50, "after")


def log_ms(line):
    """The wall-clock time of a worker's log line, in ms."""
    stamp = line.split(" ", 1)[0].removeprefix("ts=")
    return int(datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def loss_and_rejoin_ms(log):
    """When the worker logged the loss of its partitions, and when it was
    next assigned some (None while it has not been): a cooperative rebalance
    may first assign it none."""
    lines = log.splitlines()
    lost = next(i for i, line in enumerate(lines) if 'msg="lost ' in line)
    back = next((line for line in lines[lost:]
                 if re.search(r'msg="assigned [1-9]\d* partition', line)), None)
    return log_ms(lines[lost]), back and log_ms(back)


def test_a_worker_cut_off_past_its_session_timeout(kafka, prefix, pool, client):
    """A worker whose link goes down for longer than its session timeout
    loses its partitions: another member takes them (and runs again what it
    had not answered), it starts nothing more of them, stores no offset of
    them, finishes what it was running within the jobs' own limit, and
    rejoins once the link is back. Nothing is lost."""
    wall_ms = 5000
    ports = [int(b.split(":")[1]) for b in kafka.bootstrap.split(",")]
    host = NetHost(ports)
    try:
        cut = pool("cut", concurrency=2, wrap=host.command)
        wait_assigned(cut)
        other = pool("other", concurrency=2)
        wait_for(lambda: "assigned" in other.log() and cut.log().count('msg="assigned ') >= 1,
                 90, "both in the group")
        c = client()
        ids = [c.submit(job("sleep 0.3", limits={"wall_ms": wall_ms})) for _ in range(60)]
        c.flush()
        wait_for(lambda: runs_and_deliveries([cut]), 60, "the cut worker running jobs")
        host.cut()
        wait_for(lambda: "lost " in cut.log(), 60, "the cut worker noticing its loss")
        time.sleep(3)
        host.restore()
        counts = check_every_job_answered_and_runs_accounted(c, ids, [cut, other])
        assert "lost " in cut.log() and "no offset is stored for them" in cut.log()
        assert any(runs > 0 for runs, _ in runs_and_deliveries([other]).values())
        # Back in the group: it gets partitions again.
        wait_for(lambda: loss_and_rejoin_ms(cut.log())[1], 120,
                 "the cut worker rejoining with partitions")
        assert set(counts) >= set(ids)

        lost_ms, back_ms = loss_and_rejoin_ms(cut.log())
        db = cut.audit()
        try:
            attempts = [tuple(row) for row in db.execute(
                "SELECT job_id, started_ms, finished_ms FROM attempts")]
        finally:
            db.close()
        # Once it knows its partitions are gone it starts nothing until it
        # has some again.
        started_cut_off = [a for a in attempts if lost_ms <= a[1] < back_ms]
        assert started_cut_off == [], started_cut_off
        # What it was running ended (and was answered: every job has its
        # results above) within the jobs' own wall limit.
        for jid, started, finished in attempts:
            assert finished is not None, f"{jid} never finished on the cut worker"
            assert finished - started <= wall_ms + 1000, (jid, started, finished)
        # It stores no offset of the partitions it lost, and librdkafka,
        # which commits what is stored when partitions are unassigned, tries
        # to commit none of them (the broker would refuse: COMMITFAIL).
        assert "storing offsets" not in cut.log(), cut.log()
        assert "COMMITFAIL" not in cut.log(), cut.log()
    finally:
        host.close()


def test_malformed_messages_among_valid_jobs_on_a_cluster(prefix, pool, client):
    """The embedded broker's test on the cluster: 1000 messages of the same
    8 kinds, each one dead letter that holds it and says why, the ones with
    an id answered rejected once, every valid job answered once and run
    once."""
    w = pool("w", concurrency=2)
    wait_assigned(w)
    c = client()
    valid = submit_malformed_among_valid(c)
    check_malformed_answered(c, valid, f"{prefix}.jobs")
    counts = check_every_job_answered_and_runs_accounted(c, valid, [w])
    assert all(counts[jid][0] == 1 for jid in valid)


def test_sigterm_drains_and_a_restart_runs_nothing_again(pool, client):
    w = pool("w", concurrency=2)
    wait_assigned(w)
    c = client()
    ids = [c.submit(job("sleep 1")) for _ in range(4)]
    c.flush()
    wait_for(lambda: len(runs_and_deliveries([w])) >= 2, 60, "jobs running")
    w.stop()
    w.start()
    wait_assigned(w)
    counts = check_every_job_answered_and_runs_accounted(c, ids, [w])
    assert all(counts[jid][0] == 1 for jid in ids)


def test_a_job_longer_than_max_poll_interval_does_not_rebalance(pool, client):
    w = pool("w", concurrency=1, extra=["-X", "max.poll.interval.ms=10000"])
    wait_assigned(w)
    c = client()
    jid = c.submit(job("sleep 15", limits={"wall_ms": 30000}))
    c.flush()
    (r,) = c.wait([jid], timeout=90)[jid]
    assert r["status"] == "ok"
    assert "released" not in w.log() and "lost " not in w.log()


def test_partitions_added_while_jobs_flow(kafka, prefix, pool, client):
    workers = [pool(f"w{i}", concurrency=2, partitions=2) for i in range(2)]
    for w in workers:
        wait_assigned(w)
    c = client()
    ids = [c.submit(job("true")) for _ in range(100)]
    topic = f"{prefix}.jobs"
    kafka.add_partitions(topic, 6)
    # Produced straight to the new partitions once this producer's metadata
    # has them (a producer refuses a partition it does not know: seen, "Unknown
    # partition", when the broker it asked had not heard of them yet).
    wait_for(lambda: len(c.producer.list_topics(topic, timeout=10).topics[topic].partitions) == 6,
             60, "the producer's metadata to show 6 partitions")
    for p in range(2, 6):
        for _ in range(25):
            j = job("true")
            c.producer.produce(topic, value=msgpack.packb(j, use_bin_type=True),
                               key=j["id"], partition=p)
            ids.append(j["id"])
    c.flush()
    check_every_job_answered_and_runs_accounted(c, ids, workers)
    db = [w.audit() for w in workers]
    partitions = {row[0] for d in db for row in d.execute("SELECT kafka_partition FROM messages")}
    assert partitions == set(range(6))


def test_sigterm_stops_a_worker_whose_topic_was_deleted(kafka, prefix, pool):
    """Leaving the group is bounded: a worker whose jobs topic was deleted
    under it (its partitions lost) still stops on SIGTERM, in seconds."""
    w = pool("w")
    wait_assigned(w)
    for future in kafka.admin.delete_topics([f"{prefix}.jobs"]).values():
        future.result(timeout=30)
    wait_for(lambda: "lost " in w.log() or "not available" in w.log(), 60, "the loss noticed")
    started = time.monotonic()
    w.stop(timeout=60)
    assert time.monotonic() - started < 30, w.log()
