/**
 * Reading the values of a walked message (msgpack.ts) as SCHEMA.md's types,
 * in the order of checks of section 2: type; count or length; UTF-8; NUL;
 * content rules. Every refusal is a SchemaError naming its field.
 */
import { SchemaError } from "../errors.js";
import { type Node, walk } from "./msgpack.js";
import { keyPath, memberPath } from "./paths.js";
import { decodeUtf8, relative, type TextRule } from "./rules.js";

export const UINT_MAX = 2 ** 53 - 1;
export const TIME_MAX = 253402300799999;
export const PATH: TextRule = { min: 1, max: 1024, check: relative("path") };

const TYPE_NAMES: Record<Node["t"], string> = {
    nil: "nil",
    bool: "boolean",
    int: "integer",
    float: "float",
    ext: "extension",
    str: "string",
    bin: "binary",
    array: "array",
    map: "map",
};

function wrongType(field: string, node: Node, expected: string): SchemaError {
    return new SchemaError(field, `wrong type: expected ${expected}, got ${TYPE_NAMES[node.t]}`);
}

/** The named fields of a map, nil taken as absent. */
export type Fields = Map<string, Node>;

function keyText(
    key: Node,
    seen: Set<string>,
    field: string,
    path: (k: Uint8Array) => string,
): string {
    if (key.t !== "str")
        throw new SchemaError(field, `key is not a string: got ${TYPE_NAMES[key.t]}`);
    const text = decodeUtf8(key.b);
    if (text === null) throw new SchemaError(path(key.b), "key is not valid UTF-8");
    if (seen.has(text)) throw new SchemaError(path(key.b), "duplicate key");
    seen.add(text);
    return text;
}

/** The value of a key no reader knows: only well formed, at every depth,
 * and named by that key whatever is wrong inside it. */
function checkUnknown(node: Node, field: string): void {
    if (node.t === "str" && decodeUtf8(node.b) === null)
        throw new SchemaError(field, "not valid UTF-8: a string of a key this reader ignores");
    if (node.t === "array") node.items.forEach((item) => checkUnknown(item, field));
    if (node.t === "map") {
        const seen = new Set<string>();
        for (const [k, v] of node.entries) {
            keyText(k, seen, field, () => field);
            checkUnknown(v, field);
        }
    }
}

/** The fields of a map of named fields (the message itself, limits, usage,
 * ...), keys checked in wire order. Unknown keys are refused, or checked for
 * well-formedness and ignored. */
export function fields(
    node: Node,
    parent: string,
    names: readonly string[],
    unknownAllowed: boolean,
): Fields {
    if (node.t !== "map") throw wrongType(parent, node, "map");
    const seen = new Set<string>();
    const out: Fields = new Map();
    for (const [k, v] of node.entries) {
        const name = keyText(k, seen, parent, (b) => memberPath(parent, b));
        if (names.includes(name)) {
            if (v.t !== "nil") out.set(name, v);
        } else if (!unknownAllowed) {
            throw new SchemaError(memberPath(parent, name), "unknown key");
        } else {
            checkUnknown(v, memberPath(parent, name));
        }
    }
    return out;
}

export function required(f: Fields, name: string, field = name): Node {
    const node = f.get(name);
    if (!node) throw new SchemaError(field, "missing: this field is required");
    return node;
}

export function uint(node: Node, field: string, min = 0, max = UINT_MAX): number {
    if (node.t !== "int") throw wrongType(field, node, "unsigned integer");
    if (node.v < BigInt(min) || node.v > BigInt(max))
        throw new SchemaError(field, `out of range: ${node.v} (min ${min}, max ${max})`);
    return Number(node.v);
}

export function time(node: Node, field: string): number {
    return uint(node, field, 1, TIME_MAX);
}

export function bool(node: Node, field: string): boolean {
    if (node.t !== "bool") throw wrongType(field, node, "boolean");
    return node.v;
}

function lengthProblem(b: Uint8Array, rule: TextRule): string | null {
    if (b.length < rule.min)
        return rule.min === 1 ? "empty" : `empty or too short: ${b.length} bytes (min ${rule.min})`;
    if (b.length > rule.max) return `too long: ${b.length} bytes (max ${rule.max})`;
    return null;
}

/** The problem of a string's bytes under rule, or null. */
export function textProblem(b: Uint8Array, rule: TextRule): string | null {
    const length = lengthProblem(b, rule);
    if (length) return length;
    if (decodeUtf8(b) === null) return "not valid UTF-8";
    const nul = b.indexOf(0);
    if (nul >= 0) return `contains NUL at byte ${nul}`;
    return rule.check ? rule.check(b) : null;
}

