/**
 * Reading every partition of one topic from offsets chosen by the caller,
 * without a consumer group: one fetch loop per partition leader, each with
 * one fetch in flight at a time, delivering records as each leader answers.
 *
 * A leader that moves, a broker that goes away or a request that times out
 * makes the reader ask the cluster's metadata again and start its loops over
 * from the positions it had; records are never delivered twice, since a
 * record below a partition's position is dropped.
 */
import { BrigError } from "../errors.js";
import type { Cluster, FetchResponse } from "./link.js";

export interface KafkaRecord {
    partition: number;
    offset: bigint;
    key: Buffer | null;
    /** A plain Uint8Array: what is decoded from it (files, outputs, stdout)
     * is handed to callers as the API says, not as KafkaJS's Buffer. */
    value: Uint8Array | null;
}

export interface ReaderOptions {
    /** The records of one fetch, in partition order (possibly none). */
    onRecords(records: KafkaRecord[], fetched: number[]): void;
    /** A failure no retry cures; the reader has stopped. */
    onError(e: Error): void;
    /** How long the broker may hold a fetch that finds nothing. */
    waitMs(): number;
    /** Resolves when the next fetch may go: a reader with nothing to wait
     * for may slow down. */
    pace?(): Promise<void>;
}

const PARTITION_MAX_BYTES = 1 << 20;
const FETCH_MAX_BYTES = 64 << 20;
const RETRY_MS = [50, 100, 200, 500, 1000];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function authorizationError(topic: string): BrigError {
    return new BrigError(
        `reading topic ${topic}: this client's principal may not use it (Kafka ACLs): give it its own reply topic that the ACLs allow`,
    );
}

/** The partition numbers of topic, waiting until deadline (Date.now() ms)
 * for an auto-created topic to get them. */
export async function partitionsOf(
    cluster: Cluster,
    topic: string,
    deadline: number,
): Promise<number[]> {
    let why = "no partitions";
    for (;;) {
        try {
            await cluster.addMultipleTargetTopics([topic]);
            await cluster.refreshMetadata();
            const partitions = cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId);
            if (partitions.length) return partitions.sort((a, b) => a - b);
        } catch (e) {
            const err = e as { type?: string; message: string };
            // Waiting does not grant access.
            if (err.type === "TOPIC_AUTHORIZATION_FAILED") throw authorizationError(topic);
            why = err.message;
        }
        if (Date.now() >= deadline)
            throw new BrigError(`reading the partitions of topic ${topic}: ${why}`);
        await sleep(100);
    }
}

/** Where each partition of topic ends now, or starts ("beginning"). */
export async function offsetsOf(
    cluster: Cluster,
    topic: string,
    partitions: number[],
    where: "end" | "beginning",
): Promise<Map<number, bigint>> {
    try {
        const [found] = await cluster.fetchTopicsOffset([
            {
                topic,
                partitions: partitions.map((partition) => ({ partition })),
                fromBeginning: where === "beginning",
            },
        ]);
        return new Map(found.partitions.map((p) => [p.partition, BigInt(p.offset)]));
    } catch (e) {
        if ((e as { type?: string }).type === "TOPIC_AUTHORIZATION_FAILED")
            throw authorizationError(topic);
        throw new BrigError(
            `asking where the partitions of ${topic} ${where === "end" ? "end" : "start"}: ${(e as Error).message}`,
        );
    }
}

export class PartitionReader {
    private generation = 0;
    private stopped = false;
    private failures = 0;

    constructor(
        private readonly cluster: Cluster,
        readonly topic: string,
        /** partition -> the offset of the next record to read. */
        readonly positions: Map<number, bigint>,
        private readonly options: ReaderOptions,
    ) {}

    start(): void {
        this.spawn();
    }

    stop(): void {
        this.stopped = true;
    }

    private spawn(): void {
        const generation = ++this.generation;
        let byLeader: Record<string, number[]>;
        try {
            byLeader = this.cluster.findLeaderForPartitions(this.topic, [...this.positions.keys()]);
        } catch (e) {
            void this.recover(generation, e);
            return;
        }
        for (const [leader, partitions] of Object.entries(byLeader))
            void this.loop(generation, leader, partitions);
    }

    private current(generation: number): boolean {
        return !this.stopped && generation === this.generation;
    }

    private async loop(generation: number, leader: string, partitions: number[]): Promise<void> {
        while (this.current(generation)) {
            try {
                await this.options.pace?.();
                if (!this.current(generation)) return;
                const broker = await this.cluster.findBroker({ nodeId: leader });
                const response = await broker.fetch({
                    maxWaitTime: this.options.waitMs(),
                    minBytes: 1,
                    maxBytes: FETCH_MAX_BYTES,
                    topics: [
                        {
                            topic: this.topic,
                            partitions: partitions.map((partition) => ({
                                partition,
                                fetchOffset: (this.positions.get(partition) as bigint).toString(),
                                maxBytes: PARTITION_MAX_BYTES,
                            })),
                        },
                    ],
                });
                this.failures = 0;
                if (this.stopped) return;
                this.options.onRecords(this.take(response.responses), partitions);
            } catch (e) {
                if (this.current(generation)) await this.recover(generation, e);
                return;
            }
        }
    }

    /** The records of a fetch at or past each partition's position (a
     * fetch returns whole batches, which may start earlier), advancing it.
     * Control records of transactions take an offset and are not delivered. */
    private take(responses: FetchResponse["responses"]): KafkaRecord[] {
        const records: KafkaRecord[] = [];
        for (const t of responses) {
            for (const p of t.partitions) {
                let position = this.positions.get(p.partition);
                if (position === undefined) continue;
                for (const m of p.messages) {
                    const offset = BigInt(m.offset);
                    if (offset < position) continue;
                    position = offset + 1n;
                    if (!m.isControlRecord)
                        records.push({
                            partition: p.partition,
                            offset,
                            key: m.key,
                            value:
                                m.value &&
                                new Uint8Array(m.value.buffer, m.value.byteOffset, m.value.length),
                        });
                }
                this.positions.set(p.partition, position);
            }
        }
        return records;
    }

    /** After a failed fetch: an offset the partition no longer has is moved
     * to the nearest one it has; an ACL refusal stops the reader; anything
     * else asks the metadata again and starts the loops over. */
    private async recover(generation: number, e: unknown): Promise<void> {
        const err = e as { type?: string; name?: string; partition?: number; message?: string };
        if (err.type === "TOPIC_AUTHORIZATION_FAILED") {
            this.stopped = true;
            this.options.onError(authorizationError(this.topic));
            return;
        }
        await sleep(RETRY_MS[Math.min(this.failures++, RETRY_MS.length - 1)]);
        if (!this.current(generation)) return;
        try {
            if (err.name === "KafkaJSOffsetOutOfRange" && err.partition !== undefined) {
                await this.clamp(err.partition);
            } else {
                await this.cluster.refreshMetadata();
            }
        } catch {
            // The next round of loops fails again and comes back here.
        }
        if (this.current(generation)) this.spawn();
    }

    private async clamp(partition: number): Promise<void> {
        const [start, end] = await Promise.all([
            offsetsOf(this.cluster, this.topic, [partition], "beginning"),
            offsetsOf(this.cluster, this.topic, [partition], "end"),
        ]);
        const position = this.positions.get(partition) as bigint;
        const low = start.get(partition) as bigint;
        this.positions.set(partition, position < low ? low : (end.get(partition) as bigint));
    }
}
