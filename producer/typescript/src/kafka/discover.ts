/**
 * Finding the Kafka broker: given, else $BRIG_BROKERS, else the address an
 * embedded broker of a brig-worker on this host wrote to its state directory
 * (the search of the worker's worker/state_file.c and the Python client).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { BrokerNotFound } from "../errors.js";

/** $BRIG_STATE_DIR, else $XDG_RUNTIME_DIR/brig for a user other than root,
 * else /run/brig. */
export function stateDir(): string {
    const given = process.env.BRIG_STATE_DIR;
    if (given) return given;
    const xdg = process.env.XDG_RUNTIME_DIR;
    if (process.getuid?.() !== 0 && xdg) return join(xdg, "brig");
    return "/run/brig";
}

/** Where the brokers come from, and the largest message the embedded broker
 * keeps (it deletes older messages past a few MiB a partition). */
export interface Discovered {
    brokers: string[];
    messageMax?: number;
}

export function discoverBrokers(given?: string | string[]): Discovered {
    const list = (text: string) =>
        text
            .split(",")
            .map((b) => b.trim())
            .filter(Boolean);
    if (given && given.length) return { brokers: typeof given === "string" ? list(given) : given };
    if (process.env.BRIG_BROKERS) return { brokers: list(process.env.BRIG_BROKERS) };
    const path = join(stateDir(), "broker");
    let lines: string[];
    try {
        lines = readFileSync(path, "utf8").split("\n");
    } catch (e) {
        throw new BrokerNotFound(
            `no broker given (brokers, bootstrap.servers or BRIG_BROKERS) and no embedded broker running (${path}: ${(e as Error).message})`,
        );
    }
    if (!lines[0].trim()) throw new BrokerNotFound(`reading ${path}: empty file`);
    const out: Discovered = { brokers: list(lines[0]) };
    for (const line of lines.slice(1)) {
        const [name, value] = line.trim().split(" ");
        if (name === "message_max_bytes" && /^[0-9]+$/.test(value ?? ""))
            out.messageMax = Number(value);
    }
    return out;
}
