// run, submit and wait against a real worker: results as the worker wrote
// them, failures by status, waits that time out and come back.
import assert from "node:assert/strict";
import { test } from "node:test";

import { InvalidJob, JobTimeout } from "../../dist/index.js";
import { ANSWER_MS, client, explained, skip } from "./env.mjs";

test("a Python job: its output, exit code, usage and runtime", { skip }, async (t) => {
    const brig = client(t);
    const r = await brig.run(
        {
            runtime: "python",
            code: "import sys, os\nprint(6 * 7, sys.argv[1:], os.environ['GREETING'], sys.stdin.read())",
            args: ["a", "b"],
            env: { GREETING: "hi" },
            stdin: "from stdin",
        },
        { timeoutMs: ANSWER_MS },
    );
    assert.equal(r.status, "ok", explained(r));
    assert.equal(r.stdoutText, "42 ['a', 'b'] hi from stdin\n");
    assert.equal(r.exit_code, 0);
    assert.equal(r.runtime.name, "python");
    assert.match(r.runtime.version, /^Python 3/);
    assert.ok(r.usage.wall_us > 0 && r.worker_id, explained(r));
    assert.equal(r.attempt, 1);
});

test("failures come back by status", { skip }, async (t) => {
    const brig = client(t);
    const [failed, timeout, rejected] = await Promise.all([
        brig.run({ argv: ["sh", "-c", "echo oops >&2; exit 3"] }, { timeoutMs: ANSWER_MS }),
        brig.run({ argv: ["sleep", "5"], limits: { wall_ms: 300 } }, { timeoutMs: ANSWER_MS }),
        brig.run({ runtime: "cobol", code: "x" }, { timeoutMs: ANSWER_MS }),
    ]);
    assert.deepEqual([failed.status, failed.exit_code, failed.stderrText], ["failed", 3, "oops\n"]);
    assert.equal(timeout.status, "timeout", explained(timeout));
    assert.equal(rejected.status, "rejected");
    assert.match(rejected.error, /runtime/);
});

test("many jobs at once, each its own result", { skip }, async (t) => {
    const brig = client(t);
    const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
            brig.run({ argv: ["echo", `job ${i}`] }, { timeoutMs: ANSWER_MS }),
        ),
    );
    assert.deepEqual(
        results.map((r) => r.stdoutText),
        Array.from({ length: 6 }, (_, i) => `job ${i}\n`),
    );
});

test("a wait that times out leaves the job watched; the next wait gets it", { skip }, async (t) => {
    const brig = client(t);
    const id = await brig.submit({ argv: ["sh", "-c", "sleep 1; echo late"] });
    await assert.rejects(
        brig.wait(id, { timeoutMs: 10 }),
        (e) => e instanceof JobTimeout && e.jobId === id,
    );
    const r = await brig.wait(id, { timeoutMs: ANSWER_MS });
    assert.equal(r.stdoutText, "late\n");
});

test("a job another client sent is waited for by id", { skip }, async (t) => {
    const sender = client(t);
    const waiter = client(t);
    await waiter.connect();
    const id = await sender.submit({ argv: ["echo", "seen by both"] });
    const [a, b] = await Promise.all([
        sender.wait(id, { timeoutMs: ANSWER_MS }),
        waiter.wait(id, { timeoutMs: ANSWER_MS }),
    ]);
    assert.equal(a.id, id);
    assert.equal(a.stdoutText, "seen by both\n", explained(a));
    assert.deepEqual(b, a);
});

test("a bad job is refused before it is sent, naming the field", { skip }, async (t) => {
    const brig = client(t);
    await assert.rejects(
        brig.run({ argv: ["true"], limits: { wall_ms: 10 } }),
        (e) => e instanceof InvalidJob && e.field === "limits.wall_ms",
    );
});
