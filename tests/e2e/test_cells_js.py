"""JavaScript cells end to end (SCHEMA.md 6.1): a session's javascript jobs
run in one live node interpreter (sandbox/kernels/node_kernel.js) with the
REPL's semantics: declarations persist, top-level await works, the last
expression is the result; typescript jobs too, once esbuild stripped their
types. Through the embedded broker, with the real worker and jail."""
import functools

import test_cells
from test_cells import env, text  # noqa: F401  (env is a fixture)

cell = functools.partial(test_cells.cell, runtime="javascript")


def test_declarations_persist_and_the_last_expression_is_the_result(env):
    client, worker = env
    worker()
    first = cell(client, "let n = 0", "js1")
    assert first["status"] == "ok", first
    assert first["interpreter"]["started"] is True and "outputs" not in first, first
    assert cell(client, "const base = 100", "js1")["status"] == "ok"
    assert cell(client, "function bump() { n += 1; return n }", "js1")["status"] == "ok"
    assert cell(client, "class Box { constructor(v) { this.v = v } }", "js1")["status"] == "ok"
    for i in range(1, 17):
        r = cell(client, "bump()", "js1")
        assert r["status"] == "ok" and r["interpreter"]["started"] is False, r
        assert text(r) == str(i)
    r = cell(client, "new Box(base + n)", "js1")
    assert r["interpreter"]["execution_count"] == 21, r
    assert text(r) == "Box { v: 116 }"


def test_top_level_await_and_console_log(env):
    client, worker = env
    worker()
    r = cell(client, "const got = await new Promise(r => setTimeout(() => r(41), 10))", "js2")
    assert r["status"] == "ok", r
    r = cell(client, "console.log('hello', got); ({sum: got + 1})", "js2")
    assert r["status"] == "ok", r
    assert r["stdout"] == b"hello 41\n"
    assert text(r) == "{ sum: 42 }"
    r = cell(client, "const fs = await import('node:fs'); typeof fs.readFileSync", "js2")
    assert text(r) == "'function'", r


def test_an_exception_comes_back_and_the_session_lives_on(env):
    client, worker = env
    worker()
    cell(client, "var kept = 7", "js3")
    r = cell(client, "function f() {\n  throw new RangeError('too far')\n}\nf()", "js3")
    assert r["status"] == "failed", r
    exc = r["exception"]
    assert exc["name"] == "RangeError" and exc["value"] == "too far", exc
    assert exc["traceback"][0] == "RangeError: too far", exc
    assert any("at f (<cell 2>:2:" in line for line in exc["traceback"]), exc
    assert not any("[eval]" in line for line in exc["traceback"]), "the kernel's own frames"
    assert text(cell(client, "kept", "js3")) == "7"


def test_an_endless_cell_is_interrupted_and_the_state_survives(env):
    client, worker = env
    worker()
    cell(client, "const kept = 'yes'", "js4")
    r = cell(client, "while (true) {}", "js4", limits={"wall_ms": 1000, "cpu_ms": 60000})
    assert r["status"] == "timeout", r
    assert not r["interpreter"].get("state_lost"), r
    r = cell(client, "await new Promise(() => {})", "js4", limits={"wall_ms": 1000})
    assert r["status"] == "timeout", r
    assert not r["interpreter"].get("state_lost"), r
    r = cell(client, "kept", "js4")
    assert text(r) == "'yes'" and r["interpreter"]["started"] is False, r


def test_process_exit_loses_the_state_and_the_next_cell_starts_fresh(env):
    client, worker = env
    worker()
    cell(client, "let z = 1", "js5")
    r = cell(client, "process.exit(1)", "js5")
    assert r["interpreter"]["state_lost"] is True, r
    assert r["status"] == "failed", r
    r = cell(client, "typeof z", "js5")
    assert r["interpreter"]["started"] is True, r
    assert text(r) == "'undefined'"


def test_two_sessions_do_not_see_each_others_variables(env):
    client, worker = env
    worker()
    assert cell(client, "const secret = 42", "jsa")["status"] == "ok"
    r = cell(client, "secret", "jsb")
    assert r["status"] == "failed" and r["exception"]["name"] == "ReferenceError", r


