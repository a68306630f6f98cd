"""The Python client's signing for a tenant (producer/python/brig/sign.py,
SCHEMA.md section 14) without a broker: it signs every valid message of
schema/signing/vectors.json to its exact brig-sig, reads a key as `brig
keygen` writes it and refuses one others may read, takes its tenant and key
from the arguments or $BRIG_TENANT/$BRIG_KEY (both or neither), and keeps a
tenant's reply topic under <prefix>.results.<tenant>."""
import base64
import json
import re
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                              Ed25519PublicKey)

from conftest import ROOT, bin_path
from test_tenants import keygen

sys.path.insert(0, str(ROOT / "producer" / "python"))

import brig  # noqa: E402
from brig.config import topics_of  # noqa: E402
from brig.sign import Signer, load_key, signer_of, signing_input  # noqa: E402

DOC = json.loads((ROOT / "schema" / "signing" / "vectors.json").read_text())
VALID = [pytest.param(v, id=v["description"]) for v in DOC["vectors"] if v["valid"]]


@pytest.mark.parametrize("vector", VALID)
def test_signs_every_valid_vector_to_its_signature(vector):
    seed = bytes.fromhex(DOC["keys"][vector["signed_by"]]["seed"])
    head = vector["headers"]
    key = None if vector["key"] is None else bytes.fromhex(vector["key"])
    value = bytes.fromhex(vector["value"])
    ts = int(head["brig-ts"])
    assert signing_input(vector["topic"], head["brig-tenant"], ts, key, value) == \
        bytes.fromhex(vector["signing_input"])
    signer = Signer(head["brig-tenant"], Ed25519PrivateKey.from_private_bytes(seed))
    assert signer.headers(vector["topic"], key, value, ts_ms=ts) == \
        [(name, head[name].encode()) for name in ("brig-tenant", "brig-ts", "brig-sig")]


def test_reads_the_key_brig_keygen_writes_and_signs_now(tmp_path):
    path, public = keygen(tmp_path, "acme")
    key = load_key(str(path))
    shown = subprocess.run([bin_path("brig"), "keygen", "--public", str(path)],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert shown == public
    verifier = Ed25519PublicKey.from_public_bytes(base64.b64decode(public.split(":", 1)[1]))
    headers = dict(Signer("acme", key).headers("brig.jobs", b"k", b"v"))
    ts = int(headers["brig-ts"])
    assert re.fullmatch(rb"[1-9][0-9]*", headers["brig-ts"])
    verifier.verify(base64.b64decode(headers["brig-sig"]),
                    signing_input("brig.jobs", "acme", ts, b"k", b"v"))


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_key_others_may_read_is_refused_naming_the_file(tmp_path, mode):
    path, _ = keygen(tmp_path, "acme")
    path.chmod(mode)
    with pytest.raises(brig.BrigError, match=re.escape(f"key {path}: readable by others "
                                                       f"(mode {mode:04o}): chmod 600 {path}")):
        brig.Client(brokers="127.0.0.1:1", tenant="acme", key_file=str(path))


def test_a_file_that_is_no_ed25519_key_is_refused_naming_it(tmp_path):
    missing = tmp_path / "none.pem"
    with pytest.raises(brig.BrigError, match=re.escape(f"key {missing}: No such file")):
        load_key(str(missing))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key\n")
    junk.chmod(0o600)
    with pytest.raises(brig.BrigError, match=re.escape(f"key {junk}: not a PEM private key")):
        load_key(str(junk))
    rsa = tmp_path / "rsa.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:1024",
                    "-out", str(rsa)], check=True, capture_output=True)
    rsa.chmod(0o600)
    with pytest.raises(brig.BrigError, match=re.escape(f"key {rsa}: not an Ed25519 key")):
        load_key(str(rsa))


@pytest.fixture
def no_tenant_env(monkeypatch):
    for name in ("BRIG_TENANT", "BRIG_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_tenant_and_key_come_together_from_arguments_or_environment(no_tenant_env, tmp_path):
    path, _ = keygen(tmp_path, "acme")
    assert signer_of(None, None) is None
    with pytest.raises(brig.InvalidJob, match="^key_file: a tenant signs with its key"):
        signer_of("acme", None)
    with pytest.raises(brig.InvalidJob, match="^tenant: a tenant signs with its key"):
        signer_of(None, str(path))
    with pytest.raises(brig.InvalidJob, match="^tenant: 'Acme' is not a tenant name"):
        signer_of("Acme", str(path))
    no_tenant_env.setenv("BRIG_TENANT", "beta")
    no_tenant_env.setenv("BRIG_KEY", str(path))
    signer = signer_of(None, None)
    assert signer is not None and signer.tenant == "beta"
    signer = signer_of("acme", None)
    assert signer is not None and signer.tenant == "acme"
    # An explicit tenant wins over the environment's, still checked.
    with pytest.raises(brig.InvalidJob, match="^tenant: 'a{33}' is not a tenant name"):
        signer_of("a" * 33, None)


def test_a_tenants_topics_and_its_reply_topic_checked_before_connecting(no_tenant_env,
                                                                        tmp_path):
    topics = topics_of("brig", None, "acme")
    assert (topics.reply, topics.logs, topics.job_reply) == \
        ("brig.results.acme", "brig.logs.acme", None)
    assert (topics.jobs, topics.control) == ("brig.jobs", "brig.control")
    assert topics_of("brig", "brig.results.acme.mine", "acme").job_reply == \
        "brig.results.acme.mine"
    assert topics_of("brig", "brig.results.acme", "acme").job_reply is None
    unsigned = topics_of("brig", None)
    assert (unsigned.reply, unsigned.logs) == ("brig.results", "brig.logs")
    path, _ = keygen(tmp_path, "acme")
    for reply in ("brig.results", "brig.results.acmex", "brig.results.beta", "x.results.acme"):
        with pytest.raises(brig.InvalidJob, match=re.escape(
                f"reply_topic: {reply}: tenant acme's results come on brig.results.acme or a "
                f"topic under it")):
            brig.Client(brokers="127.0.0.1:1", reply_topic=reply, tenant="acme",
                        key_file=str(path))
    # The environment's tenant holds for AsyncClient too, before it connects.
    no_tenant_env.setenv("BRIG_TENANT", "acme")
    no_tenant_env.setenv("BRIG_KEY", str(path))
    client = brig.AsyncClient(brokers="127.0.0.1:1")
    assert client.tenant == "acme" and client.reply_topic == "brig.results.acme"
    with pytest.raises(brig.InvalidJob, match="reply_topic"):
        brig.AsyncClient(brokers="127.0.0.1:1", reply_topic="brig.results.x")
