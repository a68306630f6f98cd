#!/usr/bin/python3
"""Writes schema/signing/vectors.json: test vectors for signed messages
(SCHEMA.md section 14), checked by the C verifier (tests/unit/test_signature.c)
and by a reader of its own in Python (tests/e2e/test_signing_vectors.py).

Run it with Debian's python3 (python3-cryptography):
    /usr/bin/python3 schema/signing/generate.py [--out FILE]
Ed25519 signatures are deterministic, so the same script writes the same bytes.

The file holds:
  keys      name -> {"seed": hex of the 32-byte private key, "public": "ed25519:..."}
  tenants   tenant -> [key names]: what the verifier knows
  now_ms, window_ms: the verifier's clock and window for every vector
  vectors   each {"description", "topic", "key" (hex, or null for a null Kafka
            key), "value" (hex), "headers" ({name: text}), then either
            "valid": true with "signed_by" (the key) and "signing_input" (hex),
            or "valid": false with "error": {"field", "reason"} (field exact,
            reason a keyword the verifier's reason contains)}.
"""
import argparse
import base64
import hashlib
import json
import pathlib
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HERE = pathlib.Path(__file__).resolve().parent

# RFC 8032 section 7.1, test 1's secret key, and two more.
SEEDS = {
    "acme-2024": "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "acme-2025": "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    "globex": "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
}
TENANTS = {"acme": ["acme-2024", "acme-2025"], "globex": ["globex"], "g" * 30 + "_-": ["globex"]}
NOW_MS = 1750000000000
WINDOW_MS = 300000
# schema/vectors/job_minimal.msgpack and control_cancel_minimal.msgpack
JOB = bytes.fromhex("84a17601a26964a56a6f622d31a772756e74696d65a6707974686f6e"
                    "a4636f6465a87072696e74283129")
CONTROL = bytes.fromhex("84a17601a26f70a663616e63656ca26964a56a6f622d31a5"
                        "74735f6d73cf0000019ab697e800")
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def private(name):
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SEEDS[name]))


def public_text(name):
    raw = private(name).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "ed25519:" + base64.b64encode(raw).decode()


def signing_input(topic, tenant, ts_ms, key, value):
    t, n = topic.encode(), tenant.encode()
    return (b"brig-sig-v1\0" + bytes([len(t)]) + t + bytes([len(n)]) + n
            + struct.pack(">Q", ts_ms) + bytes([key is not None])
            + hashlib.sha256(key or b"").digest() + hashlib.sha256(value).digest())


def sign(name, topic, tenant, ts_ms, key, value):
    return base64.b64encode(private(name).sign(signing_input(topic, tenant, ts_ms, key,
                                                             value))).decode()


def headers(signer, topic, tenant, ts_ms, key, value):
    return {"brig-tenant": tenant, "brig-ts": str(ts_ms),
            "brig-sig": sign(signer, topic, tenant, ts_ms, key, value)}


def valid(description, signer, tenant, topic="brig.jobs", ts_ms=NOW_MS - 1000, key=b"job-1",
          value=JOB):
    return {"description": description, "topic": topic,
            "key": None if key is None else key.hex(), "value": value.hex(),
            "headers": headers(signer, topic, tenant, ts_ms, key, value), "valid": True,
            "signed_by": signer,
            "signing_input": signing_input(topic, tenant, ts_ms, key, value).hex()}


def invalid(description, field, reason, head, topic="brig.jobs", key=b"job-1", value=JOB):
    return {"description": description, "topic": topic,
            "key": None if key is None else key.hex(), "value": value.hex(), "headers": head,
            "valid": False, "error": {"field": field, "reason": reason}}


def flip(text):
    """The base64 of the same bytes with the first one's lowest bit flipped."""
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def unused_bits_set(text):
    """The same signature with a bit set that base64 of 64 bytes leaves unused."""
    last = B64.index(text[85])
    return text[:85] + B64[last | 1] + "=="


