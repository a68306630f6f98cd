/**
 * Kafka properties in librdkafka's form, as every brig client takes them (a
 * `--kafka-config` file of key=value lines, or a map like `-X key=value`),
 * turned into KafkaJS's configuration. A property KafkaJS has no equivalent
 * for is refused by name: ignoring it would connect some other way than the
 * operator wrote.
 */
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";

import { BrigError } from "../errors.js";

export type Properties = Map<string, string>;

/** The connection settings KafkaJS takes from the properties. */
export interface Connection {
    brokers?: string[];
    clientId?: string;
    ssl?: ConnectionOptions;
    sasl?: {
        mechanism: "plain" | "scram-sha-256" | "scram-sha-512";
        username: string;
        password: string;
    };
    connectionTimeout?: number;
}

/** librdkafka properties of a file: "key=value" a line, blank lines and lines
 * starting with # or ! skipped, as brig's C programs read them. */
export function readProperties(path: string): Properties {
    let text: string;
    try {
        text = readFileSync(path, "utf8");
    } catch (e) {
        throw new BrigError(`reading Kafka properties from ${path}: ${(e as Error).message}`);
    }
    const out: Properties = new Map();
    text.split("\n").forEach((line, i) => {
        const stripped = line.trim();
        if (!stripped || stripped[0] === "#" || stripped[0] === "!") return;
        const eq = stripped.indexOf("=");
        if (eq <= 0 || !stripped.slice(0, eq).trim())
            throw new BrigError(`${path} line ${i + 1}: ${stripped}: expected KEY=VALUE`);
        out.set(stripped.slice(0, eq).trim(), stripped.slice(eq + 1).trim());
    });
    return out;
}

/** The caller's properties: the file (else $BRIG_KAFKA_CONFIG, else none),
 * then the map, whose values win. */
export function mergeProperties(
    configFile?: string,
    properties?: Record<string, string> | Map<string, string>,
): Properties {
    const path = configFile ?? process.env.BRIG_KAFKA_CONFIG;
    const merged = path ? readProperties(path) : new Map<string, string>();
    const given = properties instanceof Map ? properties : Object.entries(properties ?? {});
    for (const [key, value] of given) {
        if (typeof value !== "string")
            throw new BrigError(
                `Kafka property ${key}: expected a string value, got ${typeof value}`,
            );
        merged.set(key, value);
    }
    return merged;
}

function pem(path: string, what: string): Buffer {
    try {
        return readFileSync(path);
    } catch (e) {
        throw new BrigError(`reading the ${what} (${path}): ${(e as Error).message}`);
    }
}

const PROTOCOLS = ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"];
const MECHANISMS = ["plain", "scram-sha-256", "scram-sha-512"];

type Handler = (value: string, c: Connection, p: Properties) => void;

function ssl(c: Connection): ConnectionOptions {
    return (c.ssl ??= {});
}

function positive(key: string, value: string): number {
    if (!/^[1-9][0-9]{0,9}$/.test(value))
        throw new BrigError(`Kafka property ${key}=${value}: expected a positive number of ms`);
    return Number(value);
}

const HANDLERS: Record<string, Handler> = {
    "bootstrap.servers": (v, c) =>
        (c.brokers = v
            .split(",")
            .map((b) => b.trim())
            .filter(Boolean)),
    "client.id": (v, c) => (c.clientId = v),
    "security.protocol": (v, c) => {
        const protocol = v.toLowerCase();
        if (!PROTOCOLS.includes(protocol))
            throw new BrigError(
                `Kafka property security.protocol=${v}: expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL`,
            );
        if (protocol.endsWith("ssl")) ssl(c);
    },
    "sasl.mechanisms": (v, c, p) => {
        const mechanism = v.toLowerCase();
        if (!MECHANISMS.includes(mechanism))
            throw new BrigError(
                `Kafka property sasl.mechanisms=${v}: expected one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`,
            );
        c.sasl = {
            mechanism: mechanism as "plain",
            username: p.get("sasl.username") ?? "",
            password: p.get("sasl.password") ?? "",
        };
    },
    "sasl.username": () => {},
    "sasl.password": () => {},
    "ssl.ca.location": (v, c) => (ssl(c).ca = pem(v, "CA certificate (ssl.ca.location)")),
    "ssl.ca.pem": (v, c) => (ssl(c).ca = v),
    "ssl.certificate.location": (v, c) =>
        (ssl(c).cert = pem(v, "client certificate (ssl.certificate.location)")),
    "ssl.certificate.pem": (v, c) => (ssl(c).cert = v),
    "ssl.key.location": (v, c) => (ssl(c).key = pem(v, "client key (ssl.key.location)")),
    "ssl.key.pem": (v, c) => (ssl(c).key = v),
    "ssl.key.password": (v, c) => (ssl(c).passphrase = v),
    "ssl.endpoint.identification.algorithm": (v, c) => {
        if (v !== "https" && v !== "none")
            throw new BrigError(
                `Kafka property ssl.endpoint.identification.algorithm=${v}: expected https or none`,
            );
        if (v === "none") ssl(c).checkServerIdentity = () => undefined;
    },
    "enable.ssl.certificate.verification": (v, c) => {
        if (v !== "true" && v !== "false")
            throw new BrigError(
                `Kafka property enable.ssl.certificate.verification=${v}: expected true or false`,
            );
        ssl(c).rejectUnauthorized = v === "true";
    },
    "socket.connection.setup.timeout.ms": (v, c) =>
        (c.connectionTimeout = positive("socket.connection.setup.timeout.ms", v)),
};

const ALIASES: Record<string, string> = {
    "metadata.broker.list": "bootstrap.servers",
    "sasl.mechanism": "sasl.mechanisms",
};

/** KafkaJS's connection settings from librdkafka properties. */
export function connectionOf(properties: Properties): Connection {
    const p: Properties = new Map([...properties].map(([k, v]) => [ALIASES[k] ?? k, v]));
    const c: Connection = {};
    for (const key of p.keys()) {
        if (!Object.hasOwn(HANDLERS, key))
            throw new BrigError(
                `Kafka property ${key} is not supported by the TypeScript client (KafkaJS); it takes ${Object.keys(HANDLERS).join(", ")}`,
            );
    }
    // security.protocol first: the SSL options of other keys add to it.
    const order = [...p.keys()].sort(
        (a, b) => Number(b === "security.protocol") - Number(a === "security.protocol"),
    );
    for (const key of order) HANDLERS[key](p.get(key) as string, c, p);
    const protocol = (p.get("security.protocol") ?? "plaintext").toLowerCase();
    if (protocol.startsWith("sasl") !== (c.sasl !== undefined))
        throw new BrigError(
            protocol.startsWith("sasl")
                ? `Kafka property security.protocol=${p.get("security.protocol")} needs sasl.mechanisms (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512), sasl.username and sasl.password`
                : `Kafka property sasl.mechanisms needs security.protocol SASL_SSL or SASL_PLAINTEXT`,
        );
    if (!protocol.endsWith("ssl") && c.ssl !== undefined)
        throw new BrigError(
            `Kafka properties ssl.* need security.protocol SSL or SASL_SSL (it is ${protocol.toUpperCase()})`,
        );
    if (c.sasl && (!c.sasl.username || !p.has("sasl.password")))
        throw new BrigError(
            `Kafka properties sasl.username and sasl.password are needed with sasl.mechanisms`,
        );
    return c;
}
