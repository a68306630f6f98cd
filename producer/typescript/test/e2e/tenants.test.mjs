// A client signing as a tenant against a worker started with --tenants
// (tests/e2e/test_ts_client.py starts it, with a key of brig keygen): its
// job runs and is answered on the tenant's topic, its cancel stops a running
// job, and an unsigned client's job is a dead letter with no result.
import assert from "node:assert/strict";
import { test } from "node:test";

import kafkajs from "kafkajs";

import { decodeDeadLetter, JobTimeout } from "../../dist/index.js";
import { ANSWER_MS, cancelWhileRunning, client, explained } from "./env.mjs";

const brokers = process.env.BRIG_TEST_TENANT_BROKERS;
const tenant = process.env.BRIG_TEST_TENANT;
const keyFile = process.env.BRIG_TEST_TENANT_KEY;
const skip = brokers
    ? false
    : "BRIG_TEST_TENANT_BROKERS is not set (tests/e2e/test_ts_client.py sets it)";

const signed = (t) => client(t, { brokers, tenant, keyFile });

test("a signed job runs and is answered on the tenant's topic", { skip }, async (t) => {
    const brig = signed(t);
    assert.equal(brig.replyTopic, `brig.results.${tenant}`);
    const r = await brig.run({ argv: ["echo", "signed"] }, { timeoutMs: ANSWER_MS });
    assert.equal(r.status, "ok", explained(r));
    assert.equal(r.stdoutText, "signed\n");
});

test("a signed cancel stops the tenant's running job", { skip }, async (t) => {
    // Its live output, which tells it runs, comes on the tenant's logs topic.
    const r = await cancelWhileRunning(signed(t), "tenants.test");
    assert.equal(r.status, "cancelled", explained(r));
    assert.match(r.error, /tenants\.test/);
    assert.ok(r.usage.wall_us < 60e6, "stopped before its 60 s sleep ended");
});

/** The dead letter whose Kafka key is key, read from brig.dlq's start. */
async function deadLetter(t, key) {
    const kafka = new kafkajs.Kafka({
        brokers: brokers.split(","),
        clientId: "tenants.test",
        logLevel: kafkajs.logLevel.NOTHING,
    });
    const consumer = kafka.consumer({ groupId: `tenants-test-${process.pid}-${Date.now()}` });
    t.after(() => consumer.disconnect());
    await consumer.connect();
    await consumer.subscribe({ topic: "brig.dlq", fromBeginning: true });
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no dead letter keyed ${key}`)), ANSWER_MS);
        consumer
            .run({
                eachMessage: async ({ message }) => {
                    const letter = decodeDeadLetter(message.value);
                    if (Buffer.from(letter.key ?? []).toString() !== key) return;
                    clearTimeout(timer);
                    resolve(letter);
                },
            })
            .catch(reject);
    });
}

test("an unsigned client's job is a dead letter with no result", { skip }, async (t) => {
    const unsigned = client(t, { brokers, tenant: "", keyFile: "" });
    const brig = signed(t);
    // Both keyed by the session, so on one partition: once the signed job
    // is answered, the worker has read and refused the unsigned one.
    const session = `ts-tenants-${process.pid}`;
    const id = await unsigned.submit({ argv: ["echo", "unsigned"], session });
    const after = await brig.run({ argv: ["echo", "after"], session }, { timeoutMs: ANSWER_MS });
    assert.equal(after.status, "ok", explained(after));
    const letter = await deadLetter(t, session);
    assert.equal(letter.reason.split(":")[0], "unsigned");
    assert.equal(letter.field ?? "", "");
    await assert.rejects(unsigned.wait(id, { timeoutMs: 3000 }), JobTimeout);
});
