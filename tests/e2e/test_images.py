"""Runtimes on root images through brig-worker: images made here from a few
host files (tests/e2e/images.py), as a docker save tarball, an OCI layout
and a directory tree; jobs that see the image's files and not the host's;
the image's digest in the audit store, in `brig audit show` and in the
policy hash; the digest in the runtimes record the worker announces (brig
runtimes, the Python client); a replay that says what it ran on, and that
notices the image changed; and workers that refuse to start on a bad image path, a missing
interpreter or a hostile tarball, naming the runtime and the path. The
hostile tarballs themselves are tests/unit/test_image_unpack.c's."""
import hashlib
import io
import json
import pathlib
import re
import subprocess
import sys
import tarfile

import pytest

import images
from conftest import ROOT, bin_path
from harness import Worker, job, wait_for

sys.path.insert(0, str(ROOT / "producer" / "python"))
import brig as brig_client  # noqa: E402

SCRIPT = r"""
while IFS= read -r l; do echo "$l"; done < /etc/os-release
while IFS= read -r l; do echo "marker: $l"; done < /etc/new-marker
[ -e /etc/old-marker ] && echo "old marker seen" || echo "old marker gone"
[ -e /usr/bin/python3 ] && echo "host python seen" || echo "no host python"
echo /usr/bin/* /opt/data/*
for p in /usr/written /etc/os-release /etc/new /opt/data/c /bin/new /lib/new; do
    (echo x > $p) 2>/dev/null && echo "wrote $p"
done
echo "the image is read-only"
while IFS= read -r l; do case $l in jail:*) echo "the jail's passwd";; esac; done < /etc/passwd
"""

EXPECTED = (b'PRETTY_NAME="brig test image"\nID=brigtest\nmarker: upper layer\n'
            b"old marker gone\nno host python\n/usr/bin/dash /usr/bin/sh /opt/data/c\n"
            b"the image is read-only\nthe jail's passwd\n")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The test image in each format, and a cache of unpacked images that
    jails can reach."""
    tmp = tmp_path_factory.mktemp("images")
    path = tmp
    while path != path.parent:
        path.chmod(path.stat().st_mode | 0o711)
        path = path.parent
    return {"docker": images.write_docker_save(tmp / "docker.tar"),
            "oci": images.write_oci_dir(tmp / "oci"),
            "oci-tar": images.write_oci_tar(tmp / "oci.tar"),
            "tree": images.write_tree(tmp / "tree"),
            "cache": tmp / "cache", "dir": tmp}


def image_runtime(name, image, run=("sh", "main.sh")):
    return {"name": name, "source": "main.sh", "run": list(run),
            "version": ["sh", "-c", "echo image-sh 1"], "image": str(image)}


def table_with(tmp_path, *runtimes):
    table = json.loads((ROOT / "sandbox" / "runtimes.json").read_text())
    table["runtimes"].extend(runtimes)
    path = tmp_path / "runtimes.json"
    path.write_text(json.dumps(table))
    return path


def start(tmp_path, broker, built, name, *runtimes):
    table = table_with(tmp_path, *runtimes)
    return Worker(tmp_path, broker.bootstrap, name,
                  extra=["--runtimes", str(table), "--images-dir", str(built["cache"])])


def image_digest(built, source):
    """What brig-image says the image's digest is (from the cache, by now)."""
    out = subprocess.run([bin_path("brig-image"), "unpack", "--images-dir", str(built["cache"]),
                          str(source)], capture_output=True, text=True, check=True).stdout
    return re.search(r"^digest: (sha256:[0-9a-f]{64})$", out, re.M).group(1)


def brig(broker, *args):
    return subprocess.run([bin_path("brig"), *args], capture_output=True, text=True,
                          timeout=180, env={"PATH": "/usr/bin:/bin", "BRIG_BROKERS":
                                            broker.bootstrap})


