"""Secrets that never enter the jail, end to end: brig-worker --secrets with a
secret bound to a local HTTPS server (its certificate from a CA made here,
given to the worker with --egress-ca-file). A job that names the secret
reaches the server through the egress proxy, which puts the value in the
bound header; the jail holds a placeholder only. An attacker job looks for the
value everywhere it can (its environment, files, /proc, the proxy), the test
looks for it in everything the job leaves (stdout, stderr, collected files,
the result's bytes, the audit store's bytes) and in the environ and cmdline of
every process on the host while a job with the secret sleeps; the placeholder
sent anywhere but the bound header is refused and audited."""
import contextlib
import http.server
import json
import os
import re
import secrets
import ssl
import subprocess
import threading

import msgpack
import pytest

from conftest import bin_path
from harness import Worker, job, wait_for, warm_table

# The value has a shape an attacker may know (a prefix), not its digits.
PREFIX = "sk-brig-test-"

# The honest client and the attacker, in one job: argv is the bound HTTPS
# port, a plain HTTP port, an HTTPS port the secret is not bound to. Prints a
# JSON object of what each attempt got; writes everything it read to
# /work/out/gathered.txt, collected.
JOB = r"""
import glob, http.client, json, os, re, socket, ssl, sys, urllib.error, urllib.request
for name in ('NO_PROXY', 'no_proxy'):
    os.environ.pop(name, None)
bound, plain, other = (int(a) for a in sys.argv[1:4])
key = os.environ['API_KEY']
shape = re.compile(re.escape(sys.argv[4]) + '[0-9a-f]{32}')
out = {'placeholder': key}

def fetch(url, headers=None, data=None):
    try:
        r = urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers or {}),
                                   timeout=60)
        return f'{r.status} {r.read().decode()}'
    except urllib.error.HTTPError as e:
        return f'{e.code} {e.read().decode()}'
    except Exception as e:
        return f'error {type(e).__name__}: {e}'

def tunnel(port, context=None, tunnel_headers=None):
    c = http.client.HTTPConnection('127.0.0.1', 3128, timeout=60) if context is False else \
        http.client.HTTPSConnection('127.0.0.1', 3128, timeout=60, context=context)
    c.set_tunnel('localhost', port, headers=tunnel_headers)
    return c

def ask(c, method, target, headers, body=None, chunked=False):
    try:
        c.request(method, target, body=body, headers=headers, encode_chunked=chunked)
        r = c.getresponse()
        return f'{r.status} {r.read().decode()}'
    except Exception as e:
        return f'error {type(e).__name__}: {e}'

# The honest use: the placeholder in the bound header, three requests on one
# connection (a body chunked), and once through urllib.
c = tunnel(bound)
out['keepalive'] = [
    ask(c, 'GET', '/one', {'Authorization': 'Bearer ' + key}),
    ask(c, 'POST', '/two', {'Authorization': key}, body=iter([b'chunked ', b'body']),
        chunked=True),
    ask(c, 'GET', '/three', {'authorization': key.upper()}),
]
c.close()
out['urllib'] = fetch(f'https://localhost:{bound}/urllib', {'Authorization': 'Bearer ' + key})

# The placeholder anywhere else.
def once(method, target, headers, body=None, port=bound):
    c = tunnel(port)
    try:
        return ask(c, method, target, headers, body)
    finally:
        c.close()
out['in_url'] = once('GET', '/q?k=' + key, {})
out['other_header'] = once('GET', '/h', {'X-Forward': key})
out['in_body'] = once('POST', '/b', {'Content-Type': 'text/plain'}, body=key.encode())
out['other_host'] = once('GET', '/', {'Host': f'localhost:{plain}', 'Authorization': key})
out['plain_http_bound_header'] = fetch(f'http://localhost:{plain}/p', {'Authorization': key})
out['plain_http_body'] = fetch(f'http://localhost:{plain}/p', data=key.encode())
c = tunnel(other, context=False, tunnel_headers={'Proxy-Authorization': key})
out['connect_head'] = ask(c, 'GET', '/', {})
# Another HTTPS host: a plain tunnel; the proxy sees ciphertext only.
unverified = ssl._create_unverified_context()
c = tunnel(other, context=unverified)
out['other_https'] = ask(c, 'GET', '/o', {'Authorization': key})
c.close()
# Another HTTPS host, verified with the jail's bundle: the brig CA vouches
# for nothing but the bound host, and nothing intercepts this tunnel.
c = tunnel(other, context=ssl.create_default_context())
out['other_https_verified'] = ask(c, 'GET', '/v', {})

# The attacker: everything it can read, searched for the value's shape;
# what holds a placeholder or that shape is kept for the host to search too.
found, read = [], 0
def look(text):
    global read
    read += 1
    if shape.search(text) or 'brig-secret:' in text:
        found.append(text)
look('\n'.join(f'{k}={v}' for k, v in os.environ.items()))
for path in glob.glob('/proc/*/environ') + glob.glob('/proc/*/cmdline'):
    try:
        look(open(path, 'rb').read().decode(errors='replace'))
    except OSError:
        pass
for top in ('/etc', '/tmp', '/work', '/run', '/var', '/home', '/root', '/opt', '/srv', '/mnt'):
    for dirpath, dirnames, filenames in os.walk(top):
        for f in filenames:
            try:
                with open(os.path.join(dirpath, f), 'rb') as fh:
                    look(fh.read(1 << 20).decode(errors='replace'))
            except OSError:
                pass
s = socket.create_connection(('127.0.0.1', 3128), 30)
s.sendall(b'GET /' + key.encode() + b' HTTP/1.1\r\nHost: localhost\r\n\r\n')
look(s.recv(65536).decode(errors='replace'))
s.close()
text = '\n'.join(found)
out['files_read'] = read
out['shape_found'] = bool(shape.search(text))
os.makedirs('/work/out', exist_ok=True)
open('/work/out/gathered.txt', 'w').write(text)
print(json.dumps(out))
"""


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class Recorder(http.server.BaseHTTPRequestHandler):
    """Keeps every request's path, headers, body and connection; answers
    whether the Authorization it got was the value, never the value."""
    protocol_version = "HTTP/1.1"

    def handle_one(self):
        length = int(self.headers.get("Content-Length", 0))
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                body += self.rfile.read(size + 2)[:size]
                if size == 0:
                    break
        else:
            body = self.rfile.read(length)
        self.server.seen.append({"path": self.path, "headers": dict(self.headers.items()),
                                 "body": body, "peer": self.client_address})
        got = self.headers.get("Authorization", "")
        kind = ("value" if got == "Bearer " + self.server.value else
                "placeholder" if "brig-secret:" in got else "none")
        reply = f"{self.server.name} {self.path} {kind}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = handle_one

    def log_message(self, *args):
        pass


