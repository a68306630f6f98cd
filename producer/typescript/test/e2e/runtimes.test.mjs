// What the pool offers, from the runtimes records the workers announce.
import assert from "node:assert/strict";
import { test } from "node:test";

import { client, skip } from "./env.mjs";

test("the worker and its runtimes, versions included", { skip }, async (t) => {
    const brig = client(t);
    const workers = await brig.runtimes();
    const worker = workers.find((w) => w.worker_id === process.env.BRIG_TEST_WORKER_ID);
    assert.ok(worker, JSON.stringify(workers));
    const python = worker.runtimes.find((r) => r.name === "python");
    assert.deepEqual(python.aliases, ["py", "python3"]);
    assert.match(python.version, /^Python 3\./);
    assert.ok(worker.runtimes.some((r) => r.name === "bash"));
    assert.ok(worker.started_ms > 1.7e12);
});
