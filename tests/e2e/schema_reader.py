"""A second decoder of brig's wire schema, written from schema/SCHEMA.md alone.

test_schema_vectors.py checks every vector with it, so that the document,
the bytes and the C decoder cannot drift apart. Bounds are as SCHEMA.md
states them, not read from the C headers, on purpose.
"""
import pathlib
import re
import socket
import sys


ROOT = pathlib.Path(__file__).resolve().parents[2]
VECTORS = ROOT / "schema" / "vectors"
SPEC = ROOT / "schema" / "SCHEMA.md"

# Bounds, as SCHEMA.md states them (not read from the C headers on purpose).
MAX_BYTES = {"job": 16 << 20, "result": 16 << 20, "log_chunk": 1 << 20,
             "dead_letter": (16 << 20) + (64 << 10), "control": 4096, "runtimes": 1 << 20}
# The newest version of each kind a reader speaks (results: 2, for cancelled).
MAX_VERSION = {"result": 2}
MAX_DEPTH, MAX_OBJECTS, MAX_TOP_KEYS, MAX_MAP_ENTRIES = 8, 16384, 64, 256
UINT_MAX, TIME_MAX, ATTEMPT_MAX = 2**53 - 1, 253402300799999, 2**32 - 1
LIMITS = {  # name: (min, max)
    "wall_ms": (100, 600000), "cpu_ms": (100, 600000),
    "memory_bytes": (16 << 20, 8 << 30), "pids": (1, 4096),
    "output_bytes": (1 << 10, 8 << 20), "fsize_bytes": (4 << 10, 1 << 30),
    "disk_bytes": (1 << 20, 8 << 30), "tmp_bytes": (1 << 20, 4 << 30),
    "cpu_millis": (10, 64000), "collect_bytes": (1 << 10, 4 << 20),
}
STATUSES = {"ok", "failed", "signaled", "timeout", "cpu_timeout", "oom", "output_limit",
            "seccomp", "compile_error", "setup_error", "rejected", "internal_error"}
STATUSES_V2 = STATUSES | {"cancelled"}


class Refused(Exception):
    def __init__(self, field, reason):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


class Map(list):
    """A msgpack map as its (key, value) pairs, in order, duplicates kept."""


# --- field paths ---------------------------------------------------------------

def raw(text):
    """The bytes of a str decoded with surrogateescape (so broken UTF-8 survives)."""
    return text.encode("utf-8", "surrogateescape")


def key_path(parent, key):
    def esc(b):
        if b in b'"\\':
            return "\\" + chr(b)
        return chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}"
    prefix = f'{parent}["'
    room = 63 - len(prefix) - 2
    pieces = [esc(b) for b in raw(key)]
    body = "".join(pieces)
    if len(body) > room:
        body = ""
        for piece in pieces:
            if len(body) + len(piece) > room - 3:
                break
            body += piece
        body += "..."
    return f'{prefix}{body}"]'


def member_path(parent, key):
    plain = key != "" and re.fullmatch(r"[A-Za-z0-9_]+", key)
    joined = f"{parent}.{key}" if parent else key
    return joined if plain and len(joined) < 64 else key_path(parent, key)


# --- structure -----------------------------------------------------------------

def is_text(o):
    return isinstance(o, str)


def valid_utf8(text):
    try:
        raw(text).decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def type_name(o):
    if o is None:
        return "nil"
    if isinstance(o, bool):
        return "boolean"
    if isinstance(o, int):
        return "integer"
    if isinstance(o, float):
        return "float"
    if isinstance(o, str):
        return "string"
    if isinstance(o, bytes):
        return "binary"
    if isinstance(o, Map):
        return "map"
    if isinstance(o, list):
        return "array"
    return "extension"


