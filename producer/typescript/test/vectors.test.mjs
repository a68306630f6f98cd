// Every vector of schema/vectors through this package's decoders: a valid one
// decodes to its .json "expected" (SCHEMA.md section 12's canonical view), an
// invalid one is refused naming the vector's field, with a reason holding its
// keyword.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";

import {
    decodeControl,
    decodeDeadLetter,
    decodeJob,
    decodeLogChunk,
    decodeResult,
    decodeRuntimes,
    SchemaError,
} from "../dist/index.js";

const VECTORS = new URL("../../../schema/vectors/", import.meta.url);

const hex = (b) => Buffer.from(b).toString("hex");
const hexMap = (m) => Object.fromEntries([...m].map(([k, v]) => [k, hex(v)]));

/** The canonical view drops absent fields, false, [] and {}; bytes are hex. */
function canonical(view) {
    return Object.fromEntries(
        Object.entries(view)
            .filter(
                ([, v]) =>
                    v !== undefined &&
                    v !== false &&
                    !(Array.isArray(v) && v.length === 0) &&
                    !(v instanceof Map && v.size === 0) &&
                    !(
                        typeof v === "object" &&
                        !Array.isArray(v) &&
                        !(v instanceof Map) &&
                        !(v instanceof Uint8Array) &&
                        Object.keys(v).length === 0
                    ),
            )
            .map(([k, v]) => [
                k,
                v instanceof Uint8Array ? hex(v) : v instanceof Map ? Object.fromEntries(v) : v,
            ]),
    );
}

const VIEWS = {
    job: (data) => {
        const j = decodeJob(data);
        return canonical({ ...j, files: j.files && hexMap(j.files) });
    },
    result: (data) => {
        const { v: _v, ...r } = decodeResult(data);
        return canonical({
            ...r,
            files: hexMap(r.files),
            outputs: r.outputs.map((o) => ({ kind: o.kind, data: hexMap(o.data) })),
            exception: r.exception && canonical(r.exception),
            interpreter: r.interpreter && {
                started: r.interpreter.started,
                ...canonical({
                    execution_count: r.interpreter.execution_count,
                    state_lost: r.interpreter.state_lost,
                }),
            },
        });
    },
    log_chunk: (data) => canonical(decodeLogChunk(data)),
    dead_letter: (data) => {
        const d = decodeDeadLetter(data);
        return canonical({ ...d, key: undefined, ...(d.key ? { key: hex(d.key) } : {}) });
    },
    control: (data) => canonical(decodeControl(data)),
    runtimes: (data) => {
        const r = decodeRuntimes(data);
        return { ...r, runtimes: r.runtimes.map(canonical) };
    },
};

const names = readdirSync(VECTORS)
    .filter((n) => n.endsWith(".msgpack"))
    .map((n) => n.slice(0, -8))
    .sort();

test("there are vectors of every kind", () => {
    assert.ok(names.length >= 150, `${names.length} vectors`);
    const kinds = new Set(
        names.map((n) => JSON.parse(readFileSync(new URL(n + ".json", VECTORS))).kind),
    );
    assert.deepEqual([...kinds].sort(), Object.keys(VIEWS).sort());
});

for (const name of names) {
    test(name, () => {
        const data = new Uint8Array(readFileSync(new URL(name + ".msgpack", VECTORS)));
        const vector = JSON.parse(readFileSync(new URL(name + ".json", VECTORS)));
        const view = VIEWS[vector.kind];
        if (vector.valid) {
            assert.deepEqual(view(data), vector.expected);
            return;
        }
        assert.throws(
            () => view(data),
            (e) => {
                assert.ok(e instanceof SchemaError, `not a SchemaError: ${e}`);
                assert.equal(e.field, vector.error.field, e.message);
                assert.ok(
                    e.reason.includes(vector.error.reason),
                    `"${e.reason}" lacks "${vector.error.reason}"`,
                );
                return true;
            },
        );
    });
}

test("every kind refuses a message over its size bound before reading it", () => {
    const bounds = {
        job: 16 << 20,
        result: 16 << 20,
        log_chunk: 1 << 20,
        dead_letter: (16 << 20) + (64 << 10),
        control: 4096,
        runtimes: 1 << 20,
    };
    for (const [kind, bound] of Object.entries(bounds)) {
        assert.throws(
            () => VIEWS[kind](new Uint8Array(bound + 1).fill(0x80)),
            (e) => e.field === "" && e.reason.startsWith("too large"),
            kind,
        );
    }
});
