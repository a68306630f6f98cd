"""The Python client and the MCP server sign for a tenant (SCHEMA.md section
14), against a worker started with --tenants (test_tenants.py's env): a
signed job of brig.Client runs and comes back on brig.results.<tenant>, its
signed cancel stops a running job while an unsigned client's cancel is
ignored and its job is a dead letter only; AsyncClient signs with
$BRIG_TENANT/$BRIG_KEY and streams its output from brig.logs.<tenant>; `brig
mcp --tenant T --key FILE` (or the environment) runs code and cancels
through the MCP SDK client, and refuses a key others may read before it
starts."""
import asyncio
import os
import subprocess
import sys

import pytest

from conftest import ROOT, bin_path
from harness import wait_for
from test_cancel import running
from test_mcp import Shell, assert_runs_python, text_of, venv_python  # noqa: F401
from test_python_client_sign import no_tenant_env  # noqa: F401 - a fixture
from test_tenants import env  # noqa: F401 - the --tenants fixture

sys.path.insert(0, str(ROOT / "producer" / "python"))

import brig  # noqa: E402

SLEEP = "import time\nprint('started', flush=True)\ntime.sleep({})\nprint('slept')"


def audit_rows(worker, query, *args):
    db = worker.audit()
    try:
        return [tuple(r) for r in db.execute(query, args)]
    finally:
        db.close()


def test_the_python_client_signs_jobs_and_cancels(env, no_tenant_env):
    broker, harness, worker, _, keys, _ = env
    signed = brig.Client(brokers=broker.bootstrap, tenant="acme", key_file=str(keys["acme"][0]))
    unsigned = brig.Client(brokers=broker.bootstrap)
    try:
        # Its results come on acme's topic, the only one it reads.
        assert signed.reply_topic == "brig.results.acme" and signed.tenant == "acme"
        r = signed.run("print(6 * 7)", timeout=120)
        assert r.status == "ok" and r.stdout == b"42\n", r
        # An unsigned cancel of acme's running job is ignored: it ends ok.
        short = signed.submit(SLEEP.format(2))
        wait_for(lambda: running(worker, short), what="acme's job running")
        unsigned.cancel(short, by="nobody")
        assert signed.wait(short, timeout=120).stdout == b"started\nslept\n"
        # Its own, signed, stops it.
        long = signed.submit(SLEEP.format(60))
        wait_for(lambda: running(worker, long), what="acme's second job running")
        signed.cancel(long, by="acme-py")
        assert signed.wait(long, timeout=60).status == "cancelled"
        # An unsigned client's job is a dead letter only.
        lost = unsigned.submit("print('unsigned')")
        wait_for(lambda: any(d.get("key") == lost.encode() for d in harness.dead_letters),
                 what="the unsigned job's dead letter")
        (letter,) = [d for d in harness.dead_letters if d.get("key") == lost.encode()]
        assert letter["reason"].startswith("unsigned")
    finally:
        signed.close()
        unsigned.close()
    with harness.lock:
        assert lost not in harness.results
    assert audit_rows(worker, "SELECT job_id, requested_by, tenant FROM cancellations") == \
        [(long, "acme-py", "acme")]
    assert sorted(audit_rows(worker, "SELECT job_id, tenant FROM jobs")) == \
        sorted([(r.id, "acme"), (short, "acme"), (long, "acme")])


def test_the_async_client_signs_with_the_environments_tenant(env, no_tenant_env):
    broker, harness, worker, _, keys, _ = env
    no_tenant_env.setenv("BRIG_TENANT", "beta")
    no_tenant_env.setenv("BRIG_KEY", str(keys["beta"][0]))

    async def main():
        chunks = []
        async with brig.AsyncClient(brokers=broker.bootstrap) as client:
            assert client.reply_topic == "brig.results.beta"
            r = await client.run("print('streamed', flush=True)", on_output=chunks.append,
                                 timeout=120)
        return r, chunks

    r, chunks = asyncio.run(main())
    assert r.status == "ok" and r.stdout == b"streamed\n", r
    # The live output came from beta's own logs topic.
    assert b"".join(c.data for c in chunks if c.stream == "stdout") == b"streamed\n"
    assert audit_rows(worker, "SELECT tenant FROM jobs WHERE job_id = ?", r.id) == [("beta",)]


def cancelled_through_mcp(shell, harness):
    """A run_code call cancelled the MCP way once its job runs: the id of
    its job, once the job's own result says cancelled."""
    answer = shell.ask({"op": "call", "name": "run_code", "progress": True,
                        "cancel_on": "started", "arguments": {
                            "code": SLEEP.format(300), "timeout": 400}})
    assert answer["cancelled"], answer
    job_id = answer["progress"][0].split()[1]
    wait_for(lambda: harness.results.get(job_id), what="the cancelled job's result")
    assert harness.results[job_id][0]["status"] == "cancelled", harness.results[job_id]
    return job_id


def test_the_mcp_server_signs_for_its_tenant(env, venv_python, tmp_path):  # noqa: F811
    broker, harness, worker, _, keys, _ = env
    base = [bin_path("brig"), "mcp", "--brokers", broker.bootstrap]
    shell = Shell(venv_python, "stdio", *base, "--tenant", "acme", "--key",
                  str(keys["acme"][0]))
    try:
        assert_runs_python(shell)
        cancelled = cancelled_through_mcp(shell, harness)
    finally:
        shell.close()
    # From the environment, for another tenant.
    shell = Shell(([venv_python, str(ROOT / "tests" / "e2e" / "mcp_client.py")],
                   {"BRIG_TENANT": "beta", "BRIG_KEY": str(keys["beta"][0])}), "stdio", *base)
    try:
        answer = shell.call("run_code", code="print('beta over mcp')")
        assert "beta over mcp" in text_of(answer), answer
    finally:
        shell.close()
    rows = audit_rows(worker, "SELECT job_id, tenant FROM jobs")
    assert {t for _, t in rows} == {"acme", "beta"} and (cancelled, "acme") in rows
    assert audit_rows(worker, "SELECT job_id, tenant FROM cancellations") == \
        [(cancelled, "acme")]
    # Refused before it starts: a key others may read, a tenant without a key.
    loose = tmp_path / "loose.pem"
    loose.write_bytes(keys["acme"][0].read_bytes())
    loose.chmod(0o644)
    for extra, says in ((["--tenant", "acme", "--key", str(loose)], "chmod 600"),
                        (["--tenant", "acme"], "--key: a tenant signs with its key")):
        out = subprocess.run(base + extra, capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items()
                                  if k not in ("BRIG_TENANT", "BRIG_KEY")})
        assert out.returncode == 2 and says in out.stderr, out.stderr
