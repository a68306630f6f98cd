// A client that cannot reach its broker says so within seconds; one with no
// broker at all says where it looked.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";

import { Brig, BrokerNotFound, BrokerUnreachable } from "../../dist/index.js";

async function closedPort() {
    const server = createServer();
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address();
    await new Promise((resolve) => server.close(resolve));
    return port;
}

test("an unreachable broker is a clear error within the connect timeout", async () => {
    const brokers = `127.0.0.1:${await closedPort()}`;
    const brig = new Brig({ brokers, connectTimeoutMs: 2000 });
    await assert.rejects(brig.run({ argv: ["true"] }), (e) => {
        assert.ok(e instanceof BrokerUnreachable, String(e));
        assert.match(
            e.message,
            new RegExp(`cannot reach the Kafka broker at ${brokers} within 2 s: .*ECONNREFUSED`),
        );
        return true;
    });
    await brig.close();
});

test("a broker that accepts and never answers is the same error", async () => {
    const server = createServer(() => {}); // takes the connection, says nothing
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    const brokers = `127.0.0.1:${server.address().port}`;
    await assert.rejects(
        Brig.connect({ brokers, connectTimeoutMs: 1500 }),
        (e) => e instanceof BrokerUnreachable && /within 1.5 s/.test(e.message),
    );
    server.close();
});

test("no broker given and no embedded broker", async () => {
    const saved = { ...process.env };
    process.env.BRIG_STATE_DIR = "/nonexistent/brig-state";
    delete process.env.BRIG_BROKERS;
    try {
        await assert.rejects(
            Brig.connect(),
            (e) =>
                e instanceof BrokerNotFound && /\/nonexistent\/brig-state\/broker/.test(e.message),
        );
    } finally {
        process.env = saved;
    }
});
