"""The job path as a client observes it: defects found by clients written from
SCHEMA.md alone, each checked against a real worker and the test broker."""
import os
import subprocess
import time
import uuid

import msgpack
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from conftest import ROOT, bin_path
from harness import free_port, job, wait_for
from test_metrics import get, total

BROKER_PARTITIONS = 2


def read_topic(bootstrap, topic, count, timeout=60):
    """The first count messages of topic, as (key, value) with values decoded."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex,
                         "enable.auto.commit": False})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.1)
            if msg is not None and not msg.error():
                got.append((msg.key(), msgpack.unpackb(msg.value(), raw=False)))
        assert len(got) >= count, f"{len(got)} of {count} messages on {topic}"
        return got
    finally:
        consumer.close()


def create_topic(bootstrap, topic):
    """The test broker creates a topic on its first message."""
    p = Producer({"bootstrap.servers": bootstrap})
    p.produce(topic, value=msgpack.packb({"hello": 1}), key=b"setup")
    assert p.flush(10) == 0


def test_invalid_job_with_reply_topic_gets_a_rejected_result_there(workers, client, broker):
    """SCHEMA section 4: a job that does not decode but whose id and reply
    topic can be read gets a rejected result on that topic, whatever the
    field order (the reply topic was copied onto itself and lost)."""
    workers("w")
    create_topic(broker.bootstrap, "agent7.replies")
    first = msgpack.packb({"v": 1, "id": "bad-1", "reply_topic": "agent7.replies",
                           "argv": ["true"], "stdin": 5})
    last = msgpack.packb({"stdin": 5, "argv": ["true"], "v": 1, "reply_topic": "agent7.replies",
                          "id": "bad-2"})
    client.submit(None, key=b"bad-1", raw=first)
    client.submit(None, key=b"bad-2", raw=last)
    client.flush()
    answers = {v["id"]: v for _, v in read_topic(broker.bootstrap, "agent7.replies", 3)
               if "id" in v}
    for jid in ("bad-1", "bad-2"):
        assert answers[jid]["status"] == "rejected"
        assert answers[jid]["error"].startswith("stdin: wrong type")
    wait_for(lambda: len(client.dead_letters) == 2, what="two dead letters")


def test_dead_letters_keep_the_consumed_key(workers, client, broker):
    """SCHEMA section 4: a dead letter is keyed by the consumed message's key,
    as it was, so an operator can find the original message."""
    workers("w")
    client.submit(None, key=b"\x00binary key\xff", raw=b"\xc1")
    client.submit(None, key=None, raw=msgpack.packb({"v": 1, "id": "keyless", "stdin": 5}))
    client.flush()
    letters = read_topic(broker.bootstrap, "brig.dlq", 2)
    assert sorted((k or b"") for k, _ in letters) == [b"", b"\x00binary key\xff"]
    assert any(k is None and v.get("id") == "keyless" for k, v in letters)


def test_args_follow_argv(workers, client):
    """SCHEMA section 5: args come after argv (they were dropped)."""
    workers("w")
    jid = client.submit(job(argv=["echo"], args=["a", "b c"]))
    client.flush()
    (r,) = client.wait([jid])[jid]
    assert r["status"] == "ok" and r["stdout"] == b"a b c\n"


def attempts_of(worker, job_id):
    db = worker.audit()
    try:
        return db.execute("SELECT COUNT(*) FROM attempts WHERE job_id = ?", (job_id,)).fetchone()[0]
    finally:
        db.close()


def test_copies_of_one_job_sent_at_once_run_once(workers, client):
    """Deliveries of a job id already pending or running wait for that
    attempt and get its answer: 10000 copies sent at once run once, and
    `attempt` counts runs, not deliveries."""
    w = workers("w", concurrency=2)
    copy = job("sleep 0.2; echo ran", id="copied")
    for _ in range(10000):
        client.submit(copy)
    twin = job("echo twin", id="twin")
    client.submit(twin)
    client.submit(twin)
    client.flush()
    results = client.wait(["copied", "twin"], timeout=180,
                          condition=lambda: len(client.results.get("copied", [])) >= 10000 and
                          len(client.results.get("twin", [])) >= 2)
    assert len(results["copied"]) == 10000
    assert {(r["status"], r["attempt"], r["stdout"]) for r in results["copied"]} == \
        {("ok", 1, b"ran\n")}
    assert {r["attempt"] for r in results["twin"]} == {1}
    assert attempts_of(w, "copied") == 1
    assert attempts_of(w, "twin") == 1
    db = w.audit()
    assert db.execute("SELECT COUNT(*) FROM redeliveries WHERE job_id = 'copied'").fetchone()[0] \
        == 9999
    db.close()


@pytest.mark.deleting_broker
def test_jobs_deleted_before_they_were_read_are_reported(workers, client, broker):
    """A consumer position reset past unconsumed messages is never silent:
    the test broker (like the embedded one) keeps about 5 MiB a partition,
    so jobs produced while no worker runs are deleted unread. The worker that
    comes back logs the partition and range, counts them (served by /metrics)
    and audits them."""
    port = free_port()
    w = workers("w", concurrency=1, extra=["--metrics-addr", f"127.0.0.1:{port}"])
    first = client.submit(job("true", id="before"), key=b"k")
    client.flush()
    client.wait([first])
    w.stop()
    big = [job("true", stdin=b"x" * 900_000, id=f"big-{i}") for i in range(8)]
    for j in big:
        client.submit(j, key=b"k")
    client.flush()
    w.start()
    partition, skipped = check_deleted_reported(w, client, big, first_offset=1)
    status, text = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200, text
    assert total(text, "brig_jobs_skipped_total", partition=partition) == skipped, text


@pytest.mark.deleting_broker
def test_jobs_deleted_before_a_first_worker_read_them_are_reported(workers, client):
    """A group with no committed offset starts at the log's start, which is
    past offset 0 when the broker deleted jobs before any worker read them
    (here while the first worker joins): reported the same way."""
    big = [job("true", stdin=b"x" * 900_000, id=f"big-{i}") for i in range(8)]
    for j in big:
        client.submit(j, key=b"k")
    client.flush()
    w = workers("w", concurrency=1)
    check_deleted_reported(w, client, big, first_offset=0)


@pytest.mark.deleting_broker
def test_a_partition_whose_every_unread_job_was_deleted_is_reported(workers, broker, client):
    """No message follows the deleted ones to show the gap: a 6 MiB job (valid
    in SCHEMA.md, from a client that does not know the broker's limit) takes
    itself and the job sent with it out of the broker's 5 MiB, and the
    worker's statistics show the partition's log start past what it
    expects."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.max.bytes": 17 << 20})
    for j in (job("true", stdin=b"x" * (6 << 20), id="big"), job("true", id="after")):
        producer.produce("brig.jobs", key=b"k", value=msgpack.packb(j, use_bin_type=True))
    assert producer.flush(30) == 0
    w = workers("w", concurrency=1)
    wait_for(lambda: "deleted by the cluster before this worker read them" in w.log(),
             what="the worker reporting the deleted jobs")
    # The record is committed with the loop's next turn, after the log line.
    wait_for(lambda: skipped_offsets(w), what="the skipped offsets in the audit store")
    assert [(first, last) for _, first, last in skipped_offsets(w)] == [(0, 1)]
    assert client.results.get("big") is None and client.results.get("after") is None


