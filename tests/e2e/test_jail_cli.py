"""brig-jail from a shell: options, pass-through, the JSON record, the exit
status of every outcome, binds, workdir, stdin and environment."""
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import ROOT, bin_path

# Generous: a loaded 2-core machine must never make these fail.
TIMEOUT = 180


def jail(*args, stdin=None, env=None, json_path=None):
    """Runs brig-jail with args; returns the CompletedProcess and, when
    json_path is given, the parsed --json record."""
    argv = [bin_path("brig-jail")]
    if json_path is not None:
        argv += ["--json", str(json_path)]
    argv += [str(a) for a in args]
    run_env = {"PATH": os.environ["PATH"], "BRIG_RUNTIMES": str(ROOT / "sandbox" / "runtimes.json")}
    run_env.update(env or {})
    proc = subprocess.run(argv, input=stdin, capture_output=True, env=run_env, timeout=TIMEOUT)
    record = None
    if json_path is not None and json_path.exists():
        record = json.loads(json_path.read_text())
    return proc, record


def summary(proc):
    """The summary line brig-jail prints last on stderr."""
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    assert lines, "no summary line on stderr"
    assert lines[-1].startswith("brig-jail: "), proc.stderr
    return lines[-1]


def test_help_documents_every_option_and_exit_status():
    proc, _ = jail("--help")
    assert proc.returncode == 0
    text = proc.stdout.decode()
    for option in ["--mem", "--cpu-time", "--wall-time", "--pids", "--output-limit", "--fsize",
                   "--nofile", "--stack", "--disk", "--tmp", "--cpus", "--ro-bind", "--bind",
                   "--workdir", "--env", "--stdin", "--json", "--runtimes", "--lang", "--code",
                   "--quiet", "--help", "--version"]:
        assert option + " " in text, option
    for status in ["compile_error", "cpu_timeout", "oom", "output_limit", "seccomp", "timeout",
                   "setup_error"]:
        assert status in text
    assert "BRIG_RUNTIMES" in text
    assert jail("-h")[0].stdout == proc.stdout


def test_version():
    proc, _ = jail("--version")
    assert proc.returncode == 0
    assert re.fullmatch(rb"brig-jail \d+\.\d+\.\d+( \(git [0-9a-f]{12}(-dirty)?\))?\n", proc.stdout)


@pytest.mark.parametrize("args, named", [
    (["--mem", "64X", "true"], "--mem: \"64X\" is not a size"),
    (["--mem", "0", "true"], "--mem: must be greater than 0"),
    (["--memory", "1G", "true"], "--memory: unknown option"),
    (["-x", "true"], "-x: unknown option"),
    (["--wall-time", "soon", "true"], "--wall-time: \"soon\" is not a duration"),
    (["--cpu-time=1.2345s", "true"], "--cpu-time: \"1.2345s\" is not a duration"),
    (["--pids", "1.5", "true"], "--pids: \"1.5\" is not a count"),
    (["--cpus", "half", "true"], "--cpus: \"half\" is not a CPU count"),
    (["--output-limit"], "--output-limit: missing its value"),
    (["--quiet=yes", "true"], "--quiet: takes no value"),
    (["--bind", "relative/dir", "true"],
     "--bind: \"relative/dir\": the source must be an absolute path"),
    (["--ro-bind", "/tmp:data", "true"], "--ro-bind: \"/tmp:data\": the destination must be"),
    (["--env", "NOEQUALS", "true"], "--env: \"NOEQUALS\" is not K=V"),
    (["--env", "PATH=/tmp", "true"], "--env: \"PATH\": reserved name"),
    (["--workdir", "/tmp", "--disk", "1M", "true"], "--disk: sizes the fresh /work tmpfs"),
    (["--lang", "python"], "--lang: needs --code FILE"),
    (["--code", "x.py", "true"], "--code: needs --lang LANG"),
    ([], "missing PROGRAM"),
])
def test_bad_usage_exits_2_naming_the_option(args, named):
    proc, _ = jail(*args)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.decode()
    assert named in err, err
    assert "--help" in err


def test_missing_input_files_are_usage_errors(tmp_path):
    proc, _ = jail("--stdin", tmp_path / "absent", "cat")
    assert proc.returncode == 2
    assert b"--stdin: opening " in proc.stderr and b"No such file" in proc.stderr


def test_exit_code_passes_through():
    proc, _ = jail("--", "sh", "-c", "exit 3")
    assert proc.returncode == 3
    assert summary(proc).startswith("brig-jail: failed exit=3 ")


def test_success_and_live_output(tmp_path):
    proc, record = jail("--", "sh", "-c", "echo out; echo err >&2; exit 5",
                        json_path=tmp_path / "o.json")
    assert proc.returncode == 5
    assert proc.stdout == b"out\n"
    assert proc.stderr.startswith(b"err\n")
    line = summary(proc)
    assert re.match(r"brig-jail: failed exit=5 wall=\S+ cpu=\S+ peak_mem=\S+", line), line
    assert record["stdout"] == "out\n"
    assert record["stderr"] == "err\n"


