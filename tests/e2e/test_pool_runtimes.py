"""What the pool's runtimes look like from a client, end to end through a
brig-worker with its embedded broker and the brig CLI (the fixture of
test_cli.py): input files that keep their executable bit, aliases recorded
under the runtime's name, the compile step's time in the result, the list of
runtimes a rejection names."""
import json
import os
import stat

from test_cli import EXIT_REJECTED, brig, brig_env, unique_id, wait_for_audit  # noqa: F401

SCRIPT = "#!/bin/sh\necho \"ran $0\"\n"


def test_an_executable_input_file_runs_and_a_plain_one_does_not(brig_env, tmp_path):
    script = tmp_path / "run.sh"
    script.write_text(SCRIPT)
    script.chmod(0o644)
    r = brig(brig_env, "run", "-f", str(script), "--", "./run.sh")
    assert r.returncode == 126, r.stderr  # the shell's "found but cannot execute"

    script.chmod(0o755)
    r = brig(brig_env, "run", "-f", str(script), "--", "./run.sh")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ran ./run.sh\n"


def test_a_tree_keeps_each_files_mode(brig_env, tmp_path):
    tree = tmp_path / "tool"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "go").write_text(SCRIPT)
    (tree / "bin" / "go").chmod(0o700)
    (tree / "data.txt").write_text("1\n")
    (tree / "data.txt").chmod(0o600)
    r = brig(brig_env, "run", "-f", f"{tree}:t", "--", "/bin/sh", "-c",
             "stat -c '%a %n' t/bin/go t/data.txt && t/bin/go")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "755 t/bin/go\n644 t/data.txt\nran t/bin/go\n"


def test_submit_batch_carries_executable(brig_env, tmp_path):
    job_id = unique_id("exec-batch")
    batch = tmp_path / "jobs.jsonl"
    batch.write_text(json.dumps({"id": job_id, "argv": ["./run.sh"], "files": {"run.sh": SCRIPT},
                                 "executable": ["run.sh"]}) + "\n")
    assert brig(brig_env, "submit", "--batch", str(batch)).returncode == 0
    r = brig(brig_env, "wait", "--json", job_id)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["stdout"] == "ran ./run.sh\n"
    record = wait_for_audit(brig_env, job_id)
    assert record["job"]["executable"] == ["run.sh"]
