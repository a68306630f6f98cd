/**
 * Field paths as SCHEMA.md section 2 writes them in errors: `limits.wall_ms`,
 * `args[3]`, `files["a/b.txt"]`, with bytes outside printable ASCII escaped
 * and a key cut so that the whole path stays within 63 bytes.
 */

export const FIELD_MAX = 63;

const encoder = new TextEncoder();

export function utf8(text: string): Uint8Array {
    return encoder.encode(text);
}

function escape(byte: number): string {
    if (byte === 0x22 || byte === 0x5c) return "\\" + String.fromCharCode(byte);
    if (byte >= 0x20 && byte < 0x7f) return String.fromCharCode(byte);
    return "\\x" + byte.toString(16).padStart(2, "0");
}

/** The path of an entry of a keyed map: `parent["key"]`. */
export function keyPath(parent: string, key: Uint8Array | string): string {
    const bytes = typeof key === "string" ? utf8(key) : key;
    const prefix = `${parent}["`;
    const room = FIELD_MAX - prefix.length - 2;
    const pieces = Array.from(bytes, escape);
    let body = pieces.join("");
    if (body.length > room) {
        body = "";
        for (const piece of pieces) {
            if (body.length + piece.length > room - 3) break;
            body += piece;
        }
        body += "...";
    }
    return `${prefix}${body}"]`;
}

/** The path of a member of a map of named fields (`usage.cpu_us`), quoted
 * like an entry when the key is not a plain name or would not fit. */
export function memberPath(parent: string, key: Uint8Array | string): string {
    const bytes = typeof key === "string" ? utf8(key) : key;
    const plain =
        bytes.length > 0 &&
        bytes.every(
            (c) =>
                (c >= 0x30 && c <= 0x39) ||
                (c >= 0x41 && c <= 0x5a) ||
                (c >= 0x61 && c <= 0x7a) ||
                c === 0x5f,
        );
    const length = (parent ? parent.length + 1 : 0) + bytes.length;
    if (!plain || length > FIELD_MAX) return keyPath(parent, bytes);
    const name = String.fromCharCode(...bytes);
    return parent ? `${parent}.${name}` : name;
}
