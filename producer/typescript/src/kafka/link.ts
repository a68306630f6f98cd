/**
 * The connection to Kafka through KafkaJS: clusters (KafkaJS's connection to
 * every broker), a producer, and why a connection failed, in words.
 *
 * KafkaJS reads topics only as a consumer group member, and a group
 * join is what a client waiting for one result must not do: the assignment
 * comes asynchronously after a rebalance, so a fast result can land before
 * the consumer's position is set, and joins cost round trips and seconds.
 * brig's clients assign partitions themselves at explicit offsets (SCHEMA.md
 * section 4), so this package fetches through KafkaJS's own cluster and
 * broker objects (reader.ts). They are internal to KafkaJS, which is why the
 * dependency is pinned to one version (2.2.4, its last release).
 */
import { createRequire } from "node:module";
import net from "node:net";
import tls from "node:tls";

import { BrokerUnreachable } from "../errors.js";
import type { Connection } from "./properties.js";

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const kafkajs = require("kafkajs");
const createKafkaProducer = require("kafkajs/src/producer");

/** KafkaJS's internal cluster: the parts this package uses. */
export interface Cluster {
    connect(): Promise<void>;
    disconnect(): Promise<void>;
    refreshMetadata(): Promise<void>;
    addMultipleTargetTopics(topics: string[]): Promise<void>;
    findTopicPartitionMetadata(topic: string): { partitionId: number; leader: number }[];
    findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
    findBroker(b: { nodeId: string }): Promise<Broker>;
    fetchTopicsOffset(
        topics: { topic: string; partitions: { partition: number }[]; fromBeginning: boolean }[],
    ): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
    brokerPool: { metadata?: { clusterId?: string } };
}

export interface FetchedMessage {
    offset: string;
    key: Buffer | null;
    value: Buffer | null;
    isControlRecord?: boolean;
}

export interface FetchResponse {
    responses: {
        topicName: string;
        partitions: { partition: number; highWatermark: string; messages: FetchedMessage[] }[];
    }[];
}

export interface Broker {
    fetch(request: {
        maxWaitTime: number;
        minBytes: number;
        maxBytes: number;
        topics: {
            topic: string;
            partitions: { partition: number; fetchOffset: string; maxBytes: number }[];
        }[];
    }): Promise<FetchResponse>;
}

export interface Producer {
    connect(): Promise<void>;
    disconnect(): Promise<void>;
    send(r: {
        topic: string;
        acks: number;
        timeout: number;
        messages: { key: Buffer; value: Buffer; headers?: Record<string, string> }[];
    }): Promise<unknown>;
}

// Errors no retry cures: the cluster refused the client's certificate check
// or its credentials. A client stops waiting as soon as one is seen.
const TLS_REFUSAL = /CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS|ERR_SSL|EPROTO/;

/** Why connections failed, for messages that say why. */
export class Diagnostics {
    lastError = "";
    refusal = "";
    private onRefusal: ((why: string) => void)[] = [];

    error(message: string): void {
        this.lastError = message;
    }

    refused(why: string): void {
        this.lastError = why;
        if (this.refusal) return;
        this.refusal = why;
        this.onRefusal.splice(0).forEach((f) => f(why));
    }

    /** A promise rejected with the refusal, once there is one. */
    whenRefused(): Promise<never> {
        return new Promise((_, reject) => {
            if (this.refusal) reject(new Error(this.refusal));
            else this.onRefusal.push((why) => reject(new Error(why)));
        });
    }
}

/** The deadline of a call: seconds to show in messages, a timer to race. */
export function within<T>(promise: Promise<T>, ms: number, timedOut: () => Error): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expiry = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(timedOut()), ms);
    });
    return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}

export const seconds = (ms: number) => `${Number((ms / 1000).toFixed(3))} s`;

export interface LinkOptions {
    brokers: string[];
    clientId: string;
    connection: Connection;
    connectTimeoutMs: number;
}

/** One Kafka configuration, from which clusters and producers are made. */
export class Link {
    readonly diag = new Diagnostics();
    readonly brokersText: string;
    private readonly kafka: Any;
    private readonly createCluster: (o: object) => Cluster;

