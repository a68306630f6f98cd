// librdkafka properties, as every brig client takes them, mapped to KafkaJS;
// one KafkaJS cannot honour is refused by name.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { connectionOf, mergeProperties, readProperties } from "../dist/kafka/properties.js";

const dir = mkdtempSync(join(tmpdir(), "brig-props-"));
const ca = join(dir, "ca.pem");
writeFileSync(ca, "-----BEGIN CERTIFICATE-----\n");

test("a properties file: comments, blanks, spaces around =", () => {
    const path = join(dir, "a.properties");
    writeFileSync(path, "# comment\n! also\n\nsecurity.protocol = SASL_SSL\nsasl.password=p=q\n");
    assert.deepEqual(
        readProperties(path),
        new Map([
            ["security.protocol", "SASL_SSL"],
            ["sasl.password", "p=q"],
        ]),
    );
    writeFileSync(path, "just a line\n");
    assert.throws(() => readProperties(path), /line 1: just a line: expected KEY=VALUE/);
    assert.throws(
        () => readProperties(join(dir, "missing")),
        /reading Kafka properties from .*missing/,
    );
});

test("the map wins over the file", () => {
    const path = join(dir, "b.properties");
    writeFileSync(path, "client.id=file\nsasl.username=u\n");
    assert.deepEqual(
        mergeProperties(path, { "client.id": "map" }),
        new Map([
            ["client.id", "map"],
            ["sasl.username", "u"],
        ]),
    );
});

test("SASL_SSL with SCRAM, a CA and no host name check", () => {
    const c = connectionOf(
        new Map([
            ["bootstrap.servers", "a:1, b:2"],
            ["security.protocol", "sasl_ssl"],
            ["sasl.mechanisms", "SCRAM-SHA-512"],
            ["sasl.username", "agent"],
            ["sasl.password", "pw"],
            ["ssl.ca.location", ca],
            ["ssl.endpoint.identification.algorithm", "none"],
            ["client.id", "me"],
        ]),
    );
    assert.deepEqual(c.brokers, ["a:1", "b:2"]);
    assert.deepEqual(c.sasl, { mechanism: "scram-sha-512", username: "agent", password: "pw" });
    assert.equal(String(c.ssl.ca), "-----BEGIN CERTIFICATE-----\n");
    assert.equal(c.ssl.checkServerIdentity(), undefined);
    assert.equal(c.clientId, "me");
});

test("plain SSL with a client certificate; PLAINTEXT has no ssl", () => {
    const c = connectionOf(
        new Map([
            ["security.protocol", "SSL"],
            ["ssl.certificate.location", ca],
            ["ssl.key.location", ca],
        ]),
    );
    assert.ok(c.ssl.cert && c.ssl.key);
    assert.equal(c.sasl, undefined);
    assert.deepEqual(connectionOf(new Map([["security.protocol", "PLAINTEXT"]])), {});
});

test("what cannot be honoured is refused by name", () => {
    const refused = (pairs, pattern) => assert.throws(() => connectionOf(new Map(pairs)), pattern);
    refused([["fetch.wait.max.ms", "5"]], /Kafka property fetch\.wait\.max\.ms is not supported/);
    refused(
        [["security.protocol", "SASL_KERBEROS"]],
        /security\.protocol=SASL_KERBEROS: expected one of/,
    );
    refused(
        [
            ["security.protocol", "SASL_SSL"],
            ["sasl.mechanisms", "GSSAPI"],
        ],
        /sasl\.mechanisms=GSSAPI/,
    );
    refused([["security.protocol", "SASL_SSL"]], /needs sasl\.mechanisms/);
    refused(
        [
            ["security.protocol", "SASL_SSL"],
            ["sasl.mechanisms", "PLAIN"],
            ["sasl.username", "u"],
        ],
        /sasl\.password/,
    );
    refused(
        [
            ["sasl.mechanisms", "PLAIN"],
            ["sasl.username", "u"],
            ["sasl.password", "p"],
        ],
        /needs security\.protocol SASL/,
    );
    refused([["ssl.ca.location", ca]], /ssl\.\* need security\.protocol SSL/);
    refused(
        [
            ["security.protocol", "SSL"],
            ["ssl.ca.location", join(dir, "nope.pem")],
        ],
        /CA certificate \(ssl\.ca\.location\)/,
    );
    refused([["socket.connection.setup.timeout.ms", "soon"]], /positive number/);
});
