/**
 * Jobs (SCHEMA.md section 5): building one from what a caller gives, encoding
 * it, and decoding one strictly.
 *
 * The encoder decodes its own output before it hands it over, as the C
 * encoder does, so the client never sends a job a worker would refuse, and a
 * caller's mistake is named by the same field and reason a worker would give.
 */
import { encode } from "@msgpack/msgpack";
import { randomBytes } from "node:crypto";

import { InvalidJob, SchemaError } from "../errors.js";
import type { Node } from "./msgpack.js";
import {
    type Fields,
    PATH,
    array,
    bool,
    bytes,
    fields,
    files,
    message,
    optional,
    pairs,
    required,
    text,
    texts,
    time,
    uint,
} from "./values.js";
import { envName, netRule, relative, runtimeName, singleLine, token, topic } from "./rules.js";

export const SCHEMA_VERSION = 1;
export const JOB_MAX_BYTES = 16 << 20;

/** Every job limit: [min, max, default]. Absent means the default. */
export const LIMITS = {
    wall_ms: [100, 600000, 10000],
    cpu_ms: [100, 600000, 10000],
    memory_bytes: [16 * 2 ** 20, 8 * 2 ** 30, 256 * 2 ** 20],
    pids: [1, 4096, 64],
    output_bytes: [2 ** 10, 8 * 2 ** 20, 2 ** 20],
    fsize_bytes: [4 * 2 ** 10, 2 ** 30, 64 * 2 ** 20],
    disk_bytes: [2 ** 20, 8 * 2 ** 30, 128 * 2 ** 20],
    tmp_bytes: [2 ** 20, 4 * 2 ** 30, 64 * 2 ** 20],
    cpu_millis: [10, 64000, 1000],
    collect_bytes: [2 ** 10, 4 * 2 ** 20, 2 ** 20],
} as const;

export type LimitName = keyof typeof LIMITS;
export type Limits = Partial<Record<LimitName, number>>;

export const ID = { min: 1, max: 64, check: token };
export const SESSION = { min: 0, max: 64, check: token };
export const TOPIC = { min: 1, max: 249, check: topic };
export const RUNTIME_NAME = { min: 1, max: 32, check: runtimeName };
export const METADATA_KEY = { min: 1, max: 64, check: singleLine };
export const METADATA_VALUE = { min: 0, max: 1024 };
const ARG = { min: 0, max: 4096 };
const ENV_NAME = { min: 1, max: 128, check: envName };

type TextMap<T> = Record<string, T> | Map<string, T>;

/** What a caller asks to run: the job of SCHEMA.md section 5, under its wire
 * names, without `v` and `reply_topic` (the client's own). Exactly one of
 * `runtime` (with `code`) and `argv`. Text may be given where bytes are
 * (`code`, `stdin`, files' contents): it is sent as UTF-8. */
export interface JobSpec {
    /** A fresh random id when absent. */
    id?: string;
    runtime?: string;
    code?: string | Uint8Array;
    argv?: string[];
    args?: string[];
    stdin?: string | Uint8Array;
    env?: TextMap<string>;
    /** Input files: path relative to /work -> content. */
    files?: TextMap<string | Uint8Array>;
    limits?: Limits;
    /** "none" (the default), or allow rules: ["pypi.org", "*.example.com:443"]. */
    network?: "none" | string[] | { allow: string[] };
    session?: string;
    /** Globs of files to send back in the result (result.files). */
    collect?: string[];
    stream_logs?: boolean;
    metadata?: TextMap<string>;
    /** Unix ms after which a worker must not start the job. */
    deadline_ms?: number;
    replay_of?: string;
    /** Paths among files to write with mode 0755. */
    executable?: string[];
    /** Secrets of the worker's operator the job uses, by name (SCHEMA.md 5):
     * the job sees a placeholder, the egress proxy puts the value in. */
    secrets?: string[];
}

