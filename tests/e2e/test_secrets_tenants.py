"""Secrets bound to tenants (README "Secrets that never enter the jail",
"Tenants"): a secret whose tenant is acme reaches the bound host for acme's
signed jobs only. beta's job naming it is rejected in the words of a name the
worker does not have, and the host hears nothing from it; an unsigned job is a
dead letter before it names anything. A secret bound to a tenant the worker
does not have stops it; a reload that removes the tenant refuses the secret,
said once, until the tenant is back."""
import json
import signal

import pytest

from harness import Broker, Client, Worker, job, wait_for
from test_secrets import FETCH, setup  # noqa: F401 (a fixture)
from test_tenants import Signer, keygen

TENANTS = ("acme", "beta")
TOPICS = [f"brig.{kind}.{t}" for t in TENANTS for kind in ("results", "logs")]


def write_secrets(tmp_path, setup, tenant):
    path = tmp_path / "tenant-secrets.json"
    path.write_text(json.dumps({"secrets": {"API_KEY": {
        "value": setup["value"], "tenant": tenant, "bindings": [
            {"host": f"localhost:{setup['ports']['bound']}", "header": "Authorization",
             "template": "Bearer ${API_KEY}"}]}}}))
    path.chmod(0o600)
    return path


@pytest.fixture
def env(tmp_path, setup):  # noqa: F811 (the fixture imported above)
    keys = {t: keygen(tmp_path, t) for t in TENANTS}
    tenants = tmp_path / "tenants.json"
    tenants.write_text(json.dumps({"tenants": [{"name": t, "keys": [keys[t][1]]}
                                               for t in TENANTS]}))
    broker = Broker(partitions=2, topics=TOPICS)
    client = Client(broker.bootstrap, result_topics=[t for t in TOPICS if ".results." in t])
    worker = Worker(tmp_path, broker.bootstrap, "w", concurrency=2,
                    extra=["--egress-allow", "localhost", "--egress-ca-file", setup["ca"],
                           "--secrets", str(write_secrets(tmp_path, setup, "acme")),
                           "--tenants", str(tenants)])
    signers = {t: Signer(t, keys[t][0]) for t in TENANTS}
    yield client, worker, signers, tenants
    try:
        worker.stop()
    finally:
        client.close()
        broker.stop()


def fetching(setup, path):
    bound = setup["ports"]["bound"]
    return job(FETCH, runtime="python", args=[f"https://localhost:{bound}/{path}"],
               network={"allow": [f"localhost:{bound}"]}, secrets=["API_KEY"])


def submit(client, message, signer=None):
    jid = client.submit(message, headers=signer.headers() if signer else None)
    client.flush()
    return jid


def test_only_the_tenants_jobs_may_name_its_secret(env, setup):
    client, worker, signers, _ = env
    acme = submit(client, fetching(setup, "acme"), signers["acme"])
    beta = submit(client, fetching(setup, "beta"), signers["beta"])
    nope = fetching(setup, "nope")
    nope["secrets"] = ["NOPE"]
    unknown = submit(client, nope, signers["beta"])
    unsigned = submit(client, fetching(setup, "unsigned"))
    results = client.wait([acme, beta, unknown], timeout=180)
    (ok,), (refused,), (unheard_of,) = results[acme], results[beta], results[unknown]
    assert (ok["status"], ok["stdout"]) == ("ok", b"bound /acme value\n"), ok
    assert refused["status"] == unheard_of["status"] == "rejected"
    assert refused["error"] == 'secrets[0]: this worker has no secret "API_KEY"'
    assert unheard_of["error"] == 'secrets[0]: this worker has no secret "NOPE"'
    # Nothing in beta's answer says whose the secret is.
    assert b"acme" not in json.dumps(refused, default=repr).encode()
    wait_for(lambda: any(d.get("key") == unsigned.encode() for d in client.dead_letters),
             what="the unsigned job's dead letter")
    assert unsigned not in client.results
    assert [s["path"] for s in setup["servers"]["bound"].seen] == ["/acme"]


def test_a_reload_that_removes_the_tenant_refuses_its_secret_once(env, setup):
    client, worker, signers, tenants = env
    worker.wait_consuming()  # it has read the file, and a SIGHUP now finds its handler
    kept = tenants.read_text()
    tenants.write_text(json.dumps({"tenants": [t for t in json.loads(kept)["tenants"]
                                               if t["name"] != "acme"]}))
    gone = ("secret API_KEY is bound to tenant acme, which " + str(tenants) +
            " no longer names: no job may use it until the tenant is back")
    for reloads in (1, 2):
        worker.signal(signal.SIGHUP)
        wait_for(lambda: worker.log().count(f"read {tenants} again: 1 tenant(s)") == reloads,
                 what="the worker to read the tenants file again")
    assert worker.log().count(gone) == 1, worker.log()
    refused = submit(client, fetching(setup, "gone"), signers["acme"])
    wait_for(lambda: any(d.get("key") == refused.encode() for d in client.dead_letters),
             what="the removed tenant's dead letter")

    tenants.write_text(kept)
    worker.signal(signal.SIGHUP)
    wait_for(lambda: "tenant acme is back in " + str(tenants) in worker.log(),
             what="the tenant back")
    back = submit(client, fetching(setup, "back"), signers["acme"])
    (result,) = client.wait([back], timeout=180)[back]
    assert (result["status"], result["stdout"]) == ("ok", b"bound /back value\n"), result
    assert [s["path"] for s in setup["servers"]["bound"].seen] == ["/back"]


@pytest.mark.parametrize("tenants", ["none", "other"])
def test_a_secret_bound_to_a_tenant_the_worker_lacks_stops_it(tmp_path, setup, tenants):  # noqa: F811
    extra = []
    if tenants == "other":
        path = tmp_path / "tenants.json"
        path.write_text(json.dumps({"tenants": [{"name": "beta",
                                                 "keys": [keygen(tmp_path, "beta")[1]]}]}))
        extra = ["--tenants", str(path)]
    broker = Broker(partitions=1)
    try:
        worker = Worker(tmp_path, broker.bootstrap, tenants,
                        extra=["--egress-allow", "localhost", "--egress-ca-file", setup["ca"],
                               "--secrets", str(write_secrets(tmp_path, setup, ["beta", "acme"])),
                               *extra])
        assert worker.proc.wait(timeout=60) != 0
    finally:
        broker.stop()
    why = ("which the tenants file does not name" if tenants == "other" else
           "and this worker has no tenants")
    assert "--secrets: secret API_KEY is bound to tenant " in worker.log()
    assert why in worker.log(), worker.log()
    assert setup["value"] not in worker.log()
