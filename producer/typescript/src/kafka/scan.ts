/**
 * Reading a whole topic from its beginning, with a cluster (connection) of
 * its own so that its fetches never wait behind the client's result reader:
 * the log chunks of a job, the workers' runtimes records.
 */
import type { Link } from "./link.js";
import { type KafkaRecord, PartitionReader, offsetsOf, partitionsOf } from "./reader.js";

export interface ScanOptions {
    /** "end": up to where the topic ends when the scan starts; "follow": on,
     * until the caller stops iterating. */
    until: "end" | "follow";
    /** Date.now() ms after which timedOut() is thrown; undefined for none. */
    deadline?: number;
    timedOut: () => Error;
    /** How long the broker may hold a fetch that finds nothing. */
    waitMs: number;
}

/** The records of topic, a fetch's worth at a time, in each partition's order. */
export async function* scan(
    link: Link,
    topic: string,
    options: ScanOptions,
): AsyncGenerator<KafkaRecord[]> {
    const cluster = await link.cluster();
    let reader: PartitionReader | undefined;
    try {
        const deadline = options.deadline ?? Date.now() + 10000;
        const partitions = await partitionsOf(cluster, topic, deadline);
        const positions = await offsetsOf(cluster, topic, partitions, "beginning");
        const ends =
            options.until === "end"
                ? await offsetsOf(cluster, topic, partitions, "end")
                : undefined;
        // A partition whose fetch brings nothing before its end has only
        // records compaction removed left: it is read to its end too.
        const done = new Set(
            partitions.filter(
                (p) => ends && (positions.get(p) as bigint) >= (ends.get(p) as bigint),
            ),
        );
        const queue: KafkaRecord[][] = [];
        let failure: Error | undefined;
        let wake: (() => void) | undefined;
        reader = new PartitionReader(cluster, topic, positions, {
            onRecords(records, fetched) {
                if (ends) {
                    for (const p of fetched) {
                        if (
                            (positions.get(p) as bigint) >= (ends.get(p) as bigint) ||
                            !records.some((r) => r.partition === p)
                        )
                            done.add(p);
                    }
                }
                queue.push(records);
                wake?.();
            },
            onError(e) {
                failure = e;
                wake?.();
            },
            waitMs: () => (ends ? 0 : options.waitMs),
        });
        reader.start();
        for (;;) {
            while (queue.length) yield queue.shift() as KafkaRecord[];
            if (failure) throw failure;
            if (ends && done.size === partitions.length) return;
            const left = options.deadline === undefined ? undefined : options.deadline - Date.now();
            if (left !== undefined && left <= 0) throw options.timedOut();
            await new Promise<void>((resolve) => {
                const timer = left === undefined ? undefined : setTimeout(resolve, left);
                wake = () => {
                    clearTimeout(timer);
                    resolve();
                };
            });
            wake = undefined;
        }
    } finally {
        reader?.stop();
        await cluster.disconnect().catch(() => {});
    }
}