/** A decoded job: the wire's fields, bytes as Uint8Array, maps as Map. */
export interface Job {
    id: string;
    runtime?: string;
    argv?: string[];
    code?: Uint8Array;
    args?: string[];
    stdin?: Uint8Array;
    env?: Map<string, string>;
    files?: Map<string, Uint8Array>;
    limits?: Limits;
    network?: { allow: string[] };
    session?: string;
    collect?: string[];
    reply_topic?: string;
    stream_logs?: boolean;
    metadata?: Map<string, string>;
    deadline_ms?: number;
    replay_of?: string;
    executable?: string[];
    secrets?: string[];
}

const JOB_FIELDS = [
    "v",
    "id",
    "runtime",
    "argv",
    "code",
    "args",
    "stdin",
    "env",
    "files",
    "limits",
    "network",
    "session",
    "collect",
    "reply_topic",
    "stream_logs",
    "metadata",
    "deadline_ms",
    "replay_of",
    "executable",
    "secrets",
] as const;

/** A fresh random job id: 24 hex digits, as brig's other clients make them. */
export function newJobId(): string {
    return randomBytes(12).toString("hex");
}

function network(node: Node): { allow: string[] } | undefined {
    if (node.t === "str") {
        if (text(node, "network", { min: 0, max: 64 }) !== "none")
            throw new SchemaError(
                "network",
                'unknown network mode: the only string is "none"; give {"allow": [...]} for access',
            );
        return undefined;
    }
    if (node.t !== "map") throw new SchemaError("network", 'wrong type: expected "none" or a map');
    const allow = array(
        required(fields(node, "network", ["allow"], false), "allow", "network.allow"),
        "network.allow",
        64,
    );
    return {
        allow: allow.map((entry, i) =>
            text(entry, `network.allow[${i}]`, { min: 1, max: 261, check: netRule }),
        ),
    };
}

function limits(node: Node): Limits {
    const given = fields(node, "limits", Object.keys(LIMITS), false);
    const out: Limits = {};
    for (const [name, value] of given) {
        const [min, max] = LIMITS[name as LimitName];
        out[name as LimitName] = uint(value, `limits.${name}`, min, max);
    }
    return out;
}

/** The fields of a job message, in the order of the schema's table, then the
 * rules that tie them together. */
function readJob(f: Fields): Job {
    const job: Job = { id: text(required(f, "id"), "id", ID) };
    const get = <T>(name: string, read: (node: Node, field: string) => T) =>
        optional(f, name, read);
    job.runtime = get("runtime", (n, k) => text(n, k, RUNTIME_NAME));
    job.argv = get("argv", (n, k) => texts(n, k, 128, ARG));
    job.code = get("code", (n, k) => bytes(n, k, 1 << 20));
    job.args = get("args", (n, k) => texts(n, k, 128, ARG));
    job.stdin = get("stdin", (n, k) => bytes(n, k, 4 << 20));
    job.env = get("env", (n, k) =>
        pairs(n, k, 64, ENV_NAME, { min: 0, max: 4096 }),
    );
    job.files = get("files", files);
    job.limits = get("limits", limits);
    job.network = get("network", network);
    job.session = get("session", (n, k) => text(n, k, SESSION));
    job.collect = get("collect", (n, k) =>
        texts(n, k, 32, { min: 1, max: 256, check: relative("pattern") }),
    );
    job.reply_topic = get("reply_topic", (n, k) => text(n, k, TOPIC));
    job.stream_logs = get("stream_logs", bool);
    job.metadata = get("metadata", (n, k) => pairs(n, k, 16, METADATA_KEY, METADATA_VALUE));
    job.deadline_ms = get("deadline_ms", time);
    job.replay_of = get("replay_of", (n, k) => text(n, k, ID));
    job.executable = get("executable", (n, k) => texts(n, k, 256, PATH));
    job.secrets = get("secrets", (n, k) => texts(n, k, 16, ENV_NAME));

    if (job.runtime !== undefined && job.argv !== undefined)
        throw new SchemaError("argv", "conflict: a job has a runtime or an argv, not both");
    if (job.runtime === undefined && job.argv === undefined)
        throw new SchemaError("runtime", "missing: a job needs a runtime (with code) or an argv");
    if (job.argv !== undefined && job.argv.length === 0)
        throw new SchemaError("argv", "empty: argv needs at least the program");
    if (job.argv !== undefined && job.argv[0] === "")
        throw new SchemaError("argv[0]", "empty: the program name is empty");
    if (job.runtime !== undefined && job.code === undefined)
        throw new SchemaError("code", "missing: a job with a runtime needs code");
    if (job.argv !== undefined && job.code !== undefined)
        throw new SchemaError(
            "code",
            "conflict: code goes with runtime; an argv job brings its program in files",
        );
    job.executable?.forEach((path, i) => {
        if (!job.files?.has(path))
            throw new SchemaError(
                `executable[${i}]`,
                `not in files: "${path}" is not one of the job's files`,
            );
    });
    for (const key of Object.keys(job) as (keyof Job)[])
        if (job[key] === undefined) delete job[key];
    return job;
}

