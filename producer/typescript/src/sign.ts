/**
 * A tenant's signature on what the client produces (SCHEMA.md section 14):
 * Ed25519 over topic, tenant, time, Kafka key and value, carried in the
 * headers brig-tenant, brig-ts and brig-sig, so that the message value stays
 * the v1 message byte for byte. Workers started with --tenants run only
 * jobs, and obey only cancels, signed so.
 */
import { type KeyObject, createHash, createPrivateKey, sign } from "node:crypto";
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";

import { BrigError } from "./errors.js";

/** The three headers of a signed message. */
export interface SignatureHeaders {
    "brig-tenant": string;
    "brig-ts": string;
    "brig-sig": string;
}

const TENANT = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const MAX_TS_MS = 253402300799999;
const DOMAIN = Buffer.from("brig-sig-v1\0", "latin1");

/** Why name cannot be a tenant's, or undefined when it can. */
export function tenantProblem(name: string): string | undefined {
    return TENANT.test(name)
        ? undefined
        : "a tenant is 1 to 32 bytes of [a-z0-9_-], the first [a-z0-9]";
}

function lengthPrefixed(field: string, text: string): Buffer {
    const bytes = Buffer.from(text, "utf8");
    if (bytes.length > 255) throw new BrigError(`signing: ${field} is over 255 bytes`);
    return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

const sha256 = (bytes: Uint8Array): Buffer => createHash("sha256").update(bytes).digest();

/** The bytes a signature covers; key null for a null Kafka key (an empty
 * key is another message). */
export function signingInput(
    topic: string,
    tenant: string,
    tsMs: number,
    key: Uint8Array | null,
    value: Uint8Array,
): Buffer {
    if (!Number.isSafeInteger(tsMs) || tsMs < 1 || tsMs > MAX_TS_MS)
        throw new BrigError(`signing: time ${tsMs} is not a Unix time in ms`);
    const ts = Buffer.alloc(8);
    ts.writeBigUInt64BE(BigInt(tsMs));
    return Buffer.concat([
        DOMAIN,
        lengthPrefixed("topic", topic),
        lengthPrefixed("tenant", tenant),
        ts,
        Buffer.from([key === null ? 0 : 1]),
        sha256(key ?? new Uint8Array()),
        sha256(value),
    ]);
}

/** Signs as one tenant with one private key. */
export class Signer {
    constructor(
        readonly tenant: string,
        private readonly key: KeyObject,
    ) {
        const problem = tenantProblem(tenant);
        if (problem) throw new BrigError(`tenant "${tenant}": ${problem}`);
        if (key.type !== "private" || key.asymmetricKeyType !== "ed25519")
            throw new BrigError("signing: the key is not an Ed25519 private key");
    }

    /** The headers for value produced to topic under key, signed now (or at
     * tsMs). */
    headers(
        topic: string,
        key: Uint8Array | null,
        value: Uint8Array,
        tsMs: number = Date.now(),
    ): SignatureHeaders {
        const input = signingInput(topic, this.tenant, tsMs, key, value);
        return {
            "brig-tenant": this.tenant,
            "brig-ts": String(tsMs),
            "brig-sig": sign(null, input, this.key).toString("base64"),
        };
    }
}

/** The private key of a file as `brig keygen` writes it (PKCS#8 PEM). A
 * file that group or others may read is refused: the key is the tenant. */
export function loadKey(path: string): KeyObject {
    let fd: number;
    try {
        fd = openSync(path, "r");
    } catch (e) {
        throw new BrigError(`key ${path}: ${(e as Error).message}`);
    }
    let pem: Buffer;
    try {
        // Checked on the descriptor read, not on the name.
        const mode = fstatSync(fd).mode & 0o7777;
        if (mode & 0o077)
            throw new BrigError(
                `key ${path}: readable by others (mode ${mode.toString(8).padStart(4, "0")}): chmod 600 ${path}`,
            );
        pem = readFileSync(fd);
    } finally {
        closeSync(fd);
    }
    let key: KeyObject;
    try {
        key = createPrivateKey({ key: pem, format: "pem" });
    } catch (e) {
        throw new BrigError(`key ${path}: reading a PEM private key: ${(e as Error).message}`);
    } finally {
        pem.fill(0);
    }
    if (key.asymmetricKeyType !== "ed25519")
        throw new BrigError(`key ${path}: not an Ed25519 key (make one with brig keygen)`);
    return key;
}

/** The signer of tenant and keyFile, else of $BRIG_TENANT and $BRIG_KEY, as
 * the brig CLI takes them: both or neither; undefined for neither. */
export function signerOf(tenant?: string, keyFile?: string): Signer | undefined {
    const name = tenant ?? process.env.BRIG_TENANT ?? "";
    const file = keyFile ?? process.env.BRIG_KEY ?? "";
    if (!name && !file) return undefined;
    if (!name || !file)
        throw new BrigError(
            `${name ? "keyFile" : "tenant"}: a tenant signs with its key, and a key signs for a tenant: give both (tenant and keyFile, $BRIG_TENANT and $BRIG_KEY)`,
        );
    const problem = tenantProblem(name);
    if (problem) throw new BrigError(`tenant "${name}": ${problem}`);
    return new Signer(name, loadKey(file));
}