def serve(name, value, context=None):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    if context:
        srv.socket = context.wrap_socket(srv.socket, server_side=True)
    srv.name, srv.value, srv.seen = name, value, []
    srv.handle_error = lambda *args: None  # a client that gave up on its handshake
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def setup(tmp_path):
    """A test CA, HTTPS servers for localhost (the bound one and another) and
    a plain HTTP one, and a secrets file binding API_KEY to the first."""
    ca_key, ca, key, csr, crt = (str(tmp_path / n) for n in
                                 ("ca.key", "ca.pem", "leaf.key", "leaf.csr", "leaf.pem"))
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=brig test CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    ext = tmp_path / "ext.cnf"
    ext.write_text("subjectAltName=DNS:localhost\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", crt, "-days", "2", "-extfile", str(ext))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(crt, key)
    value = PREFIX + secrets.token_hex(16)
    servers = {"bound": serve("bound", value, context), "plain": serve("plain", value),
               "other": serve("other", value, context)}
    ports = {n: s.server_address[1] for n, s in servers.items()}
    path = tmp_path / "secrets.json"
    # A second secret comes from the worker's environment, which must lose it.
    env_value = PREFIX + secrets.token_hex(16)
    path.write_text(json.dumps({"secrets": {
        "API_KEY": {"value": value, "bindings": [
            {"host": f"localhost:{ports['bound']}", "header": "Authorization",
             "template": "Bearer ${API_KEY}"}]},
        "ENV_KEY": {"value_env": "BRIG_TEST_ENV_KEY", "bindings": [
            {"host": f"localhost:{ports['bound']}", "basic_auth": "me"}]}}}))
    path.chmod(0o600)
    yield {"value": value, "env_value": env_value, "servers": servers, "ports": ports,
           "secrets": str(path), "ca": ca}
    for srv in servers.values():
        srv.shutdown()
        srv.server_close()


