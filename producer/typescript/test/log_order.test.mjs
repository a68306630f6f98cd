// Log chunks back in order: per stream by seq, each once, the newest attempt
// only, gaps waited for up to a bound.
import assert from "node:assert/strict";
import { test } from "node:test";

import { LogOrder, MAX_HELD } from "../dist/log_order.js";

const chunk = (stream, seq, { attempt = 1, eos = false, text = `${stream}${seq}` } = {}) => ({
    id: "j",
    attempt,
    stream,
    seq,
    data: new TextEncoder().encode(text),
    ts_ms: 1,
    eos,
});
const names = (chunks) => chunks.map((c) => `${c.stream}${c.seq}`);

test("out of order and twice: each once, in order", () => {
    const order = new LogOrder();
    assert.deepEqual(names(order.feed(chunk("stdout", 1))), []);
    assert.deepEqual(names(order.feed(chunk("stderr", 0))), ["stderr0"]);
    assert.deepEqual(names(order.feed(chunk("stdout", 0))), ["stdout0", "stdout1"]);
    assert.deepEqual(names(order.feed(chunk("stdout", 1))), []);
    assert.deepEqual(names(order.feed(chunk("stdout", 2, { eos: true }))), ["stdout2"]);
    assert.equal(order.finished, false);
    assert.deepEqual(names(order.feed(chunk("stderr", 1, { eos: true }))), ["stderr1"]);
    assert.equal(order.finished, true);
    assert.deepEqual(names(order.feed(chunk("stdout", 3))), []);
});

test("a newer attempt starts over; an older one is ignored", () => {
    const order = new LogOrder();
    order.feed(chunk("stdout", 0));
    assert.deepEqual(names(order.feed(chunk("stdout", 0, { attempt: 2 }))), ["stdout0"]);
    assert.deepEqual(names(order.feed(chunk("stdout", 1, { attempt: 1 }))), []);
    assert.equal(order.attempt, 2);
});

test("a gap that does not fill is given up past the bound, and at the end", () => {
    const order = new LogOrder();
    for (let seq = 1; seq <= MAX_HELD; seq++)
        assert.deepEqual(order.feed(chunk("stdout", seq)), []);
    const ready = order.feed(chunk("stdout", MAX_HELD + 1));
    assert.equal(ready.length, MAX_HELD + 1);
    assert.equal(ready[0].seq, 1);
    order.feed(chunk("stderr", 5));
    assert.deepEqual(names(order.flush()), ["stderr5"]);
});
