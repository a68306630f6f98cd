// Signing (SCHEMA.md section 14) against schema/signing/vectors.json: every
// vector a signer made (valid, with signed_by) is reproduced from its key's
// seed, its signing input and its brig-sig byte for byte; and the client's
// options: a key file as brig keygen writes it, refused when others may read
// it, tenant and key both or neither, the reply topic the tenant's.
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { Brig, BrigError, InvalidJob, Signer, loadKey, signingInput } from "../dist/index.js";

const VECTORS = JSON.parse(
    readFileSync(new URL("../../../schema/signing/vectors.json", import.meta.url), "utf8"),
);

// RFC 8410's PKCS#8 wrapping of a 32-byte Ed25519 seed.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const keyOf = (seed) =>
    createPrivateKey({
        key: Buffer.concat([PKCS8_PREFIX, Buffer.from(seed, "hex")]),
        format: "der",
        type: "pkcs8",
    });
const publicText = (key) =>
    "ed25519:" +
    createPublicKey(key).export({ format: "der", type: "spki" }).subarray(-32).toString("base64");
const bytes = (hex) => (hex === null ? null : Buffer.from(hex, "hex"));

const SIGNED = VECTORS.vectors.filter((v) => v.valid && v.signed_by);

test("the vectors hold signed messages of every key", () => {
    assert.ok(SIGNED.length >= 9);
    assert.deepEqual(new Set(SIGNED.map((v) => v.signed_by)), new Set(Object.keys(VECTORS.keys)));
});

for (const v of SIGNED)
    test(`vector: ${v.description}`, () => {
        const key = keyOf(VECTORS.keys[v.signed_by].seed);
        assert.equal(publicText(key), VECTORS.keys[v.signed_by].public);
        const tenant = v.headers["brig-tenant"];
        const ts = Number(v.headers["brig-ts"]);
        const input = signingInput(v.topic, tenant, ts, bytes(v.key), bytes(v.value));
        assert.equal(input.toString("hex"), v.signing_input);
        const headers = new Signer(tenant, key).headers(v.topic, bytes(v.key), bytes(v.value), ts);
        assert.deepEqual(headers, v.headers);
    });

test("a null Kafka key and an empty one are signed apart", () => {
    const input = (key) => signingInput("brig.jobs", "acme", 1, key, Buffer.alloc(0));
    assert.notDeepEqual(input(null), input(Buffer.alloc(0)));
});

test("a tenant's name is checked before anything is signed", () => {
    const key = keyOf(VECTORS.keys.globex.seed);
    for (const bad of ["", "Acme", "-acme", "a".repeat(33), "ac me", "acmé"])
        assert.throws(() => new Signer(bad, key), /tenant .*1 to 32 bytes/, bad);
});

/** A directory with acme's key written as brig keygen writes it. */
function keyFile(t, mode) {
    const dir = mkdtempSync(join(tmpdir(), "brig-sign-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "acme.pem");
    const pem = keyOf(VECTORS.keys["acme-2024"].seed).export({ format: "pem", type: "pkcs8" });
    writeFileSync(path, pem, { mode: 0o600 });
    chmodSync(path, mode);
    return path;
}

test("a key file of brig keygen's format signs as its seed does", (t) => {
    const v = SIGNED.find((s) => s.signed_by === "acme-2024");
    const signer = new Signer("acme", loadKey(keyFile(t, 0o600)));
    const ts = Number(v.headers["brig-ts"]);
    assert.deepEqual(signer.headers(v.topic, bytes(v.key), bytes(v.value), ts), v.headers);
});

test("a key file group or others may read is refused, naming it", (t) => {
    for (const mode of [0o640, 0o604, 0o644]) {
        const path = keyFile(t, mode);
        assert.throws(
            () => loadKey(path),
            (e) =>
                e instanceof BrigError &&
                e.message.includes(path) &&
                e.message.includes(`chmod 600 ${path}`),
            mode.toString(8),
        );
    }
});

test("a missing key file or one that is no key is named", (t) => {
    const path = keyFile(t, 0o600);
    assert.throws(() => loadKey(`${path}.none`), new RegExp(`key ${path}\\.none: .*ENOENT`));
    writeFileSync(path, "not a key\n");
    assert.throws(() => loadKey(path), new RegExp(`key ${path}: reading a PEM private key`));
});

test("a client signs for a tenant and reads its topics", (t) => {
    const brig = new Brig({ tenant: "acme", keyFile: keyFile(t, 0o600), topicPrefix: "p" });
    assert.equal(brig.resultsTopic, "p.results.acme");
    assert.equal(brig.replyTopic, "p.results.acme");
    assert.equal(brig.logsTopic, "p.logs.acme");
    const under = new Brig({
        tenant: "acme",
        keyFile: keyFile(t, 0o600),
        replyTopic: "brig.results.acme.agent1",
    });
    assert.equal(under.replyTopic, "brig.results.acme.agent1");
});

test("a tenant's reply topic must be its own or under it", (t) => {
    const path = keyFile(t, 0o600);
    for (const replyTopic of ["brig.results", "brig.results.acmex", "brig.results.beta", "other"])
        assert.throws(
            () => new Brig({ tenant: "acme", keyFile: path, replyTopic }),
            (e) =>
                e instanceof InvalidJob &&
                e.field === "replyTopic" &&
                e.reason.includes("brig.results.acme or a topic under it"),
            replyTopic,
        );
});

test("tenant and key come both or neither, from options or the environment", (t) => {
    const path = keyFile(t, 0o600);
    const saved = { tenant: process.env.BRIG_TENANT, key: process.env.BRIG_KEY };
    t.after(() => {
        for (const [name, value] of [
            ["BRIG_TENANT", saved.tenant],
            ["BRIG_KEY", saved.key],
        ])
            if (value === undefined) delete process.env[name];
            else process.env[name] = value;
    });
    delete process.env.BRIG_TENANT;
    delete process.env.BRIG_KEY;
    assert.equal(new Brig().resultsTopic, "brig.results");
    assert.throws(() => new Brig({ tenant: "acme" }), /keyFile: a tenant signs with its key/);
    assert.throws(() => new Brig({ keyFile: path }), /tenant: a tenant signs with its key/);
    assert.throws(() => new Brig({ tenant: "Acme", keyFile: path }), /tenant "Acme"/);
    process.env.BRIG_TENANT = "acme";
    process.env.BRIG_KEY = path;
    assert.equal(new Brig().resultsTopic, "brig.results.acme");
    process.env.BRIG_KEY = `${path}.none`;
    assert.throws(() => new Brig(), /ENOENT/);
});
