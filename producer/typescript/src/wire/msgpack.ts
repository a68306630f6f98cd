/**
 * The structural walk of SCHEMA.md sections 1 and 2 (step 2) over a message's
 * raw bytes, building the tree the field readers look at.
 *
 * It is not a general msgpack decoder on purpose: general ones keep the last
 * of two equal keys, turn invalid UTF-8 into U+FFFD and find a short message
 * before any bound, where the schema wants duplicates refused, strings kept
 * as their bytes and whichever problem comes first in byte order reported.
 * Nothing is allocated for a count before the bytes that could hold it are
 * known to be there.
 */
import { SchemaError } from "../errors.js";
import { memberPath } from "./paths.js";

export const MAX_DEPTH = 8;
export const MAX_OBJECTS = 16384;
export const MAX_TOP_KEYS = 64;
export const MAX_MAP_ENTRIES = 256;

/** One msgpack object. Strings keep their bytes: whether they are UTF-8 is a
 * question for the field that reads them. */
export type Node =
    | { t: "nil" }
    | { t: "bool"; v: boolean }
    | { t: "int"; v: bigint }
    | { t: "float" }
    | { t: "ext" }
    | { t: "str"; b: Uint8Array }
    | { t: "bin"; b: Uint8Array }
    | { t: "array"; items: Node[] }
    | { t: "map"; entries: [Node, Node][] };

interface Header {
    kind: "map" | "array" | "scalar";
    count: number;
    node?: Node;
}

class Walk {
    private pos = 0;
    private objects = 0;
    private readonly view: DataView;

    constructor(private readonly buf: Uint8Array) {
        this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }

    get atEnd(): boolean {
        return this.pos === this.buf.length;
    }

    private take(n: number): number {
        if (this.buf.length - this.pos < n) throw new SchemaError("", "truncated");
        const at = this.pos;
        this.pos += n;
        return at;
    }

    private bytes(n: number): Uint8Array {
        const at = this.take(n);
        return this.buf.subarray(at, at + n);
    }

    private length(width: 1 | 2 | 4): number {
        const at = this.take(width);
        if (width === 1) return this.view.getUint8(at);
        return width === 2 ? this.view.getUint16(at) : this.view.getUint32(at);
    }

    private int(t: number): bigint {
        const at = this.take(1 << ((t - 0xcc) % 4));
        switch (t) {
            case 0xcc:
                return BigInt(this.view.getUint8(at));
            case 0xcd:
                return BigInt(this.view.getUint16(at));
            case 0xce:
                return BigInt(this.view.getUint32(at));
            case 0xcf:
                return this.view.getBigUint64(at);
            case 0xd0:
                return BigInt(this.view.getInt8(at));
            case 0xd1:
                return BigInt(this.view.getInt16(at));
            case 0xd2:
                return BigInt(this.view.getInt32(at));
            default:
                return this.view.getBigInt64(at);
        }
    }