    constructor(private readonly options: LinkOptions) {
        this.brokersText = options.brokers.join(",");
        const diag = this.diag;
        const c = options.connection;
        this.kafka = new kafkajs.Kafka({
            brokers: options.brokers,
            clientId: c.clientId ?? options.clientId,
            ssl: c.ssl,
            sasl: c.sasl,
            connectionTimeout: c.connectionTimeout ?? Math.min(options.connectTimeoutMs, 3000),
            authenticationTimeout: options.connectTimeoutMs,
            // A broker that takes a connection and never answers would hold
            // each request, and the disconnect after the deadline that waits
            // for it, for KafkaJS's default 30 s.
            requestTimeout: options.connectTimeoutMs,
            // Failed requests are retried quickly and not for long: callers
            // bound every operation by their own deadline.
            retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 10 },
            logLevel: kafkajs.logLevel.ERROR,
            logCreator: () => (entry: Any) => diag.error(entry.log?.message ?? String(entry.label)),
            socketFactory: ({ host, port, ssl, onConnect }: Any) => {
                const socket = ssl
                    ? tls.connect(
                          { host, port, ...(net.isIP(host) ? {} : { servername: host }), ...ssl },
                          onConnect,
                      )
                    : net.connect({ host, port }, onConnect);
                socket.setKeepAlive(true, 60000);
                socket.on("error", (e: NodeJS.ErrnoException) => {
                    const why = `${host}:${port}: ${e.message}`;
                    if (TLS_REFUSAL.test(e.code ?? "")) diag.refused(why);
                    else diag.error(why);
                });
                return socket;
            },
        });
        const symbol = Object.getOwnPropertySymbols(this.kafka).find(
            (s) => s.description === "private:Kafka:createCluster",
        );
        if (symbol === undefined)
            throw new Error(
                "this KafkaJS is not 2.2.4: brig-client reads partitions through its cluster",
            );
        this.createCluster = this.kafka[symbol];
    }

    /** A cluster, connected within the connect timeout, or BrokerUnreachable
     * saying why: at once when the cluster refused this client. */
    async cluster(): Promise<Cluster> {
        const cluster = this.createCluster({
            metadataMaxAge: 300000,
            allowAutoTopicCreation: true,
        });
        const ms = this.options.connectTimeoutMs;
        const connecting = cluster.connect();
        connecting.catch(() => {}); // a late failure after the deadline is the deadline's
        try {
            await within(
                Promise.race([connecting, this.diag.whenRefused()]),
                ms,
                () => new Error("timeout"),
            );
            return cluster;
        } catch (e) {
            await cluster.disconnect().catch(() => {});
            throw this.unreachable(e, ms);
        }
    }

    /** The error for a connection that failed with e. */
    unreachable(e: unknown, ms: number): BrokerUnreachable {
        const err = e as { name?: string; message?: string };
        if (this.diag.refusal || err.name === "KafkaJSSASLAuthenticationError")
            return new BrokerUnreachable(
                `the Kafka broker at ${this.brokersText} refused this client: ${this.diag.refusal || err.message} ` +
                    "(check the Kafka properties: security.protocol, sasl.*, ssl.ca.location)",
            );
        const why = err.message === "timeout" ? this.diag.lastError || "no answer" : err.message;
        return new BrokerUnreachable(
            `cannot reach the Kafka broker at ${this.brokersText} within ${seconds(ms)}: ${why}`,
        );
    }

    /** A producer on cluster. Jobs go to the partition librdkafka's default
     * partitioner would choose, so that a session's jobs meet on one worker
     * whichever brig client sent them. */
    producer(cluster: Cluster): Producer {
        return createKafkaProducer({
            cluster,
            logger: this.kafka.logger(),
            createPartitioner: () => consistentPartitioner,
            retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 10 },
        });
    }
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
});

/** CRC-32 (IEEE 802.3, zlib's), as librdkafka's rd_crc32. */
export function crc32(data: Uint8Array): number {
    let c = 0xffffffff;
    for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
}

/** librdkafka's default, consistent_random: crc32(key) modulo the partition
 * count, for every key brig's clients send (they always have one). */
function consistentPartitioner({
    partitionMetadata,
    message,
}: {
    partitionMetadata: unknown[];
    message: { key: string | Buffer };
}): number {
    const key = typeof message.key === "string" ? Buffer.from(message.key) : message.key;
    return crc32(key) % partitionMetadata.length;
}