def test_jobs_run_on_the_image_in_each_format(tmp_path, broker, client, built):
    runtimes = [image_runtime("img-docker", built["docker"]),
                image_runtime("img-oci", built["oci"]),
                image_runtime("img-oci-tar", built["oci-tar"])]
    worker = start(tmp_path, broker, built, "formats", *runtimes)
    try:
        jobs = [job(SCRIPT, runtime=r["name"]) for r in runtimes]
        host = job("[ -e /usr/bin/python3 ] && echo host python", runtime="sh")
        for message in jobs + [host]:
            client.submit(message)
        results = client.wait([m["id"] for m in jobs + [host]])
        for message in jobs:
            result = results[message["id"]][-1]
            assert result["status"] == "ok", result
            assert result["stdout"] == EXPECTED, result["stdout"]
            assert result["runtime"]["version"] == "image-sh 1"
        assert results[host["id"]][-1]["stdout"] == b"host python\n"
        digest = image_digest(built, built["docker"])
        assert image_digest(built, built["oci"]) == digest
        log = worker.log()
        assert f"runtime img-docker: image {built['docker']}, {digest}" in log
    finally:
        assert worker.stop() == 0


def test_a_tree_is_an_image_too(tmp_path, broker, client, built):
    worker = start(tmp_path, broker, built, "tree", image_runtime("img-tree", built["tree"]))
    try:
        message = job("echo /etc/*; while IFS= read -r l; do echo $l; done < /etc/old-marker",
                      runtime="img-tree")
        client.submit(message)
        result = client.wait([message["id"]])[message["id"]][-1]
        assert result["status"] == "ok", result
        # One layer: no whiteouts, and the jail's generated files in /etc.
        assert result["stdout"] == (b"/etc/group /etc/hostname /etc/hosts /etc/image-marker "
                                    b"/etc/nsswitch.conf /etc/old-marker /etc/os-release "
                                    b"/etc/passwd\nlower layer\n")
    finally:
        assert worker.stop() == 0


def test_digest_recorded_shown_and_replayed(tmp_path, broker, client, built):
    worker = start(tmp_path, broker, built, "audit", image_runtime("img", built["docker"]))
    try:
        on_image = job(SCRIPT, runtime="img")
        on_host = job("echo host", runtime="sh")
        client.submit(on_image)
        client.submit(on_host)
        client.wait([on_image["id"], on_host["id"]])
        digest = image_digest(built, built["docker"])
        with worker.audit() as db:
            rows = {r["job_id"]: r for r in db.execute(
                "SELECT job_id, image_digest, policy_hash FROM attempts")}
        assert rows[on_image["id"]]["image_digest"] == digest
        assert rows[on_host["id"]]["image_digest"] is None
        image_policy = rows[on_image["id"]]["policy_hash"]
        assert re.fullmatch(r"[0-9a-f]{64}", image_policy)
        assert image_policy != rows[on_host["id"]]["policy_hash"]
        assert f"jail policy {image_policy[:16]}" in worker.log()

        shown = brig(broker, "audit", "show", "--audit-db", worker.audit_db, on_image["id"])
        assert shown.returncode == 0, shown.stderr
        assert f"  image      {digest}\n" in shown.stdout
        shown = brig(broker, "audit", "show", "--json", "--audit-db", worker.audit_db,
                     on_host["id"])
        assert "image_digest" not in json.loads(shown.stdout)["attempts"][0]

        replay = brig(broker, "replay", "--audit-db", worker.audit_db, on_image["id"])
        assert replay.returncode == 0, replay.stdout + replay.stderr
        assert "REPRODUCED" in replay.stdout
        assert f"  environment: {digest}, policy {image_policy[:16]} (the same)" in replay.stdout
    finally:
        assert worker.stop() == 0

    # The operator changes the image: the next worker unpacks the new one,
    # and a replay of the old job says what changed.
    changed = images.write_docker_save(
        built["dir"] / "docker.tar",
        extra=[("etc/os-release", "file", b'PRETTY_NAME="brig test image 2"\n', 0o644)])
    worker = start(tmp_path, broker, built, "audit", image_runtime("img", changed))
    try:
        new_digest = image_digest(built, changed)
        assert new_digest != digest
        replay = brig(broker, "replay", "--json", "--audit-db", worker.audit_db,
                      on_image["id"])
        report = json.loads(replay.stdout)
        assert report["verdict"] == "DIFFERS"
        assert report["original_environment"]["image_digest"] == digest
        assert report["replay_environment"]["image_digest"] == new_digest
        replay = brig(broker, "replay", "--audit-db", worker.audit_db, on_image["id"])
        assert f"  note: the image changed: {digest} -> {new_digest}\n" in replay.stdout
    finally:
        assert worker.stop() == 0