def test_quiet_drops_the_summary():
    proc, _ = jail("--quiet", "--", "sh", "-c", "echo err >&2")
    assert proc.returncode == 0
    assert proc.stderr == b"err\n"


def test_json_record_field_by_field(tmp_path):
    proc, record = jail("--mem", "96M", "--pids", "20", "--wall-time", "30s", "--cpus", "0.5",
                        "--", "sh", "-c", "printf 'a\\377b'; echo problem >&2; exit 7",
                        json_path=tmp_path / "o.json")
    assert proc.returncode == 7
    assert proc.stdout == b"a\xffb"
    assert record["status"] == "failed"
    assert record["exit_code"] == 7
    assert record["signal"] == 0
    assert record["wall_us"] > 0
    # A shell that starts and prints uses some CPU time and some memory (the
    # cgroup counts its pages).
    assert record["cpu_us"] > 0
    assert record["peak_memory_bytes"] >= 64 * 1024
    assert record["stdout"] == "a\ufffdb"
    assert record["stdout_bytes"] == 3
    assert record["stdout_truncated"] is False
    assert record["stderr"] == "problem\n"
    assert record["stderr_bytes"] == 8
    assert record["stderr_truncated"] is False
    assert record["syscall"] is None
    assert record["message"] is None
    assert record["runtime"] is None
    assert re.fullmatch(r"[0-9a-f]{64}", record["policy_hash"])
    assert record["cgroup_version"] in ("v1", "v2")
    assert record["limits"]["memory_bytes"] == 96 << 20
    assert record["limits"]["pids"] == 20
    assert record["limits"]["wall_ms"] == 30000
    assert record["limits"]["cpu_millis"] == 500
    assert set(record) == {
        "status", "exit_code", "signal", "wall_us", "cpu_us", "peak_memory_bytes", "stdout",
        "stdout_bytes", "stdout_truncated", "stderr", "stderr_bytes", "stderr_truncated",
        "syscall", "message", "runtime", "policy_hash", "cgroup_version", "limits"}


def test_killed_by_a_signal_is_128_plus_n(tmp_path):
    proc, record = jail("--", "sh", "-c", "kill -KILL $$", json_path=tmp_path / "o.json")
    assert proc.returncode == 137
    assert record["status"] == "signaled"
    assert record["signal"] == 9
    assert "signal=9 (SIGKILL)" in summary(proc)


def test_wall_time_limit(tmp_path):
    proc, record = jail("--wall-time", "1s", "--", "sleep", "60", json_path=tmp_path / "o.json")
    assert proc.returncode == 124
    assert record["status"] == "timeout"
    assert record["wall_us"] >= 1_000_000
    assert summary(proc).startswith("brig-jail: timeout ")


def test_cpu_time_limit(tmp_path):
    proc, record = jail("--cpu-time", "1s", "--wall-time", "120s", "--",
                        "sh", "-c", "while :; do :; done", json_path=tmp_path / "o.json")
    assert proc.returncode == 120
    assert record["status"] == "cpu_timeout"
    assert record["cpu_us"] >= 1_000_000


def test_memory_limit(tmp_path):
    bomb = "chunks = []\nwhile True:\n    chunks.append(b'x' * (1 << 20))\n"
    proc, record = jail("--mem", "64M", "--", "python3", "-c", bomb,
                        json_path=tmp_path / "o.json")
    assert proc.returncode == 121, proc.stderr
    assert record["status"] == "oom"


def test_output_limit(tmp_path):
    proc, record = jail("--output-limit", "1M", "--", "yes", json_path=tmp_path / "o.json")
    assert proc.returncode == 122
    assert record["status"] == "output_limit"
    assert record["stdout_truncated"] is True
    assert record["stdout_bytes"] <= 1 << 20
    # The pass-through stops at the budget too.
    assert 0 < len(proc.stdout) <= 1 << 20
    assert set(proc.stdout) == {ord("y"), ord("\n")}


def test_forbidden_syscall(tmp_path):
    proc, record = jail("--", "unshare", "-U", "true", json_path=tmp_path / "o.json")
    assert proc.returncode == 123, proc.stderr
    assert record["status"] == "seccomp"
    assert record["syscall"] == "unshare"
    assert "syscall=unshare" in summary(proc)


def test_stdin_from_a_file_and_from_stdin(tmp_path):
    source = tmp_path / "input.txt"
    source.write_bytes(b"line one\nline two\n")
    proc, _ = jail("--stdin", source, "--", "cat")
    assert proc.returncode == 0
    assert proc.stdout == b"line one\nline two\n"

    proc, _ = jail("--stdin", "-", "--", "wc", "-c", stdin=b"12345")
    assert proc.stdout.strip() == b"5"

    # Without --stdin the program reads an empty stdin, not brig-jail's.
    proc, _ = jail("--", "wc", "-c", stdin=b"not for the program")
    assert proc.stdout.strip() == b"0"


