"""schema/signing/vectors.json, read by a verifier written from SCHEMA.md
section 14 alone (the C one is tests/unit/test_signature.c): what a client in
another language checks its signing against."""
import base64
import binascii
import hashlib
import json
import re
import struct
import subprocess
import sys

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                              Ed25519PublicKey)

from conftest import ROOT

SIGNING = ROOT / "schema" / "signing"
DOC = json.loads((SIGNING / "vectors.json").read_text())
TENANT = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
HEADERS = ("brig-tenant", "brig-ts", "brig-sig")


class Refused(Exception):
    def __init__(self, field, reason):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def strict_b64(text, size):
    """Canonical standard base64 of exactly size bytes, else None."""
    if len(text) != 4 * ((size + 2) // 3) or not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        return None
    return raw if len(raw) == size and base64.b64encode(raw).decode() == text else None


def public_key(text):
    assert text.startswith("ed25519:")
    raw = strict_b64(text[len("ed25519:"):], 32)
    assert raw is not None
    return Ed25519PublicKey.from_public_bytes(raw)


def signing_input(topic, tenant, ts_ms, key, value):
    t, n = topic.encode(), tenant.encode()
    return (b"brig-sig-v1\0" + bytes([len(t)]) + t + bytes([len(n)]) + n
            + struct.pack(">Q", ts_ms) + bytes([key is not None])
            + hashlib.sha256(key or b"").digest() + hashlib.sha256(value).digest())


def verify(headers, topic, key, value, tenants, now_ms, window_ms):
    """SCHEMA.md section 14's checks, in its order; returns the tenant."""
    present = [h for h in HEADERS if h in headers]
    if not present:
        raise Refused("", "unsigned")
    for h in HEADERS:
        if h not in headers:
            raise Refused(h, "missing")
    tenant, ts, sig = (headers[h] for h in HEADERS)
    if not TENANT.fullmatch(tenant):
        raise Refused("brig-tenant", "invalid header")
    if not re.fullmatch(r"[1-9][0-9]{0,14}", ts) or int(ts) > 253402300799999:
        raise Refused("brig-ts", "invalid header")
    raw = strict_b64(sig, 64)
    if raw is None:
        raise Refused("brig-sig", "invalid header")
    if tenant not in tenants:
        raise Refused("brig-tenant", "unknown tenant")
    message = signing_input(topic, tenant, int(ts), key, value)
    for k in tenants[tenant]:
        try:
            k.verify(raw, message)
            break
        except InvalidSignature:
            pass
    else:
        raise Refused("brig-sig", "bad signature")
    if abs(now_ms - int(ts)) > window_ms:
        raise Refused("brig-ts", "stale")
    return tenant


TENANTS = {name: [public_key(DOC["keys"][k]["public"]) for k in keys]
           for name, keys in DOC["tenants"].items()}


@pytest.mark.parametrize("vector", DOC["vectors"], ids=[v["description"] for v in DOC["vectors"]])
def test_vector(vector):
    key = None if vector["key"] is None else bytes.fromhex(vector["key"])
    value = bytes.fromhex(vector["value"])
    args = (vector["headers"], vector["topic"], key, value, TENANTS, DOC["now_ms"],
            DOC["window_ms"])
    if not vector["valid"]:
        with pytest.raises(Refused) as refused:
            verify(*args)
        assert refused.value.field == vector["error"]["field"]
        assert refused.value.reason == vector["error"]["reason"]
        return
    tenant = verify(*args)
    message = signing_input(vector["topic"], tenant, int(vector["headers"]["brig-ts"]), key, value)
    assert message.hex() == vector["signing_input"]
    seed = bytes.fromhex(DOC["keys"][vector["signed_by"]]["seed"])
    signature = Ed25519PrivateKey.from_private_bytes(seed).sign(message)
    assert base64.b64encode(signature).decode() == vector["headers"]["brig-sig"]


def test_every_refusal_has_a_vector():
    reasons = {v["error"]["reason"] for v in DOC["vectors"] if not v["valid"]}
    assert reasons == {"unsigned", "missing", "invalid header", "unknown tenant",
                       "bad signature", "stale"}


def test_vectors_are_reproducible(tmp_path):
    out = tmp_path / "vectors.json"
    subprocess.run([sys.executable, str(SIGNING / "generate.py"), "--out", str(out)],
                   check=True, capture_output=True)
    assert out.read_bytes() == (SIGNING / "vectors.json").read_bytes()