def skipped_offsets(w):
    """(partition, first, last) of each range the worker's audit store has
    as deleted unread."""
    db = w.audit()
    try:
        return [tuple(r) for r in db.execute(
            "SELECT kafka_partition, first_offset, last_offset FROM skipped_offsets")]
    finally:
        db.close()


def check_deleted_reported(w, client, big, first_offset):
    """The worker logged and audited one range of big's first jobs, from
    first_offset, as deleted unread; the others were answered. Returns the
    partition and how many."""
    wait_for(lambda: "deleted by the cluster before this worker read them" in w.log(),
             what="the worker reporting deleted jobs")
    wait_for(lambda: skipped_offsets(w), what="the skipped offsets in the audit store")
    rows = skipped_offsets(w)
    assert len(rows) == 1, rows
    partition, first, last = rows[0]
    assert first == first_offset, rows
    skipped = last - first + 1
    assert 1 <= skipped < len(big)
    survivors = [j["id"] for j in big[skipped:]]
    results = client.wait(survivors)
    assert all(results[i][0]["status"] == "ok" for i in survivors)
    assert not any(client.results.get(j["id"]) for j in big[:skipped])
    return partition, skipped


def test_sessions_live_under_the_state_dir(tmp_path, workers, client):
    """Sessions default to <state dir>/sessions, so two pools with their own
    state directories never share one."""
    w = workers("w")
    jid = client.submit(job("echo kept > f", session="nb1"))
    client.flush()
    assert client.wait([jid])[jid][0]["status"] == "ok"
    assert (tmp_path / "state" / "sessions" / "nb1.work").exists()
    other = dict(os.environ, BRIG_STATE_DIR=str(tmp_path / "other-state"))
    listed = subprocess.run([bin_path("brig"), "session", "ls"], env=other, capture_output=True,
                            text=True)
    assert "nb1" not in listed.stdout
    mine = dict(os.environ, BRIG_STATE_DIR=str(tmp_path / "state"))
    listed = subprocess.run([bin_path("brig"), "session", "ls"], env=mine, capture_output=True,
                            text=True)
    assert "nb1" in listed.stdout, listed.stderr
    assert w.proc.poll() is None


def test_the_embedded_broker_refuses_what_it_cannot_keep(tmp_path):
    """The embedded broker keeps about 5 MiB a partition and deletes older
    messages, read or not: brig's clients refuse a job larger than its state
    file's message_max_bytes before sending it (the broker's gate refuses it
    from any other client: test_embedded_gate.py), and a result over it
    becomes the short internal_error that says so, instead of a message
    deleted unread."""
    state = tmp_path / "state"
    env = dict(os.environ, BRIG_STATE_DIR=str(state), BRIG_DATA_DIR=str(tmp_path / "data"))
    env.pop("BRIG_BROKERS", None)
    worker = subprocess.Popen([bin_path("brig-worker")], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        assert worker.stdout.readline().startswith("brokers ")
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(3 << 20))
        r = subprocess.run([bin_path("brig"), "run", "-f", str(big), "--", "true"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
        assert "embedded broker" in r.stderr and "at most 2.5 MiB" in r.stderr, r.stderr

        import sys
        sys.path.insert(0, str(ROOT / "producer" / "python"))
        import brig
        os.environ["BRIG_STATE_DIR"] = str(state)
        try:
            with brig.Client() as c:
                try:
                    c.submit_argv(["true"], stdin=b"x" * (3 << 20))
                except brig.BrigError as e:
                    assert "embedded broker" in str(e)
                else:
                    raise AssertionError("the Python client sent a job the broker cannot keep")
        finally:
            del os.environ["BRIG_STATE_DIR"]

        r = subprocess.run([bin_path("brig"), "run", "--json", "--output-limit", "8M", "--",
                            "sh", "-c", "head -c 3000000 /dev/zero"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert '"internal_error"' in r.stdout and "too large for the Kafka cluster" in r.stdout, \
            r.stdout + r.stderr
    finally:
        worker.terminate()
        worker.wait(timeout=60)