def test_stdio_reopens_by_name():
    """Shell redirections to /dev/stderr, cat /dev/stdin, tee /dev/stderr and
    open("/dev/stdout", "w") work as on a host."""
    script = ("echo to-stderr > /dev/stderr; cat /dev/stdin; echo tee | tee /dev/stderr; "
              "python3 -c 'open(\"/dev/stdout\", \"w\").write(\"python\\n\")'")
    proc, _ = jail("-q", "--stdin", "-", "--", "/bin/sh", "-c", script, stdin=b"input\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"input\ntee\npython\n"
    assert proc.stderr == b"to-stderr\ntee\n"


def test_env_is_passed_and_the_host_env_does_not_leak():
    proc, _ = jail("--env", "GREETING=hello world", "--env", "EMPTY=", "--", "env",
                   env={"HOST_SECRET": "leaked"})
    assert proc.returncode == 0
    variables = dict(line.split("=", 1) for line in proc.stdout.decode().splitlines())
    assert variables["GREETING"] == "hello world"
    assert variables["EMPTY"] == ""
    assert variables["HOME"] == "/work"
    assert "HOST_SECRET" not in variables
    assert "BRIG_RUNTIMES" not in variables
    assert set(variables) <= {"GREETING", "EMPTY", "PATH", "HOME", "LANG", "MPLBACKEND",
                              "MPLCONFIGDIR", "XDG_CACHE_HOME"}


@pytest.fixture
def shared_dir():
    """A host directory that the jail's unprivileged user may reach and write
    into: binds are made from inside the jail's user namespace, so the path
    must be traversable by others (pytest's own tmp_path is not)."""
    directory = pathlib.Path(tempfile.mkdtemp(prefix="brig-jail-test-", dir="/tmp"))
    directory.chmod(0o777)
    (directory / "note.txt").write_text("from the host\n")
    yield directory
    shutil.rmtree(directory)


def test_ro_bind_reads_but_refuses_writes(shared_dir):
    proc, _ = jail("--ro-bind", f"{shared_dir}:/data", "--", "cat", "/data/note.txt")
    assert proc.returncode == 0
    assert proc.stdout == b"from the host\n"

    proc, _ = jail("--ro-bind", f"{shared_dir}:/data", "--",
                   "sh", "-c", "echo x > /data/new.txt")
    assert proc.returncode != 0
    assert b"Read-only file system" in proc.stderr
    assert not (shared_dir / "new.txt").exists()


def test_bind_writes_through(shared_dir):
    proc, _ = jail("--bind", f"{shared_dir}:/data", "--",
                   "sh", "-c", "cat /data/note.txt; echo from the jail > /data/new.txt")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"from the host\n"
    assert (shared_dir / "new.txt").read_text() == "from the jail\n"


def test_bind_without_destination_uses_the_same_path(shared_dir):
    proc, _ = jail("--ro-bind", shared_dir, "--", "cat", shared_dir / "note.txt")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"from the host\n"


def test_workdir_is_bound_at_work(shared_dir):
    proc, _ = jail("--workdir", shared_dir, "--",
                   "sh", "-c", "pwd; cat note.txt; echo made > /work/made.txt")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"/work\nfrom the host\n"
    assert (shared_dir / "made.txt").read_text() == "made\n"


def test_fresh_work_is_empty_and_private(tmp_path):
    proc, _ = jail("--", "sh", "-c", "ls -A /work; echo kept > /work/f; cat /work/f")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"kept\n"
    proc, _ = jail("--", "ls", "-A", "/work")
    assert proc.stdout == b""


def test_json_to_an_unwritable_path_fails_setup(tmp_path):
    proc, _ = jail("--json", tmp_path / "no" / "such" / "dir.json", "true")
    assert proc.returncode == 125
    assert b"--json: " in proc.stderr


def test_setup_error_is_125_with_a_record_even_when_quiet(tmp_path):
    proc, record = jail("--quiet", "--ro-bind", "/nonexistent/brig-test", "--", "true",
                        json_path=tmp_path / "o.json")
    assert proc.returncode == 125
    assert proc.stderr.decode().startswith("brig-jail: setup_error: ")
    assert "/nonexistent/brig-test" in proc.stderr.decode()
    assert record["status"] == "setup_error"
    assert "/nonexistent/brig-test" in record["message"]
    assert record["policy_hash"] is not None


def test_program_not_found_is_the_programs_failure():
    proc, _ = jail("--", "no-such-program-brig")
    assert proc.returncode == 127
    assert b"no-such-program-brig" in proc.stderr


# ---- --json - (the record on standard output) ----

def test_json_dash_writes_the_record_to_stdout(tmp_path):
    proc = subprocess.run([bin_path("brig-jail"), "--json", "-", "--", "sh", "-c",
                           "echo out; echo err >&2; exit 3"],
                          capture_output=True, cwd=tmp_path, timeout=TIMEOUT,
                          env={"PATH": os.environ["PATH"]})
    assert proc.returncode == 3, proc.stderr
    assert list(tmp_path.iterdir()) == [], "a file named '-' was written"
    # stdout is the record alone: the program's own stdout is inside it.
    record = json.loads(proc.stdout)
    assert record["status"] == "failed" and record["exit_code"] == 3
    assert record["stdout"] == "out\n" and record["stderr"] == "err\n"
    err = proc.stderr.decode()
    assert err.startswith("err\n") and "brig-jail: failed exit=3" in err
