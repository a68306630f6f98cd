"""The schema vectors, read by a second decoder written from schema/SCHEMA.md.

The C unit tests check the C decoder against schema/vectors/*.json; this file
checks the same vectors with Python's msgpack and an independent reading of the
spec, so the document, the bytes and the C code cannot drift apart. It also
checks that the vectors are reproducible, that they cover every field and every
rejection reason the spec lists, and that the spec's worked example is right.
"""
import json
import re
import subprocess
import sys

import pytest

from schema_kinds import KINDS, decode, strict_decode
from schema_reader import MAX_BYTES, SPEC, VECTORS, Refused


# --- the tests -----------------------------------------------------------------

def load_vectors():
    vectors = []
    for path in sorted(VECTORS.glob("*.msgpack")):
        description = json.loads(path.with_suffix(".json").read_text())
        vectors.append((path.stem, path.read_bytes(), description))
    return vectors


ALL = load_vectors()


@pytest.mark.parametrize("name,message,description", ALL, ids=[v[0] for v in ALL])
def test_vector(name, message, description):
    kind = description["kind"]
    if description["valid"]:
        assert decode(kind, message) == description["expected"]
        strict_decode(message)  # well-formed for the strictest reader too
    else:
        with pytest.raises(Refused) as refused:
            decode(kind, message)
        assert refused.value.field == description["error"]["field"]
        assert description["error"]["reason"] in refused.value.reason


def test_enough_vectors():
    assert len(ALL) >= 40


def test_vectors_are_reproducible(tmp_path):
    subprocess.run([sys.executable, str(VECTORS / "generate.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    committed = {p.name: p.read_bytes() for p in VECTORS.iterdir()
                 if p.suffix in (".msgpack", ".json")}
    generated = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(generated) == sorted(committed)
    changed = [name for name in committed if committed[name] != generated[name]]
    assert changed == []


def test_every_field_in_a_valid_vector():
    seen = {kind: set() for kind in KINDS}
    for _, _, description in ALL:
        if description["valid"]:
            seen[description["kind"]] |= set(description["expected"])
    for kind, names in KINDS.items():
        missing = set(names) - {"v"} - seen[kind]
        assert missing == set(), f"{kind} fields no valid vector holds: {missing}"


def spec_reasons():
    """The keywords of SCHEMA.md's rejection table: | `keyword` | ... | where |."""
    rows = re.findall(r"^\| `([^`]+)` \|.*\| (vectors|unit tests) \|$", SPEC.read_text(),
                      re.MULTILINE)
    assert rows, "no rejection table found in SCHEMA.md"
    return rows


def test_every_spec_reason_in_a_vector():
    used = [d["error"]["reason"] for _, _, d in ALL if not d["valid"]]
    for keyword, where in spec_reasons():
        if where == "vectors":
            assert any(keyword in reason for reason in used), keyword


def test_every_vector_reason_in_the_spec():
    keywords = [keyword for keyword, _ in spec_reasons()]
    for name, _, description in ALL:
        if not description["valid"]:
            reason = description["error"]["reason"]
            assert any(k in reason or reason in k for k in keywords), (name, reason)


def test_worked_example():
    block = re.search(r"```hex\n(.*?)```", SPEC.read_text(), re.DOTALL).group(1)
    spec_bytes = bytes.fromhex("".join(re.findall(r"\b[0-9a-f]{2}\b",
                                                  re.sub(r"#.*", "", block))))
    assert spec_bytes == (VECTORS / "job_minimal.msgpack").read_bytes()


def test_too_large_without_a_file():
    """Message size bounds come before parsing (no vector: they would be megabytes)."""
    for kind, limit in MAX_BYTES.items():
        with pytest.raises(Refused) as refused:
            decode(kind, b"\x80" * (limit + 1))
        assert refused.value.reason == "too large"
