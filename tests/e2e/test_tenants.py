"""Tenants (brig-worker --tenants, SCHEMA.md section 14) attacked: unsigned,
forged (a flipped bit in the body, the key or a header, another tenant's key,
another topic's signature) and stale jobs go to the dead letter queue only,
with no result anywhere; tenant B cannot obtain A's result by reusing its job
id, cancel A's job, send its results to A's topic, or reach A's session by
its name, by path or through a shared uid; caps are rejected naming the cap,
and a tenant over its concurrency or its CPU hour waits while another
tenant's job runs. The brig CLI signs with --tenant/--key from a key of brig
keygen."""
import base64
import json
import os
import signal
import subprocess
import time
import uuid

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from conftest import bin_path
from harness import Broker, Client, Worker, job, wait_for
from test_cancel import running
from test_signing_vectors import signing_input

TENANTS = ("acme", "beta", "thrifty")
TOPICS = [f"brig.{kind}.{t}" for t in TENANTS for kind in ("results", "logs")]


def keygen(tmp_path, name):
    """brig keygen --out: the private key file and the public key line."""
    path = tmp_path / f"{name}.pem"
    out = subprocess.run([bin_path("brig"), "keygen", "--out", str(path)], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out.startswith("ed25519:") and len(out) == 52
    assert os.stat(path).st_mode & 0o777 == 0o600
    return path, out


class Signer:
    """Headers of a tenant's signature, as SCHEMA.md section 14 says, with
    ways to spoil them."""

    def __init__(self, tenant, pem):
        self.tenant = tenant
        self.key = load_pem_private_key(pem.read_bytes(), None)

    def headers(self, ts_ms=None, tenant=None, topic=None):
        def make(signed_topic, key, value):
            ts = ts_ms if ts_ms is not None else int(time.time() * 1000)
            key = key.encode() if isinstance(key, str) else key
            message = signing_input(topic or signed_topic, tenant or self.tenant, ts, key, value)
            sig = base64.b64encode(self.key.sign(message)).decode()
            return [("brig-tenant", tenant or self.tenant), ("brig-ts", str(ts)),
                    ("brig-sig", sig)]
        return make


@pytest.fixture
def env(tmp_path):
    keys = {t: keygen(tmp_path, t) for t in TENANTS}
    tenants = {"tenants": [
        {"name": "acme", "keys": [keys["acme"][1]], "concurrent_jobs": 1,
         "limits": {"memory_bytes": "512M"}},
        {"name": "beta", "keys": [keys["beta"][1]], "runtimes": ["argv", "python"]},
        {"name": "thrifty", "keys": [keys["thrifty"][1]], "cpu_seconds_per_hour": 1},
    ]}
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps(tenants))
    broker = Broker(partitions=2, topics=TOPICS)
    client = Client(broker.bootstrap, result_topics=[t for t in TOPICS if ".results." in t])
    sessions = tmp_path / "sessions"
    worker = Worker(tmp_path, broker.bootstrap, "w", concurrency=2,
                    extra=["--tenants", str(path), "--sessions-dir", str(sessions)])
    signers = {t: Signer(t, keys[t][0]) for t in TENANTS}
    yield broker, client, worker, signers, keys, sessions
    try:
        worker.stop()
    finally:
        for t in TENANTS:
            ids = [s["id"] for s in session_list(sessions, "--tenant", t)]
            if ids:
                subprocess.run([bin_path("brig"), "session", "rm", "--sessions-dir",
                                str(sessions), "--tenant", t, *ids], capture_output=True)
        client.close()
        broker.stop()


def run(client, signer, message, **spoil):
    jid = client.submit(message, headers=signer.headers(**spoil))
    client.flush()
    return jid


def result_of(client, jid, timeout=120):
    (r,) = client.wait([jid], timeout=timeout)[jid]
    return r


