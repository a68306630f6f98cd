/**
 * The other kinds of the wire schema: log chunks (section 7), dead letters
 * (8), control messages (8a) and runtimes records (9). A client reads chunks
 * and runtimes records and writes control messages; dead letters are read by
 * operators' tools.
 */
import { encode } from "@msgpack/msgpack";

import { InvalidJob, SchemaError } from "../errors.js";
import { ID, RUNTIME_NAME, SCHEMA_VERSION, TOPIC } from "./job.js";
import type { Node } from "./msgpack.js";
import { singleLine } from "./rules.js";
import {
    array,
    bool,
    bytes,
    fields,
    message,
    optional,
    required,
    text,
    texts,
    time,
    uint,
    UINT_MAX,
} from "./values.js";

export type Stream = "stdout" | "stderr";

/** A piece of a job's live output as it travels: ordering needs attempt,
 * seq and eos. */
export interface LogChunk {
    id: string;
    attempt: number;
    stream: Stream;
    seq: number;
    data: Uint8Array;
    ts_ms: number;
    eos: boolean;
}

const CHUNK_FIELDS = ["v", "id", "attempt", "stream", "seq", "data", "ts_ms", "eos"] as const;

export function decodeLogChunk(data: Uint8Array): LogChunk {
    const { f } = message(data, 1 << 20, CHUNK_FIELDS);
    const id = text(required(f, "id"), "id", ID);
    const attempt = uint(required(f, "attempt"), "attempt", 1, 2 ** 32 - 1);
    const stream = text(required(f, "stream"), "stream", { min: 1, max: 6 });
    if (stream !== "stdout" && stream !== "stderr")
        throw new SchemaError("stream", `unknown stream "${stream}": "stdout" or "stderr"`);
    return {
        id,
        attempt,
        stream,
        seq: uint(required(f, "seq"), "seq"),
        data: bytes(required(f, "data"), "data", 64 << 10),
        ts_ms: time(required(f, "ts_ms"), "ts_ms"),
        eos: optional(f, "eos", bool) ?? false,
    };
}

/** A consumed job a worker could not decode, as it sent it to <prefix>.dlq. */
export interface DeadLetter {
    data: Uint8Array;
    data_truncated: boolean;
    id?: string;
    topic: string;
    partition: number;
    offset: number;
    /** The consumed message's Kafka key; absent when it was null. */
    key?: Uint8Array;
    key_truncated: boolean;
    reason: string;
    field?: string;
    received_ms: number;
    worker_id: string;
}

const DEAD_LETTER_FIELDS = [
    "v",
    "data",
    "data_truncated",
    "id",
    "topic",
    "partition",
    "offset",
    "key",
    "key_truncated",
    "reason",
    "field",
    "received_ms",
    "worker_id",
] as const;

export function decodeDeadLetter(data: Uint8Array): DeadLetter {
    const { f } = message(data, (16 << 20) + (64 << 10), DEAD_LETTER_FIELDS);
    const out: DeadLetter = {
        data: bytes(required(f, "data"), "data", 16 << 20),
        data_truncated: optional(f, "data_truncated", bool) ?? false,
        id: optional(f, "id", (n, k) => text(n, k, ID)),
        topic: text(required(f, "topic"), "topic", TOPIC),
        partition: uint(required(f, "partition"), "partition", 0, 2 ** 31 - 1),
        offset: uint(required(f, "offset"), "offset", 0, UINT_MAX),
        key: optional(f, "key", (n, k) => bytes(n, k, 16 << 10)),
        key_truncated: optional(f, "key_truncated", bool) ?? false,
        reason: text(required(f, "reason"), "reason", { min: 1, max: 1024 }),
        field: optional(f, "field", (n, k) => text(n, k, { min: 0, max: 63, check: singleLine })),
        received_ms: time(required(f, "received_ms"), "received_ms"),
        worker_id: text(required(f, "worker_id"), "worker_id", ID),
    };
    if (out.id === undefined) delete out.id;
    if (out.key === undefined) delete out.key;
    if (out.field === undefined) delete out.field;
    return out;
}