def test_the_pool_lists_an_image_runtime_with_its_digest(tmp_path, broker, built):
    worker = start(tmp_path, broker, built, "announcer", image_runtime("img", built["docker"]))
    try:
        digest = image_digest(built, built["docker"])

        def announced():
            r = brig(broker, "runtimes", "--json")
            records = [json.loads(line) for line in r.stdout.splitlines()]
            return [w for w in records if w["worker_id"] == "announcer"]
        wait_for(announced, what="the worker's runtimes record")
        record = announced()[0]
        entries = {rt["name"]: rt for rt in record["runtimes"]}
        assert entries["img"]["image"] == digest
        assert entries["img"]["version"] == "image-sh 1"
        assert entries["sh"]["image"] is None

        rows = brig(broker, "runtimes").stdout.splitlines()
        assert [digest in row for row in rows if row.startswith("img ")] == [True]
        with brig_client.Client(broker.bootstrap) as pool_client:
            pool = {w.worker_id: w for w in pool_client.runtimes()}
        runtimes = {rt.name: rt for rt in pool["announcer"].runtimes}
        assert runtimes["img"].image == digest
        assert runtimes["sh"].image is None
    finally:
        assert worker.stop() == 0


def refused(tmp_path, broker, built, *runtimes):
    """The worker's log, once it has refused to start."""
    worker = start(tmp_path, broker, built, "refused", *runtimes)
    try:
        status = worker.proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        worker.stop()
        raise AssertionError("the worker started:\n" + worker.log())
    assert status != 0
    return worker.log().replace('\\"', '"')  # as the text log quotes them


def test_worker_refuses_an_image_without_the_interpreter(tmp_path, broker, built):
    log = refused(tmp_path, broker, built,
                  image_runtime("img-python", built["docker"], run=("python3", "main.sh")))
    assert (f"runtime img-python: its run command cannot start on the image {built['docker']}: "
            "python3 is not an executable file of the image's PATH") in log


def test_worker_refuses_a_bad_image_path(tmp_path, broker, built):
    log = refused(tmp_path, broker, built, image_runtime("img-rel", "images/docker.tar"))
    assert re.search(r'runtimes\[\d+\] \("img-rel"\): image: "images/docker.tar" must be an '
                     r'absolute path', log), log
    missing = built["dir"] / "no-such.tar"
    log = refused(tmp_path, broker, built, image_runtime("img-gone", missing))
    assert f"runtime img-gone: image {missing}: {missing}: No such file or directory" in log


def test_worker_refuses_a_hostile_tarball(tmp_path, broker, built):
    hostile = built["dir"] / "hostile.tar"
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        info = tarfile.TarInfo("../../../etc/brig-escaped")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    layer = evil.getvalue()
    files = {"manifest.json": json.dumps([{"Config": "c.json", "Layers": ["l/layer.tar"]}]),
             "c.json": json.dumps({"rootfs": {"diff_ids": [
                 "sha256:" + hashlib.sha256(layer).hexdigest()]}}),
             "l/layer.tar": layer}
    with tarfile.open(hostile, "w") as tar:
        for name, data in files.items():
            data = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    log = refused(tmp_path, broker, built, image_runtime("img-evil", hostile))
    assert (f"runtime img-evil: image {hostile}: layer 1 of 1 (sha256:"
            in log), log
    assert 'entry "../../../etc/brig-escaped": has a ".." component' in log
    assert not pathlib.Path("/etc/brig-escaped").exists()
