// The job encoder: what a caller gives becomes the job a worker reads, and
// a mistake is refused before sending, named by the field a worker would
// name.
import assert from "node:assert/strict";
import { test } from "node:test";

import { InvalidJob, decodeJob, encodeJob, newJobId } from "../dist/index.js";

const refused = (spec, field, keyword) =>
    assert.throws(
        () => encodeJob(spec),
        (e) => {
            assert.ok(e instanceof InvalidJob, String(e));
            assert.equal(e.field, field, e.message);
            assert.ok(e.reason.includes(keyword), e.message);
            return true;
        },
    );

test("every field round-trips, maps given as objects or Maps", () => {
    const spec = {
        id: "j-1",
        runtime: "python",
        code: "print(1)",
        args: ["a", ""],
        stdin: new Uint8Array([0, 255]),
        env: new Map([["DEBUG", "1"]]),
        files: { "data/in.csv": "a,b\n", "bin/run": new Uint8Array([1, 2]) },
        limits: { wall_ms: 2000, memory_bytes: 64 << 20 },
        network: ["pypi.org", "*.example.com:443"],
        session: "nb1",
        collect: ["out/*"],
        stream_logs: true,
        metadata: { agent: "t" },
        deadline_ms: 1764000060000,
        replay_of: "j-0",
        executable: ["bin/run"],
    };
    const { id, key, value } = encodeJob(spec, "me.results");
    assert.equal(id, "j-1");
    assert.equal(key, "nb1");
    const job = decodeJob(value);
    assert.deepEqual(
        job.files,
        new Map([
            ["data/in.csv", new TextEncoder().encode("a,b\n")],
            ["bin/run", new Uint8Array([1, 2])],
        ]),
    );
    assert.deepEqual(job.env, new Map([["DEBUG", "1"]]));
    assert.deepEqual(job.metadata, new Map([["agent", "t"]]));
    assert.deepEqual(job.network, { allow: ["pypi.org", "*.example.com:443"] });
    assert.deepEqual(job.limits, { wall_ms: 2000, memory_bytes: 64 << 20 });
    assert.equal(job.reply_topic, "me.results");
    assert.deepEqual(job.stdin, new Uint8Array([0, 255]));
    assert.equal(Buffer.from(job.code).toString(), "print(1)");
    assert.deepEqual(
        [job.session, job.stream_logs, job.deadline_ms, job.replay_of],
        ["nb1", true, 1764000060000, "j-0"],
    );
    assert.deepEqual(job.executable, ["bin/run"]);
});

test("a fresh id keys a job without a session; defaults and empties are left out", () => {
    const { id, key, value } = encodeJob({
        argv: ["true"],
        session: "",
        args: [],
        env: {},
        network: "none",
        stream_logs: false,
    });
    assert.match(id, /^[0-9a-f]{24}$/);
    assert.equal(key, id);
    assert.deepEqual(decodeJob(value), { id, argv: ["true"] });
    assert.notEqual(newJobId(), newJobId());
});

test("a key named __proto__ is a key like any other", () => {
    const files = JSON.parse('{"__proto__": "x"}');
    const job = decodeJob(encodeJob({ argv: ["true"], files }).value);
    assert.deepEqual([...job.files.keys()], ["__proto__"]);
});

test("mistakes are refused naming the field", () => {
    refused({ runtime: "python" }, "code", "missing");
    refused({ code: "x" }, "runtime", "missing");
    refused({ runtime: "python", argv: ["x"], code: "1" }, "argv", "conflict");
    refused({ argv: [] }, "argv", "empty");
    refused({ argv: ["true"], code: "x" }, "code", "conflict");
    refused({ runtime: "Python", code: "1" }, "runtime", "invalid character");
    refused({ argv: ["true"], limits: { wall_ms: 50 } }, "limits.wall_ms", "out of range");
    refused({ argv: ["true"], limits: { wall_ms: 1.5 } }, "limits.wall_ms", "wrong type");
    refused({ argv: ["true"], limits: { wall_ms: "2s" } }, "limits.wall_ms", "wrong type");
    refused({ argv: ["true"], limits: { memory_mb: 5 } }, "limits.memory_mb", "unknown key");
    refused({ argv: ["true"], env: { PATH: "/x" } }, 'env["PATH"]', "reserved name");
    refused({ argv: ["true"], env: { A: 1 } }, 'env["A"]', "wrong type");
    refused(
        { argv: ["true"], files: { "/etc/passwd": "x" } },
        'files["/etc/passwd"]',
        "invalid path",
    );
    refused({ argv: ["true"], files: { a: "1", "a/b": "2" } }, 'files["a/b"]', "path conflict");
    refused({ argv: ["true"], files: { a: 5 } }, 'files["a"]', "wrong type");
    refused({ argv: ["true"], network: ["PyPI.org"] }, "network.allow[0]", "invalid host");
    refused({ argv: ["true"], network: "all" }, "network", "unknown network mode");
    refused({ argv: ["true"], collect: ["../x"] }, "collect[0]", "invalid pattern");
    refused({ argv: ["true"], executable: ["run.sh"] }, "executable[0]", "not in files");
    refused({ argv: ["true"], session: "a b" }, "session", "invalid character");
    refused({ argv: ["true"], deadline_ms: 1764000060000000 }, "deadline_ms", "out of range");
    refused({ argv: ["true"], stream_logs: 1 }, "stream_logs", "wrong type");
    refused({ argv: ["true"], id: "x".repeat(65) }, "id", "too long");
    refused({ argv: ["true"], timeout: 5 }, "timeout", "unknown key");
    refused({ argv: ["true"], reply_topic: "x" }, "reply_topic", "unknown key");
    refused({ runtime: "python", code: "x".repeat((1 << 20) + 1) }, "code", "too long");
});
