"""Shared fixtures for the end-to-end tests: where the built programs are."""
import contextlib
import fcntl
import os
import pathlib
import subprocess

import pytest

# Real-Kafka fixtures and the `kafka` marker.
pytest_plugins = ("kafka_cluster",)

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("BRIG_BUILD", ROOT / "build"))


def bin_path(name):
    """A program from build/bin (brig, brig-worker, brig-jail)."""
    path = BUILD / "bin" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run make first")
    return str(path)


def helper_path(name):
    """A test helper or attack program from build/helpers."""
    path = BUILD / "helpers" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run make e2e, which builds it")
    return str(path)


@contextlib.contextmanager
def build_lock(name):
    """Held while one pytest prepares what tests share under BUILD or in the
    tree (a venv, node_modules): make test runs two pytests side by side, and
    the second waits, then finds it made."""
    BUILD.mkdir(parents=True, exist_ok=True)
    with open(BUILD / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
def broker(request):
    """A test broker (the worker's mock Kafka cluster) with 6 partitions a
    topic, or the test module's BROKER_PARTITIONS; without its gate for a
    test marked deleting_broker (harness.Broker)."""
    from harness import Broker
    b = Broker(partitions=getattr(request.module, "BROKER_PARTITIONS", 6),
               gated=request.node.get_closest_marker("deleting_broker") is None)
    yield b
    b.stop()


@pytest.fixture
def client(broker):
    """A Kafka client of broker that submits jobs and gathers every answer."""
    from harness import Client
    c = Client(broker.bootstrap)
    yield c
    c.close()


@pytest.fixture
def workers(tmp_path, broker):
    """Starts brig-worker processes on broker: workers(name, **Worker kwargs);
    each is stopped at the end."""
    from harness import Worker
    started = []

    def start(name, **kwargs):
        w = Worker(tmp_path, broker.bootstrap, name, **kwargs)
        started.append(w)
        return w

    yield start
    for w in started:
        try:
            w.stop()
        except AssertionError:
            pass


@pytest.fixture
def root_dir():
    return ROOT


@pytest.fixture(autouse=True)
def reachable_tmp_path(tmp_path):
    """Jails reach their state directory as an unprivileged host uid, so the
    temporary directories tests put it in must be searchable by others
    (pytest makes them 0700)."""
    path = tmp_path
    while path != path.parent and path.stat().st_mode & 0o001 == 0:
        path.chmod(path.stat().st_mode | 0o711)
        path = path.parent
    yield tmp_path
    detach_mounts_under(tmp_path)


def detach_mounts_under(path):
    """Detaches what is mounted under path: the session workspaces a worker
    leaves by design (sessions outlive it) and the mounts of a worker killed
    with SIGKILL (its successor sweeps only its own), so that the directory
    can be removed and the host keeps no test's tmpfs."""
    with open("/proc/self/mountinfo") as mounts:
        points = [line.split()[4] for line in mounts]
    for point in sorted(points, reverse=True):
        if point.startswith(str(path) + "/"):
            subprocess.run(["umount", "-l", point], capture_output=True)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "deleting_broker: the broker fixture runs without its gate, so that it "
        "deletes jobs nobody read past its 5 MiB a partition")
