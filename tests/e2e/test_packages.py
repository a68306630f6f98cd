"""Packages that persist in a session: pip installs into the session's own
venv (/work/.venv), npm into its node_modules, later jobs of the session
import them cold and warm; offline from a wheelhouse and a directory of npm
tarballs the operator binds read-only (--ro-bind, --job-env), online through
the egress proxy when the host reaches the real indexes; a failed install
shows the installer's own error, and one that fills the session's quota
leaves the session usable."""
import base64
import hashlib
import io
import json
import os
import subprocess
import tarfile
import urllib.request
import zipfile

import pytest

from conftest import bin_path
from harness import Broker, Client, Worker, job, warm_table

QUOTA = 16 << 20
ONLINE_HOSTS = ["pypi.org", "files.pythonhosted.org", "registry.npmjs.org"]


def wheel(directory, name, version, files):
    """A pure-Python wheel, made by hand: the files, METADATA, WHEEL, RECORD."""
    dist = f"{name}-{version}.dist-info"
    entries = dict(files)
    entries[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    entries[f"{dist}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: brig-test\n"
                                b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    record = ""
    for path, data in entries.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(data)}\n"
    entries[f"{dist}/RECORD"] = (record + f"{dist}/RECORD,,\n").encode()
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w",
                         zipfile.ZIP_DEFLATED) as z:
        for path, data in entries.items():
            z.writestr(path, data)


def npm_tarball(directory, name, version, index_js):
    """What `npm pack` makes: package/package.json and package/index.js, gzipped."""
    with tarfile.open(directory / f"{name}-{version}.tgz", "w:gz") as tar:
        for path, data in (("package/package.json",
                            json.dumps({"name": name, "version": version, "main": "index.js"})),
                           ("package/index.js", index_js)):
            info = tarfile.TarInfo(path)
            info.size = len(data.encode())
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data.encode()))


