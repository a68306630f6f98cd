// The client on a real cluster's SASL_SSL listener, given librdkafka
// properties as every brig client takes them, within the ACLs of
// mk/kafka/acls.sh (tests/e2e/test_ts_client.py sets the cluster up and
// passes it in BRIG_TEST_SASL_*; without them the tests are skipped).
import assert from "node:assert/strict";
import { test } from "node:test";

import { Brig, BrigError, BrokerUnreachable } from "../../dist/index.js";

const env = process.env;
const brokers = env.BRIG_TEST_SASL_BROKERS;
const skip = brokers ? false : "BRIG_TEST_SASL_BROKERS is not set (tests/e2e/test_ts_client.py)";
const prefix = env.BRIG_TEST_SASL_PREFIX;
const ANSWER_MS = 120000;

function client(t, options) {
    const brig = new Brig({ brokers, topicPrefix: prefix, connectTimeoutMs: 10000, ...options });
    t.after(() => brig.close());
    return brig;
}

test("a job over SASL_SSL with the agent's properties file", { skip }, async (t) => {
    const brig = client(t, {
        replyTopic: `${prefix}.reply.agent-a`,
        kafka: { configFile: env.BRIG_TEST_SASL_CONFIG, properties: { "client.id": "ts-agent-a" } },
    });
    const r = await brig.run({ argv: ["echo", "over SASL_SSL"] }, { timeoutMs: ANSWER_MS });
    assert.equal(r.status, "ok", `${r.status} ${r.error}`);
    assert.equal(r.stdoutText, "over SASL_SSL\n");
});

test("a wrong password is refused by name, at once", { skip }, async (t) => {
    const brig = client(t, {
        replyTopic: `${prefix}.reply.agent-a`,
        kafka: { configFile: env.BRIG_TEST_SASL_CONFIG, properties: { "sasl.password": "wrong" } },
    });
    await assert.rejects(brig.connect(), (e) => {
        assert.ok(e instanceof BrokerUnreachable, String(e));
        assert.match(e.message, /refused this client/);
        return true;
    });
});

test("an agent may not read another agent's replies", { skip }, async (t) => {
    const brig = client(t, {
        replyTopic: `${prefix}.reply.agent-b`,
        kafka: { configFile: env.BRIG_TEST_SASL_CONFIG },
    });
    await assert.rejects(
        brig.connect(),
        (e) => e instanceof BrigError && /may not use it \(Kafka ACLs\)/.test(e.message),
    );
});
