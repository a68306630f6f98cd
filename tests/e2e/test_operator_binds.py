"""What an operator adds to every jail, refused at start when it is wrong:
brig-worker --ro-bind with a path that does not exist, is relative, is under
/proc or /sys, is or goes through a symbolic link, or lands where the jail
mounts its own filesystem, and --job-env without a name. Each refusal names
the option and the path. (That good binds and variables reach every jail,
read-only, and change the policy hash: tests/unit/test_binds.c; that they
reach warm interpreters: test_warm.py.)"""
import os
import subprocess

import pytest

from conftest import bin_path


def start(tmp_path, *args):
    """brig-worker with args; it must exit at once, before any Kafka."""
    return subprocess.run([bin_path("brig-worker"), "--brokers", "127.0.0.1:1",
                           "--state-dir", str(tmp_path / "state"), *args],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def host(tmp_path):
    (tmp_path / "wheels").mkdir()
    os.symlink("/root", tmp_path / "escape")
    return tmp_path


@pytest.mark.parametrize("bind,says", [
    ("{t}/missing:/opt/x", "--ro-bind {t}/missing: No such file or directory"),
    ("wheels:/opt/x", "--ro-bind wheels: the host path must be absolute"),
    ("/proc/self:/opt/x", "--ro-bind /proc/self is under /proc"),
    ("/sys/kernel:/opt/x", "--ro-bind /sys/kernel is under /sys"),
    ("{t}/escape:/opt/x", "--ro-bind {t}/escape is a symbolic link (to /root)"),
    ("{t}/escape/.ssh:/opt/x", "--ro-bind {t}/escape is a symbolic link (to /root)"),
    ("{t}/wheels:/usr/share/wheels", "--ro-bind /usr/share/wheels: the jail mounts /usr itself"),
    ("{t}/wheels:/work", "--ro-bind /work: the jail mounts /work itself"),
])
def test_a_bad_bind_stops_the_worker_naming_it(host, bind, says):
    r = start(host, "--ro-bind", bind.format(t=host))
    assert r.returncode != 0
    assert says.format(t=host) in r.stderr, r.stderr


def test_the_environment_variable_form_is_checked_too(host):
    env = dict(os.environ, BRIG_RO_BINDS=f"{host}/wheels:/opt/wheels,{host}/escape:/opt/x")
    r = subprocess.run([bin_path("brig-worker"), "--brokers", "127.0.0.1:1", "--state-dir",
                        str(host / "state")], capture_output=True, text=True, timeout=60,
                       env=env)
    assert r.returncode != 0
    assert f"BRIG_RO_BINDS: {host}/escape is a symbolic link (to /root)" in r.stderr, r.stderr


def test_a_job_variable_needs_a_name(host):
    r = start(host, "--job-env", "=oops")
    assert r.returncode != 0
    assert "--job-env =oops: expected NAME=VALUE" in r.stderr, r.stderr
