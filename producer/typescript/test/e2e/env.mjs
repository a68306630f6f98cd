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
