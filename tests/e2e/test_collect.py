"""Collecting files from a job's workspace, end to end: each job plants an
attack on the collector in its own /work (symlinks out of it, hard links,
FIFOs, huge sparse files, thousands of files, names no result may carry) and
asks for it back; the worker, running as root on the host, must answer with
what is safe and say why it left out the rest."""
import hashlib
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import pytest

from conftest import detach_mounts_under
from harness import Broker, Client, Worker, job

ANSWER_S = 300

# Defines make_png(width, height): an RGB gradient as a PNG, in pure Python.
# The job runs it to write the image and the test runs it to know the bytes.
PNG_SOURCE = '''
import struct, zlib

def make_png(width, height):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    rows = b"".join(
        b"\\x00" + bytes((x * 7 + y * 3) % 256 for x in range(width * 3))
        for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))
'''

JOBS = {
    "basic": job("mkdir -p out/sub && echo hi > out/a.txt && printf x > out/b.bin && "
                 "echo deeper > out/sub/c.txt && ln -s /etc/passwd out/p",
                 collect=["out/*"]),
    "png": job(PNG_SOURCE + "import os\nos.makedirs('out')\n"
               "open('out/image.png', 'wb').write(make_png(64, 48))\n",
               runtime="python", collect=["out/*.png"]),
    "symlink_chain": job("ln -s b a && ln -s /etc/shadow b", collect=["*"]),
    "symlinked_dir": job("ln -s /etc dir", collect=["dir/*", "dir/passwd"]),
    "hard_link": job("echo x > f && ln f g", collect=["*"]),
    "fifo": job("mkdir out && mkfifo out/fifo && echo after > out/z.txt", collect=["out/*"]),
    "dev_zero": job("ln -s /dev/zero zero", collect=["zero"]),
    # fsize_bytes caps how large a file the job may make, sparse or not.
    "sparse": job("truncate -s 1G big && echo small > small", collect=["*"],
                  limits={"fsize_bytes": 1 << 30}),
    "many": job("import os\nos.mkdir('many')\n"
                "for i in range(5000):\n    open(f'many/f{i:04d}', 'w').write('x')\n",
                runtime="python", collect=["many/*"]),
    "some_over": job("import os\nos.mkdir('many')\n"
                     "for i in range(300):\n    open(f'many/f{i:04d}', 'w').write('x')\n",
                     runtime="python", collect=["many/*"]),
    "names": job("mkdir out && echo 1 > \"out/$(printf 'new\\nline')\" && "
                 "echo 2 > \"out/$(printf 'bad\\377')\" && echo 3 > out/café.txt",
                 collect=["out/*"]),
    "deep": job("p=.; i=0; while [ $i -lt 40 ]; do p=$p/d; mkdir $p; echo x > $p/f; "
                "i=$((i + 1)); done", collect=["**/f"]),
    "budget_exact": job("printf '%600s' '' > a && printf '%424s' '' > b", collect=["*"],
                        limits={"collect_bytes": 1024}),
    "budget_over": job("printf '%600s' '' > a && printf '%425s' '' > b && "
                       "printf '%424s' '' > c", collect=["*"],
                       limits={"collect_bytes": 1024}),
    "nothing": job("echo x > a.txt", collect=["*.none", "missing/*"]),
}


@pytest.fixture(scope="module")
def answers():
    """Runs every job of JOBS on one worker; {name: result}, and the worker."""
    # Not under pytest's tmp_path (0700): the jails must reach the state directory.
    tmp = Path(tempfile.mkdtemp(prefix="brig-e2e-collect-", dir="/tmp"))
    tmp.chmod(0o711)
    broker = Broker()
    worker = Worker(tmp, broker.bootstrap, "collect", concurrency=2)
    client = Client(broker.bootstrap)
    try:
        probe = client.submit(job("echo probe > probe.txt", collect=["probe.txt"]))
        client.flush()
        result = client.wait([probe], timeout=ANSWER_S)[probe][0]
        assert result["status"] == "ok", f"{result}\n{worker.log()}"
        assert result.get("files") == {"probe.txt": b"probe\n"}, result
        ids = {name: client.submit(message) for name, message in JOBS.items()}
        client.flush()
        results = client.wait(ids.values(), timeout=ANSWER_S)
        yield {name: results[i][0] for name, i in ids.items()}, worker
    finally:
        client.close()
        worker.stop()
        broker.stop()
        detach_mounts_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def answer(answers, name):
    """The job's result, which must have run to the end."""
    results, worker = answers
    result = results[name]
    assert result["status"] == "ok", f"{name}: {result}\n{worker.log()}"
    return result


