"""What the pool's runtimes look like from a client, end to end through a
brig-worker with its embedded broker and the brig CLI (the fixture of
test_cli.py), and through workers of the test broker with runtime tables of
their own: `brig runtimes` and the Python client's runtimes(), aliases
recorded under the runtime's name, the compile step's time in the result, the
list of runtimes a rejection names, input files that keep their executable
bit."""
import json
import re
import sys
import time

import pytest

from conftest import ROOT
from harness import wait_for
from test_cli import EXIT_REJECTED, brig, brig_env, unique_id, wait_for_audit  # noqa: F401

sys.path.insert(0, str(ROOT / "producer" / "python"))
import brig as brig_client  # noqa: E402

SHIPPED = json.loads((ROOT / "sandbox" / "runtimes.json").read_text())["runtimes"]

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


# ---- discovery ----

def test_brig_runtimes_lists_the_shipped_table_with_versions(brig_env):
    r = brig(brig_env, "runtimes")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["RUNTIME", "ALIASES", "VERSION", "WARM", "IMAGE", "WORKERS"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == [rt["name"] for rt in SHIPPED]
    assert re.search(r"^typescript +ts +esbuild [\d.]+, node v\d+.* no +- +1$", rows["typescript"])
    assert re.search(r"^python +py, python3 +Python 3\.", rows["python"])

    workers = [json.loads(line) for line in brig(brig_env, "runtimes", "--json").stdout.splitlines()]
    assert len(workers) == 1
    announced = {rt["name"]: rt for rt in workers[0]["runtimes"]}
    for rt in SHIPPED:
        assert announced[rt["name"]]["aliases"] == rt.get("aliases", [])
        assert announced[rt["name"]]["version"], rt["name"]
        assert announced[rt["name"]]["warm"] is False
        assert announced[rt["name"]]["image"] is None

    verbose = brig(brig_env, "runtimes", "--verbose")
    assert re.match(rf"worker {workers[0]['worker_id']}, started .* ago\)\n", verbose.stdout)


def test_a_job_sent_by_alias_is_recorded_under_the_name(brig_env):
    job_id = unique_id("alias-ts")
    r = brig(brig_env, "run", "--id", job_id, "--json", "--lang", "ts", "-c",
             "const n: number = 6 * 7; console.log(n)")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["stdout"] == "42\n"
    assert result["runtime"]["name"] == "typescript"
    assert result["runtime"]["version"].startswith("esbuild ")
    # The compile step's time is reported, apart from the program's.
    assert 0 < result["usage"]["compile_us"] < 60_000_000
    record = wait_for_audit(brig_env, job_id)
    assert record["attempts"][0]["result"]["runtime"]["name"] == "typescript"
    listed = json.loads(brig(brig_env, "audit", "ls", "--json", "--lang", "typescript").stdout)
    assert [row["runtime"] for row in listed if row["job_id"] == job_id] == ["typescript"]

    r = brig(brig_env, "run", "--lang", "ts", "-c", "console.log(1)")
    assert re.search(r"· compile [\d.]+m?s ·", r.stderr), r.stderr


@pytest.mark.parametrize("lang,code,expected", [
    ("r", "cat(sum(scan(file('stdin'), quiet = TRUE)), '\\n', sep = '')", "6\n"),
    ("java", "import java.util.Scanner;\npublic class Main { public static void main(String[] a) {"
             " Scanner s = new Scanner(System.in); int t = 0; while (s.hasNextInt()) t += "
             "s.nextInt(); System.out.println(t); } }", "6\n"),
    ("go", "package main\nimport \"fmt\"\nfunc main() { a, b, c := 0, 0, 0; "
           "fmt.Scan(&a, &b, &c); fmt.Println(a + b + c) }", "6\n"),
    ("ruby", "puts STDIN.read.split.sum(&:to_i)", "6\n"),
])
def test_each_language_runs_on_a_worker_with_the_default_limits(brig_env, tmp_path, lang, code,
                                                                 expected):
    numbers = tmp_path / "in.txt"
    numbers.write_text("1 2 3\n")
    r = brig(brig_env, "run", "--json", "--stdin", str(numbers), "--lang", lang, "-c", code)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["stdout"] == expected, result["stderr"]
    assert result["runtime"]["name"] == lang and result["runtime"]["version"]


def test_an_unknown_runtime_is_rejected_with_the_names_there_are(brig_env):
    r = brig(brig_env, "run", "--lang", "cobol", "-c", "DISPLAY 'HI'.")
    assert r.returncode == EXIT_REJECTED, r.stderr
    names = ", ".join(rt["name"] for rt in SHIPPED)
    assert f'runtime: unknown runtime "cobol": this worker runs {names}' in r.stderr


def lua_table(path):
    """README's "Adding a language": the shipped table and Lua."""
    path.write_text(json.dumps({"runtimes": SHIPPED + [{
        "name": "lua", "aliases": ["lua5.4"], "source": "main.lua",
        "run": ["lua5.4", "main.lua"], "version": ["lua5.4", "-v"]}]}))
    return str(path)


def runtimes_of(bootstrap, *flags):
    r = brig({}, "runtimes", "--brokers", bootstrap, *flags)
    assert r.returncode in (0, 1), r.stderr
    return r


def test_workers_announce_at_start_and_withdraw_on_exit(broker, workers, tmp_path):
    before_ms = int(time.time() * 1000)
    plain = workers("plain")
    with_lua = workers("with-lua", extra=["--runtimes", lua_table(tmp_path / "lua.json")])

    def both_announced():
        r = runtimes_of(broker.bootstrap, "--json")
        return sorted(json.loads(line)["worker_id"] for line in r.stdout.splitlines()) == \
            ["plain", "with-lua"]
    wait_for(both_announced, what="both workers' runtimes records")

    rows = {line.split()[0]: line.split() for line in
            runtimes_of(broker.bootstrap).stdout.splitlines()[1:]}
    assert rows["python"][-1] == "2" and rows["lua"][-1] == "1"
    assert rows["lua"][1] == "lua5.4" and rows["lua"][2:4] == ["Lua", "5.4.4"]

    # The Python client reads the same records.
    with brig_client.Client(broker.bootstrap) as client:
        pool = client.runtimes()
    assert [w.worker_id for w in pool] == ["plain", "with-lua"]
    lua = [rt for rt in pool[1].runtimes if rt.name == "lua"]
    assert lua == [brig_client.RuntimeInfo("lua", ("lua5.4",), lua[0].version)]
    assert lua[0].version.startswith("Lua 5.4")
    # Each record says when its worker started: the two start concurrently,
    # so only the window is known, not their order.
    assert all(before_ms <= w.started_ms <= time.time() * 1000 for w in pool)

    # A clean exit leaves a tombstone: the worker is no longer listed.
    assert with_lua.stop() == 0
    r = runtimes_of(broker.bootstrap, "--verbose")
    assert "worker plain," in r.stdout and "with-lua" not in r.stdout
    assert "lua" not in r.stdout.split()
    assert plain.stop() == 0
    r = runtimes_of(broker.bootstrap)
    assert r.returncode == 1
    assert "no worker has announced its runtimes on brig.runtimes" in r.stderr


def test_runtimes_records_that_do_not_decode_are_skipped_and_named(broker, workers):
    from confluent_kafka import Producer
    workers("w1")
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce("brig.runtimes", key=b"impostor", value=b"\x81\xa1v\x01")
    assert producer.flush(10) == 0
    wait_for(lambda: "worker w1," in runtimes_of(broker.bootstrap, "-v").stdout,
             what="w1's runtimes record")
    r = runtimes_of(broker.bootstrap, "-v")
    assert r.returncode == 0
    assert "impostor" not in r.stdout
    assert ("skipped 1 record(s) that are not runtimes records, the first: key impostor, "
            "offset") in r.stderr
    assert "worker_id: missing" in r.stderr

