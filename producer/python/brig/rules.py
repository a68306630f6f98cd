"""Text rules of the wire schema (SCHEMA.md sections 5 and 6) that both the
job builder and the message decoders apply. Each check returns None when the
text is fine, else the reason, starting with SCHEMA.md's keyword."""
from __future__ import annotations

import re
from typing import Optional

FIELD_MAX = 63
ID_MAX = 64
TOPIC_MAX = 249
RUNTIME_NAME_MAX = 32
PATH_MAX = 1024
PATH_COMPONENT_MAX = 255

_TOKEN = re.compile(r"[A-Za-z0-9._:-]*")
_TOPIC = re.compile(r"[A-Za-z0-9._-]*")
_RUNTIME_NAME = re.compile(r"[a-z0-9][a-z0-9._+-]*")
_SYSCALL = re.compile(r"[a-z0-9_]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# The jail sets these itself; BRIG_ is kept for what the worker may pass later.
RESERVED_ENV_NAMES = ("PATH", "HOME", "LANG")
RESERVED_ENV_PREFIX = "BRIG_"


def _length(text: str, low: int, high: int) -> Optional[str]:
    size = len(text.encode("utf-8"))
    if size < low:
        return "empty"
    if size > high:
        return f"too long: {size} bytes (max {high})"
    return None


def _charset(text: str, pattern: re.Pattern[str], allowed: str) -> Optional[str]:
    if pattern.fullmatch(text):
        return None
    bad = next((i for i in range(len(text)) if not pattern.fullmatch(text[:i + 1])), 0)
    return f"invalid character {text[bad]!r} at position {bad}: only {allowed}"


def token_problem(text: str, allow_empty: bool = False) -> Optional[str]:
    """Job, session, replay and worker ids."""
    return _length(text, 0 if allow_empty else 1, ID_MAX) or \
        _charset(text, _TOKEN, "A-Z a-z 0-9 . _ : -")


def topic_problem(text: str) -> Optional[str]:
    if text in (".", ".."):
        return 'invalid topic: "." and ".." are not topic names'
    return _length(text, 1, TOPIC_MAX) or _charset(text, _TOPIC, "A-Z a-z 0-9 . _ -")


def env_name_problem(text: str) -> Optional[str]:
    problem = _length(text, 1, 128) or _charset(text, _ENV_NAME, "A-Z a-z _, then also 0-9")
    if problem:
        return problem
    if text in RESERVED_ENV_NAMES:
        return f"reserved name: the jail sets {text}"
    if text.startswith(RESERVED_ENV_PREFIX):
        return f"reserved name: the {RESERVED_ENV_PREFIX} prefix belongs to brig"
    return None


def runtime_name_problem(text: str) -> Optional[str]:
    return _length(text, 1, RUNTIME_NAME_MAX) or \
        _charset(text, _RUNTIME_NAME, "a-z 0-9, then a-z 0-9 . _ + -")


def syscall_problem(text: str) -> Optional[str]:
    return _length(text, 1, 64) or _charset(text, _SYSCALL, "a-z 0-9 _")


def single_line_problem(text: str, high: int) -> Optional[str]:
    bad = _CONTROL.search(text)
    if bad:
        return f"control character {bad.group()!r} at position {bad.start()}"
    return _length(text, 1, high)


def path_problem(text: str) -> Optional[str]:
    """A path relative to /work: components separated by single slashes, none
    empty, "." or "..", or over 255 bytes."""
    problem = _length(text, 1, PATH_MAX)
    if problem:
        return problem
    bad = _CONTROL.search(text)
    if bad:
        return f"control character {bad.group()!r} at position {bad.start()}"
    if text.startswith("/"):
        return "invalid path: absolute; paths are relative to /work"
    for component in text.split("/"):
        if component in ("", ".", ".."):
            return 'invalid path: an empty, "." or ".." component'
        if len(component.encode("utf-8")) > PATH_COMPONENT_MAX:
            return f"invalid path: a component is over {PATH_COMPONENT_MAX} bytes"
    return None


def _escape(byte: int) -> str:
    if byte in b'"\\':
        return "\\" + chr(byte)
    return chr(byte) if 0x20 <= byte < 0x7f else f"\\x{byte:02x}"


def key_path(parent: str, key: str) -> str:
    """The field path of an entry of a keyed map, as SCHEMA.md section 2
    writes it: files["a/b.txt"], with bytes outside printable ASCII escaped
    and the key cut to keep the path within 63 bytes."""
    prefix = f'{parent}["'
    room = FIELD_MAX - len(prefix) - 2
    pieces = [_escape(b) for b in key.encode("utf-8", "surrogateescape")]
    body = "".join(pieces)
    if len(body) > room:
        body = ""
        for piece in pieces:
            if len(body) + len(piece) > room - 3:
                break
            body += piece
        body += "..."
    return f'{prefix}{body}"]'