def omitted(result):
    return {entry["path"]: entry["reason"] for entry in result.get("files_omitted", [])}


def test_regular_files_come_back_and_a_symlink_is_reported(answers):
    result = answer(answers, "basic")
    assert result["files"] == {"out/a.txt": b"hi\n", "out/b.bin": b"x"}
    assert list(result["files"]) == ["out/a.txt", "out/b.bin"]
    assert omitted(result) == {"out/p": "symlink: never followed"}


def test_png_comes_back_byte_identical(answers):
    result = answer(answers, "png")
    namespace = {}
    exec(PNG_SOURCE, namespace)  # our own constant, the same code the job ran
    expected = namespace["make_png"](64, 48)
    data = result["files"]["out/image.png"]
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(expected).hexdigest()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (64, 48)
    idat_len = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    assert len(zlib.decompress(data[41:41 + idat_len])) == 48 * (1 + 64 * 3)
    assert "files_omitted" not in result


def test_symlink_chain_is_not_followed(answers):
    result = answer(answers, "symlink_chain")
    assert result.get("files", {}) == {}
    assert omitted(result) == {"a": "symlink: never followed", "b": "symlink: never followed"}


def test_symlinked_directory_is_not_entered(answers):
    result = answer(answers, "symlinked_dir")
    assert result.get("files", {}) == {}
    assert omitted(result) == {"dir": "symlink: never followed"}


def test_hard_links_are_refused(answers):
    result = answer(answers, "hard_link")
    assert result.get("files", {}) == {}
    reasons = omitted(result)
    assert sorted(reasons) == ["f", "g"]
    assert reasons["f"] == "multiple links: the file has 2 hard links"


def test_fifo_is_refused_without_blocking(answers):
    result = answer(answers, "fifo")
    assert result["files"] == {"out/z.txt": b"after\n"}
    assert omitted(result) == {"out/fifo": "not a regular file: a FIFO"}


def test_symlink_to_dev_zero_is_not_read(answers):
    result = answer(answers, "dev_zero")
    assert result.get("files", {}) == {}
    assert omitted(result) == {"zero": "symlink: never followed"}


def test_huge_sparse_file_is_refused_by_its_size(answers):
    result = answer(answers, "sparse")
    assert result["files"] == {"small": b"small\n"}
    over = (1 << 30) - (1 << 20)
    assert omitted(result) == {
        "big": f"too large: {over} bytes over the collect_bytes budget of {1 << 20}"}


TOO_MANY = "too many files: a result returns at most 256"


def test_each_file_past_the_256th_is_listed(answers):
    result = answer(answers, "some_over")
    assert sorted(result["files"]) == [f"many/f{i:04d}" for i in range(256)]
    assert result["files_omitted"] == [{"path": f"many/f{i:04d}", "reason": TOO_MANY}
                                       for i in range(256, 300)]
    assert "files_omitted_truncated" not in result


def test_a_list_cut_at_256_entries_says_so(answers):
    result = answer(answers, "many")
    assert sorted(result["files"]) == [f"many/f{i:04d}" for i in range(256)]
    assert result["files_omitted"] == [{"path": f"many/f{i:04d}", "reason": TOO_MANY}
                                       for i in range(256, 512)]
    assert result["files_omitted_truncated"] is True


def test_names_no_result_can_carry_are_escaped(answers):
    result = answer(answers, "names")
    assert result["files"] == {"out/café.txt": b"3\n"}
    reasons = omitted(result)
    assert set(reasons) == {"out/new\\x0aline", "out/bad\\xff"}
    assert reasons["out/new\\x0aline"].startswith("path holds control characters")
    assert reasons["out/bad\\xff"].startswith("path is not valid UTF-8")


def test_deep_nesting_stops_at_32_levels(answers):
    result = answer(answers, "deep")
    assert len(result["files"]) == 32
    assert "/".join(["d"] * 32) + "/f" in result["files"]
    too_deep = "/".join(["d"] * 33)
    assert omitted(result) == {
        too_deep: "not searched: directories deeper than 32 levels are not"}


def test_budget_exactly_at_the_limit(answers):
    result = answer(answers, "budget_exact")
    assert result["files"] == {"a": b" " * 600, "b": b" " * 424}
    assert "files_omitted" not in result


def test_budget_one_byte_over(answers):
    result = answer(answers, "budget_over")
    assert result["files"] == {"a": b" " * 600, "c": b" " * 424}
    assert omitted(result) == {"b": "too large: 1 bytes over the collect_bytes budget of 1024"}


def test_patterns_that_match_nothing_return_nothing(answers):
    result = answer(answers, "nothing")
    assert "files" not in result
    assert "files_omitted" not in result