/** A job from the bytes of a Kafka message; SchemaError when they break the
 * schema. */
export function decodeJob(data: Uint8Array): Job {
    return readJob(message(data, JOB_MAX_BYTES, JOB_FIELDS).f);
}

/** A keyed map as msgpack-encodable object (the encoder writes a Map as an
 * empty map): without a prototype, so that "__proto__" is a key like any
 * other. Empty maps are left out. */
function wireMap<T>(value: TextMap<T> | undefined): Record<string, T> | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "object") return value; // refused by the decoder, by name
    const pairs = value instanceof Map ? [...value] : Object.entries(value);
    if (pairs.length === 0) return undefined;
    const out: Record<string, T> = Object.create(null);
    for (const [k, v] of pairs) out[k] = v;
    return out;
}

function nonEmpty<T>(value: T[] | undefined): T[] | undefined {
    return Array.isArray(value) && value.length === 0 ? undefined : value;
}

/** The msgpack bytes of a job: the spec's fields in the schema's order,
 * absent and empty ones left out, `replyTopic` added unless it is the
 * default. InvalidJob names the first field a worker would refuse. */
export function encodeJob(
    spec: JobSpec,
    replyTopic?: string,
): { id: string; key: string; value: Uint8Array } {
    if (spec === null || typeof spec !== "object")
        throw new InvalidJob("", "a job is an object of the schema's fields");
    for (const name of Object.keys(spec))
        if (
            !(JOB_FIELDS as readonly string[]).includes(name) ||
            name === "v" ||
            name === "reply_topic"
        )
            throw new InvalidJob(
                name,
                `unknown key: a job's fields are ${JOB_FIELDS.filter((n) => n !== "v" && n !== "reply_topic").join(", ")}`,
            );
    const network =
        spec.network === "none"
            ? undefined
            : Array.isArray(spec.network)
              ? { allow: spec.network }
              : spec.network;
    const wire = {
        v: SCHEMA_VERSION,
        id: spec.id ?? newJobId(),
        runtime: spec.runtime,
        argv: spec.argv,
        code: spec.code,
        args: nonEmpty(spec.args),
        stdin: spec.stdin,
        env: wireMap(spec.env),
        files: wireMap(spec.files),
        limits: spec.limits && Object.keys(spec.limits).length ? spec.limits : undefined,
        network,
        session: spec.session || undefined,
        collect: nonEmpty(spec.collect),
        reply_topic: replyTopic,
        stream_logs: spec.stream_logs || undefined,
        metadata: wireMap(spec.metadata),
        deadline_ms: spec.deadline_ms,
        replay_of: spec.replay_of,
        executable: nonEmpty(spec.executable),
        secrets: nonEmpty(spec.secrets),
    };
    let value: Uint8Array;
    try {
        value = encode(wire, { ignoreUndefined: true, forceIntegerToFloat: false });
    } catch (e) {
        throw new InvalidJob("", `cannot be encoded as msgpack: ${(e as Error).message}`);
    }
    if (value.length > JOB_MAX_BYTES)
        throw new InvalidJob("", `too large: ${value.length} bytes encoded (max ${JOB_MAX_BYTES})`);
    try {
        decodeJob(value);
    } catch (e) {
        if (e instanceof SchemaError) throw new InvalidJob(e.field, e.reason);
        throw e;
    }
    return {
        id: wire.id as string,
        key: (wire.session as string | undefined) ?? (wire.id as string),
        value,
    };
}
