"""The brig command-line client end to end: one real brig-worker started with
no flags (it embeds a Kafka-protocol broker and publishes its address in its
state directory), and `brig` run with no flags either, finding the broker
through BRIG_STATE_DIR and the audit stores through BRIG_DATA_DIR."""
import base64
import json
import os
import pathlib
import pty
import re
import select
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import detach_mounts_under, ROOT, bin_path

# Exit statuses, from brig run --help (brig-jail's plus two of brig's own).
EXIT_TIMEOUT = 124
EXIT_SETUP = 125
EXIT_REJECTED = 117
EXIT_NO_ANSWER = 118
EXIT_USAGE = 2


@pytest.fixture(scope="module")
def brig_env():
    """A running brig-worker and the environment brig needs to find it."""
    # The jails' unprivileged users must be able to reach the state directory,
    # where the worker mounts each jail's root: pytest's own temporary
    # directories are 0700, so this one lives directly under /tmp.
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="brig-cli-"))
    tmp.chmod(0o711)
    state, data = tmp / "state", tmp / "data"
    env = dict(os.environ, BRIG_STATE_DIR=str(state), BRIG_DATA_DIR=str(data),
               BRIG_SESSIONS_DIR=str(tmp / "sessions"))
    for name in ("BRIG_BROKERS", "BRIG_TOPIC_PREFIX", "NO_COLOR"):
        env.pop(name, None)
    log = open(tmp / "worker.log", "wb")
    proc = subprocess.Popen([bin_path("brig-worker")], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 30
    while not (state / "broker").exists():
        assert proc.poll() is None, (tmp / "worker.log").read_text()
        assert time.monotonic() < deadline, "brig-worker did not publish its broker"
        time.sleep(0.1)
    env["BRIG_TEST_TMP"] = str(tmp)
    yield env
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    detach_mounts_under(tmp)
    shutil.rmtree(tmp, ignore_errors=True)


def brig(env, *args, stdin=None, timeout=120, cwd=None):
    return subprocess.run([bin_path("brig"), *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def unique_id(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# ---- brig run ----

def test_run_prints_the_answer_and_exits_as_the_job_did(brig_env):
    r = brig(brig_env, "run", "--lang", "python", "-c", "print(6*7)")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "42\n"
    summary = r.stderr.strip().splitlines()[-1]
    assert summary.startswith("brig: ok · exit 0 · wall "), summary
    assert "\033[" not in r.stderr  # no colour off a terminal

    r = brig(brig_env, "run", "--lang", "python", "-c", "import sys; sys.exit(7)")
    assert r.returncode == 7
    assert "brig: failed · exit 7" in r.stderr


def test_run_over_its_wall_time_exits_with_the_timeout_code(brig_env):
    r = brig(brig_env, "run", "--wall-time", "1s", "--lang", "python", "-c",
             "import time; print('started', flush=True); time.sleep(30)")
    assert r.returncode == EXIT_TIMEOUT, r.stderr
    assert r.stdout == "started\n"
    assert "brig: timeout" in r.stderr


def test_stdin_and_env_reach_the_program(brig_env, tmp_path):
    data = tmp_path / "input.txt"
    data.write_text("from a file\n")
    code = "import os, sys; print(sys.stdin.read().strip(), os.environ['GREETING'])"
    r = brig(brig_env, "run", "--stdin", str(data), "--env", "GREETING=hello", "--lang",
             "python", "-c", code)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "from a file hello\n"

    r = brig(brig_env, "run", "--stdin", "-", "--env", "GREETING=again", "--lang", "python",
             "-c", code, stdin="piped\n")
    assert r.stdout == "piped again\n", r.stderr


def test_code_file_input_files_and_arguments(brig_env, tmp_path):
    script = tmp_path / "show.py"
    script.write_text("import sys; print(open('data/in.txt').read(), sys.argv[1:])\n")
    local = tmp_path / "in.txt"
    local.write_text("file content")
    r = brig(brig_env, "run", "--file", f"{local}:data/in.txt", "--arg", "a", "--lang",
             "python", str(script), "b")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "file content ['a', 'b']\n"


def test_a_directory_given_to_file_is_sent_as_a_tree(brig_env, tmp_path):
    project = tmp_path / "project"
    (project / "pkg" / "sub").mkdir(parents=True)
    (project / "main.py").write_text("from pkg.sub import mod; print(mod.VALUE)\n")
    (project / "pkg" / "__init__.py").write_text("")
    (project / "pkg" / "sub" / "__init__.py").write_text("")
    (project / "pkg" / "sub" / "mod.py").write_text("VALUE = 'from the tree'\n")
    r = brig(brig_env, "run", "-f", str(project), "--lang", "sh", "-c",
             "cd project && find . -type f | sort && python3 main.py")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["./main.py", "./pkg/__init__.py", "./pkg/sub/__init__.py",
                                "./pkg/sub/mod.py", "from", "the", "tree"]
    r = brig(brig_env, "run", "-f", f"{project}/pkg:lib", "--", "/bin/cat", "lib/sub/mod.py")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "VALUE = 'from the tree'\n"

    os.symlink("/etc/passwd", project / "pkg" / "passwd")
    r = brig(brig_env, "run", "-f", str(project), "/bin/true")
    assert r.returncode == EXIT_USAGE
    assert f"{project}/pkg/passwd is a symbolic link" in r.stderr


def test_explicit_argv_job(brig_env):
    r = brig(brig_env, "run", "--", "/bin/sh", "-c", "echo out; echo err >&2; exit 5")
    assert r.returncode == 5, r.stderr
    assert r.stdout == "out\n"
    assert r.stderr.startswith("err\n")


def test_output_is_streamed_while_the_job_runs(brig_env):
    code = "import time; print('first', flush=True); time.sleep(4); print('second')"
    proc = subprocess.Popen([bin_path("brig"), "run", "--lang", "python", "-c", code],
                            env=brig_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    first = proc.stdout.readline()
    first_at = time.monotonic()
    rest, _ = proc.communicate(timeout=120)
    done_at = time.monotonic()
    assert first == "first\n"
    assert rest == "second\n"
    # Had the output come with the result, both lines would arrive together.
    assert done_at - first_at > 2, "the first line arrived only with the result"


def test_json_result_with_binary_output(brig_env):
    r = brig(brig_env, "run", "--json", "--lang", "python", "-c",
             "import sys; sys.stdout.buffer.write(b'\\xff\\x00'); print('text', file=sys.stderr)")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["status"] == "ok"
    assert result["exit_code"] == 0
    assert result["stdout"] == {"base64": base64.b64encode(b"\xff\x00").decode()}
    assert result["stderr"] == "text\n"
    assert result["runtime"]["name"] == "python"
    assert set(result["usage"]) == {"wall_us", "cpu_us", "peak_memory_bytes"}


def test_collected_files_are_saved_locally(brig_env, tmp_path):
    code = "mkdir -p out/sub; echo hi > out/a.txt; printf '\\001\\377' > out/sub/b.bin"
    out = tmp_path / "saved"
    r = brig(brig_env, "run", "--collect", "out/*", "--collect", "out/sub/*", "--out", str(out),
             "--lang", "sh", "-c", code)
    assert r.returncode == 0, r.stderr
    assert (out / "out" / "a.txt").read_text() == "hi\n"
    assert (out / "out" / "sub" / "b.bin").read_bytes() == b"\x01\xff"
    assert f"2 collected files in {out}/" in r.stderr

    # By default under ./brig-out/<job id>/; nothing is written without files.
    job_id = unique_id("collect")
    r = brig(brig_env, "run", "--id", job_id, "--collect", "r.txt", "--lang", "sh", "-c",
             "echo r > r.txt", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "brig-out" / job_id / "r.txt").read_text() == "r\n"
    r = brig(brig_env, "run", "--lang", "sh", "-c", "true", cwd=tmp_path)
    assert sorted(p.name for p in (tmp_path / "brig-out").iterdir()) == [job_id]

    r = brig(brig_env, "run", "--json", "--out", str(tmp_path / "json"), "--collect", "b.bin",
             "--lang", "sh", "-c", "printf '\\377' > b.bin")
    assert json.loads(r.stdout)["files"] == {"b.bin": {"base64": "/w=="}}


def test_unknown_runtime_is_rejected(brig_env):
    r = brig(brig_env, "run", "--lang", "nosuchlang", "-c", "x")
    assert r.returncode == EXIT_REJECTED, r.stderr
    assert "rejected" in r.stderr and "runtime" in r.stderr


def test_summary_colour_on_a_terminal_unless_no_color(brig_env):
    def summary_on_a_tty(env):
        leader, follower = pty.openpty()
        proc = subprocess.Popen([bin_path("brig"), "run", "--lang", "python", "-c", "print(1)"],
                                env=env, stdin=subprocess.DEVNULL, stdout=follower,
                                stderr=follower)
        os.close(follower)
        output = b""
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed
                break
            if not chunk:
                break
            output += chunk
        os.close(leader)
        assert proc.wait(timeout=60) == 0
        return output.decode()

    assert "\033[32mok\033[0m" in summary_on_a_tty(brig_env)
    plain = summary_on_a_tty(dict(brig_env, NO_COLOR="1"))
    assert "brig: ok" in plain and "\033[" not in plain


# ---- limits ----

def test_limit_errors_name_the_flag_in_its_units(brig_env):
    for args, said in [(["--wall-time", "700s"], "--wall-time: 700s is over the maximum of 600s"),
                       (["--wall-time", "10ms"], "--wall-time: 10ms is under the minimum of 100ms"),
                       (["--mem", "8M"], "--mem: 8M is under the minimum of 16M"),
                       (["--output-limit", "9M"], "--output-limit: 9M is over the maximum of 8M"),
                       (["--collect-limit", "5M"], "--collect-limit: 5M is over the maximum of 4M"),
                       (["--cpus", "0"], "--cpus: 0 is under the minimum of 0.01")]:
        r = brig(brig_env, "run", *args, "true")
        assert r.returncode == EXIT_USAGE, r.stderr
        assert said in r.stderr
        assert "limits." not in r.stderr and "_ms" not in r.stderr and "_bytes" not in r.stderr


def test_every_limit_of_the_schema_has_a_flag(brig_env):
    job_id = unique_id("limits")
    r = brig(brig_env, "run", "--id", job_id, "--wall-time", "20s", "--cpu-time", "1.5s",
             "--mem", "128M", "--pids", "32", "--cpus", "0.5", "--output-limit", "2K",
             "--fsize", "1M", "--disk", "16M", "--tmp", "8M", "--collect-limit", "4K",
             "--", "/bin/sh", "-c", "head -c 3000 /dev/zero | tr '\\0' x")
    # 3000 bytes of output over a 2K limit: the job is stopped.
    assert r.returncode == 122, r.stderr
    assert "brig: output_limit" in r.stderr
    job = wait_for_audit(brig_env, job_id)["job"]
    assert job["limits"] == {"wall_ms": 20000, "cpu_ms": 1500, "memory_bytes": 128 << 20,
                             "pids": 32, "cpu_millis": 500, "output_bytes": 2048,
                             "fsize_bytes": 1 << 20, "disk_bytes": 16 << 20,
                             "tmp_bytes": 8 << 20, "collect_bytes": 4096}


def test_files_left_out_of_the_result_are_named(brig_env, tmp_path):
    # Over the default collect budget of 1 MiB: the big file is left out.
    code = "head -c 1200000 /dev/zero > big.bin; echo small > small.txt"
    r = brig(brig_env, "run", "--collect", "*", "--out", str(tmp_path / "a"), "--lang", "sh",
             "-c", code)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a" / "small.txt").read_text() == "small\n"
    assert not (tmp_path / "a" / "big.bin").exists()
    lines = r.stderr.splitlines()
    omitted = [line for line in lines if line.startswith("brig: not collected: ")]
    assert len(omitted) == 1 and omitted[0].startswith("brig: not collected: big.bin: too large")
    assert "--collect-limit" in r.stderr
    assert lines[-1].startswith("brig: ok"), "the summary stays last"
    # A budget that fits it brings it back, and says nothing.
    r = brig(brig_env, "run", "--collect", "*", "--collect-limit", "2M", "--out",
             str(tmp_path / "b"), "--lang", "sh", "-c", code)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "b" / "big.bin").stat().st_size == 1200000
    assert "not collected" not in r.stderr


# ---- submit, wait, batches ----

def test_submit_then_wait(brig_env):
    r = brig(brig_env, "submit", "--lang", "python", "-c", "print('later')")
    assert r.returncode == 0, r.stderr
    job_id = r.stdout.strip()
    assert len(job_id) == 24
    # brig wait reads the results topic from the beginning, so a result that
    # is already there is found.
    r = brig(brig_env, "wait", job_id)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "later\n"
    r = brig(brig_env, "wait", "--json", job_id)
    assert json.loads(r.stdout)["stdout"] == "later\n"


def test_wait_for_a_job_that_never_comes(brig_env):
    started = time.monotonic()
    r = brig(brig_env, "wait", "--timeout", "2s", unique_id("never"))
    assert r.returncode == EXIT_NO_ANSWER
    assert "no result for job" in r.stderr
    assert time.monotonic() - started < 30


def test_submit_batch(brig_env, tmp_path):
    named = unique_id("batch")
    lines = [
        {"runtime": "python", "code": "print('one')"},
        {"id": named, "argv": ["/bin/sh", "-c", "cat data/x.txt; od -An -tx1 blob"],
         "files": {"data/x.txt": "two ", "blob": {"base64": base64.b64encode(b"\x01\xfe").decode()}}},
        {"runtime": "python", "code": "import sys; print(sys.stdin.read())", "stdin": "three"},
    ]
    path = tmp_path / "jobs.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    r = brig(brig_env, "submit", "--batch", str(path))
    assert r.returncode == 0, r.stderr
    ids = r.stdout.split()
    assert len(ids) == 3 and ids[1] == named
    r = brig(brig_env, "wait", "--json", *ids)
    assert r.returncode == 0, r.stderr
    results = [json.loads(line) for line in r.stdout.splitlines()]
    assert [res["id"] for res in results] == ids
    assert results[0]["stdout"] == "one\n"
    assert results[1]["stdout"].split() == ["two", "01", "fe"]
    assert results[2]["stdout"] == "three\n"


def test_submit_batch_with_a_bad_line_submits_nothing(brig_env, tmp_path):
    first = unique_id("never-sent")
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": first, "runtime": "python", "code": "print(1)"}) + "\n" +
                    json.dumps({"runtime": "python", "code": "print(2)",
                                "limits": {"wall_ms": "soon"}}) + "\n")
    r = brig(brig_env, "submit", "--batch", str(path))
    assert r.returncode == EXIT_USAGE
    assert "line 2" in r.stderr and "limits.wall_ms" in r.stderr
    assert "nothing was submitted" in r.stderr
    assert r.stdout == ""
    r = brig(brig_env, "wait", "--timeout", "3s", first)
    assert r.returncode == EXIT_NO_ANSWER, "the good first line was submitted anyway"


# ---- logs ----

def test_logs_and_logs_follow(brig_env):
    code = ("import sys, time\n"
            "print('out one', flush=True); print('err one', file=sys.stderr, flush=True)\n"
            "time.sleep(2)\n"
            "print('out two')")
    r = brig(brig_env, "submit", "--lang", "python", "-c", code)
    assert r.returncode == 0, r.stderr
    job_id = r.stdout.strip()
    # Started while the job runs, -f reads until both streams end.
    r = brig(brig_env, "logs", "-f", job_id, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "out one\nout two\n"
    assert r.stderr == "err one\n"
    # Afterwards, without -f, everything is there from the beginning.
    r = brig(brig_env, "logs", job_id)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "out one\nout two\n"
    r = brig(brig_env, "logs", "--json", job_id)
    chunks = [json.loads(line) for line in r.stdout.splitlines()]
    assert {c["stream"] for c in chunks} == {"stdout", "stderr"}
    assert sum(c["eos"] for c in chunks) == 2


def test_logs_of_a_job_without_streamed_output_end_and_say_why(brig_env):
    r = brig(brig_env, "submit", "--no-logs", "--lang", "python", "-c", "print(1)")
    job_id = r.stdout.strip()
    assert brig(brig_env, "wait", job_id).returncode == 0
    # -f used to wait for chunks that never come.
    for follow in (["-f"], []):
        r = brig(brig_env, "logs", *follow, job_id, timeout=60)
        assert r.returncode == 1, r.stderr
        assert r.stdout == ""
        assert f"job {job_id} was submitted without stream_logs" in r.stderr
        assert f"brig wait {job_id}" in r.stderr


def test_logs_of_an_unknown_job_fail(brig_env):
    missing = unique_id("nobody")
    for follow in ([], ["-f"]):
        r = brig(brig_env, "logs", *follow, missing, timeout=60)
        assert r.returncode == 1, r.stderr
        assert f"no job {missing} on brig.jobs, brig.results or brig.logs" in r.stderr


def test_logs_follow_of_a_rejected_job_ends(brig_env):
    r = brig(brig_env, "submit", "--lang", "nosuchlang", "-c", "x")
    job_id = r.stdout.strip()
    r = brig(brig_env, "logs", "-f", job_id, timeout=60)
    assert r.returncode == 1, r.stderr
    assert f"job {job_id} was rejected and never ran" in r.stderr and "runtime" in r.stderr


# ---- audit ----

def wait_for_audit(env, job_id, timeout=30):
    """The worker commits its audit batch within a fraction of a second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = brig(env, "audit", "show", "--json", job_id)
        if r.returncode == 0:
            record = json.loads(r.stdout)
            if record["attempts"] and record["attempts"][-1]["state"] == "finished":
                return record
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never appeared finished in the audit store")


def test_audit_ls_and_show(brig_env):
    ok_id, slow_id = unique_id("audit-ok"), unique_id("audit-slow")
    assert brig(brig_env, "run", "--id", ok_id, "--lang", "python", "-c",
                "print('audited')").returncode == 0
    assert brig(brig_env, "run", "--id", slow_id, "--wall-time", "500ms", "--", "/bin/sh", "-c",
                "sleep 20").returncode == EXIT_TIMEOUT
    record = wait_for_audit(brig_env, ok_id)
    wait_for_audit(brig_env, slow_id)

    assert record["job"]["code"] == "print('audited')"
    assert record["job"]["runtime"] == "python"
    attempt = record["attempts"][0]
    assert attempt["status"] == "ok" and attempt["exit_code"] == 0
    assert len(attempt["policy_hash"]) == 64
    assert attempt["wall_us"] > 0 and attempt["peak_memory_bytes"] > 0
    assert attempt["result"]["stdout"] == "audited\n"
    assert attempt["result"]["runtime"]["version"].startswith("Python")

    r = brig(brig_env, "audit", "show", ok_id)
    assert r.returncode == 0, r.stderr
    assert f"job {ok_id}" in r.stdout and "attempt 1  finished  ok  exit 0" in r.stdout
    assert "policy" in r.stdout

    listed = json.loads(brig(brig_env, "audit", "ls", "--json", "--limit", "0").stdout)
    ids = [row["job_id"] for row in listed]
    assert ids.index(slow_id) < ids.index(ok_id), "newest first"
    created = [row["created_ms"] for row in listed]
    assert created == sorted(created, reverse=True)

    timeouts = json.loads(brig(brig_env, "audit", "ls", "--json", "--status", "timeout").stdout)
    assert slow_id in [row["job_id"] for row in timeouts]
    assert {row["status"] for row in timeouts} == {"timeout"}
    python = json.loads(brig(brig_env, "audit", "ls", "--json", "--lang", "python").stdout)
    assert ok_id in [row["job_id"] for row in python]
    assert {row["runtime"] for row in python} == {"python"}
    assert len(json.loads(brig(brig_env, "audit", "ls", "--json", "--limit", "1").stdout)) == 1
    recent = json.loads(brig(brig_env, "audit", "ls", "--json", "--since", "10m").stdout)
    assert ok_id in [row["job_id"] for row in recent]

    table = brig(brig_env, "audit", "ls", "--limit", "5")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split()[:4] == ["JOB", "CREATED", "RUNTIME", "STATUS"]

    assert brig(brig_env, "audit", "show", unique_id("missing")).returncode == 1
    bad = brig(brig_env, "audit", "ls", "--status", "fine")
    assert bad.returncode == EXIT_USAGE and "not a status" in bad.stderr
    no_store = brig(brig_env, "audit", "ls", "--audit-db", "/nonexistent/audit.db")
    assert no_store.returncode == EXIT_SETUP


# ---- replay ----

def test_replay_of_a_deterministic_job_reproduces(brig_env):
    job_id = unique_id("det")
    assert brig(brig_env, "run", "--id", job_id, "--lang", "python", "-c",
                "print(sum(range(100)))").returncode == 0
    wait_for_audit(brig_env, job_id)
    r = brig(brig_env, "replay", job_id)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("REPRODUCED")


def test_replay_of_a_random_job_differs(brig_env):
    job_id = unique_id("rand")
    assert brig(brig_env, "run", "--id", job_id, "--lang", "python", "-c",
                "import os; print(os.urandom(16).hex())").returncode == 0
    wait_for_audit(brig_env, job_id)
    r = brig(brig_env, "replay", job_id)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.startswith("DIFFERS")
    assert "stdout: 33 bytes, sha256" in r.stdout

    r = brig(brig_env, "replay", "--json", job_id)
    report = json.loads(r.stdout)
    assert report["verdict"] == "DIFFERS"
    assert [d["field"] for d in report["differences"]] == ["stdout"]
    assert report["replay_result"]["replay_of"] == job_id
    # The replay is recorded with its origin.
    replayed = wait_for_audit(brig_env, report["replay"])
    assert replayed["job"]["replay_of"] == job_id


# ---- sessions ----

def test_session_ls_prints_times_people_read(brig_env):
    session = unique_id("nb")
    try:
        r = brig(brig_env, "run", "--session", session, "--lang", "sh", "-c", "echo kept > f")
        assert r.returncode == 0, r.stderr
        listed = [json.loads(line) for line in
                  brig(brig_env, "session", "ls", "--json").stdout.splitlines()]
        last_used_ms = next(s["last_used_ms"] for s in listed if s["id"] == session)
        table = brig(brig_env, "session", "ls")
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        assert lines[0].split() == ["SESSION", "USED", "QUOTA", "LAST", "USED", "IDLE"]
        row = next(line for line in lines if line.startswith(session + " "))
        local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last_used_ms // 1000))
        assert local in row, row
        assert str(last_used_ms) not in table.stdout
        assert re.search(r"  \d+(s|m\d\ds)$", row), row
    finally:
        brig(brig_env, "session", "rm", session)


# ---- errors and help ----

def test_unreachable_broker_fails_fast_and_clearly(brig_env):
    started = time.monotonic()
    r = brig(brig_env, "run", "--brokers", "127.0.0.1:1", "--lang", "python", "-c", "print(1)",
             timeout=60)
    elapsed = time.monotonic() - started
    assert r.returncode == EXIT_SETUP
    assert "cannot reach the Kafka broker at 127.0.0.1:1" in r.stderr
    assert elapsed < 10, f"took {elapsed:.1f}s"


def test_no_broker_anywhere(brig_env, tmp_path):
    env = dict(brig_env, BRIG_STATE_DIR=str(tmp_path))
    r = brig(env, "submit", "--lang", "python", "-c", "print(1)")
    assert r.returncode == EXIT_SETUP
    assert "no broker given" in r.stderr


@pytest.mark.parametrize("command", ["run", "submit", "wait", "logs", "audit", "replay"])
def test_help_of_each_subcommand(brig_env, command):
    r = brig(brig_env, command, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: brig {command}")


VERSION_LINE = re.compile(r"(?P<program>[a-z-]+) (?P<release>\d+\.\d+\.\d+)"
                          r"(?: \(git [0-9a-f]{12}(?:-dirty)?\))?\n")


def test_every_program_prints_the_same_version():
    """One version, written once in the Makefile, said the same way by each."""
    release = re.search(r"^BRIG_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)[1]
    lines = set()
    for program in ("brig", "brig-jail", "brig-zygote", "brig-worker"):
        r = subprocess.run([bin_path(program), "--version"], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, (program, r.stderr)
        match = VERSION_LINE.fullmatch(r.stdout)
        assert match and match["program"] == program, r.stdout
        assert match["release"] == release
        lines.add(r.stdout[len(program):])
    assert len(lines) == 1, lines


def test_bad_usage(brig_env):
    assert brig(brig_env).returncode == EXIT_USAGE
    r = brig(brig_env, "frobnicate")
    assert r.returncode == EXIT_USAGE and "unknown command" in r.stderr
    r = brig(brig_env, "run", "--mem", "lots", "true")
    assert r.returncode == EXIT_USAGE and '--mem: "lots" is not a size' in r.stderr
    for command in ("run", "wait", "logs", "replay"):
        r = brig(brig_env, command, "--timeout", "soon", "x")
        assert r.returncode == EXIT_USAGE and '--timeout: "soon" is not a duration' in r.stderr
