// Cancel: a running job is stopped and answered cancelled (a version 2
// result), with its output so far.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ANSWER_MS, cancelWhileRunning, client, explained, skip } from "./env.mjs";

test("a running job is stopped and answered cancelled", { skip }, async (t) => {
    const r = await cancelWhileRunning(client(t), "test_ts_client");
    assert.equal(r.status, "cancelled", explained(r));
    assert.equal(r.v, 2);
    assert.equal(r.stdoutText, "started\n");
    assert.match(r.error, /test_ts_client/);
    assert.ok(r.usage.wall_us < 60e6, "stopped before its 60 s sleep ended");
});

test("cancelling a job already answered leaves its result as it was", { skip }, async (t) => {
    const brig = client(t);
    const r = await brig.run({ argv: ["echo", "finished"] }, { timeoutMs: ANSWER_MS });
    await brig.cancel(r.id);
    await assert.rejects(brig.wait(r.id, { timeoutMs: 2000 }), /no result for job/);
});