class Scan:
    """SCHEMA.md's structural walk (§1 bounds, §2 step 2) over the raw bytes, in byte order.

    It does not use msgpack's own errors: msgpack-python finds a short message before
    it looks at any bound, where the spec reports whichever problem comes first."""

    def __init__(self, message):
        self.message, self.pos, self.objects = message, 0, 0

    def take(self, n):
        if len(self.message) - self.pos < n:
            raise Refused("", "truncated")
        self.pos += n
        return self.message[self.pos - n:self.pos]

    def length(self, width):
        return int.from_bytes(self.take(width), "big")

    def item(self, field):
        """One object: ("map" or "array", its count, None) or (kind, size, payload)."""
        t = self.take(1)[0]
        kind, n = "scalar", 0
        if t == 0xC1:
            raise Refused("", "invalid msgpack")
        if t <= 0x7F or t >= 0xE0 or t in (0xC0, 0xC2, 0xC3):
            pass
        elif t <= 0x8F or t in (0xDE, 0xDF):
            kind, n = "map", t & 0x0F if t <= 0x8F else self.length(2 if t == 0xDE else 4)
        elif t <= 0x9F or t in (0xDC, 0xDD):
            kind, n = "array", t & 0x0F if t <= 0x9F else self.length(2 if t == 0xDC else 4)
        elif t <= 0xBF or 0xD9 <= t <= 0xDB:
            kind, n = "str", t & 0x1F if t <= 0xBF else self.length(1 << (t - 0xD9))
        elif 0xC4 <= t <= 0xC6:
            n = self.length(1 << (t - 0xC4))
        elif 0xC7 <= t <= 0xC9:
            n = self.length(1 << (t - 0xC7))
            self.take(1)  # the ext type
        elif t in (0xCA, 0xCB):
            n = 4 if t == 0xCA else 8
        elif 0xCC <= t <= 0xD3:
            n = 1 << ((t - 0xCC) % 4)
        else:  # fixext 1-16
            self.take(1)
            n = 1 << (t - 0xD4)
        self.objects += 1
        if self.objects > MAX_OBJECTS:
            raise Refused(field, "too many objects")
        if kind in ("map", "array"):
            # each element takes a byte at least: a count the rest cannot hold is cut short
            if (2 * n if kind == "map" else n) > len(self.message) - self.pos:
                raise Refused("", "truncated")
            return kind, n, None
        return kind, n, self.take(n)

    def children(self, item, level, field):
        kind, n, _ = item
        if kind == "map" and n > MAX_MAP_ENTRIES:
            raise Refused(field, "too many entries")
        for _ in range(2 * n if kind == "map" else n if kind == "array" else 0):
            self.walk(level + 1, field)

    def walk(self, level, field):
        if level > MAX_DEPTH:
            raise Refused(field, "too deep")
        self.children(self.item(field), level, field)


def scan(message):
    s = Scan(message)
    top = s.item("")
    if top[0] != "map":
        s.children(top, 1, "")
    elif top[1] > MAX_TOP_KEYS:
        raise Refused("", "too many keys")
    else:
        for _ in range(top[1]):
            key = s.item("")
            s.children(key, 2, "")
            name = key[2].decode("utf-8", "surrogateescape") if key[0] == "str" else None
            s.walk(2, member_path("", name) if name is not None else "")
    if s.pos != len(message):
        raise Refused("", "trailing bytes")


def check_key(key, seen, parent, dotted):
    if not is_text(key):
        raise Refused(parent, "key is not a string")
    path = member_path(parent, key) if dotted else key_path(parent, key)
    if not valid_utf8(key):
        raise Refused(path, "key is not valid UTF-8")
    if key in seen:
        raise Refused(path, "duplicate key")
    seen.add(key)


def check_unknown(o, field):
    if is_text(o) and not valid_utf8(o):
        raise Refused(field, "not valid UTF-8")
    if isinstance(o, Map):
        seen = set()
        for k, v in o:
            if not is_text(k):
                raise Refused(field, "key is not a string")
            if not valid_utf8(k):
                raise Refused(field, "key is not valid UTF-8")
            if k in seen:
                raise Refused(field, "duplicate key")
            seen.add(k)
            check_unknown(v, field)
    elif isinstance(o, list):
        for v in o:
            check_unknown(v, field)


def fields(o, parent, names, unknown_allowed):
    """A map of named fields: {name: value} with nil as absent."""
    seen, values = set(), {}
    for k, v in o:
        check_key(k, seen, parent, True)
        if k in names:
            if v is not None:
                values[k] = v
        elif not unknown_allowed:
            raise Refused(member_path(parent, k), "unknown key")
        else:
            check_unknown(v, member_path(parent, k))
    return values


def named_map(o, field, names, unknown_allowed):
    if not isinstance(o, Map):
        raise Refused(field, "wrong type")
    return fields(o, field, names, unknown_allowed)


# --- values --------------------------------------------------------------------

def required(values, name, field=None):
    if name not in values:
        raise Refused(field or name, "missing")
    return values[name]


def uint(o, field, lo, hi):
    if isinstance(o, bool) or not isinstance(o, int):
        raise Refused(field, "wrong type")
    if not lo <= o <= hi:
        raise Refused(field, "out of range")
    return o


def boolean(o, field):
    if not isinstance(o, bool):
        raise Refused(field, "wrong type")
    return o


def text_problem(b, lo, hi, check):
    if len(b) < lo:
        return "empty"
    if len(b) > hi:
        return "too long"
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return "not valid UTF-8"
    if b"\0" in b:
        return "contains NUL"
    return check(b) if check else None


