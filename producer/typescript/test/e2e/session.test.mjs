// A session: files in, state across jobs, files out through collect.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ANSWER_MS, client, explained, skip, text } from "./env.mjs";

test("files in, kept across jobs, collected back", { skip }, async (t) => {
    const brig = client(t);
    const session = brig.session(`ts-${Date.now()}`);
    await session.putFiles(
        { "in/data.csv": "a,b\n1,2\n", "in/raw.bin": new Uint8Array([0, 1, 255]) },
        { timeoutMs: ANSWER_MS },
    );
    const r = await session.run(
        {
            runtime: "python",
            code: "import os\nos.makedirs('out', exist_ok=True)\nrows = open('in/data.csv').read().splitlines()\nopen('out/count.txt', 'w').write(str(len(rows)))\nopen('out/raw.bin', 'wb').write(open('in/raw.bin', 'rb').read()[::-1])\nos.symlink('/etc/passwd', 'out/link')\nprint('done')",
            collect: ["out/*"],
        },
        { timeoutMs: ANSWER_MS },
    );
    assert.equal(r.status, "ok", explained(r));
    assert.equal(r.session, session.id);
    assert.equal(text(r.files.get("out/count.txt")), "2");
    assert.deepEqual(r.files.get("out/raw.bin"), new Uint8Array([255, 1, 0]));
    assert.deepEqual(
        r.files_omitted.map((o) => o.path),
        ["out/link"],
    );

    const later = await session.run({ argv: ["cat", "out/count.txt"] }, { timeoutMs: ANSWER_MS });
    assert.equal(later.stdoutText, "2");
    const { files } = await session.getFiles(["in/*.csv", "out/*.txt"], { timeoutMs: ANSWER_MS });
    assert.deepEqual([...files.keys()].sort(), ["in/data.csv", "out/count.txt"]);
});

test("a job without the session does not see its files", { skip }, async (t) => {
    const brig = client(t);
    const session = brig.session(`ts-iso-${Date.now()}`);
    await session.putFiles({ "secret.txt": "s" }, { timeoutMs: ANSWER_MS });
    const r = await brig.run({ argv: ["cat", "secret.txt"] }, { timeoutMs: ANSWER_MS });
    assert.equal(r.status, "failed");
});