# The kernel keeps its channel on a descriptor of its own (close-on-exec);
# the cell finds it as a hostile one would: the one write end of a pipe
# whose other end is not in this process, stdout and stderr aside.
GARBAGE = """
const fs = require('fs');
const link = (n) => { try { return fs.readlinkSync(`/proc/self/fd/${n}`) } catch { return '' } };
const fds = fs.readdirSync('/proc/self/fd').map(Number);
const links = fds.map(link);
const writable = (n) => (parseInt(/flags:\\s*(\\d+)/.exec(
    fs.readFileSync(`/proc/self/fdinfo/${n}`, 'utf8'))[1], 8) & 3) === 1;
const channel = fds.filter((n, i) => n > 2 && links[i].startsWith('pipe:') &&
    links.filter((l) => l === links[i]).length === 1 && writable(n));
for (const n of channel) fs.writeSync(n, 'garbage that is not a frame at all');
channel.length
"""


def test_garbage_on_the_channel_ends_the_interpreter_not_the_worker(env):
    client, worker = env
    w = worker()
    cell(client, "const state = 1", "jsv")
    r = cell(client, GARBAGE + "; await new Promise(r => setTimeout(r, 2000))", "jsv")
    assert r["interpreter"]["state_lost"] is True, r
    assert r["status"] == "failed", r
    assert "protocol" in r["error"], r["error"]
    r = cell(client, "typeof state", "jsv")
    assert r["interpreter"]["started"] is True and text(r) == "'undefined'", r
    assert text(cell(client, "6 * 7", "jsv")) == "42"
    assert w.proc.poll() is None, w.log()


def test_typescript_cells_lose_their_types_and_keep_their_state(env):
    client, worker = env
    worker()
    ts = functools.partial(test_cells.cell, runtime="typescript")
    r = ts(client, "interface P { x: number }\nconst p: P = { x: 40 }", "ts1")
    assert r["status"] == "ok" and r["interpreter"]["started"] is True, r
    r = ts(client, "let q: number = await Promise.resolve<number>(2)", "ts1")
    assert r["status"] == "ok", r
    r = ts(client, "p.x + q as number", "ts1")
    assert text(r) == "42" and r["interpreter"]["started"] is False, r
    r = ts(client, "let broken: = 1", "ts1")
    assert r["status"] == "failed" and r["exception"]["name"] == "SyntaxError", r
    assert "Unexpected" in r["exception"]["value"], r
    assert text(ts(client, "q", "ts1")) == "2"


def test_a_cell_that_clobbers_globals_does_not_break_the_kernel(env):
    client, worker = env
    worker()
    r = cell(client, "Buffer = Promise = setInterval = clearInterval = undefined; 'gone'", "jsg")
    assert text(r) == "'gone'", r
    r = cell(client, "await 1; [typeof Buffer, 6 * 7]", "jsg")
    assert r["status"] == "ok" and r["interpreter"]["started"] is False, r
    assert text(r) == "[ 'undefined', 42 ]"


def test_a_flood_of_output_is_stopped_at_output_bytes_and_the_state_survives(env):
    client, worker = env
    worker()
    cell(client, "const kept = 3", "jsflood")
    r = cell(client, "while (true) console.log('y'.repeat(1000))", "jsflood",
             limits={"output_bytes": 65536})
    assert r["status"] == "output_limit", r
    assert r["stdout_truncated"] is True and len(r["stdout"]) == 65536
    r = cell(client, "kept", "jsflood")
    assert text(r) == "3" and r["interpreter"]["started"] is False, r


def test_a_spin_after_an_await_is_killed_after_the_grace(env):
    client, worker = env
    worker()
    r = cell(client, "await 0; while (true) {}", "jsspin", limits={"wall_ms": 500})
    assert r["status"] == "timeout", r
    assert r["interpreter"]["state_lost"] is True, r
    assert cell(client, "1", "jsspin")["interpreter"]["started"] is True


def test_a_memory_bomb_is_oom_and_loses_the_state(env):
    client, worker = env
    worker()
    cell(client, "const m = 1", "jsoom", limits={"memory_bytes": 256 << 20})
    r = cell(client, "const b = []; while (true) b.push(Buffer.alloc(16 << 20, 1))", "jsoom")
    assert r["status"] == "oom", r
    assert r["interpreter"]["state_lost"] is True, r
    assert cell(client, "2", "jsoom")["interpreter"]["started"] is True

