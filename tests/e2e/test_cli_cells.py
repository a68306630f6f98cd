"""Cells through the brig command line: how brig run and brig wait show a
cell's outputs, images, exception and interpreter, brig session show and
brig replay of a cell. The first tests answer brig wait with results made
here (published on the results topic as a worker would), so that what the
CLI does with each field is checked whatever the worker sends; the others
run cells in a real worker's session interpreters."""
import base64
import json
import pathlib
import re
import struct
import zlib

import sqlite3

import msgpack
import pytest
from confluent_kafka import Producer

from test_cli import brig, brig_env, unique_id, wait_for_audit  # noqa: F401 (brig_env: a fixture)

EXIT_FAILED = 1


def png(width, height):
    """A valid grey PNG of that size."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    rows = b"".join(b"\0" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def decoded_size(path):
    from PIL import Image
    with Image.open(path) as image:
        image.load()
        return image.size


def publish_result(env, result):
    """Publishes result (a dict) on brig.results as the worker that holds
    the embedded broker would."""
    bootstrap = (pathlib.Path(env["BRIG_STATE_DIR"]) / "broker").read_text().split()[0]
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce("brig.results", key=result["id"],
                     value=msgpack.packb({"v": 1, "attempt": 1, **result}, use_bin_type=True))
    assert producer.flush(30) == 0


def cell_result(job_id, **fields):
    return {"id": job_id, "status": "ok", "stdout": b"", "stderr": b"", "session": "crafted",
            "interpreter": {"started": False, "execution_count": 2}, **fields}


# ---- what the CLI does with each field, on results made here ----

def test_wait_shows_outputs_in_order_and_saves_images(brig_env, tmp_path):
    job_id = unique_id("crafted")
    image = png(40, 30)
    publish_result(brig_env, cell_result(job_id, stdout=b"printed\n", outputs=[
        {"kind": "display", "data": {"text/plain": b"<Figure size 40x30>", "image/png": image}},
        {"kind": "display", "data": {"text/html": b"<table></table>",
                                     "text/plain": b"   a\n0  1"}},
        {"kind": "display", "data": {"image/svg+xml": b"<svg/>"}},
        {"kind": "result", "data": {"text/plain": b"42"}},
    ]))
    r = brig(brig_env, "wait", "--timeout", "30s", "--out", str(tmp_path / "out"), job_id,
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "printed\n<Figure size 40x30>\n   a\n0  1\n[output 3: image/svg+xml]\n42\n"
    assert f"output 1 (image/png) saved as {tmp_path}/out/output-1.png" in r.stderr
    assert f"output 3 (image/svg+xml) saved as {tmp_path}/out/output-3.svg" in r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["output-1.png", "output-3.svg"]
    assert decoded_size(tmp_path / "out" / "output-1.png") == (40, 30)
    # a cell that continued its session's interpreter: nothing said about it
    assert "interpreter" not in r.stderr


def test_default_out_dir_and_json(brig_env, tmp_path):
    job_id = unique_id("crafted")
    image = png(2, 2)
    publish_result(brig_env, cell_result(job_id, outputs=[
        {"kind": "display", "data": {"image/png": image, "application/vnd.custom+json": b"{}"}}],
        outputs_truncated=True))
    r = brig(brig_env, "wait", "--timeout", "30s", job_id, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "brig-out" / job_id / "output-1.png").read_bytes() == image
    assert "outputs were left out" in r.stderr

    elsewhere = tmp_path / "json"
    elsewhere.mkdir()
    r = brig(brig_env, "wait", "--timeout", "30s", "--json", job_id, cwd=elsewhere)
    result = json.loads(r.stdout)
    assert result["outputs"] == [{"kind": "display", "data": {
        "image/png": {"base64": base64.b64encode(image).decode()},
        "application/vnd.custom+json": "{}"}}]
    assert result["outputs_truncated"] is True
    assert result["interpreter"] == {"started": False, "execution_count": 2, "state_lost": False}
    # the JSON carries the outputs: no file is written
    assert list(elsewhere.iterdir()) == []


def test_an_exception_prints_as_python_does_and_exits_1(brig_env, tmp_path):
    job_id = unique_id("crafted")
    publish_result(brig_env, cell_result(job_id, status="failed", exception={
        "name": "NameError", "value": "name 'y' is not defined",
        "traceback": ["Traceback (most recent call last):\n",
                      '  File "<cell 2>", line 1, in <module>\n    y\n']},
        interpreter={"started": True, "execution_count": 1, "state_lost": True}))
    r = brig(brig_env, "wait", "--timeout", "30s", job_id, cwd=tmp_path)
    assert r.returncode == EXIT_FAILED, r.stderr
    assert ("Traceback (most recent call last):\n  File \"<cell 2>\", line 1, in <module>\n    y\n"
            "NameError: name 'y' is not defined\n") in r.stderr
    assert "the interpreter ended during this cell" in r.stderr
    # no earlier job of session "crafted" in the audit stores: a first cell
    assert "a new interpreter ran this cell" not in r.stderr


def test_a_hostile_bundle_cannot_choose_where_files_go(brig_env, tmp_path):
    """MIME keys the schema refuses never reach the CLI (the result does not
    decode); one it accepts only ever picks an extension from brig's table,
    and a link planted where an image goes is not followed."""
    job_id = unique_id("crafted")
    out = tmp_path / "out"
    out.mkdir()
    (out / "output-1.png").symlink_to(tmp_path / "elsewhere.png")
    publish_result(brig_env, cell_result(job_id, outputs=[{"kind": "display", "data": {
        "image/png": png(1, 1), "image/png+..": b"x", "x-evil/..": b"x"}}]))
    r = brig(brig_env, "wait", "--timeout", "30s", "--out", str(out), job_id, cwd=tmp_path)
    assert r.returncode != 0
    assert "symbolic link" in r.stderr, r.stderr
    assert not (tmp_path / "elsewhere.png").exists()
    assert sorted(p.name for p in out.iterdir()) == ["output-1.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def copy_as_cells(env, job_ids, copy):
    """A copy of the worker's audit store in which the final results of
    job_ids (in their session's order) read as cells of one interpreter."""
    (store,) = pathlib.Path(env["BRIG_DATA_DIR"]).glob("audit-*.db")
    source = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    for number, job_id in enumerate(job_ids, 1):
        (row_id, raw), = target.execute(
            "SELECT id, result FROM attempts WHERE job_id = ? AND state = 'finished'", (job_id,))
        result = msgpack.unpackb(raw, raw=False)
        result["interpreter"] = {"started": number == 1, "execution_count": number}
        target.execute("UPDATE attempts SET result = ? WHERE id = ?",
                       (msgpack.packb(result, use_bin_type=True), row_id))
    target.commit()
    target.close()


def test_replay_of_a_cell_runs_its_session_again_in_order(brig_env, tmp_path):
    """Each job builds on the one before (a file, as a cell would build on a
    variable): the cell reproduces only when the session's jobs before it
    ran first, in order, in a session of their own."""
    session = unique_id("replayed")
    codes = ["open('f', 'w').write('4')", "open('f', 'a').write('1')", "print(open('f').read())"]
    ids = [unique_id("step") for _ in codes]
    for job_id, code in zip(ids, codes):
        r = brig(brig_env, "run", "--session", session, "--id", job_id, "--lang", "python",
                 "-c", code)
        assert r.returncode == 0, r.stderr
    assert r.stdout == "41\n"
    for job_id in ids:
        wait_for_audit(brig_env, job_id)
    copy_as_cells(brig_env, ids, tmp_path / "cells.db")

    r = brig(brig_env, "replay", "--audit-db", str(tmp_path / "cells.db"), "--json", ids[2])
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["verdict"] == "REPRODUCED", report["differences"]
    replayed = report["session_replay"]
    assert replayed["original_session"] == session
    assert replayed["session"].startswith("replay-") and replayed["session"] != session
    assert [j["original"] for j in replayed["jobs"]] == ids
    assert [j["replay_status"] for j in replayed["jobs"]] == ["ok"] * 3
    assert replayed["incomplete"] is False

    # the worker recorded the new session's jobs in the same order, each a
    # replay of its original
    for job in replayed["jobs"]:
        wait_for_audit(brig_env, job["replay"])
    r = brig(brig_env, "session", "show", "--json", replayed["session"])
    assert r.returncode == 0, r.stderr
    shown = [json.loads(line) for line in r.stdout.splitlines()]
    assert [j["job_id"] for j in shown] == [j["replay"] for j in replayed["jobs"]]
    assert [j["code"] for j in shown] == codes

    # the text report names the session replayed
    r = brig(brig_env, "replay", "--audit-db", str(tmp_path / "cells.db"), ids[2])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith(f"REPRODUCED  job {ids[2]} replayed as ")
    assert f"session {session} replayed as replay-" in r.stdout
    assert "3 jobs, the cell last" in r.stdout


def test_replay_of_a_cell_that_depends_on_time_differs(brig_env, tmp_path):
    """The session replays in order, and the cell's stdout, which holds the
    first job's clock, is named as what differs."""
    session = unique_id("clock")
    codes = ["import time; open('t', 'w').write(str(time.time_ns()))", "print(open('t').read())"]
    ids = [unique_id("step") for _ in codes]
    for job_id, code in zip(ids, codes):
        r = brig(brig_env, "run", "--session", session, "--id", job_id, "--lang", "python",
                 "-c", code)
        assert r.returncode == 0, r.stderr
    for job_id in ids:
        wait_for_audit(brig_env, job_id)
    copy_as_cells(brig_env, ids, tmp_path / "cells.db")

    r = brig(brig_env, "replay", "--audit-db", str(tmp_path / "cells.db"), ids[1])
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.startswith(f"DIFFERS  job {ids[1]} replayed as ")
    assert "2 jobs, the cell last" in r.stdout
    assert "\n  stdout: 20 bytes, sha256 " in r.stdout, r.stdout
    r = brig(brig_env, "replay", "--json", "--audit-db", str(tmp_path / "cells.db"), ids[1])
    report = json.loads(r.stdout)
    assert [d["field"] for d in report["differences"]] == ["stdout"], report

    # the store's copy lists the jobs as the cells they were made, in order
    r = brig(brig_env, "session", "show", "--audit-db", str(tmp_path / "cells.db"), session)
    assert r.returncode == 0, r.stderr
    headings = [line.split()[:3] for line in r.stdout.splitlines() if line.startswith("cell")]
    assert headings == [["cell", "[1]", ids[0]], ["cell", "[2]", ids[1]]], r.stdout
    assert "new interpreter" in r.stdout.splitlines()[1]


# ---- cells in a real worker's session interpreters ----

@pytest.fixture(scope="module")
def cells(brig_env):
    """brig_env, when its worker runs a session's python jobs as cells."""
    r = brig(brig_env, "run", "--json", "--session", unique_id("probe"), "--lang", "python",
             "-c", "1")
    assert r.returncode == 0, r.stderr
    if "interpreter" not in json.loads(r.stdout):
        pytest.skip("this worker runs no cells yet (they come with branch interp)")
    return brig_env


def run_cell(env, session, code, *args, cwd=None):
    return brig(env, "run", "--session", session, "--lang", "python", *args, "-c", code, cwd=cwd)


def test_a_cell_sees_the_variables_of_the_one_before(cells, tmp_path):
    session = unique_id("nb")
    r = run_cell(cells, session, "x = 41")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    r = run_cell(cells, session, "x + 1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "42\n"
    assert "interpreter" not in r.stderr


def test_a_figure_lands_as_a_png_and_a_dataframe_prints(cells, tmp_path):
    session = unique_id("nb")
    r = run_cell(cells, session, "import matplotlib.pyplot as plt\n"
                 "plt.figure(figsize=(4, 3))\nplt.plot([1, 3, 2])",
                 "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    (saved,) = re.findall(r"\(image/png\) saved as (\S+)\n", r.stderr)
    assert pathlib.Path(saved).parent == tmp_path / "out"
    assert re.fullmatch(r"output-\d+\.png", pathlib.Path(saved).name)
    # the inline backend crops the figure to what it draws
    width, height = decoded_size(saved)
    assert 100 < width and 100 < height, (width, height)

    r = run_cell(cells, session, "import pandas as pd\npd.DataFrame({'a': [1, 2]})",
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "   a\n0  1\n1  2\n"
    # its HTML has the text/plain beside it: nothing saved
    assert not (tmp_path / "brig-out").exists()


def test_an_exception_in_a_cell_prints_its_name_and_value_and_exits_1(cells):
    r = run_cell(cells, unique_id("nb"), "1 / 0")
    assert r.returncode == EXIT_FAILED, r.stderr
    assert "ZeroDivisionError: division by zero\n" in r.stderr


def test_session_show_and_replay_of_real_cells(cells):
    session = unique_id("nb")
    codes = ["x = 41", "x + 1", "import random\nrandom.random()"]
    ids = [unique_id("cell") for _ in codes]
    for job_id, code in zip(ids, codes):
        r = brig(cells, "run", "--session", session, "--id", job_id, "--lang", "python",
                 "-c", code)
        assert r.returncode == 0, r.stderr
    for job_id in ids:
        wait_for_audit(cells, job_id)

    r = brig(cells, "session", "show", session)
    assert r.returncode == 0, r.stderr
    headings = [line.split()[:3] for line in r.stdout.splitlines() if line.startswith("cell")]
    assert headings == [["cell", f"[{n}]", job_id] for n, job_id in enumerate(ids, 1)], r.stdout
    assert "output 1 (result): text/plain 2 B" in r.stdout

    r = brig(cells, "replay", ids[1])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith(f"REPRODUCED  job {ids[1]} replayed as ")

    r = brig(cells, "replay", ids[2])
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.startswith(f"DIFFERS  job {ids[2]} replayed as ")
    assert '\n  outputs[1]["text/plain"]: ' in r.stdout, r.stdout
