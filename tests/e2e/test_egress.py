"""Network egress end to end: a brig-worker with an operator allow-list, jobs
that reach HTTP servers on the host's loopback only through the worker's proxy
(and only what their allow-list names), jobs refused network, and the audit
store's connections table."""
import http.server
import threading

import pytest

from harness import Worker, job

# The broker fixture (conftest.py) makes topics of this many partitions.
BROKER_PARTITIONS = 2

# The job's side: fetch a URL through HTTP_PROXY and print the status and body.
# NO_PROXY names localhost (the job's own loopback stays direct), so the job
# drops it to send localhost through the proxy too.
FETCH = """
import os, sys, urllib.request, urllib.error
for name in ('NO_PROXY', 'no_proxy'):
    os.environ.pop(name, None)
try:
    reply = urllib.request.urlopen(sys.argv[1], timeout=60)
    print(reply.status, reply.read().decode(), end='')
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode(), end='')
"""

# Straight to the host's port, past the proxy.
DIRECT = """
import socket, sys
try:
    socket.create_connection(('127.0.0.1', int(sys.argv[1])), 30)
    print('connected')
except ConnectionRefusedError:
    print('refused')
"""


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello from {self.server.name}: {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def servers():
    """Two HTTP servers on the host's 127.0.0.1, on ports the kernel picks."""
    started = []
    for name in ("server-a", "server-b"):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.name = name
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        started.append(srv)
    yield [s.server_address[1] for s in started]
    for srv in started:
        srv.shutdown()
        srv.server_close()


def python_job(script, arg, allow):
    return job(argv=["/usr/bin/python3", "-c", script, str(arg)], network={"allow": allow})


def test_jobs_reach_only_what_they_allow_through_the_proxy(tmp_path, broker, client, servers):
    port_a, port_b = servers
    worker = Worker(tmp_path, broker.bootstrap, "egress", concurrency=2,
                    extra=["--egress-allow", "localhost,127.0.0.1"])
    try:
        allow = [f"localhost:{port_a}"]
        ids = {
            "allowed": client.submit(python_job(FETCH, f"http://localhost:{port_a}/hi", allow)),
            "other_port": client.submit(python_job(FETCH, f"http://localhost:{port_b}/", allow)),
            "literal": client.submit(python_job(FETCH, f"http://127.0.0.1:{port_a}/", allow)),
            "unlisted": client.submit(python_job(FETCH, "http://pypi.org/simple/", allow)),
            "direct": client.submit(python_job(DIRECT, port_a, allow)),
            "env": client.submit(job("echo $HTTP_PROXY $https_proxy $NO_PROXY",
                                     network={"allow": allow})),
        }
        client.flush()
        results = client.wait(ids.values(), timeout=180)
    finally:
        assert worker.stop() == 0, worker.log()

    out = {name: results[jid][0] for name, jid in ids.items()}
    for name, result in out.items():
        assert result["status"] == "ok", (name, result)
    assert out["allowed"]["stdout"] == b"200 hello from server-a: /hi\n"
    assert out["other_port"]["stdout"].startswith(b"403 brig egress proxy: GET localhost:")
    assert f'rule "localhost:{port_a}" allows port {port_a} only'.encode() in \
        out["other_port"]["stdout"]
    assert b"is an IP address and no rule names it" in out["literal"]["stdout"]
    assert out["unlisted"]["stdout"].startswith(
        b"403 brig egress proxy: GET pypi.org:80 denied: no rule of the allow-list matches")
    assert out["direct"]["stdout"] == b"refused\n"
    assert out["env"]["stdout"] == \
        b"http://127.0.0.1:3128 http://127.0.0.1:3128 localhost,127.0.0.1\n"

    db = worker.audit()
    rows = {name: [tuple(r) for r in db.execute(
        "SELECT host, port, allowed, reason FROM connections WHERE job_id = ? ORDER BY id",
        (jid,))] for name, jid in ids.items()}
    db.close()
    assert rows["allowed"] == [("localhost", port_a, 1, f"localhost:{port_a}")]
    assert rows["other_port"] == [
        ("localhost", port_b, 0,
         f'rule "localhost:{port_a}" allows port {port_a} only, not localhost:{port_b}')]
    assert [r[:3] for r in rows["literal"]] == [("127.0.0.1", port_a, 0)]
    assert rows["unlisted"] == [("pypi.org", 80, 0,
                                 "no rule of the allow-list matches pypi.org:80")]
    assert rows["direct"] == [] and rows["env"] == []


def test_network_the_worker_does_not_give_is_rejected(tmp_path, broker, client, servers):
    port_a, _ = servers
    bounded = Worker(tmp_path, broker.bootstrap, "bounded", concurrency=1,
                     extra=["--egress-allow", "localhost"])
    try:
        outside = client.submit(python_job(FETCH, "http://pypi.org/", ["pypi.org"]))
        offline = client.submit(job("true", network="none"))
        client.flush()
        results = client.wait([outside, offline], timeout=120)
    finally:
        assert bounded.stop() == 0, bounded.log()
    (rejected,) = results[outside]
    assert rejected["status"] == "rejected"
    assert rejected["error"] == ('network.allow[0]: "pypi.org" is outside what this worker '
                                 'allows (--egress-allow)')
    assert [r["status"] for r in results[offline]] == ["ok"]

    closed = Worker(tmp_path, broker.bootstrap, "closed", concurrency=1)
    try:
        asking = client.submit(python_job(FETCH, f"http://localhost:{port_a}/", ["localhost"]))
        client.flush()
        results = client.wait([asking], timeout=120)
    finally:
        assert closed.stop() == 0, closed.log()
    (rejected,) = results[asking]
    assert rejected["status"] == "rejected"
    assert rejected["error"].startswith("network: this worker gives jobs no network")
    assert "--egress-allow" in rejected["error"]
