/**
 * Results (SCHEMA.md sections 6 and 6.1), decoded strictly: what a client
 * relies on is checked and named by field; unknown keys are checked for
 * well-formedness and ignored, so a newer worker may add fields without a
 * version change.
 */
import { SchemaError } from "../errors.js";
import { Output } from "./display.js";
import { ID, METADATA_KEY, METADATA_VALUE, RUNTIME_NAME, SESSION } from "./job.js";
import type { Node } from "./msgpack.js";
import { mimeType, outputKind, singleLine, syscallName } from "./rules.js";
import {
    array,
    bool,
    bytes,
    bytesMap,
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

export const RESULT_MAX_BYTES = 16 << 20;
/** Results are version 2 when their status is cancelled (section 3). */
export const RESULT_VERSION_MAX = 2;
const ATTEMPT_MAX = 2 ** 32 - 1;
const OUTPUTS_MAX_BYTES = 2 << 20;

/** The closed set of outcomes; cancelled only in version 2 results. */
export const STATUSES = [
    "ok",
    "failed",
    "signaled",
    "timeout",
    "cpu_timeout",
    "oom",
    "output_limit",
    "seccomp",
    "compile_error",
    "setup_error",
    "rejected",
    "cancelled",
    "internal_error",
] as const;
export type Status = (typeof STATUSES)[number];

export interface Usage {
    wall_us: number;
    cpu_us: number;
    peak_memory_bytes: number;
    /** The runtime's compile step, when it has one: not part of wall_us. */
    compile_us?: number;
}

export interface CellException {
    /** The exception's class: NameError, ZeroDivisionError... */
    name: string;
    value?: string;
    /** One frame an element, as the interpreter formats it. */
    traceback: string[];
}

export interface Interpreter {
    /** This cell started a fresh interpreter: earlier cells' variables are gone. */
    started: boolean;
    execution_count?: number;
    /** The interpreter ended during this cell: the next starts a fresh one. */
    state_lost: boolean;
}

export interface ResultFields {
    /** The schema version of the message: 2 only for cancelled. */
    v: number;
    id: string;
    attempt: number;
    status: Status;
    exit_code?: number;
    signal?: number;
    /** Captured output; absent when the worker sent none (stdoutText is ""). */
    stdout?: Uint8Array;
    stderr?: Uint8Array;
    stdout_truncated: boolean;
    stderr_truncated: boolean;
    /** Collected files: path relative to /work -> content. */
    files: Map<string, Uint8Array>;
    files_omitted: { path: string; reason: string }[];
    files_omitted_truncated: boolean;
    usage?: Usage;
    runtime?: { name: string; version?: string };
    worker_id?: string;
    received_ms?: number;
    started_ms?: number;
    finished_ms?: number;
    error?: string;
    syscall?: string;
    metadata: Map<string, string>;
    session?: string;
    replay_of?: string;
    /** A cell's rich results, in the order the cell produced them. */
    outputs: Output[];
    outputs_truncated: boolean;
    /** The exception a cell raised (status failed). */
    exception?: CellException;
    /** Present on every cell's result, and only there. */
    interpreter?: Interpreter;
}

const loose = new TextDecoder("utf-8");

/** One job's answer. */
export interface Result extends ResultFields {}
export class Result {
    constructor(init: ResultFields) {
        Object.assign(this, init);
    }

    get ok(): boolean {
        return this.status === "ok";
    }

    get stdoutText(): string {
        return this.stdout ? loose.decode(this.stdout) : "";
    }

    get stderrText(): string {
        return this.stderr ? loose.decode(this.stderr) : "";
    }

    /** Every raster image among the outputs, in order. */
    get images(): { mime: string; data: Uint8Array }[] {
        return this.outputs.flatMap((o) => (o.image ? [o.image] : []));
    }
}

const RESULT_FIELDS = [
    "v",
    "id",
    "attempt",
    "status",
    "exit_code",
    "signal",
    "stdout",
    "stderr",
    "stdout_truncated",
    "stderr_truncated",
    "files",
    "files_omitted",
    "files_omitted_truncated",
    "usage",
    "runtime",
    "worker_id",
    "received_ms",
    "started_ms",
    "finished_ms",
    "error",
    "syscall",
    "metadata",
    "session",
    "replay_of",
    "outputs",
    "outputs_truncated",
    "exception",
    "interpreter",
] as const;

function status(node: Node, v: number): Status {
    const s = text(node, "status", { min: 1, max: 32 });
    if (!(STATUSES as readonly string[]).includes(s) || (s === "cancelled" && v < 2))
        throw new SchemaError(
            "status",
            `unknown status "${s}"${s === "cancelled" ? ": a status of version 2 results" : ""}`,
        );
    return s as Status;
}

function omitted(node: Node): { path: string; reason: string }[] {
    return array(node, "files_omitted", 256).map((entry, i) => {
        const field = `files_omitted[${i}]`;
        const e = fields(entry, field, ["path", "reason"], true);
        return {
            path: text(required(e, "path", `${field}.path`), `${field}.path`, {
                min: 1,
                max: 1024,
                check: singleLine,
            }),
            reason: text(required(e, "reason", `${field}.reason`), `${field}.reason`, {
                min: 1,
                max: 256,
                check: singleLine,
            }),
        };
    });
}

function usage(node: Node): Usage {
    const u = fields(node, "usage", ["wall_us", "cpu_us", "peak_memory_bytes", "compile_us"], true);
    const out: Usage = {
        wall_us: uint(required(u, "wall_us", "usage.wall_us"), "usage.wall_us"),
        cpu_us: uint(required(u, "cpu_us", "usage.cpu_us"), "usage.cpu_us"),
        peak_memory_bytes: uint(
            required(u, "peak_memory_bytes", "usage.peak_memory_bytes"),
            "usage.peak_memory_bytes",
        ),
    };
    const compile = u.get("compile_us");
    if (compile) out.compile_us = uint(compile, "usage.compile_us");
    return out;
}

function runtime(node: Node): { name: string; version?: string } {
    const r = fields(node, "runtime", ["name", "version"], true);
    const out: { name: string; version?: string } = {
        name: text(required(r, "name", "runtime.name"), "runtime.name", RUNTIME_NAME),
    };
    const version = r.get("version");
    if (version)
        out.version = text(version, "runtime.version", { min: 1, max: 64, check: singleLine });
    return out;
}

/** The outputs, the 2 MiB bound on all of their data together. */
function outputs(node: Node): Output[] {
    let total = 0;
    return array(node, "outputs", 256).map((entry, i) => {
        const field = `outputs[${i}]`;
        const e = fields(entry, field, ["kind", "data"], true);
        const kind = text(required(e, "kind", `${field}.kind`), `${field}.kind`, {
            min: 1,
            max: 32,
            check: outputKind,
        });
        const data = bytesMap(
            required(e, "data", `${field}.data`),
            `${field}.data`,
            16,
            { min: 3, max: 127, check: mimeType },
            OUTPUTS_MAX_BYTES,
        );
        if (data.size === 0)
            throw new SchemaError(`${field}.data`, "empty: a bundle holds at least one MIME type");
        for (const b of data.values()) {
            total += b.length;
            if (total > OUTPUTS_MAX_BYTES)
                throw new SchemaError(
                    `${field}.data`,
                    `too long: outputs hold over ${OUTPUTS_MAX_BYTES} bytes in all`,
                );
        }
        return new Output(kind, data);
    });
}

function exception(node: Node): CellException {
    const e = fields(node, "exception", ["name", "value", "traceback"], true);
    const out: CellException = {
        name: text(required(e, "name", "exception.name"), "exception.name", {
            min: 1,
            max: 256,
            check: singleLine,
        }),
        traceback: [],
    };
    const value = e.get("value");
    if (value) out.value = text(value, "exception.value", { min: 0, max: 64 << 10 });
    const traceback = e.get("traceback");
    if (traceback)
        out.traceback = texts(traceback, "exception.traceback", 256, { min: 0, max: 16 << 10 });
    return out;
}

function interpreter(node: Node): Interpreter {
    const i = fields(node, "interpreter", ["started", "execution_count", "state_lost"], true);
    const out: Interpreter = {
        started: bool(required(i, "started", "interpreter.started"), "interpreter.started"),
        state_lost: false,
    };
    const count = i.get("execution_count");
    if (count) out.execution_count = uint(count, "interpreter.execution_count", 1);
    const lost = i.get("state_lost");
    if (lost) out.state_lost = bool(lost, "interpreter.state_lost");
    return out;
}

/** A Result from the bytes of a Kafka message; SchemaError when they break
 * the schema. */
export function decodeResult(data: Uint8Array): Result {
    const { f, v } = message(data, RESULT_MAX_BYTES, RESULT_FIELDS, RESULT_VERSION_MAX);
    const get = <T>(name: string, read: (node: Node, field: string) => T) =>
        optional(f, name, read);
    const flag = (name: string) => get(name, bool) ?? false;
    const out: ResultFields = {
        v,
        id: text(required(f, "id"), "id", ID),
        attempt: uint(required(f, "attempt"), "attempt", 1, ATTEMPT_MAX),
        status: status(required(f, "status"), v),
        exit_code: get("exit_code", (n, k) => uint(n, k, 0, 255)),
        signal: get("signal", (n, k) => uint(n, k, 1, 64)),
        stdout: get("stdout", (n, k) => bytes(n, k, 8 << 20)),
        stderr: get("stderr", (n, k) => bytes(n, k, 8 << 20)),
        stdout_truncated: flag("stdout_truncated"),
        stderr_truncated: flag("stderr_truncated"),
        files: get("files", files) ?? new Map(),
        files_omitted: get("files_omitted", omitted) ?? [],
        files_omitted_truncated: flag("files_omitted_truncated"),
        usage: get("usage", usage),
        runtime: get("runtime", runtime),
        worker_id: get("worker_id", (n, k) => text(n, k, ID)),
        received_ms: get("received_ms", time),
        started_ms: get("started_ms", time),
        finished_ms: get("finished_ms", time),
        error: get("error", (n, k) => text(n, k, { min: 1, max: 1024 })),
        syscall: get("syscall", (n, k) => text(n, k, { min: 1, max: 64, check: syscallName })),
        metadata:
            get("metadata", (n, k) => pairs(n, k, 16, METADATA_KEY, METADATA_VALUE)) ?? new Map(),
        session: get("session", (n, k) => text(n, k, SESSION)),
        replay_of: get("replay_of", (n, k) => text(n, k, ID)),
        outputs: get("outputs", outputs) ?? [],
        outputs_truncated: flag("outputs_truncated"),
        exception: get("exception", exception),
        interpreter: get("interpreter", interpreter),
    };
    for (const key of Object.keys(out) as (keyof ResultFields)[])
        if (out[key] === undefined) delete out[key];
    return new Result(out);
}
