// Live output: chunks in order as the job writes them, both streams, read
// while it runs or after it ended.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ANSWER_MS, client, skip, text } from "./env.mjs";

const CODE = "for i in 1 2 3 4 5; do echo out $i; echo err $i >&2; sleep 0.1; done";

test("logs stream in order while the job runs", { skip }, async (t) => {
    const brig = client(t);
    const id = await brig.submit({ runtime: "bash", code: CODE, stream_logs: true });
    const seen = { stdout: "", stderr: "" };
    for await (const chunk of brig.logs(id, { timeoutMs: ANSWER_MS }))
        seen[chunk.stream] += text(chunk.data);
    assert.equal(seen.stdout, "out 1\nout 2\nout 3\nout 4\nout 5\n");
    assert.equal(seen.stderr, "err 1\nerr 2\nerr 3\nerr 4\nerr 5\n");
    const r = await brig.wait(id, { timeoutMs: ANSWER_MS });
    assert.equal(r.stdoutText, seen.stdout);
});

test(
    "after the job ended: followed from its first chunk, or up to the topic's end",
    { skip },
    async (t) => {
        const brig = client(t);
        const r = await brig.run(
            { argv: ["sh", "-c", "echo one; echo two >&2"], stream_logs: true },
            { timeoutMs: ANSWER_MS },
        );
        assert.equal(r.status, "ok");
        const read = async (options) => {
            const chunks = [];
            for await (const chunk of brig.logs(r.id, { timeoutMs: ANSWER_MS, ...options }))
                chunks.push(`${chunk.stream}:${text(chunk.data)}`);
            return chunks.sort();
        };
        // Followed to both streams' end, the chunks are all on the topic ...
        assert.deepEqual(await read({}), ["stderr:two\n", "stdout:one\n"]);
        // ... so a read up to the topic's end finds them too.
        assert.deepEqual(await read({ follow: false }), ["stderr:two\n", "stdout:one\n"]);
    },
);