/** A request to the workers: cancel the job `id`. */
export interface Control {
    op: "cancel";
    id: string;
    by?: string;
    ts_ms: number;
}

const CONTROL_FIELDS = ["v", "op", "id", "by", "ts_ms"] as const;
const CONTROL_MAX_BYTES = 4096;
const BY = { min: 1, max: 128, check: singleLine };

export function decodeControl(data: Uint8Array): Control {
    const { f } = message(data, CONTROL_MAX_BYTES, CONTROL_FIELDS);
    const op = text(required(f, "op"), "op", { min: 1, max: 32 });
    if (op !== "cancel") throw new SchemaError("op", `unknown op "${op}": the only op is cancel`);
    const out: Control = { op, id: text(required(f, "id"), "id", ID), ts_ms: 0 };
    const by = optional(f, "by", (n, k) => text(n, k, BY));
    if (by !== undefined) out.by = by;
    out.ts_ms = time(required(f, "ts_ms"), "ts_ms");
    return out;
}

/** The msgpack bytes of a request to cancel job id; InvalidJob names a bad
 * field. */
export function encodeCancel(id: string, by: string | undefined, tsMs: number): Uint8Array {
    const value = encode(
        { v: SCHEMA_VERSION, op: "cancel", id, by, ts_ms: tsMs },
        { ignoreUndefined: true },
    );
    try {
        decodeControl(value);
    } catch (e) {
        if (e instanceof SchemaError) throw new InvalidJob(e.field, e.reason);
        throw e;
    }
    return value;
}

/** One runtime of a worker: a job may name it or any of its aliases, and is
 * recorded under name. */
export interface RuntimeInfo {
    name: string;
    aliases: string[];
    /** Absent when its version command failed (its jobs fail setup_error). */
    version?: string;
    warm: boolean;
    /** The root image it runs in; absent on the worker's own /usr. */
    image?: string;
}

/** What one worker announced when it started (Unix ms). */
export interface WorkerRuntimes {
    worker_id: string;
    started_ms: number;
    runtimes: RuntimeInfo[];
}

const RUNTIMES_FIELDS = ["v", "worker_id", "started_ms", "runtimes"] as const;

function runtimeEntry(node: Node, field: string): RuntimeInfo {
    const e = fields(node, field, ["name", "aliases", "version", "warm", "image"], true);
    const out: RuntimeInfo = {
        name: text(required(e, "name", `${field}.name`), `${field}.name`, RUNTIME_NAME),
        aliases:
            optional(e, "aliases", (n) => texts(n, `${field}.aliases`, 16, RUNTIME_NAME)) ?? [],
        warm: false,
    };
    const version = optional(e, "version", (n) =>
        text(n, `${field}.version`, { min: 1, max: 64, check: singleLine }),
    );
    if (version !== undefined) out.version = version;
    out.warm = optional(e, "warm", (n) => bool(n, `${field}.warm`)) ?? false;
    const image = optional(e, "image", (n) =>
        text(n, `${field}.image`, { min: 1, max: 1024, check: singleLine }),
    );
    if (image !== undefined) out.image = image;
    return out;
}

export function decodeRuntimes(data: Uint8Array): WorkerRuntimes {
    const { f } = message(data, 1 << 20, RUNTIMES_FIELDS);
    const worker_id = text(required(f, "worker_id"), "worker_id", ID);
    const started_ms = time(required(f, "started_ms"), "started_ms");
    const entries = array(required(f, "runtimes"), "runtimes", 256);
    if (entries.length === 0)
        throw new SchemaError("runtimes", "empty: a worker offers at least one runtime");
    return {
        worker_id,
        started_ms,
        runtimes: entries.map((e, i) => runtimeEntry(e, `runtimes[${i}]`)),
    };
}