def secrets_worker(tmp_path, broker, setup, name="secrets", path=None, extra=None):
    return Worker(tmp_path, broker.bootstrap, name, concurrency=2,
                  extra=["--egress-allow", "localhost", "--secrets", path or setup["secrets"],
                         *(["--egress-ca-file", setup["ca"]] if extra is None else extra)],
                  env={"BRIG_TEST_ENV_KEY": setup["env_value"]})


def host_processes():
    """environ and cmdline of every process on the host, by pid."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            found[pid] = b"".join(open(f"/proc/{pid}/{f}", "rb").read()
                                  for f in ("environ", "cmdline"))
        except OSError:
            pass
    return found


def test_the_value_goes_out_in_its_header_and_never_into_the_jail(tmp_path, broker, client,
                                                                    setup):
    value, ports, servers = setup["value"], setup["ports"], setup["servers"]
    allow = [f"localhost:{p}" for p in ports.values()]
    worker = secrets_worker(tmp_path, broker, setup)
    try:
        worker.wait_consuming()
        attack = client.submit(job(argv=["/usr/bin/python3", "attack.py", str(ports["bound"]),
                                         str(ports["plain"]), str(ports["other"]), PREFIX],
                                   files={"attack.py": JOB.encode()}, network={"allow": allow},
                                   secrets=["API_KEY"], collect=["out/*"]))
        sleeper = client.submit(job("echo $API_KEY; exec sleep 600", network={"allow": allow},
                                    secrets=["API_KEY"]))
        client.flush()
        # While the sleeper sleeps: its processes hold the placeholder, and
        # no process on the host (the worker included, whose environment
        # held ENV_KEY's value) holds a value in its environ or cmdline.
        wait_for(lambda: any(b"API_KEY=" in t for t in host_processes().values()),
                 timeout=120, what="a jail's process with API_KEY in its environment")
        holders = [t for t in host_processes().values() if b"API_KEY=" in t]
        assert not [t for t in host_processes().values()
                    if value.encode() in t or setup["env_value"].encode() in t]
        assert all(b"API_KEY=brig-secret:API_KEY:" in t for t in holders)
        results = client.wait([attack], timeout=300)
        client.cancel(sleeper)
        results.update(client.wait([sleeper], timeout=120))
    finally:
        assert worker.stop() == 0, worker.log()

    (result,) = results[attack]
    assert result["status"] == "ok", result
    out = json.loads(result["stdout"])
    placeholder = out["placeholder"]
    assert placeholder.startswith("brig-secret:API_KEY:") and value not in placeholder

    # The bound server got the value, in its header, on one connection for
    # three requests (the chunked body whole); the job saw "value", never it.
    # A body is passed on as it comes: the request whose body held the
    # placeholder reached the server as a head, cut before the placeholder.
    (cut,) = [r for r in servers["bound"].seen if r["path"] == "/b"]
    assert cut["body"] == b""
    got = [r for r in servers["bound"].seen if r["path"] != "/b"]
    assert [r["path"] for r in got] == ["/one", "/two", "/three", "/urllib"]
    assert all({k.lower(): v for k, v in r["headers"].items()}["authorization"] == "Bearer " + value
               for r in got), [r["headers"] for r in got]
    assert len({r["peer"] for r in got[:3]}) == 1
    assert got[1]["body"] == b"chunked body"
    assert out["keepalive"] == [f"200 bound {p} value" for p in ("/one", "/two", "/three")]
    assert out["urllib"] == "200 bound /urllib value"

    # Anywhere else the placeholder is refused, naming the secret.
    for name in ("in_url", "other_header", "in_body", "plain_http_bound_header",
                 "plain_http_body"):
        assert out[name].startswith("403 ") and "API_KEY" in out[name], (name, out[name])
    # A server that routes by Host would take the value elsewhere.
    assert out["other_host"].startswith("403 ") and \
        f"names another host (Host: localhost:{ports['plain']})" in out["other_host"]
    # http.client keeps a refused CONNECT's answer to itself but its status.
    assert out["connect_head"] == "error OSError: Tunnel connection failed: 403 Forbidden"
    # Through a tunnel the proxy does not intercept, the other host gets the
    # placeholder: ciphertext to the proxy, and worth nothing.
    assert out["other_https"] == "200 other /o placeholder"
    assert [r["headers"]["Authorization"] for r in servers["other"].seen] == [placeholder]
    assert "CERTIFICATE_VERIFY_FAILED" in out["other_https_verified"]
    assert not [r for r in servers["plain"].seen
                if placeholder.encode() in r["body"] or placeholder in str(r["headers"])]

    # The attacker read a great deal and found no trace of the value.
    assert out["files_read"] > 100 and out["shape_found"] is False
    assert placeholder.encode() in result["files"]["out/gathered.txt"]

    # Nothing the jobs left holds the value: results, audit store, log.
    sleeper_result = results[sleeper][-1]
    assert sleeper_result["status"] == "cancelled"
    for r in results[attack] + results[sleeper]:
        assert value.encode() not in msgpack.packb(r, use_bin_type=True)
    store = b"".join(open(p, "rb").read() for p in
                     (worker.audit_db, worker.audit_db + "-wal") if os.path.exists(p))
    assert value.encode() not in store
    assert value not in worker.log()

    db = worker.audit()
    rows = [tuple(r) for r in db.execute(
        "SELECT port, allowed, reason FROM connections WHERE job_id = ? ORDER BY id", (attack,))]
    # The job as recorded names its secret, as it came: no placeholder.
    (raw,) = db.execute("SELECT raw FROM jobs WHERE job_id = ?", (attack,)).fetchone()
    db.close()
    assert msgpack.unpackb(raw)["secrets"] == ["API_KEY"]
    assert placeholder.encode() not in raw and not re.search(rb"brig-secret:API_KEY:[0-9a-f]", raw)
    bound = ports["bound"]
    assert rows.count((bound, 1, "secret API_KEY put in header Authorization")) == 2
    refused = [r for r in rows if not r[1]]
    assert len(refused) == 7, refused
    assert len([r for r in refused if "API_KEY" in r[2]]) == 6, refused


# A runtime job's way to the bound host: urllib, through HTTPS_PROXY, trusting
# SSL_CERT_FILE.
FETCH = """
import os, sys, urllib.error, urllib.request
for name in ('NO_PROXY', 'no_proxy'):
    os.environ.pop(name, None)