export function text(node: Node, field: string, rule: TextRule): string {
    if (node.t !== "str") throw wrongType(field, node, "string");
    const problem = textProblem(node.b, rule);
    if (problem) throw new SchemaError(field, problem);
    return decodeUtf8(node.b) as string;
}

/** bytes: bin, or a str of valid UTF-8. A copy, so that the message's buffer
 * can go. */
export function bytes(node: Node, field: string, max: number): Uint8Array {
    if (node.t !== "bin" && node.t !== "str") throw wrongType(field, node, "binary or string");
    if (node.b.length > max)
        throw new SchemaError(field, `too long: ${node.b.length} bytes (max ${max})`);
    if (node.t === "str" && decodeUtf8(node.b) === null)
        throw new SchemaError(field, "not valid UTF-8 (send bytes as binary)");
    return node.b.slice();
}

export function array(node: Node, field: string, max: number): Node[] {
    if (node.t !== "array") throw wrongType(field, node, "array");
    if (node.items.length > max)
        throw new SchemaError(field, `too many elements: ${node.items.length} (max ${max})`);
    return node.items;
}

export function texts(node: Node, field: string, max: number, rule: TextRule): string[] {
    return array(node, field, max).map((item, i) => text(item, `${field}[${i}]`, rule));
}

/** A map keyed by text (files, env, metadata, a MIME bundle): every key is
 * checked before any value. Returns the entries with their keys' text. */
export function keyed(node: Node, field: string, max: number, keyRule: TextRule): [string, Node][] {
    if (node.t !== "map") throw wrongType(field, node, "map");
    if (node.entries.length > max)
        throw new SchemaError(field, `too many entries: ${node.entries.length} (max ${max})`);
    const seen = new Set<string>();
    return node.entries.map(([k, v]) => {
        const name = keyText(k, seen, field, (b) => keyPath(field, b));
        const problem = textProblem((k as { b: Uint8Array }).b, keyRule);
        if (problem) throw new SchemaError(keyPath(field, name), problem);
        return [name, v];
    });
}

export function pairs(
    node: Node,
    field: string,
    max: number,
    keyRule: TextRule,
    valueRule: TextRule,
): Map<string, string> {
    return new Map(
        keyed(node, field, max, keyRule).map(([k, v]) => [
            k,
            text(v, keyPath(field, k), valueRule),
        ]),
    );
}

export function bytesMap(
    node: Node,
    field: string,
    max: number,
    keyRule: TextRule,
    valueMax: number,
): Map<string, Uint8Array> {
    return new Map(
        keyed(node, field, max, keyRule).map(([k, v]) => [
            k,
            bytes(v, keyPath(field, k), valueMax),
        ]),
    );
}

/** The files of a job or a result: no file where another's directory is. */
export function files(node: Node, field: string): Map<string, Uint8Array> {
    const out = bytesMap(node, field, 256, PATH, Number.MAX_SAFE_INTEGER);
    const names = [...out.keys()];
    for (const name of names) {
        const parent = names.find((other) => name.startsWith(other + "/"));
        if (parent !== undefined)
            throw new SchemaError(
                keyPath(field, name),
                `path conflict: "${parent.slice(0, 64)}" is a file`,
            );
    }
    return out;
}

/** The version field of any kind, which every reader checks first. */
export function version(f: Fields, newest: number): number {
    const v = required(f, "v");
    if (v.t === "int" && (v.v < 1n || v.v > BigInt(newest)))
        throw new SchemaError(
            "v",
            `unsupported version ${v.v}: this reader speaks ${newest > 1 ? `versions 1 to ${newest}` : "version 1"}`,
        );
    return uint(v, "v", 1, newest);
}

/** The top-level fields of a message of one kind (section 2, steps 1-5). */
export function message(
    data: Uint8Array,
    maxBytes: number,
    names: readonly string[],
    newest = 1,
): { f: Fields; v: number } {
    const top = walk(data, maxBytes);
    if (top.t !== "map")
        throw new SchemaError(
            "",
            `not a map: the message is of type ${top.t === "array" ? "array" : top.t}`,
        );
    const f = fields(top, "", names, true);
    return { f, v: version(f, newest) };
}

/** An optional field read by read(node, its name); undefined when absent. */
export function optional<T>(
    f: Fields,
    name: string,
    read: (node: Node, field: string) => T,
): T | undefined {
    const node = f.get(name);
    return node ? read(node, name) : undefined;
}
