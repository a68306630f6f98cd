// A session's Python jobs run as cells of one live interpreter (SCHEMA.md
// section 6.1): state across cells, display data by MIME type, a raised
// exception, and the interpreter's own record.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ANSWER_MS, client, explained, skip } from "./env.mjs";

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

test("state across cells, the last expression and a figure as PNG", { skip }, async (t) => {
    const brig = client(t);
    const nb = brig.session(`ts-cells-${Date.now()}`);
    const cell = (code) => nb.run({ runtime: "python", code }, { timeoutMs: ANSWER_MS });

    const first = await cell("x = 20");
    assert.equal(first.status, "ok", explained(first));
    assert.equal(first.interpreter.started, true);
    assert.deepEqual(first.outputs, []);

    const second = await cell("print('hello'); x + 22");
    assert.equal(second.status, "ok", explained(second));
    assert.equal(second.interpreter.started, false);
    assert.equal(second.interpreter.execution_count, 2);
    assert.equal(second.stdoutText, "hello\n");
    assert.equal(second.outputs.length, 1);
    assert.equal(second.outputs[0].kind, "result");
    assert.equal(second.outputs[0].text, "42");

    const figure = await cell(
        "import matplotlib.pyplot as plt\nplt.figure(figsize=(4, 3), dpi=100)\nplt.plot([1, 2, 3])",
    );
    assert.equal(figure.status, "ok", explained(figure));
    const images = figure.images;
    assert.equal(images.length, 1, JSON.stringify(figure.outputs.map((o) => o.mimeTypes)));
    assert.equal(images[0].mime, "image/png");
    assert.deepEqual([...images[0].data.subarray(0, 8)], PNG_SIGNATURE);
    assert.ok(figure.outputs.some((o) => o.png !== undefined));

    const table = await cell("import pandas as pd\npd.DataFrame({'a': [1, 2]})");
    assert.match(table.outputs[0].html, /<table/);
});

test("an exception comes back and the session lives on", { skip }, async (t) => {
    const brig = client(t);
    const nb = brig.session(`ts-exc-${Date.now()}`);
    const cell = (code) => nb.run({ runtime: "python", code }, { timeoutMs: ANSWER_MS });
    await cell("y = 7");
    const r = await cell("def f():\n    return 1 / 0\nf()");
    assert.equal(r.status, "failed", explained(r));
    assert.equal(r.exception.name, "ZeroDivisionError");
    assert.equal(r.exception.value, "division by zero");
    assert.ok(r.exception.traceback.some((line) => line.includes("return 1 / 0")));
    assert.equal((await cell("y")).outputs[0].text, "7");
});