    /** One object's header and, for a scalar, its value. The checks run in
     * the order of SCHEMA.md section 2: the header, the object count, then
     * the payload or whether the bytes left can hold the count. */
    private header(field: string): Header {
        const t = this.buf[this.take(1)];
        if (t === 0xc1) throw new SchemaError("", "invalid msgpack: the byte 0xc1");
        let kind: Header["kind"] = "scalar";
        let count = 0;
        let payload = 0;
        let make: () => Node;
        if (t <= 0x7f) {
            make = () => ({ t: "int", v: BigInt(t) });
        } else if (t >= 0xe0) {
            make = () => ({ t: "int", v: BigInt(t - 0x100) });
        } else if (t === 0xc0) {
            make = () => ({ t: "nil" });
        } else if (t === 0xc2 || t === 0xc3) {
            make = () => ({ t: "bool", v: t === 0xc3 });
        } else if (t <= 0x8f || t === 0xde || t === 0xdf) {
            kind = "map";
            count = t <= 0x8f ? t & 0x0f : this.length(t === 0xde ? 2 : 4);
            make = () => ({ t: "nil" });
        } else if (t <= 0x9f || t === 0xdc || t === 0xdd) {
            kind = "array";
            count = t <= 0x9f ? t & 0x0f : this.length(t === 0xdc ? 2 : 4);
            make = () => ({ t: "nil" });
        } else if (t <= 0xbf || (t >= 0xd9 && t <= 0xdb)) {
            payload = t <= 0xbf ? t & 0x1f : this.length((1 << (t - 0xd9)) as 1 | 2 | 4);
            make = () => ({ t: "str", b: this.bytes(payload) });
        } else if (t >= 0xc4 && t <= 0xc6) {
            payload = this.length((1 << (t - 0xc4)) as 1 | 2 | 4);
            make = () => ({ t: "bin", b: this.bytes(payload) });
        } else if (t >= 0xc7 && t <= 0xc9) {
            payload = this.length((1 << (t - 0xc7)) as 1 | 2 | 4);
            this.take(1); // the extension's type
            make = () => (this.take(payload), { t: "ext" });
        } else if (t === 0xca || t === 0xcb) {
            make = () => (this.take(t === 0xca ? 4 : 8), { t: "float" });
        } else if (t >= 0xcc && t <= 0xd3) {
            make = () => ({ t: "int", v: this.int(t) });
        } else {
            this.take(1); // fixext: the extension's type
            make = () => (this.take(1 << (t - 0xd4)), { t: "ext" });
        }
        this.objects++;
        if (this.objects > MAX_OBJECTS) throw new SchemaError(field, "too many objects");
        if (kind !== "scalar") {
            // Every element takes a byte at least: a count the rest cannot
            // hold is cut short, whatever the bounds say.
            if ((kind === "map" ? 2 * count : count) > this.buf.length - this.pos)
                throw new SchemaError("", "truncated");
            return { kind, count };
        }
        return { kind, count, node: make() };
    }

    /** The elements of a map or an array whose header was read at level. */
    private children(h: Header, level: number, field: string): Node {
        if (h.node) return h.node;
        if (h.kind === "map") {
            if (h.count > MAX_MAP_ENTRIES)
                throw new SchemaError(
                    field,
                    `too many entries: ${h.count} (max ${MAX_MAP_ENTRIES})`,
                );
            const entries: [Node, Node][] = [];
            for (let i = 0; i < h.count; i++)
                entries.push([this.value(level + 1, field), this.value(level + 1, field)]);
            return { t: "map", entries };
        }
        const items: Node[] = [];
        for (let i = 0; i < h.count; i++) items.push(this.value(level + 1, field));
        return { t: "array", items };
    }

    value(level: number, field: string): Node {
        if (level > MAX_DEPTH) throw new SchemaError(field, `too deep: past ${MAX_DEPTH} levels`);
        return this.children(this.header(field), level, field);
    }

    /** The top-level object: a map's values are named after their key in
     * errors, its keys by the message as a whole. */
    top(): Node {
        const h = this.header("");
        if (h.kind !== "map") return this.children(h, 1, "");
        if (h.count > MAX_TOP_KEYS)
            throw new SchemaError("", `too many keys: ${h.count} (max ${MAX_TOP_KEYS})`);
        const entries: [Node, Node][] = [];
        for (let i = 0; i < h.count; i++) {
            const key = this.children(this.header(""), 2, "");
            const name = key.t === "str" ? memberPath("", key.b) : "";
            entries.push([key, this.value(2, name)]);
        }
        return { t: "map", entries };
    }
}

/** The tree of one message of at most maxBytes, or a SchemaError naming the
 * first structural problem (section 2, steps 1 and 2). */
export function walk(buf: Uint8Array, maxBytes: number): Node {
    if (buf.length > maxBytes)
        throw new SchemaError("", `too large: ${buf.length} bytes (max ${maxBytes})`);
    const w = new Walk(buf);
    const node = w.top();
    if (!w.atEnd) throw new SchemaError("", "trailing bytes after the message");
    return node;
}