def reachable(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """One worker for the module: sessions of QUOTA bytes, a warm python
    runtime, a wheelhouse at /opt/wheels (PIP_FIND_LINKS), npm tarballs at
    /opt/npm, and egress to the package indexes."""
    tmp = tmp_path_factory.mktemp("packages")
    path = tmp
    while path != path.parent:
        path.chmod(path.stat().st_mode | 0o711)
        path = path.parent
    wheels, tarballs = tmp / "wheels", tmp / "npm"
    wheels.mkdir()
    tarballs.mkdir()
    wheel(wheels, "brigtiny", "1.0", {"brigtiny/__init__.py": b"VALUE = 42\n"})
    wheel(wheels, "brigtwo", "2.0", {"brigtwo/__init__.py": b"VALUE = 'two'\n"})
    wheel(wheels, "brigbig", "1.0", {"brigbig/__init__.py": b"",
                                     "brigbig/blob.bin": os.urandom(QUOTA + (8 << 20))})
    npm_tarball(tarballs, "brig-tiny", "1.0.0", "module.exports = {answer: 42};\n")
    for p in [wheels, tarballs, *wheels.iterdir(), *tarballs.iterdir()]:
        p.chmod(0o755 if p.is_dir() else 0o644)

    broker = Broker(partitions=2)
    client = Client(broker.bootstrap)
    sessions = tmp / "sessions"
    worker = Worker(tmp, broker.bootstrap, "packages", concurrency=2, extra=[
        "--runtimes", str(warm_table(tmp, ["numpy"], name="python-warm")),
        "--sessions-dir", str(sessions), "--session-quota", str(QUOTA),
        "--ro-bind", f"{wheels}:/opt/wheels", "--ro-bind", f"{tarballs}:/opt/npm",
        "--job-env", "PIP_FIND_LINKS=/opt/wheels",
        "--egress-allow", ",".join(ONLINE_HOSTS)])
    worker.wait_consuming()
    yield client, worker
    try:
        assert worker.stop() == 0, worker.log()
    finally:
        ids = subprocess.run([bin_path("brig"), "session", "ls", "--json", "--sessions-dir",
                              str(sessions)], capture_output=True, text=True).stdout
        subprocess.run([bin_path("brig"), "session", "rm", "--sessions-dir", str(sessions),
                        *[json.loads(line)["id"] for line in ids.splitlines()]],
                       capture_output=True)
        client.close()
        broker.stop()


def run(client, code, runtime="bash", **fields):
    # Room for a loaded machine and a slow index.
    limits = {"wall_ms": 300000, "cpu_ms": 120000}
    jid = client.submit(job(code, runtime=runtime, limits=limits, **fields))
    client.flush()
    (result,) = client.wait([jid], timeout=360)[jid]
    return result


def ok(result):
    assert result["status"] == "ok", result
    return result["stdout"].decode()


IMPORT = ("import sys, {m}; print({m}.VALUE, {m}.__file__, 'numpy' in sys.modules, sys.prefix)")


def test_pip_installs_into_the_session_venv_for_later_jobs_cold_and_warm(pool):
    client, _ = pool
    s = "pip-offline"
    out = ok(run(client, "pip install --no-index brigtiny && command -v pip python3", session=s))
    assert "Successfully installed brigtiny-1.0" in out
    assert out.endswith("/work/.venv/bin/pip\n/work/.venv/bin/python3\n"), out
    site = "/work/.venv/lib/python3.11/site-packages"
    # A process of the session's python3, cold; a warm runtime's job; and a
    # cell, whose kernel (matplotlib preloaded) is started in the venv too.
    cold = ok(run(client, None, None, argv=["python3", "-c", IMPORT.format(m="brigtiny")],
                  session=s))
    assert cold == f"42 {site}/brigtiny/__init__.py False /work/.venv\n"
    warm = ok(run(client, IMPORT.format(m="brigtiny"), "python-warm", session=s))
    assert warm == f"42 {site}/brigtiny/__init__.py True /work/.venv\n"
    cell = run(client, IMPORT.format(m="brigtiny"), "python", session=s)
    assert ok(cell) == f"42 {site}/brigtiny/__init__.py True /work/.venv\n"
    assert cell["interpreter"]["started"], cell
    # The spelling agents write in Python, through the venv's interpreter.
    install = ("import subprocess, sys\n"
               "subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-index', 'brigtwo'],"
               " check=True)")
    assert "Successfully installed brigtwo-2.0" in ok(run(client, install, "python", session=s))
    warm = ok(run(client, IMPORT.format(m="brigtwo"), "python-warm", session=s))
    assert warm == f"two {site}/brigtwo/__init__.py True /work/.venv\n"


# What the venv holds, file by file: kinds, modes, link targets, contents
# (not the bytecode its imports cached).
LISTING = ("cd /work/.venv && find . -name __pycache__ -prune -o -printf '%p %y %m %l\\n' | sort"
           " && find . -name __pycache__ -prune -o -type f -exec sha256sum {} + | sort")


def test_a_session_whose_first_job_is_a_cell_gets_the_same_venv(pool):
    """The first cell's kernel makes the venv itself (no jail of its own):
    the cell runs as the venv's python, installs into it, and the shell jobs
    after it find the venv a shell job would have made."""
    client, _ = pool
    s = "cell-first"
    first = run(client, "import sys, _brig_pip; print(sys.prefix, sys.executable)", "python",
                session=s)
    assert ok(first) == "/work/.venv /work/.venv/bin/python3\n"
    assert first["interpreter"]["started"], first
    made_by_jail = ok(run(client, LISTING, session="shell-first"))
    assert "./bin/pip " in made_by_jail and "_brig_pip.pth" in made_by_jail, made_by_jail
    assert ok(run(client, LISTING, session=s)) == made_by_jail
    install = ("import subprocess, sys\n"
               "subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-index', 'brigtiny'],"
               " check=True)")
    assert "Successfully installed brigtiny-1.0" in ok(run(client, install, "python", session=s))
    site = "/work/.venv/lib/python3.11/site-packages"
    cell = run(client, IMPORT.format(m="brigtiny"), "python", session=s)
    assert ok(cell) == f"42 {site}/brigtiny/__init__.py True /work/.venv\n"
    assert not cell["interpreter"]["started"], cell
    shell = ok(run(client, "pip --version >/dev/null && command -v pip python3 && "
                   "python3 -c 'import brigtiny; print(brigtiny.VALUE)'", session=s))
    assert shell == "/work/.venv/bin/pip\n/work/.venv/bin/python3\n42\n"


def test_a_venv_a_job_removed_is_made_again_before_the_next_cell(pool):
    client, _ = pool
    s = "cell-remade"
    assert ok(run(client, "import sys; print(sys.prefix)", "python", session=s)) == \
        "/work/.venv\n"
    ok(run(client, "rm -rf /work/.venv", session=s))
    again = run(client, "import os; print(os.path.exists('/work/.venv/bin/pip'), "
                "open('/work/.venv/pyvenv.cfg').readline().strip())", "python", session=s)
    assert ok(again) == "True home = /usr/bin\n"
    assert not again["interpreter"]["started"], again
    ok(run(client, "pip --version", session=s))


def test_a_failed_install_shows_the_installers_own_error(pool):
    client, _ = pool
    missing = run(client, "pip install --no-index brig-no-such-package", session="pip-fails")
    assert missing["status"] == "failed" and missing["exit_code"] == 1, missing
    assert (b"ERROR: Could not find a version that satisfies the requirement "
            b"brig-no-such-package") in missing["stderr"]
    # Without a session there is no venv: Debian's pip refuses, in its words.
    outside = run(client, "pip install --no-index brigtiny")
    assert outside["status"] == "failed", outside
    assert b"externally-managed-environment" in outside["stderr"]


def test_an_install_over_the_quota_fails_and_the_session_stays_usable(pool):
    client, _ = pool
    s = "pip-quota"
    for command in ("pip install --no-index brigbig", "python3 -m pip install --no-index brigbig"):
        full = run(client, command, session=s)
        assert full["status"] == "failed", full
        assert b"No space left on device" in full["stderr"], full
        assert b"brig: the install failed, so what it had added" in full["stderr"], full
    after = ok(run(client, "import shutil; print(shutil.disk_usage('/work').used < (1 << 20))",
                   "python", session=s))
    assert after == "True\n"
    ok(run(client, "pip install --no-index brigtiny", session=s))
    assert ok(run(client, "import brigtiny; print(brigtiny.VALUE)", "python", session=s)) == "42\n"


def test_npm_installs_into_the_session_node_modules_offline(pool):
    client, _ = pool
    s = "npm-offline"
    out = ok(run(client, "npm install --no-audit --no-fund /opt/npm/brig-tiny-1.0.0.tgz",
                 session=s))
    assert "added 1 package" in out, out
    later = ok(run(client, "console.log(require('brig-tiny').answer)", "javascript", session=s))
    assert later == "42\n"


def test_installs_from_the_real_indexes_through_the_egress_proxy(pool):
    if not (reachable("https://pypi.org/simple/tabulate/")
            and reachable("https://registry.npmjs.org/left-pad")):
        pytest.skip("this host does not reach pypi.org or registry.npmjs.org")
    client, _ = pool
    s = "online"
    network = {"allow": ONLINE_HOSTS}
    out = ok(run(client, "pip install --no-input tabulate==0.9.0", session=s, network=network))
    assert "Successfully installed tabulate-0.9.0" in out, out
    table = "import tabulate; print(tabulate.tabulate([[1, 2]], tablefmt='plain'))"
    assert ok(run(client, table, "python-warm", session=s)) == "1  2\n"
    out = ok(run(client, "npm install --no-audit --no-fund left-pad@1.3.0", session=s,
                 network=network))
    assert "added 1 package" in out, out
    pad = "console.log(require('left-pad')('7', 3, '0'))"
    assert ok(run(client, pad, "javascript", session=s)) == "007\n"
