"""The TypeScript client (producer/typescript) against a real brig-worker on the
test broker: its node:test files run with the broker's bootstrap servers in
$BRIG_TEST_BROKERS, one pytest test per file, so that a failure names the file.
test/e2e/tenants.test.mjs runs against a second worker, started with
--tenants, with a tenant's key of brig keygen.

The package's dependencies are installed on first use by `npm ci` from the
committed lockfile, with npm's cache under the build directory: a rerun, or a
rebuild after `make clean` with the cache kept, needs no network."""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT, bin_path, build_lock
from harness import Broker, Worker
from test_kafka_secured import secured  # noqa: F401  (a fixture: the ACL recipe's prefix)
from test_tenants import keygen, session_list

PACKAGE = ROOT / "producer" / "typescript"
# Those of test/kafka/ need the real cluster: test_ts_client_sasl_ssl runs them;
# the tenants' file needs a worker with --tenants: test_ts_client_tenants runs it.
TENANTS_TEST = pathlib.Path("test/e2e/tenants.test.mjs")
TESTS = sorted(p.relative_to(PACKAGE) for pattern in ("test/*.test.mjs", "test/e2e/*.test.mjs")
               for p in PACKAGE.glob(pattern) if p.relative_to(PACKAGE) != TENANTS_TEST)
TENANT = "acme"
# Each file's jobs wait for a free slot on a machine that may be loaded.
FILE_TIMEOUT_S = 600


def run(argv, **kwargs):
    r = subprocess.run(argv, cwd=PACKAGE, capture_output=True, text=True, **kwargs)
    assert r.returncode == 0, f"{' '.join(argv)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def package():
    """The package installed (when the lockfile changed since) and built."""
    if shutil.which("npm") is None:
        pytest.fail("npm is missing: run mk/deps.sh (make test does)")
    installed = PACKAGE / "node_modules" / ".package-lock.json"
    lock = PACKAGE / "package-lock.json"
    with build_lock("typescript-client"):
        if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
            run(["npm", "ci", "--cache", str(BUILD / "npm-cache"), "--prefer-offline",
                 "--no-audit", "--no-fund"], timeout=600)
        # Only when a source changed: the other pytest may be running the
        # tests on dist/ meanwhile.
        built = PACKAGE / "dist" / "index.js"
        sources = [PACKAGE / "tsconfig.json", lock, *(PACKAGE / "src").rglob("*.ts")]
        if not built.exists() or built.stat().st_mtime < max(p.stat().st_mtime for p in sources):
            run(["node", "node_modules/typescript/bin/tsc", "-p", "."], timeout=300)
    return PACKAGE


def searchable(tmp):
    for path in (tmp, *tmp.parents):  # jails search the state directory
        if path.stat().st_mode & 0o001 == 0:
            path.chmod(path.stat().st_mode | 0o711)


def stop(w, broker, sessions, tenant=None):
    try:
        w.stop()
    finally:
        broker.stop()
        # Session workspaces are mounts that outlive the worker.
        tenant_args = ["--tenant", tenant] if tenant else []
        ids = [s["id"] for s in session_list(sessions, *tenant_args)]
        if ids:
            subprocess.run([bin_path("brig"), "session", "rm", "--sessions-dir", str(sessions),
                            *tenant_args, *ids], capture_output=True, check=False)


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    """One worker on its own test broker for the whole module."""
    tmp = tmp_path_factory.mktemp("ts-client")
    searchable(tmp)
    broker = Broker(partitions=4)
    w = Worker(tmp, broker.bootstrap, "ts-client", concurrency=2)
    try:
        w.wait_consuming()
        yield broker.bootstrap, w
    finally:
        stop(w, broker, tmp / "state" / "sessions")


@pytest.fixture(scope="module")
def tenant_worker(tmp_path_factory):
    """A worker started with --tenants, on a broker with the tenant's topics,
    and the tenant's key file."""
    tmp = tmp_path_factory.mktemp("ts-tenants")
    searchable(tmp)
    key, public = keygen(tmp, TENANT)
    tenants = tmp / "tenants.json"
    tenants.write_text(json.dumps({"tenants": [{"name": TENANT, "keys": [public]}]}))
    broker = Broker(partitions=4, topics=[f"brig.{kind}.{TENANT}" for kind in ("results", "logs")])
    sessions = tmp / "sessions"
    w = Worker(tmp, broker.bootstrap, "ts-tenants", concurrency=2,
               extra=["--tenants", str(tenants), "--sessions-dir", str(sessions)])
    try:
        w.wait_consuming()
        yield broker.bootstrap, w, key
    finally:
        stop(w, broker, sessions, TENANT)


def node_test(package, path, env, log=lambda: ""):
    env = dict(os.environ, **env)
    env.pop("BRIG_BROKERS", None)
    r = subprocess.run(["node", "--test", "--test-reporter=spec", str(path)], cwd=package,
                       env=env, capture_output=True, text=True, timeout=FILE_TIMEOUT_S)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\nworker log:\n{log()[-4000:]}"
    # A file whose tests all skipped proves nothing here.
    assert "\u2139 skipped 0" in r.stdout, r.stdout


@pytest.mark.parametrize("path", TESTS, ids=[str(p) for p in TESTS])
def test_ts_client(package, worker, path):
    bootstrap, w = worker
    node_test(package, path, {"BRIG_TEST_BROKERS": bootstrap, "BRIG_TEST_WORKER_ID": w.name},
              w.log)


def test_ts_client_tenants(package, tenant_worker):
    bootstrap, w, key = tenant_worker
    node_test(package, TENANTS_TEST,
              {"BRIG_TEST_TENANT_BROKERS": bootstrap, "BRIG_TEST_TENANT": TENANT,
               "BRIG_TEST_TENANT_KEY": str(key)}, w.log)


def test_ts_client_sasl_ssl(package, kafka, secured):
    """test/kafka/sasl.test.mjs on the cluster's SASL_SSL listener as agent-a."""
    prefix, props, _ = secured
    node_test(package, "test/kafka/sasl.test.mjs",
              {"BRIG_TEST_SASL_BROKERS": kafka.bootstrap_sasl, "BRIG_TEST_SASL_PREFIX": prefix,
               "BRIG_TEST_SASL_CONFIG": props["agent-a"]})
