/**
 * The brig client: publishes jobs to <prefix>.jobs and hands each result that
 * comes back on the reply topic to whoever waits for that job id.
 *
 * A long-lived client pays per call for one produce and the time its reader
 * takes to see the result, nothing more: it connects once (lazily, or in
 * connect()), assigns the reply topic's partitions itself at their end
 * offsets (no group join), knows the jobs topic's partitions before the first
 * call (no metadata round trip per call), sends each job at once (no
 * batching delay), and lets the broker hold an empty fetch only as long as
 * the broker kind allows without delaying a result (fetchMaxWaitMs).
 */
import { hostname, userInfo } from "node:os";

import { BrigError, ClientClosed, InvalidJob, JobTimeout } from "./errors.js";
import { discoverBrokers } from "./kafka/discover.js";
import { type Cluster, Link, type Producer, seconds, within } from "./kafka/link.js";
import { connectionOf, mergeProperties } from "./kafka/properties.js";
import { PartitionReader, offsetsOf, partitionsOf } from "./kafka/reader.js";
import { type LogsOptions, type OutputChunk, readLogs, readRuntimes } from "./pool.js";
import { Replies } from "./replies.js";
import { type Signer, signerOf } from "./sign.js";
import { type JobSpec, encodeJob } from "./wire/job.js";
import { type WorkerRuntimes, encodeCancel } from "./wire/messages.js";
import type { Result } from "./wire/result.js";
import { topic as topicProblem } from "./wire/rules.js";
import { utf8 } from "./wire/paths.js";

export interface BrigOptions {
    /** "host:port,..." or a list; else the bootstrap.servers property, else
     * $BRIG_BROKERS, else the embedded broker of a brig-worker on this host. */
    brokers?: string | string[];
    /** Topics <prefix>.jobs, .results, .logs, .control, .runtimes (default brig). */
    topicPrefix?: string;
    /** Where results come back (default <prefix>.results, or a tenant's
     * <prefix>.results.<tenant>). Give each client its own so that many do
     * not read each other's results; on a cluster with ACLs, the one its
     * principal may read. A tenant's is its own topic or one under it. */
    replyTopic?: string;
    /** Sign every job and cancel as this tenant (SCHEMA.md section 14), for
     * workers started with --tenants; default $BRIG_TENANT. Its results and
     * live output then come on <prefix>.results.<tenant> and
     * <prefix>.logs.<tenant>. */
    tenant?: string;
    /** The tenant's private key, a file as `brig keygen` writes it (PKCS#8
     * PEM, mode 0600: one group or others may read is refused); default
     * $BRIG_KEY. Given with tenant, or neither. */
    keyFile?: string;
    clientId?: string;
    /** librdkafka properties (security.protocol, sasl.*, ssl.*), from a file
     * of key=value lines (default $BRIG_KAFKA_CONFIG) and a map that wins. */
    kafka?: { configFile?: string; properties?: Record<string, string> | Map<string, string> };
    /** How long connecting may take before BrokerUnreachable (default 5000). */
    connectTimeoutMs?: number;
    /** How long the cluster may take to accept a job (default 10000). */
    deliveryTimeoutMs?: number;
    /** How long a broker may hold a fetch that finds no result. A Kafka
     * cluster answers as soon as a result arrives, so waiting costs nothing
     * (default 500); librdkafka's mock cluster (a brig-worker's embedded
     * broker) holds an empty fetch for the whole wait, so the default there
     * is 5, and fetches pause while no job is watched. */
    fetchMaxWaitMs?: number;
}

export interface WaitOptions {
    /** JobTimeout after this long; none by default. */
    timeoutMs?: number;
}

// librdkafka's mock cluster names itself so; it does not end a fetch early
// when data arrives.
const MOCK_CLUSTER = /^mockCluster/;
const MOCK_WAIT_MS = 5;
const CLUSTER_WAIT_MS = 500;
// While no job is watched on the mock, the reader looks once a second, with
// a fetch the broker answers at once, to stay at the topic's end.
const MOCK_IDLE_MS = 1000;
// How long close() waits for KafkaJS to end its connections.
const CLOSE_MS = 1000;
// Metadata is refreshed ahead of KafkaJS's 5 minute expiry, off any call's path.
const METADATA_REFRESH_MS = 240000;

