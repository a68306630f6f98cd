"""brig-worker's --metrics-addr end to end: /metrics counts real jobs and
passes promtool, /healthz answers, /readyz follows the Kafka connection, and
a bad address stops the worker with a message naming it."""
import shutil
import socket
import subprocess
import urllib.error
import urllib.request

import pytest

from harness import Worker, free_port, job, wait_for


@pytest.fixture
def metrics_worker(tmp_path, broker):
    """A worker serving metrics on a free port; librdkafka statistics every
    second so that lag and broker connections show up quickly."""
    port = free_port()
    w = Worker(tmp_path, broker.bootstrap, "m1",
               extra=["--metrics-addr", f"127.0.0.1:{port}", "-X", "statistics.interval.ms=1000"])
    w.url = f"http://127.0.0.1:{port}"
    wait_for(lambda: get(w.url + "/healthz")[0] == 200 or w.proc.poll() is not None,
             what="the metrics endpoint")
    assert w.proc.poll() is None, w.log()
    yield w
    w.stop()


def get(url):
    """(status, body); (0, reason) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


def samples(text):
    """{(name, labels text): value} of a text exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            name, _, labels = series.partition("{")
            out[(name, labels.rstrip("}"))] = float(value)
    return out


def total(text, name, **labels):
    """Sum of name's samples whose labels include labels."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for (n, l), v in samples(text).items()
               if n == name and all(w in l.split(",") for w in wanted))


def metrics(w):
    status, body = get(w.url + "/metrics")
    assert status == 200, body
    return body


def test_jobs_move_the_counters_and_promtool_accepts_the_output(metrics_worker, client):
    before = metrics(metrics_worker)
    assert total(before, "brig_slots") == 2
    ids = [client.submit(job(f"echo {i}")) for i in range(5)]
    ids.append(client.submit(job("exit 3")))
    client.submit(None, key="garbage", raw=b"not msgpack at all")
    client.flush()
    client.wait(ids, timeout=120, condition=lambda: len(client.dead_letters) >= 1)

    # A result can reach the client before the worker has handled its
    # delivery report (which leads to the audit commit) or freed the slot.
    def settled():
        text = metrics(metrics_worker)
        return (total(text, "brig_jobs_total", status="ok") >= 5 and
                total(text, "brig_jobs_total", status="failed") >= 1 and
                total(text, "brig_dead_letters_total") >= 1 and
                total(text, "brig_audit_write_seconds_count") >= 1 and
                total(text, "brig_slots_busy") == 0)
    wait_for(settled, what="the counters to move")

    text = metrics(metrics_worker)
    assert total(text, "brig_jobs_total", status="ok", runtime="none") == 5
    assert total(text, "brig_jobs_total", status="failed", runtime="none") == 1
    assert total(text, "brig_dead_letters_total") == 1
    assert total(text, "brig_job_duration_seconds_count") == 6
    assert total(text, "brig_job_queue_wait_seconds_count") == 6
    wait_for(lambda: "brig_consumer_lag{" in metrics(metrics_worker), what="consumer lag")

    if not shutil.which("promtool"):
        pytest.skip("promtool is not installed (Debian package prometheus): format not checked")
    check = subprocess.run(["promtool", "check", "metrics"], input=metrics(metrics_worker),
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_ready_while_kafka_is_reachable_and_not_while_it_is_down(metrics_worker, broker):
    wait_for(lambda: get(metrics_worker.url + "/readyz")[0] == 200, what="/readyz to say ready")
    assert get(metrics_worker.url + "/readyz")[1] == "ready\n"
    # Taken down in the middle of joining the group, librdkafka waits out
    # its group timeouts (about 90 s) before it reconnects: let it settle.
    wait_for(lambda: "assigned" in metrics_worker.log(), what="the partition assignment")
    broker.down()
    try:
        wait_for(lambda: get(metrics_worker.url + "/readyz")[0] == 503, timeout=120,
                 what="/readyz to notice the broker is down")
        status, body = get(metrics_worker.url + "/readyz")
        assert "kafka: no connection to any Kafka broker" in body, body
        assert get(metrics_worker.url + "/healthz") == (200, "ok\n")
    finally:
        broker.up()
    wait_for(lambda: get(metrics_worker.url + "/readyz")[0] == 200, timeout=180,
             what="/readyz to recover with the broker")


@pytest.mark.parametrize("address,message", [
    ("127.0.0.1:99999", "metrics address 127.0.0.1:99999: the port must be"),
    ("nonsense", "metrics address nonsense: expected HOST:PORT"),
])
def test_a_bad_address_stops_the_worker_naming_it(tmp_path, broker, address, message):
    w = Worker(tmp_path, broker.bootstrap, "bad", extra=["--metrics-addr", address])
    assert w.proc.wait(timeout=60) != 0
    assert message in w.log(), w.log()


def test_a_taken_port_stops_the_worker_naming_it(tmp_path, broker):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        w = Worker(tmp_path, broker.bootstrap, "busy", extra=["--metrics-addr", address])
        assert w.proc.wait(timeout=60) != 0
    assert f"binding the metrics server to {address}: Address already in use" in w.log(), w.log()
