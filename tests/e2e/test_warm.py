"""Warm runtimes through brig-worker: a runtime table that opts a Python
runtime into warm starts, jobs on it, and a worker that refuses to start
when the warm interpreter cannot be made. The isolation of warm jobs from
each other is proven in tests/unit/test_warm.c."""
import json
import os
import signal
import subprocess
import urllib.request

from conftest import ROOT, bin_path
from harness import Worker, free_port, job, wait_for, warm_table


def test_warm_runtime_runs_jobs_in_the_preloaded_interpreter(tmp_path, broker, client):
    table = warm_table(tmp_path, ["numpy", "pandas"])
    worker = Worker(tmp_path, broker.bootstrap, "warm", extra=["--runtimes", str(table)])
    try:
        code = ("import sys; print(sorted(m for m in ('numpy', 'pandas') if m in sys.modules))\n"
                "import pandas; print(pandas.DataFrame({'a': [1, 2]}).a.sum())")
        warm_job = job(code, runtime="python-data")
        cold_job = job(code, runtime="python")
        failing = job("import sys; sys.exit(4)", runtime="python-data")
        for message in (warm_job, cold_job, failing):
            client.submit(message)
        client.wait([warm_job["id"], cold_job["id"], failing["id"]])
        warm, cold, failed = (client.results[m["id"]][-1]
                              for m in (warm_job, cold_job, failing))
        assert warm["status"] == "ok", warm
        assert warm["stdout"] == b"['numpy', 'pandas']\n3\n"
        assert cold["status"] == "ok", cold
        assert cold["stdout"] == b"[]\n3\n"
        assert failed["status"] == "failed" and failed["exit_code"] == 4
        assert warm["runtime"]["version"] == cold["runtime"]["version"]
        assert warm["runtime"]["version"].startswith("Python 3.")
        assert "runtime python-data starts warm: Python 3." in worker.log()
        assert "with numpy, pandas preloaded" in worker.log()
    finally:
        assert worker.stop() == 0


def test_worker_refuses_to_start_when_a_preload_fails(tmp_path, broker):
    table = warm_table(tmp_path, ["brig_no_such_module"])
    worker = Worker(tmp_path, broker.bootstrap, "broken", extra=["--runtimes", str(table)])
    try:
        status = worker.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.stop()
        raise AssertionError("the worker started with a warm runtime that cannot preload")
    assert status != 0
    assert ("runtime python-data: starting warm: preloading brig_no_such_module: "
            "ModuleNotFoundError" in worker.log())


def test_runtime_table_rejects_warm_for_other_languages(tmp_path):
    table = json.loads((ROOT / "sandbox" / "runtimes.json").read_text())
    node = next(r for r in table["runtimes"] if r["name"] == "javascript")
    node["warm"] = {"preload": ["json"]}
    path = tmp_path / "runtimes.json"
    path.write_text(json.dumps(table))
    proc = subprocess.run([bin_path("brig-jail"), "--runtimes", str(path), "--lang", "sh",
                           "--code", "true"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "runtimes[1] (\"javascript\"): warm: only a runtime whose run is python3" in proc.stderr


def zygotes(worker):
    """{pid: arguments} of the worker's brig-zygote children."""
    found = {}
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, IndexError):
            continue
        if int(fields[1]) == worker.proc.pid and argv[0].endswith(b"brig-zygote") and fields[0] != "Z":
            found[int(entry)] = [a.decode() for a in argv[1:] if a]
    return found


# The worker's brig-zygote servers: the jail spawner, the python-data
# runtime's and the one cells' kernels start from.
SERVERS = sorted([["--cold"], ["numpy"],
                  ["msgpack", "IPython.core.interactiveshell", "matplotlib_inline.backend_inline",
                   "matplotlib.pyplot", "venv",
                   f"brig_python_kernel={ROOT / 'sandbox' / 'kernels' / 'python_kernel.py'}"]])


def test_servers_that_die_are_restarted(tmp_path, broker, client):
    table = warm_table(tmp_path, ["numpy"])
    port = free_port()
    worker = Worker(tmp_path, broker.bootstrap, "keeper",
                    extra=["--runtimes", str(table), "--metrics-addr", f"127.0.0.1:{port}"])
    probe = "import sys; print('numpy' in sys.modules)"
    try:
        first = job(probe, runtime="python-data")
        client.submit(first)
        assert client.wait([first["id"]])[first["id"]][-1]["stdout"] == b"True\n"
        before = zygotes(worker)
        assert sorted(before.values()) == SERVERS, before
        for pid in before:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: worker.log().count("is back (restarted)") >= 3,
                 what="the three servers to be restarted")
        log = worker.log()
        assert "the jail spawner died; jobs start without it until it is back" in log
        assert "runtime python-data's warm interpreter died" in log
        assert "the cells' warm kernel server died" in log
        assert log.count("is back (restarted)") == 3, log
        after = zygotes(worker)
        assert sorted(after.values()) == SERVERS, after
        assert not set(after) & set(before)
        second = job(probe, runtime="python-data")
        client.submit(second)
        result = client.wait([second["id"]])[second["id"]][-1]
        assert result["status"] == "ok" and result["stdout"] == b"True\n", result
        # A cell's kernel starts from the restarted server.
        cell = job("import sys; 'IPython' in sys.modules and 40 + 2", runtime="python",
                   session="after-restart")
        client.submit(cell)
        result = client.wait([cell["id"]], timeout=180)[cell["id"]][-1]
        assert result["status"] == "ok", result
        assert [o["data"]["text/plain"] for o in result["outputs"]] == [b"42"], result
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
        assert 'brig_server_restarts_total{server="spawner"} 1' in text
        assert 'brig_server_restarts_total{server="python-data"} 1' in text
        assert 'brig_server_restarts_total{server="kernel"} 1' in text
    finally:
        assert worker.stop() == 0, worker.log()


PROBE = """import os, sys
SEEN = (os.path.exists('/etc/shadow'), os.path.isdir('/work'), os.environ.get('HOME'),
        os.environ.get('MPLCONFIGDIR'), os.environ.get('BRIG_PROBE'))
"""


def test_a_warm_interpreter_imports_in_the_jails_filesystem(tmp_path, broker, client):
    """What a module sees while the server imports it is what a cold job
    sees: the jail's filesystem (the operator's binds, no host /etc/shadow)
    and a job's environment (the operator's variables too)."""
    probe = tmp_path / "probe"
    probe.mkdir(mode=0o755)
    (probe / "brig_probe.py").write_text(PROBE)
    (probe / "brig_probe.py").chmod(0o644)
    table = warm_table(tmp_path, ["brig_probe"])
    worker = Worker(tmp_path, broker.bootstrap, "view", extra=[
        "--runtimes", str(table), "--ro-bind", f"{probe}:/opt/probe",
        "--job-env", "PYTHONPATH=/opt/probe", "--job-env", "BRIG_PROBE=operator"])
    try:
        worker.wait_consuming()
        code = "import sys, brig_probe; print('brig_probe' in sys.modules, brig_probe.SEEN)"
        ids = [client.submit(job(code, runtime=rt)) for rt in ("python", "python-data")]
        client.flush()
        results = client.wait(ids)
        cold, warm = (results[i][-1] for i in ids)
        seen = "(False, True, '/work', '/tmp/matplotlib', 'operator')"
        assert cold["status"] == "ok" and cold["stdout"] == f"True {seen}\n".encode(), cold
        assert warm["status"] == "ok" and warm["stdout"] == f"True {seen}\n".encode(), warm
        assert "with brig_probe preloaded" in worker.log()
    finally:
        assert worker.stop() == 0, worker.log()