def test_unsigned_forged_and_stale_jobs_are_dead_letters_only(env):
    _, client, worker, signers, _, _ = env
    acme, beta = signers["acme"], signers["beta"]
    attacks = {}

    def attack(name, message, **kwargs):
        attacks[client.submit(message, **kwargs)] = name

    attack("unsigned", job("echo unsigned"))
    # A bit flipped in the body after signing: headers of one job, bytes of another.
    signed = job("echo body")
    value = bytearray(__import__("msgpack").packb(signed, use_bin_type=True))
    headers = acme.headers()("brig.jobs", signed["id"], bytes(value))
    value[-2] ^= 1
    client.producer.produce("brig.jobs", value=bytes(value), key=signed["id"], headers=headers)
    attacks[signed["id"]] = "body"
    # The Kafka key changed after signing.
    keyed = job("echo key")
    value = __import__("msgpack").packb(keyed, use_bin_type=True)
    client.producer.produce("brig.jobs", value=value, key=keyed["id"] + "x",
                            headers=acme.headers()("brig.jobs", keyed["id"], value))
    attacks[keyed["id"]] = "key"
    attack("wrong tenant's key", job("echo as acme"), headers=beta.headers(tenant="acme"))
    attack("unknown tenant", job("echo who"), headers=acme.headers(tenant="gamma"))
    attack("signed for another topic", job("echo topic"),
           headers=acme.headers(topic="brig.control"))
    attack("stale", job("echo old"), headers=acme.headers(ts_ms=int(time.time() * 1000) - 600_000))
    attack("from the future", job("echo new"),
           headers=acme.headers(ts_ms=int(time.time() * 1000) + 600_000))
    good = run(client, acme, job("echo signed"))
    assert result_of(client, good)["stdout"] == b"signed\n"
    wait_for(lambda: len(client.dead_letters) >= len(attacks), what="the dead letters")
    # Unauthenticated, a message's id is not read: its Kafka key finds it.
    reasons = {d["key"].decode().removesuffix("x"):
               (d.get("field", ""), d["reason"].split(":")[0]) for d in client.dead_letters}
    assert reasons[next(i for i, n in attacks.items() if n == "unsigned")] == ("", "unsigned")
    expected = {"body": "bad signature", "key": "bad signature",
                "wrong tenant's key": "bad signature", "unknown tenant": "unknown tenant",
                "signed for another topic": "bad signature", "stale": "stale",
                "from the future": "stale"}
    for jid, name in attacks.items():
        if name in expected:
            assert reasons[jid][1].startswith(expected[name]), name
    # No result anywhere: not on the tenants' topics nor on brig.results.
    with client.lock:
        assert not set(attacks) & set(client.results)
    db = worker.audit()
    try:
        ran = {r[0] for r in db.execute("SELECT job_id FROM attempts")}
        tenants = dict(db.execute("SELECT job_id, tenant FROM jobs").fetchall())
    finally:
        db.close()
    assert ran == {good} and tenants == {good: "acme"}


def test_results_go_to_the_tenants_topic_and_no_other(env):
    _, client, _, signers, _, _ = env
    own = run(client, signers["acme"], job("echo mine"))
    stolen = run(client, signers["beta"], job("echo to acme", reply_topic="brig.results.acme"))
    assert result_of(client, own)["stdout"] == b"mine\n"
    assert client.result_topic[own] == ["brig.results.acme"]
    r = result_of(client, stolen)
    assert client.result_topic[stolen] == ["brig.results.beta"]
    assert r["status"] == "rejected" and "reply_topic" in r["error"]
    assert "stdout" not in r or not r["stdout"]