function checkTopic(field: string, value: string): void {
    const problem = typeof value === "string" ? topicProblem(utf8(value)) : "expected a string";
    if (problem || !value || utf8(value).length > 249)
        throw new InvalidJob(field, problem ?? "a topic name of 1 to 249 bytes of [A-Za-z0-9._-]");
}

interface Connected {
    link: Link;
    cluster: Cluster;
    producer: Producer;
    reader: PartitionReader;
    mock: boolean;
    messageMax?: number;
    refresh: NodeJS.Timeout;
}

export class Brig {
    readonly jobsTopic: string;
    readonly resultsTopic: string;
    readonly replyTopic: string;
    readonly logsTopic: string;
    readonly controlTopic: string;
    readonly runtimesTopic: string;
    private readonly replies: Replies;
    private readonly signer: Signer | undefined;
    private connecting: Promise<Connected> | undefined;
    private closed = false;
    private controlKnown = false;

    constructor(private readonly options: BrigOptions = {}) {
        const prefix = options.topicPrefix ?? "brig";
        checkTopic("topicPrefix", prefix);
        this.signer = signerOf(options.tenant, options.keyFile);
        // A signed job's results and output go to its tenant's topics.
        const own = this.signer ? `.${this.signer.tenant}` : "";
        this.jobsTopic = `${prefix}.jobs`;
        this.resultsTopic = `${prefix}.results${own}`;
        this.replyTopic = options.replyTopic ?? this.resultsTopic;
        this.logsTopic = `${prefix}.logs${own}`;
        this.controlTopic = `${prefix}.control`;
        this.runtimesTopic = `${prefix}.runtimes`;
        for (const [field, name] of [
            ["topicPrefix", this.runtimesTopic],
            ["replyTopic", this.replyTopic],
        ])
            checkTopic(field, name);
        // The workers would answer on the tenant's own topic instead, where
        // this client would not be reading.
        if (
            this.signer &&
            this.replyTopic !== this.resultsTopic &&
            !this.replyTopic.startsWith(`${this.resultsTopic}.`)
        )
            throw new InvalidJob(
                "replyTopic",
                `${this.replyTopic}: tenant ${this.signer.tenant}'s results come on ${this.resultsTopic} or a topic under it`,
            );
        this.replies = new Replies(this.replyTopic);
    }

    /** A connected client; the same as new Brig(options).connect(). */
    static connect(options: BrigOptions = {}): Promise<Brig> {
        const brig = new Brig(options);
        return brig.connect().then(() => brig);
    }

    /** Connects and positions the result reader, once; every other call does
     * it on first use. BrokerUnreachable when the cluster does not answer
     * within connectTimeoutMs, or refuses this client. */
    async connect(): Promise<void> {
        await this.ready();
    }

    private ready(): Promise<Connected> {
        if (this.closed) return Promise.reject(new ClientClosed("the client is closed"));
        if (!this.connecting) {
            // A failed connection is tried again by the next call.
            const connecting = this.open();
            connecting.catch(() => {
                if (this.connecting === connecting) this.connecting = undefined;
            });
            this.connecting = connecting;
        }
        return this.connecting;
    }

    private link(): { link: Link; messageMax?: number } {
        const properties = mergeProperties(
            this.options.kafka?.configFile,
            this.options.kafka?.properties,
        );
        const connection = connectionOf(properties);
        const found = discoverBrokers(this.options.brokers ?? connection.brokers);
        const link = new Link({
            brokers: found.brokers,
            clientId: this.options.clientId ?? "brig-client",
            connection,
            connectTimeoutMs: this.options.connectTimeoutMs ?? 5000,
        });
        return { link, messageMax: found.messageMax };
    }

