/**
 * The results of the jobs a client watches, read from its reply topic by one
 * PartitionReader positioned at the topic's end before the first job is
 * sent, so that no result can slip past. Results of ids nobody watches
 * (other clients' jobs on a shared topic) are skipped without being decoded.
 * The first result of an id wins: a later one is a redelivery answered from
 * the worker's audit store, the same answer (SCHEMA.md section 4).
 */
import { BrigError, ClientClosed, JobTimeout, SchemaError } from "./errors.js";
import type { KafkaRecord } from "./kafka/reader.js";
import { type Result, decodeResult } from "./wire/result.js";

type Outcome = Result | SchemaError;

export class Replies {
    private readonly watched = new Set<string>();
    private readonly arrived = new Map<string, Outcome>();
    private readonly waiters = new Map<string, Set<() => void>>();
    private failure: ClientClosed | undefined;
    private wakeReader: (() => void) | undefined;

    constructor(private readonly topic: string) {}

    /** Whether any job is watched: a reader with none may slow down. */
    get busy(): boolean {
        return this.watched.size > 0;
    }

    /** Resolves at once while a job is watched, else when one is or after
     * idleMs, whichever comes first. */
    pace(idleMs: number): Promise<void> {
        if (this.busy || this.failure) return Promise.resolve();
        return new Promise((resolve) => {
            const timer = setTimeout(resolve, idleMs);
            this.wakeReader = () => {
                clearTimeout(timer);
                resolve();
            };
        });
    }

    watch(id: string): void {
        this.watched.add(id);
        const wake = this.wakeReader;
        this.wakeReader = undefined;
        wake?.();
    }

    forget(id: string): void {
        this.watched.delete(id);
        this.arrived.delete(id);
    }

    take(records: KafkaRecord[]): void {
        for (const record of records) {
            const keyId = record.key?.toString("utf8");
            if (keyId !== undefined && !this.watched.has(keyId)) continue;
            if (record.value === null) continue;
            let outcome: Outcome;
            let id: string;
            try {
                outcome = decodeResult(record.value);
                id = outcome.id;
            } catch (e) {
                if (!(e instanceof SchemaError) || keyId === undefined) continue;
                id = keyId;
                outcome = new SchemaError(
                    e.field,
                    `${e.reason} (the result of job ${keyId} on ${this.topic} [${record.partition}] at offset ${record.offset})`,
                );
            }
            if (!this.watched.has(id) || this.arrived.has(id)) continue;
            this.arrived.set(id, outcome);
            this.waiters.get(id)?.forEach((notify) => notify());
        }
    }

    /** The reader stopped for good: every wait fails with why. */
    fail(e: Error): void {
        this.failure =
            e instanceof ClientClosed
                ? e
                : new ClientClosed(`the client's result reader stopped: ${e.message}`);
        for (const set of this.waiters.values()) set.forEach((notify) => notify());
        this.wakeReader?.();
    }

    private check(): void {
        if (this.failure) throw this.failure;
    }

    /** The result of id, waiting up to timeoutMs (undefined: no limit). When
     * the time runs out, JobTimeout, and the job stays watched. */
    async wait(id: string, timeoutMs?: number): Promise<Result> {
        this.check();
        this.watch(id);
        if (!this.arrived.has(id)) {
            await new Promise<void>((resolve, reject) => {
                const set = this.waiters.get(id) ?? new Set();
                this.waiters.set(id, set);
                let timer: NodeJS.Timeout | undefined;
                const notify = () => {
                    clearTimeout(timer);
                    set.delete(notify);
                    if (set.size === 0) this.waiters.delete(id);
                    resolve();
                };
                set.add(notify);
                if (timeoutMs !== undefined)
                    timer = setTimeout(
                        () => {
                            set.delete(notify);
                            if (set.size === 0) this.waiters.delete(id);
                            reject(
                                new JobTimeout(
                                    `no result for job ${id} within ${timeoutMs} ms`,
                                    id,
                                ),
                            );
                        },
                        Math.max(timeoutMs, 0),
                    );
            });
        }
        const outcome = this.arrived.get(id);
        if (outcome === undefined) {
            this.check();
            throw new BrigError(`the wait for job ${id} ended without its result`);
        }
        this.arrived.delete(id);
        this.watched.delete(id);
        if (outcome instanceof SchemaError) throw outcome;
        return outcome;
    }

    /** The client closed: every wait fails. */
    close(): void {
        this.fail(new ClientClosed("the client is closed"));
    }
}