def test_another_tenants_job_id_gets_no_result_of_it(env):
    _, client, worker, signers, _, _ = env
    secret = "acme-secret-" + uuid.uuid4().hex
    first = job(f"echo {secret}")
    jid = run(client, signers["acme"], first)
    assert secret.encode() in result_of(client, jid)["stdout"]
    # beta sends a job of the same id: not answered from acme's row, not run.
    run(client, signers["beta"], job("echo beta", id=jid))
    wait_for(lambda: len(client.results.get(jid, [])) >= 2, what="beta's answer")
    answer = client.results[jid][1]
    assert client.result_topic[jid][1] == "brig.results.beta"
    assert answer["status"] == "rejected" and answer["error"].startswith("id: ")
    assert secret not in repr(answer) and "acme" not in answer["error"]
    # acme sending it again is answered from the store, on its own topic.
    run(client, signers["acme"], first)
    wait_for(lambda: len(client.results.get(jid, [])) >= 3, what="acme's second answer")
    assert client.result_topic[jid][2] == "brig.results.acme"
    assert secret.encode() in client.results[jid][2]["stdout"]
    db = worker.audit()
    try:
        assert db.execute("SELECT COUNT(*) FROM attempts WHERE job_id = ?", (jid,)).fetchone()[0] == 1
    finally:
        db.close()