    private async open(): Promise<Connected> {
        const { link, messageMax } = this.link();
        const connectMs = this.options.connectTimeoutMs ?? 5000;
        const cluster = await link.cluster();
        try {
            const deadline = Date.now() + connectMs;
            const partitions = await partitionsOf(cluster, this.replyTopic, deadline);
            // Positioned before any job is sent, so no result can slip past.
            const positions = await offsetsOf(cluster, this.replyTopic, partitions, "end");
            const producer = link.producer(cluster);
            await within(producer.connect(), connectMs, () =>
                link.unreachable(new Error("timeout"), connectMs),
            );
            await partitionsOf(cluster, this.jobsTopic, deadline);
            const mock = MOCK_CLUSTER.test(cluster.brokerPool.metadata?.clusterId ?? "");
            const waitMs = this.options.fetchMaxWaitMs ?? (mock ? MOCK_WAIT_MS : CLUSTER_WAIT_MS);
            const replies = this.replies;
            const reader = new PartitionReader(cluster, this.replyTopic, positions, {
                onRecords: (records) => replies.take(records),
                onError: (e) => replies.fail(e),
                waitMs: () => (mock && !replies.busy ? 0 : waitMs),
                pace: mock ? () => replies.pace(MOCK_IDLE_MS) : undefined,
            });
            reader.start();
            const refresh = setInterval(
                () => cluster.refreshMetadata().catch(() => {}),
                METADATA_REFRESH_MS,
            );
            refresh.unref();
            return { link, cluster, producer, reader, mock, messageMax, refresh };
        } catch (e) {
            await cluster.disconnect().catch(() => {});
            throw e;
        }
    }

    /** Publishes a job and returns its id once the cluster has it. The job is
     * watched: its result is kept until wait() takes it or forget() drops
     * it. InvalidJob names a field a worker would refuse. */
    async submit(job: JobSpec): Promise<string> {
        const { id, key, value } = encodeJob(
            job,
            this.replyTopic === this.resultsTopic ? undefined : this.replyTopic,
        );
        const c = await this.ready();
        if (c.messageMax !== undefined && value.length > c.messageMax)
            throw new InvalidJob(
                "",
                `too large for the embedded broker at ${c.link.brokersText}: the job is ${value.length} bytes and it keeps messages of at most ${c.messageMax} (send larger jobs through a Kafka cluster)`,
            );
        // Watched before it is sent: a fast result must find it.
        this.replies.watch(id);
        try {
            await this.send(c, this.jobsTopic, key, value, `job ${id}`);
        } catch (e) {
            this.replies.forget(id);
            throw e;
        }
        return id;
    }

    private async send(
        c: Connected,
        topic: string,
        key: string,
        value: Uint8Array,
        what: string,
    ): Promise<void> {
        const ms = this.options.deliveryTimeoutMs ?? 10000;
        // The bytes signed are the bytes sent: no re-encoding in between.
        const keyBytes = Buffer.from(key, "utf8");
        const headers = this.signer?.headers(topic, keyBytes, value);
        const sending = c.producer.send({
            topic,
            acks: -1,
            timeout: ms,
            messages: [
                {
                    key: keyBytes,
                    value: Buffer.from(value.buffer, value.byteOffset, value.length),
                    ...(headers && { headers: { ...headers } }),
                },
            ],
        });
        sending.catch(() => {}); // a late failure after the deadline is the deadline's
        try {
            await within(
                sending,
                ms,
                () =>
                    new Error(
                        `no acknowledgement within ${seconds(ms)} (${c.link.diag.lastError || "no error reported"})`,
                    ),
            );
        } catch (e) {
            throw new BrigError(`delivering ${what} to ${topic}: ${(e as Error).message}`);
        }
    }

    /** The result of job id. A job submitted elsewhere is watched from this
     * call on. When timeoutMs runs out, JobTimeout, and the job stays watched
     * so that a later wait still gets its result. SchemaError when the result
     * breaks the schema. */
    async wait(id: string, options: WaitOptions = {}): Promise<Result> {
        await this.ready();
        return this.replies.wait(id, options.timeoutMs);
    }

    /** Submits a job and waits for its result; timeoutMs covers both. When it
     * runs out, JobTimeout, and the job is no longer watched. */
    async run(job: JobSpec, options: WaitOptions = {}): Promise<Result> {
        const started = Date.now();
        const id = await this.submit(job);
        const left =
            options.timeoutMs === undefined
                ? undefined
                : Math.max(options.timeoutMs - (Date.now() - started), 0);
        try {
            return await this.replies.wait(id, left);
        } catch (e) {
            if (e instanceof JobTimeout) this.forget(id);
            throw e;
        }
    }

    /** Stops watching job id and drops its result if it came. */
    forget(id: string): void {
        this.replies.forget(id);
    }

