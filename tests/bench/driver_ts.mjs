// The TypeScript client as a driver of the agent-pace harness
// (tests/bench/agent_pace.py describes the protocol): one long-lived Brig,
// connected before it says ready, then per job line on stdin one run(),
// timed on the monotonic clock from just before the call until the result
// is in hand, and one result line on stdout with the result's received,
// started and finished times and the client's own around the call (wall
// clock, ms). Brokers and topic prefix come from BRIG_BROKERS and
// BRIG_TOPIC_PREFIX; the package must be built (npm run build in
// producer/typescript, which tests/e2e/test_ts_client.py also does).
import { createInterface } from "node:readline";

const { Brig } = await import(
    new URL("../../producer/typescript/dist/index.js", import.meta.url).href
);

const WAIT_MS = 120000;
const say = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

const brig = new Brig({ topicPrefix: process.env.BRIG_TOPIC_PREFIX || "brig" });
try {
    await brig.connect();
    say({ ready: true });
    for await (const text of createInterface({ input: process.stdin })) {
        if (!text.trim()) continue;
        const { id, runtime, code } = JSON.parse(text);
        const submitted_ms = Date.now();
        const start = process.hrtime.bigint();
        const r = await brig.run({ id, runtime, code }, { timeoutMs: WAIT_MS });
        const client_ms = Number(process.hrtime.bigint() - start) / 1e6;
        say({
            id: r.id,
            client_ms,
            wall_us: r.usage?.wall_us ?? null,
            status: r.status,
            submitted_ms,
            received_ms: r.received_ms,
            started_ms: r.started_ms,
            finished_ms: r.finished_ms,
            answered_ms: Date.now(),
        });
    }
} catch (e) {
    process.stderr.write(`driver_ts: ${e.message}\n`);
    process.exitCode = 1;
} finally {
    await brig.close();
}
