/**
 * The text rules of the wire schema (SCHEMA.md sections 5 to 9), applied to
 * a string's bytes. Each returns null when the text is fine, else the reason,
 * starting with the schema's keyword.
 */
import { isIPv4, isIPv6 } from "node:net";

/** A text rule: its length in bytes, then its content. */
export interface TextRule {
    min: number;
    max: number;
    check?: (b: Uint8Array) => string | null;
}

// WHATWG's UTF-8 decoder, fatal, refuses what RFC 3629 refuses: overlong
// forms, surrogates, code points past U+10FFFF. ignoreBOM keeps a leading
// U+FEFF as text instead of dropping it.
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The text of valid UTF-8 bytes, or null. */
export function decodeUtf8(b: Uint8Array): string | null {
    try {
        return strict.decode(b);
    } catch {
        return null;
    }
}

function shown(c: number): string {
    return c > 0x20 && c < 0x7f && c !== 0x27
        ? `'${String.fromCharCode(c)}'`
        : `0x${c.toString(16).padStart(2, "0")}`;
}

function charset(allowed: (c: number, at: number) => boolean): (b: Uint8Array) => string | null {
    return (b) => {
        const at = b.findIndex((c, i) => !allowed(c, i));
        return at < 0 ? null : `invalid character ${shown(b[at])} at byte ${at}`;
    };
}

const lower = (c: number) => c >= 0x61 && c <= 0x7a;
const upper = (c: number) => c >= 0x41 && c <= 0x5a;
const digit = (c: number) => c >= 0x30 && c <= 0x39;
const among = (chars: string) => (c: number) => chars.includes(String.fromCharCode(c));

/** Job, session, replay and worker ids: [A-Za-z0-9._:-]. */
export const token = charset((c) => lower(c) || upper(c) || digit(c) || among("._:-")(c));

/** A runtime name: [a-z0-9], then also . _ + - */
export const runtimeName = charset((c, at) => lower(c) || digit(c) || (at > 0 && among("._+-")(c)));

export const syscallName = charset((c) => lower(c) || digit(c) || c === 0x5f);

export const outputKind = charset((c) => lower(c) || c === 0x5f);

const topicChars = charset((c) => lower(c) || upper(c) || digit(c) || among("._-")(c));

/** Kafka's topic names: [A-Za-z0-9._-], not "." or "..". */
export function topic(b: Uint8Array): string | null {
    const text = String.fromCharCode(...b.subarray(0, 3));
    if (b.length <= 2 && (text === "." || text === ".."))
        return 'invalid topic: "." and ".." are not topic names';
    return topicChars(b);
}

const envChars = charset((c, at) => lower(c) || upper(c) || c === 0x5f || (at > 0 && digit(c)));

/** An environment variable's name: not one the jail sets, nor brig's prefix. */
export function envName(b: Uint8Array): string | null {
    const bad = envChars(b);
    if (bad) return bad;
    const name = String.fromCharCode(...b);
    if (["PATH", "HOME", "LANG"].includes(name)) return `reserved name: the jail sets ${name}`;
    if (name.startsWith("BRIG_")) return "reserved name: the BRIG_ prefix belongs to brig";
    return null;
}

/** One line: no byte 0x00-0x1f or 0x7f. */
export function singleLine(b: Uint8Array): string | null {
    const at = b.findIndex((c) => c < 0x20 || c === 0x7f);
    return at < 0 ? null : `control character ${shown(b[at])} at byte ${at}`;
}

/** A path relative to /work (section 5.3), or a glob: `noun` is "path" or
 * "pattern". */
export function relative(noun: "path" | "pattern"): (b: Uint8Array) => string | null {
    return (b) => {
        const control = singleLine(b);
        if (control) return control;
        if (b[0] === 0x2f) return `invalid ${noun}: absolute; paths are relative to /work`;
        let start = 0;
        for (let i = 0; i <= b.length; i++) {
            if (i < b.length && b[i] !== 0x2f) continue;
            const n = i - start;
            const dots = b.subarray(start, i).every((c) => c === 0x2e);
            if (n === 0 || (dots && n <= 2))
                return `invalid ${noun}: an empty, "." or ".." component`;
            if (n > 255) return `invalid ${noun}: a component is over 255 bytes`;
            start = i + 1;
        }
        return null;
    };
}

const mimeChars = charset((c) => lower(c) || digit(c) || among("/!#$&^_.+-")(c));

/** A MIME type of an output's bundle: type/subtype. */
export function mimeType(b: Uint8Array): string | null {
    const bad = mimeChars(b);
    if (bad) return bad;
    const slash = b.indexOf(0x2f);
    if (slash <= 0 || slash === b.length - 1 || b.indexOf(0x2f, slash + 1) >= 0)
        return "invalid MIME type: not type/subtype";
    return null;
}

function hostname(host: string, wildcard: boolean): string | null {
    if (host.length === 0 || host.length > 253)
        return `invalid host: ${host.length} bytes (from 1 to 253)`;
    const labels = host.split(".");
    for (const label of labels) {
        if (!/^[a-z0-9-]{1,63}$/.test(label))
            return label.length === 0 || label.length > 63
                ? `invalid host: label of ${label.length} bytes (from 1 to 63)`
                : "invalid host: a character outside a-z 0-9 -";
        if (label.startsWith("-") || label.endsWith("-"))
            return "invalid host: a label starts or ends with '-'";
    }
    if (/^[0-9]+$/.test(labels[labels.length - 1])) {
        if (wildcard) return "invalid wildcard: an IP address has no subdomains";
        if (!isIPv4(host)) return "invalid host: not an IPv4 address";
    }
    if (wildcard && labels.length < 2) return `invalid wildcard: "*.${host}" is too broad`;
    return null;
}

/** A network allow rule (section 5.2): host[:port]. */
export function netRule(b: Uint8Array): string | null {
    const rule = decodeUtf8(b) ?? "";
    let hostEnd: number;
    if (rule.startsWith("[")) {
        const close = rule.indexOf("]");
        if (close < 0) return "invalid host: '[' without ']'";
        const host = rule.slice(1, close);
        if (!/^[0-9a-f:.]*$/.test(host))
            return "invalid host: IPv6 address with a character outside 0-9 a-f : .";
        if (!isIPv6(host)) return "invalid host: not an IPv6 address";
        hostEnd = close + 1;
        if (hostEnd < rule.length && rule[hostEnd] !== ":") return "invalid host: text after ']'";
    } else {
        const colon = rule.lastIndexOf(":");
        hostEnd = colon < 0 ? rule.length : colon;
        const wildcard = rule.startsWith("*.") && hostEnd >= 2;
        const problem = hostname(rule.slice(wildcard ? 2 : 0, hostEnd), wildcard);
        if (problem) return problem;
    }
    if (hostEnd < rule.length) {
        const port = rule.slice(hostEnd + 1);
        if (!/^[1-9][0-9]{0,4}$/.test(port) || Number(port) > 65535)
            return `invalid port: "${port.slice(0, 8)}" is not a number from 1 to 65535`;
    }
    return null;
}