def test_a_tenant_cannot_cancel_another_tenants_job(env):
    broker, client, worker, signers, keys, _ = env
    jid = run(client, signers["acme"], job("sleep 2; echo done", stream_logs=True))
    wait_for(lambda: running(worker, jid), what="acme's job running")
    client.cancel(jid, by="beta", headers=signers["beta"].headers())
    client.cancel(jid, by="nobody")  # unsigned
    assert result_of(client, jid)["status"] == "ok"
    # Its own tenant can.
    other = run(client, signers["acme"], job("sleep 30", limits={"wall_ms": 60000}))
    wait_for(lambda: running(worker, other), what="acme's second job running")
    # Through brig cancel, which signs as libbrig does.
    out = subprocess.run([bin_path("brig"), "cancel", "--brokers", broker.bootstrap, "--tenant",
                          "acme", "--key", str(keys["acme"][0]), "--by", "acme", other],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert result_of(client, other, timeout=30)["status"] == "cancelled"
    db = worker.audit()
    try:
        rows = [tuple(r) for r in db.execute("SELECT job_id, requested_by, tenant FROM "
                                             "cancellations")]
    finally:
        db.close()
    assert rows == [(other, "acme", "acme")]


def session_list(sessions, *args):
    """brig session ls --json [args]."""
    out = subprocess.run([bin_path("brig"), "session", "ls", "--json", "--sessions-dir",
                          str(sessions), *args], capture_output=True, text=True,
                         check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_sessions_of_one_name_are_two_sessions(env):
    _, client, _, signers, _, sessions = env
    secret = uuid.uuid4().hex
    a = run(client, signers["acme"],
            job(f"echo {secret} > notes.txt; mkdir -p d; echo {secret} > d/f; id -u",
                session="nb1"))
    ra = result_of(client, a)
    assert ra["status"] == "ok"
    look = ("ls -a; cat notes.txt d/f ../notes.txt ../*/notes.txt 2>&1;"
            " ls -a .. / 2>&1; grep -rs " + secret + " /tmp /work 2>/dev/null; id -u")
    b = run(client, signers["beta"], job(look, session="nb1"))
    rb = result_of(client, b)
    assert secret.encode() not in rb["stdout"] + rb.get("stderr", b"")
    assert b"notes.txt" not in rb["stdout"].split(b"\n")[0:3]
    # Two sessions, two host uids (inside, each jail is uid 1000).
    listed = {(s.get("tenant"), s["id"]): s["uid"] for s in session_list(sessions)}
    assert set(listed) == {("acme", "nb1"), ("beta", "nb1")}
    assert listed["acme", "nb1"] != listed["beta", "nb1"]
    assert [s["id"] for s in session_list(sessions, "--tenant", "beta")] == ["nb1"]
    # Session names that climb out are not sessions.
    for name in ("../acme/nb1", "tenants/acme/nb1", "..", "acme:nb1"):
        r = result_of(client, run(client, signers["beta"],
                                  job(f"cat notes.txt 2>&1; ls", session=name)))
        assert secret.encode() not in r.get("stdout", b""), name
    # On disk: each tenant's root of its own.
    assert (sessions / "tenants" / "acme").is_dir() and (sessions / "tenants" / "beta").is_dir()
    # acme's session still has its file.
    again = result_of(client, run(client, signers["acme"], job("cat notes.txt", session="nb1")))
    assert again["stdout"] == f"{secret}\n".encode(), again


def test_caps_are_rejected_naming_the_cap(env):
    _, client, _, signers, _, _ = env
    big = run(client, signers["acme"], job("true", limits={"memory_bytes": 1 << 30}))
    r = result_of(client, big)
    assert r["status"] == "rejected"
    assert r["error"] == "limits.memory_bytes: over tenant acme's cap of 512.0 MiB"
    lang = run(client, signers["beta"], job("echo hi", runtime="bash"))
    r = result_of(client, lang)
    assert r["status"] == "rejected" and r["error"].startswith("runtime: tenant beta may not use")
    # At its cap, it runs.
    fine = run(client, signers["acme"], job("true", limits={"memory_bytes": 512 << 20}))
    assert result_of(client, fine)["status"] == "ok"


def test_a_tenant_over_its_concurrency_waits_while_another_runs(env):
    _, client, worker, signers, _, _ = env
    a1 = run(client, signers["acme"], job("sleep 2"))
    a2 = run(client, signers["acme"], job("sleep 2"))
    b1 = run(client, signers["beta"], job("sleep 0.5"))
    for jid in (a1, a2, b1):
        assert result_of(client, jid)["status"] == "ok"
    db = worker.audit()
    try:
        span = {r[0]: (r[1], r[2]) for r in db.execute(
            "SELECT job_id, started_ms, finished_ms FROM attempts")}
    finally:
        db.close()
    # acme's jobs ran one after the other (in either order: they may be read
    # from two partitions); beta's ran beside the first.
    first, second = sorted((a1, a2), key=lambda j: span[j][0])
    assert span[second][0] >= span[first][1]
    assert span[b1][0] < span[first][1]


def test_the_cli_signs_and_audit_lists_by_tenant(env, tmp_path):
    broker, _, worker, _, keys, _ = env
    base = [bin_path("brig"), "run", "--brokers", broker.bootstrap]
    out = subprocess.run([*base, "--tenant", "acme", "--key", str(keys["acme"][0]), "--",
                          "/bin/sh", "-c", "echo signed by cli"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "signed by cli\n"
    env_vars = dict(os.environ, BRIG_TENANT="beta", BRIG_KEY=str(keys["beta"][0]))
    out = subprocess.run([*base, "--", "/bin/sh", "-c", "echo from env"], env=env_vars,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout == "from env\n", out.stderr
    # A key readable by others is refused before anything is sent.
    loose = tmp_path / "loose.pem"
    loose.write_bytes(keys["acme"][0].read_bytes())
    loose.chmod(0o644)
    out = subprocess.run([*base, "--tenant", "acme", "--key", str(loose), "--", "true"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "chmod 600" in out.stderr
    listed = subprocess.run([bin_path("brig"), "audit", "ls", "--json", "--audit-db",
                             worker.audit_db, "--tenant", "beta"], capture_output=True,
                            text=True, check=True).stdout
    rows = json.loads(listed)
    assert len(rows) == 1 and rows[0]["tenant"] == "beta"


BURN = """
import time
start = time.process_time()
while time.process_time() - start < 1.2:
    pass
print("burnt")
"""


def test_a_tenant_past_its_cpu_budget_waits_and_others_do_not(env):
    _, client, worker, signers, _, _ = env
    first = run(client, signers["thrifty"], job(BURN, runtime="python"))
    assert result_of(client, first)["stdout"] == b"burnt\n"
    # Its hour's CPU second is spent: the next waits, past its deadline.
    deadline = int(time.time() * 1000) + 4000
    held = run(client, signers["thrifty"], job("echo ran", deadline_ms=deadline))
    other = run(client, signers["beta"], job("echo beta ran"))
    assert result_of(client, other)["stdout"] == b"beta ran\n"
    r = result_of(client, held, timeout=60)
    assert r["status"] == "rejected"
    assert r["error"] == ("deadline_ms: the deadline passed while the job waited for its "
                          "tenant's quota")
    db = worker.audit()
    try:
        assert db.execute("SELECT COUNT(*) FROM attempts WHERE job_id = ?",
                          (held,)).fetchone()[0] == 0
    finally:
        db.close()


def test_sighup_reads_the_tenants_file_again(env, tmp_path):
    _, client, worker, signers, keys, _ = env
    path = tmp_path / "tenants.json"
    tenants = json.loads(path.read_text())
    # thrifty's key is taken away: its jobs are then unknown-tenant dead letters.
    tenants["tenants"] = [t for t in tenants["tenants"] if t["name"] != "thrifty"]
    path.write_text(json.dumps(tenants))
    worker.wait_consuming()  # a SIGHUP before its handler would end it
    worker.signal(signal.SIGHUP)
    wait_for(lambda: "read " + str(path) + " again: 2 tenant(s)" in worker.log(),
             what="the worker to read the file again")
    gone = client.submit(job("echo gone"), headers=signers["thrifty"].headers())
    client.flush()
    wait_for(lambda: any(d.get("key") == gone.encode() for d in client.dead_letters),
             what="thrifty's dead letter")
    # A file that does not read leaves the tenants as they were.
    path.write_text("{not json")
    worker.signal(signal.SIGHUP)
    wait_for(lambda: "the tenants it had stay" in worker.log(), what="the refusal")
    kept = run(client, signers["beta"], job("echo still here"))
    assert result_of(client, kept)["stdout"] == b"still here\n"
    (letter,) = [d for d in client.dead_letters if d.get("key") == gone.encode()]
    assert letter["reason"].startswith("unknown tenant")


def test_a_tenant_holds_at_most_a_quarter_of_the_backlog(env):
    _, client, _, signers, _, _ = env
    acme = signers["acme"]
    first = run(client, acme, job("sleep 3"))
    # 1024 jobs pause the consumer; acme (one at a time) may keep 256 waiting.
    flood = [client.submit(job("true"), headers=acme.headers()) for _ in range(300)]
    client.flush()
    other = run(client, signers["beta"], job("echo beta"))
    assert result_of(client, other)["stdout"] == b"beta\n"
    with client.lock:
        unanswered = [j for j in flood if not client.results.get(j)]
    assert unanswered, "beta's job should not wait for acme's backlog"
    results = client.wait([first, *flood], timeout=300)
    refused = [j for j in flood if results[j][0]["status"] == "rejected"]
    # About 300 - 256 (fewer when some of acme's ran before the last came).
    assert refused
    assert all("its share of the backlog" in results[j][0]["error"] for j in refused)
    assert all(results[j][0]["status"] == "ok" for j in flood if j not in refused)


def test_sessions_of_one_name_have_two_interpreters(env):
    _, client, _, signers, _, _ = env
    secret = uuid.uuid4().hex
    a = result_of(client, run(client, signers["acme"],
                              job(f"x = '{secret}'\nprint('set')", runtime="python",
                                  session="nb1")))
    assert a["status"] == "ok" and a["stdout"] == b"set\n", a
    look = "print(sorted(k for k in globals() if not k.startswith('_')), globals().get('x'))"
    b = result_of(client, run(client, signers["beta"], job(look, runtime="python", session="nb1")))
    assert b["status"] == "ok", b
    assert secret.encode() not in b["stdout"] and b["stdout"].endswith(b"None\n"), b
    # acme's interpreter still has it.
    again = result_of(client, run(client, signers["acme"],
                                  job("print(x)", runtime="python", session="nb1")))
    assert again["stdout"] == f"{secret}\n".encode(), again
    assert again["interpreter"]["execution_count"] == 2