def text(o, field, lo, hi, check=None):
    if not is_text(o):
        raise Refused(field, "wrong type")
    problem = text_problem(raw(o), lo, hi, check)
    if problem:
        raise Refused(field, problem)
    return o


def data(o, field, hi):
    if not isinstance(o, (bytes, str)):
        raise Refused(field, "wrong type")
    b = raw(o) if is_text(o) else o
    if len(b) > hi:
        raise Refused(field, "too long")
    if is_text(o) and not valid_utf8(o):
        raise Refused(field, "not valid UTF-8")
    return b.hex()


def array(o, field, hi):
    if not isinstance(o, list) or isinstance(o, Map):
        raise Refused(field, "wrong type")
    if len(o) > hi:
        raise Refused(field, "too many")
    return o


def texts(o, field, hi, lo_len, hi_len, check=None):
    return [text(v, f"{field}[{i}]", lo_len, hi_len, check)
            for i, v in enumerate(array(o, field, hi))]


def keyed_map(o, field, hi, key_rule):
    if not isinstance(o, Map):
        raise Refused(field, "wrong type")
    if len(o) > hi:
        raise Refused(field, "too many")
    seen = set()
    for k, _ in o:
        check_key(k, seen, field, False)
        problem = text_problem(raw(k), *key_rule)
        if problem:
            raise Refused(key_path(field, k), problem)
    return o


def pairs(o, field, hi, key_rule, value_rule):
    return {k: text(v, key_path(field, k), *value_rule)
            for k, v in keyed_map(o, field, hi, key_rule)}


def files(o, field):
    entries = keyed_map(o, field, 256, (1, 1024, path_check("path")))
    out = {k: data(v, key_path(field, k), sys.maxsize) for k, v in entries}
    names = [raw(k) for k, _ in entries]
    for name in names:
        for other in names:
            if name.startswith(other + b"/"):
                raise Refused(key_path(field, name.decode()), "path conflict")
    return out


# --- text rules ----------------------------------------------------------------

def charset(pattern):
    def check(b):
        return None if re.fullmatch(pattern, b) else "invalid character"
    return check


token = charset(rb"[A-Za-z0-9._:-]*")
runtime_name = charset(rb"[a-z0-9][a-z0-9._+-]*")
syscall_name = charset(rb"[a-z0-9_]*")


def topic(b):
    return "invalid topic" if b in (b".", b"..") else charset(rb"[A-Za-z0-9._-]*")(b)


def env_name(b):
    if not re.fullmatch(rb"[A-Za-z_][A-Za-z0-9_]*", b):
        return "invalid character"
    if b in (b"PATH", b"HOME", b"LANG") or b.startswith(b"BRIG_"):
        return "reserved name"
    return None


def single_line(b):
    return "control character" if re.search(rb"[\x00-\x1f\x7f]", b) else None


def path_check(noun):
    def check(b):
        if single_line(b):
            return "control character"
        if b.startswith(b"/"):
            return f"invalid {noun}"
        for part in b.split(b"/"):
            if part in (b"", b".", b"..") or len(part) > 255:
                return f"invalid {noun}"
        return None
    return check


def address(family, b):
    try:
        socket.inet_pton(family, b.decode())
        return True
    except (OSError, UnicodeDecodeError, ValueError):
        return False


def net_rule(b):
    """An allow-list entry's canonical form, or Refused's reason."""
    if b.startswith(b"["):
        host, sep, rest = b[1:].partition(b"]")
        if not sep:
            return None, "invalid host"
        if not re.fullmatch(rb"[0-9a-f:.]*", host) or not address(socket.AF_INET6, host):
            return None, "invalid host"
        if rest and not rest.startswith(b":"):
            return None, "invalid host"
        port = rest[1:] if rest else None
        wildcard = False
    else:
        host, sep, port = b.rpartition(b":")
        if not sep:
            host, port = b, None
        wildcard = host.startswith(b"*.")
        host = host[2:] if wildcard else host
        labels = host.split(b".")
        if not 1 <= len(host) <= 253:
            return None, "invalid host"
        for label in labels:
            if not re.fullmatch(rb"[a-z0-9-]{1,63}", label) or label[:1] == b"-" \
                    or label[-1:] == b"-":
                return None, "invalid host"
        if labels[-1].isdigit():
            if wildcard:
                return None, "invalid wildcard"
            if not address(socket.AF_INET, host):
                return None, "invalid host"
        if wildcard and len(labels) < 2:
            return None, "invalid wildcard"
    if port is not None and not (re.fullmatch(rb"[1-9][0-9]{0,4}", port)
                                 and int(port) <= 65535):
        return None, "invalid port"
    return b.decode(), None
