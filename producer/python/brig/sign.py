"""A tenant's signature on every job and cancel a client produces
(SCHEMA.md section 14): Ed25519 over the topic, the tenant, the time, the
Kafka key and the value, carried in the headers brig-tenant, brig-ts and
brig-sig, so that workers started with --tenants run the job as the
tenant's. The value is signed as sent, byte for byte.

The key is a PEM (PKCS#8) Ed25519 private key as `brig keygen` writes it;
like the brig CLI, a client refuses a key file group or others may read."""
from __future__ import annotations

import base64
import hashlib
import os
import re
import struct
import time
from typing import Optional, Union

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from .errors import BrigError, InvalidJob

TENANT_MAX = 32
_TENANT = re.compile(r"[a-z0-9][a-z0-9_-]*")
# More than any PEM Ed25519 key: a larger file is not one.
_KEY_FILE_MAX = 64 * 1024

# As confluent-kafka's produce() takes them.
Headers = list[tuple[str, Union[str, bytes, None]]]


def check_tenant(tenant: str) -> None:
    """InvalidJob naming "tenant" unless it is a tenant name: 1 to 32 bytes
    of [a-z0-9_-], the first a letter or digit (it becomes part of topic
    and directory names)."""
    if not isinstance(tenant, str) or not 0 < len(tenant.encode()) <= TENANT_MAX \
            or not _TENANT.fullmatch(tenant):
        raise InvalidJob("tenant", f"{tenant!r} is not a tenant name: 1 to {TENANT_MAX} bytes "
                                   f"of [a-z0-9_-], starting with a letter or digit")


def signing_input(topic: str, tenant: str, ts_ms: int, key: Optional[bytes],
                  value: bytes) -> bytes:
    """The bytes a signature covers; key None is a null Kafka key."""
    t, n = topic.encode(), tenant.encode()
    return (b"brig-sig-v1\0" + bytes([len(t)]) + t + bytes([len(n)]) + n
            + struct.pack(">Q", ts_ms) + bytes([key is not None])
            + hashlib.sha256(key or b"").digest() + hashlib.sha256(value).digest())


def load_key(path: str) -> Ed25519PrivateKey:
    """The Ed25519 private key of a PEM file; BrigError naming the file when
    it cannot be read, is not such a key, or group or others may read it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise BrigError(f"key {path}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if mode & 0o077:
            raise BrigError(f"key {path}: readable by others (mode {mode & 0o7777:04o}): "
                            f"chmod 600 {path}")
        data = f.read(_KEY_FILE_MAX + 1)
    try:
        key = load_pem_private_key(data, None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise BrigError(f"key {path}: not a PEM private key without a password ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BrigError(f"key {path}: not an Ed25519 key (make one with brig keygen)")
    return key


class Signer:
    """Signs for tenant with key."""

    def __init__(self, tenant: str, key: Ed25519PrivateKey) -> None:
        check_tenant(tenant)
        self.tenant = tenant
        self._key = key

    def headers(self, topic: str, key: Optional[bytes], value: bytes,
                ts_ms: Optional[int] = None) -> Headers:
        """The three headers of a message produced to topic; ts_ms None is
        now."""
        ts = int(time.time() * 1000) if ts_ms is None else ts_ms
        sig = self._key.sign(signing_input(topic, self.tenant, ts, key, value))
        return [("brig-tenant", self.tenant.encode()), ("brig-ts", str(ts).encode()),
                ("brig-sig", base64.b64encode(sig))]


def signer_of(tenant: Optional[str], key_file: Optional[str]) -> Optional[Signer]:
    """The Signer of a client's tenant and key_file arguments, each None
    taken from $BRIG_TENANT and $BRIG_KEY as the brig CLI does; None when
    neither is given. A tenant signs with its key and a key signs for a
    tenant: one without the other is an error."""
    tenant = os.environ.get("BRIG_TENANT") if tenant is None else tenant
    key_file = os.environ.get("BRIG_KEY") if key_file is None else key_file
    if not tenant and not key_file:
        return None
    if not tenant or not key_file:
        missing = "key_file" if tenant else "tenant"
        raise InvalidJob(missing, "a tenant signs with its key, and a key signs for a tenant: "
                                  "give both (tenant and key_file, $BRIG_TENANT and $BRIG_KEY)")
    check_tenant(tenant)
    return Signer(tenant, load_key(key_file))