request = urllib.request.Request(sys.argv[1], headers={'Authorization': os.environ['API_KEY']})
try:
    print(urllib.request.urlopen(request, timeout=60).read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
"""


def test_clients_cold_and_warm_reach_the_bound_host(tmp_path, broker, client, setup):
    url = f"https://localhost:{setup['ports']['bound']}"
    network = {"allow": [f"localhost:{setup['ports']['bound']}"]}
    table = warm_table(tmp_path, ["json"])
    worker = secrets_worker(tmp_path, broker, setup,
                            extra=["--egress-ca-file", setup["ca"], "--runtimes", str(table)])
    try:
        ids = {
            "curl": client.submit(job(f'NO_PROXY= no_proxy= curl -sS -H "Authorization: '
                                      f'$API_KEY" {url}/curl', network=network,
                                      secrets=["API_KEY"])),
            "cold": client.submit(job(FETCH, runtime="python", args=[f"{url}/cold"],
                                      network=network, secrets=["API_KEY"])),
            "warm": client.submit(job(FETCH, runtime="python-data", args=[f"{url}/warm"],
                                      network=network, secrets=["API_KEY"])),
        }
        client.flush()
        results = client.wait(ids.values(), timeout=180)
    finally:
        assert worker.stop() == 0, worker.log()
    for name, jid in ids.items():
        (result,) = results[jid]
        assert (result["status"], result["stdout"].strip()) == \
            ("ok", f"bound /{name} value".encode()), (name, result)


def test_a_host_the_proxy_cannot_verify_gets_nothing(tmp_path, broker, client, setup):
    """Without --egress-ca-file the test CA is no CA of the proxy's: the host
    fails verification, so the value is not sent; the job hears why."""
    url = f"https://localhost:{setup['ports']['bound']}/unverified"
    worker = secrets_worker(tmp_path, broker, setup, extra=[])
    try:
        jid = client.submit(job(FETCH, runtime="python", args=[url], secrets=["API_KEY"],
                                network={"allow": [f"localhost:{setup['ports']['bound']}"]}))
        client.flush()
        (result,) = client.wait([jid], timeout=120)[jid]
    finally:
        assert worker.stop() == 0, worker.log()
    assert result["status"] == "ok", result
    port = setup["ports"]["bound"]
    assert result["stdout"] == (f"502 brig egress proxy: TLS with localhost:{port}: certificate "
                                "verification failed: unable to get local issuer certificate\n\n"
                                ).encode()
    assert setup["servers"]["bound"].seen == []


def test_jobs_naming_secrets_the_worker_cannot_serve_are_rejected(tmp_path, broker, client,
                                                                  setup):
    ports = setup["ports"]
    bound = [f"localhost:{ports['bound']}"]
    worker = secrets_worker(tmp_path, broker, setup)
    try:
        ids = {
            "unknown": client.submit(job(network={"allow": bound}, secrets=["NOPE"])),
            "unreached": client.submit(job(network={"allow": [f"localhost:{ports['plain']}"]},
                                           secrets=["API_KEY"])),
            "offline": client.submit(job(secrets=["API_KEY"])),
            # Its placeholder, and the last certificate of its CA bundle.
            "fine": client.submit(job("echo $API_KEY; awk '/BEGIN CERT/ {c = \"\"} "
                                      "{c = c $0 \"\\n\"} END {printf \"%s\", c}' "
                                      "$SSL_CERT_FILE", network={"allow": bound},
                                      secrets=["API_KEY"])),
        }
        client.flush()
        results = client.wait(ids.values(), timeout=120)
        # A replay runs with a placeholder of its own.
        def recorded():
            with contextlib.closing(worker.audit()) as db:
                return db.execute("SELECT count(*) FROM attempts WHERE job_id = ? AND "
                                  "state = 'finished'", (ids["fine"],)).fetchone()[0] == 1
        wait_for(recorded, what="the job's attempt in the audit store")
        replay = subprocess.run([bin_path("brig"), "replay", "--json", "--brokers",
                                 broker.bootstrap, "--audit-db", worker.audit_db, ids["fine"]],
                                capture_output=True, text=True, timeout=180)
    finally:
        assert worker.stop() == 0, worker.log()
    report = json.loads(replay.stdout)
    assert report["verdict"] == "DIFFERS", replay.stdout + replay.stderr
    assert [d["field"] for d in report["differences"]] == ["stdout"]
    out = {n: results[i][-1] for n, i in ids.items()}
    assert out["unknown"]["status"] == "rejected"
    assert out["unknown"]["error"] == 'secrets[0]: this worker has no secret "NOPE"'
    for name in ("unreached", "offline"):
        assert out[name]["status"] == "rejected"
        assert out[name]["error"].startswith("secrets[0]: secret API_KEY goes only to"), out[name]
    assert out["fine"]["status"] == "ok"
    placeholder, ca = out["fine"]["stdout"].split(b"\n", 1)
    assert placeholder.startswith(b"brig-secret:API_KEY:")
    again = report["replay_result"]["stdout"].split("\n")[0].encode()
    assert again.startswith(b"brig-secret:API_KEY:") and again != placeholder

    # The CA the jails trust names the bound host and nothing else.
    text = subprocess.run(["openssl", "x509", "-noout", "-text"], input=ca, capture_output=True,
                          check=True).stdout
    assert ("X509v3 Name Constraints: critical Permitted: DNS:localhost Excluded: DNS:.localhost "
            "IP:0.0.0.0/0.0.0.0 IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0 Signature") in \
        " ".join(text.decode().split())


def test_a_worker_without_secrets_rejects_a_job_that_names_one(tmp_path, broker, client, setup):
    worker = Worker(tmp_path, broker.bootstrap, "plain", concurrency=1,
                    extra=["--egress-allow", "localhost"])
    try:
        asking = client.submit(job(network={"allow": ["localhost"]}, secrets=["API_KEY"]))
        plain = client.submit(job("echo ${API_KEY-unset}", network={"allow": ["localhost"]}))
        client.flush()
        results = client.wait([asking, plain], timeout=120)
    finally:
        assert worker.stop() == 0, worker.log()
    (rejected,) = results[asking]
    assert rejected["status"] == "rejected"
    assert rejected["error"] == ('secrets[0]: this worker has no secret "API_KEY" (its operator '
                                 'gave it none with --secrets)')
    assert [(r["status"], r["stdout"]) for r in results[plain]] == [("ok", b"unset\n")]


@pytest.mark.parametrize("problem", ["mode", "owner"])
def test_a_secrets_file_others_may_read_is_refused(tmp_path, broker, setup, problem):
    path = tmp_path / "secrets.json"
    if problem == "mode":
        path.chmod(0o640)
    else:
        os.chown(path, 65534, -1)
    worker = secrets_worker(tmp_path, broker, setup, name=problem, path=str(path))
    assert worker.proc.wait(timeout=60) != 0
    assert f"--secrets: {path}" in worker.log()
    assert setup["value"] not in worker.log()