    /** Asks the workers to cancel job id; returns once the cluster has the
     * request. A waiting job is answered cancelled unrun, a running one is
     * stopped and answered cancelled (its output so far in the result); a job
     * already answered, or unknown, is left as it is. The answer is the job's
     * result: wait() returns it. by: who asks, for the workers' audit stores
     * (default user@host). */
    async cancel(id: string, options: { by?: string } = {}): Promise<void> {
        const by = options.by ?? `${userInfo().username}@${hostname()}`;
        const value = encodeCancel(id, by, Date.now());
        const c = await this.ready();
        if (!this.controlKnown) {
            await partitionsOf(
                c.cluster,
                this.controlTopic,
                Date.now() + (this.options.connectTimeoutMs ?? 5000),
            );
            this.controlKnown = true;
        }
        await this.send(c, this.controlTopic, id, value, `the cancellation of job ${id}`);
    }

    /** The chunks of live output of a job submitted with stream_logs, in
     * order, each once, from its first; read with a connection of its own. */
    async *logs(id: string, options: LogsOptions = {}): AsyncGenerator<OutputChunk> {
        const c = await this.ready();
        yield* readLogs(
            c.link,
            this.logsTopic,
            id,
            options,
            c.mock ? MOCK_WAIT_MS : CLUSTER_WAIT_MS,
        );
    }

    /** What the pool can run: each worker that announced itself and has not
     * left, by worker id, with its runtimes (name, aliases, version, warm,
     * image). BrigError past timeoutMs (default 10000). */
    async runtimes(options: WaitOptions = {}): Promise<WorkerRuntimes[]> {
        const c = await this.ready();
        return readRuntimes(c.link, this.runtimesTopic, options.timeoutMs ?? 10000);
    }

    /** A session: its jobs share a workspace and, for interpreted runtimes,
     * a live interpreter on the worker that holds it. */
    session(id: string): Session {
        return new Session(this, id);
    }

    /** Stops the reader and closes the connection. Waits in progress fail
     * with ClientClosed. */
    async close(): Promise<void> {
        if (this.closed) return;
        this.closed = true;
        const c = await this.connecting?.catch(() => undefined);
        // Stopped before the waits are failed: failing them wakes an idle
        // reader, whose fetch would then be one more request the disconnect
        // waits for.
        c?.reader.stop();
        this.replies.close();
        if (!c) return;
        clearInterval(c.refresh);
        // KafkaJS's disconnect waits for the requests in flight, and the
        // reader's last fetch may be one whose socket is already gone (seen
        // on the embedded broker: the wait never ends and the process has
        // nothing left to run); the client needs no answer to it.
        await within(c.cluster.disconnect(), CLOSE_MS, () => new Error("timeout")).catch(() => {});
    }
}

/** The jobs of one session (SCHEMA.md section 5, `session`): each run or
 * submit carries its id, and files move in and out of its /work. */
export class Session {
    constructor(
        readonly brig: Brig,
        readonly id: string,
    ) {}

    run(job: Omit<JobSpec, "session">, options?: WaitOptions): Promise<Result> {
        return this.brig.run({ ...job, session: this.id }, options);
    }

    submit(job: Omit<JobSpec, "session">): Promise<string> {
        return this.brig.submit({ ...job, session: this.id });
    }

    /** A job of the session that only moves files; its result when ok. */
    private async files(
        job: Omit<JobSpec, "session">,
        what: string,
        options?: WaitOptions,
    ): Promise<Result> {
        const result = await this.run(job, options);
        if (!result.ok)
            throw new BrigError(
                `${what} session ${this.id}: ${result.status}${result.error ? `: ${result.error}` : ""}`,
            );
        return result;
    }

    /** Writes files (path relative to /work -> content) into the session. */
    async putFiles(files: JobSpec["files"], options?: WaitOptions): Promise<void> {
        await this.files({ argv: ["true"], files }, "writing files into", options);
    }

    /** The session's files that match the globs, as the collect of a job
     * returns them, with those left out and why. */
    async getFiles(
        patterns: string[],
        options?: WaitOptions,
    ): Promise<{ files: Map<string, Uint8Array>; omitted: { path: string; reason: string }[] }> {
        const result = await this.files(
            { argv: ["true"], collect: patterns },
            "reading files of",
            options,
        );
        return { files: result.files, omitted: result.files_omitted };
    }
}