def vectors():
    good = headers("acme-2024", "brig.jobs", "acme", NOW_MS - 1000, b"job-1", JOB)
    out = [
        valid("a job signed by acme's first key", "acme-2024", "acme"),
        valid("the same job signed by acme's second key (rotation): either verifies",
              "acme-2025", "acme"),
        valid("a control message on another topic", "globex", "globex",
              topic="brig.control", value=CONTROL),
        valid("a null Kafka key", "globex", "globex", key=None),
        valid("an empty Kafka key (not the same as a null one)", "globex", "globex", key=b""),
        valid("signed in the future, within the window", "acme-2024", "acme",
              ts_ms=NOW_MS + WINDOW_MS),
        valid("signed exactly a window ago", "acme-2024", "acme", ts_ms=NOW_MS - WINDOW_MS),
        valid("an empty value", "acme-2024", "acme", value=b""),
        valid("a tenant name of 32 bytes with _ and -", "globex", "g" * 30 + "_-"),
        invalid("no signature headers at all", "", "unsigned", {}),
        invalid("brig-sig missing", "brig-sig", "missing",
                {k: v for k, v in good.items() if k != "brig-sig"}),
        invalid("brig-tenant missing", "brig-tenant", "missing",
                {k: v for k, v in good.items() if k != "brig-tenant"}),
        invalid("brig-ts missing", "brig-ts", "missing",
                {k: v for k, v in good.items() if k != "brig-ts"}),
        invalid("a bit flipped in the value", "brig-sig", "bad signature", good,
                value=bytes([JOB[0]]) + bytes([JOB[1] ^ 1]) + JOB[2:]),
        invalid("a bit flipped in the signature", "brig-sig", "bad signature",
                dict(good, **{"brig-sig": flip(good["brig-sig"])})),
        invalid("another Kafka key", "brig-sig", "bad signature", good, key=b"job-2"),
        invalid("a null Kafka key where an empty one was signed", "brig-sig", "bad signature",
                headers("globex", "brig.jobs", "globex", NOW_MS, b"", JOB), key=None),
        invalid("another topic (a job signed for staging, sent to production)", "brig-sig",
                "bad signature", good, topic="staging.jobs"),
        invalid("another timestamp", "brig-sig", "bad signature",
                dict(good, **{"brig-ts": str(NOW_MS)})),
        invalid("signed by globex, claimed by acme", "brig-sig", "bad signature",
                dict(headers("globex", "brig.jobs", "acme", NOW_MS, b"job-1", JOB))),
        invalid("an unknown tenant", "brig-tenant", "unknown tenant",
                headers("globex", "brig.jobs", "initech", NOW_MS, b"job-1", JOB)),
        invalid("stale: a window and a millisecond old", "brig-ts", "stale",
                headers("acme-2024", "brig.jobs", "acme", NOW_MS - WINDOW_MS - 1, b"job-1", JOB)),
        invalid("stale: from the future", "brig-ts", "stale",
                headers("acme-2024", "brig.jobs", "acme", NOW_MS + WINDOW_MS + 1, b"job-1", JOB)),
        invalid("an upper-case tenant", "brig-tenant", "invalid header",
                dict(good, **{"brig-tenant": "Acme"})),
        invalid("a tenant starting with -", "brig-tenant", "invalid header",
                dict(good, **{"brig-tenant": "-acme"})),
        invalid("a tenant of 33 bytes", "brig-tenant", "invalid header",
                dict(good, **{"brig-tenant": "a" * 33})),
        invalid("a timestamp with a leading zero", "brig-ts", "invalid header",
                dict(good, **{"brig-ts": "0" + good["brig-ts"]})),
        invalid("a timestamp in seconds with a fraction", "brig-ts", "invalid header",
                dict(good, **{"brig-ts": "1750000000.5"})),
        invalid("a signature without its padding", "brig-sig", "invalid header",
                dict(good, **{"brig-sig": good["brig-sig"].rstrip("=")})),
        invalid("a signature in base64url", "brig-sig", "invalid header",
                dict(good, **{"brig-sig": good["brig-sig"].replace("+", "-").replace("/", "_")
                              if any(c in good["brig-sig"] for c in "+/")
                              else "-" + good["brig-sig"][1:]})),
        invalid("a signature whose unused bits are set (not canonical base64)", "brig-sig",
                "invalid header",
                dict(good, **{"brig-sig": unused_bits_set(good["brig-sig"])})),
    ]
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(HERE / "vectors.json"))
    out = pathlib.Path(parser.parse_args().out)
    doc = {
        "keys": {name: {"seed": seed, "public": public_text(name)}
                 for name, seed in SEEDS.items()},
        "tenants": TENANTS,
        "now_ms": NOW_MS,
        "window_ms": WINDOW_MS,
        "vectors": vectors(),
    }
    out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
