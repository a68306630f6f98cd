// The worker these tests run against: its broker's bootstrap servers come in
// BRIG_TEST_BROKERS (tests/e2e/test_ts_client.py starts both). Without it the
// tests are skipped, so that `npm test` runs the unit tests alone.
import { Brig } from "../../dist/index.js";

export const brokers = process.env.BRIG_TEST_BROKERS;
export const skip = brokers
    ? false
    : "BRIG_TEST_BROKERS is not set (tests/e2e/test_ts_client.py sets it)";

// Generous: jobs wait for a free slot, and the machine may be loaded.
export const ANSWER_MS = 120000;

export const text = (b) => Buffer.from(b ?? []).toString("utf8");

/** A client for one test file, closed when it ends. */
export function client(t, options = {}) {
    const brig = new Brig({ brokers, ...options });
    t.after(() => brig.close());
    return brig;
}

export const explained = (result) =>
    `${result.status} exit=${result.exit_code} error=${result.error}\nstdout: ${result.stdoutText}\nstderr: ${result.stderrText}`;

/** A bash job that prints "started" and sleeps a minute, cancelled by by
 * once it printed (so while it runs); its result. */
export async function cancelWhileRunning(brig, by) {
    const id = await brig.submit({
        runtime: "bash",
        code: "echo started; sleep 60",
        stream_logs: true,
        limits: { wall_ms: 90000 },
    });
    for await (const chunk of brig.logs(id, { timeoutMs: ANSWER_MS }))
        if (text(chunk.data).includes("started")) break;
    await brig.cancel(id, { by });
    return brig.wait(id, { timeoutMs: ANSWER_MS });
}
