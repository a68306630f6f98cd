/**
 * What the pool offers and what a job printed, read from their topics: the
 * runtimes records of <prefix>.runtimes (SCHEMA.md section 9, a compacted
 * topic: the last value of each key, a tombstone removing its worker) and a
 * job's chunks on <prefix>.logs (section 7), put in order.
 */
import { BrigError, JobTimeout, SchemaError } from "./errors.js";
import type { Link } from "./kafka/link.js";
import { scan } from "./kafka/scan.js";
import { LogOrder } from "./log_order.js";
import {
    type LogChunk,
    type Stream,
    type WorkerRuntimes,
    decodeLogChunk,
    decodeRuntimes,
} from "./wire/messages.js";

/** The workers that announced themselves and have not left, by worker id. */
export async function readRuntimes(
    link: Link,
    topic: string,
    timeoutMs: number,
): Promise<WorkerRuntimes[]> {
    const workers = new Map<string, WorkerRuntimes>();
    const records = scan(link, topic, {
        until: "end",
        deadline: Date.now() + timeoutMs,
        timedOut: () =>
            new BrigError(`reading ${topic} to its end took longer than ${timeoutMs} ms`),
        waitMs: 0,
    });
    for await (const batch of records) {
        for (const record of batch) {
            if (record.key === null) continue;
            const key = record.key.toString("latin1");
            if (record.value === null) {
                workers.delete(key);
                continue;
            }
            try {
                const runtimes = decodeRuntimes(record.value);
                if (Buffer.from(runtimes.worker_id).toString("latin1") === key)
                    workers.set(key, runtimes);
            } catch (e) {
                if (!(e instanceof SchemaError)) throw e; // a broken record says nothing
            }
        }
    }
    return [...workers.values()].sort((a, b) =>
        a.worker_id < b.worker_id ? -1 : a.worker_id > b.worker_id ? 1 : 0,
    );
}

/** A piece of a job's live output. */
export interface OutputChunk {
    stream: Stream;
    data: Uint8Array;
}

export interface LogsOptions {
    /** On until both streams of the job's latest attempt end (default); else
     * up to what the logs topic holds now. */
    follow?: boolean;
    /** JobTimeout after this long; none by default (a job without
     * stream_logs never ends its streams: give one). */
    timeoutMs?: number;
}

/** The chunks that carry output of job id, in order, from its first. */
export async function* readLogs(
    link: Link,
    topic: string,
    id: string,
    options: LogsOptions,
    waitMs: number,
): AsyncGenerator<OutputChunk> {
    const follow = options.follow ?? true;
    const order = new LogOrder();
    const key = Buffer.from(id);
    const visible = (chunks: LogChunk[]) =>
        chunks.filter((c) => c.data.length).map((c) => ({ stream: c.stream, data: c.data }));
    const records = scan(link, topic, {
        until: follow ? "follow" : "end",
        deadline: options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs,
        timedOut: () =>
            new JobTimeout(`the logs of job ${id} did not end within ${options.timeoutMs} ms`, id),
        waitMs,
    });
    for await (const batch of records) {
        for (const record of batch) {
            if ((record.key !== null && !record.key.equals(key)) || record.value === null) continue;
            let chunk: LogChunk;
            try {
                chunk = decodeLogChunk(record.value);
            } catch (e) {
                if (e instanceof SchemaError) continue; // lost output; the result has all of it
                throw e;
            }
            if (chunk.id === id) yield* visible(order.feed(chunk));
        }
        if (follow && order.finished) return;
    }
    yield* visible(order.flush());
}
