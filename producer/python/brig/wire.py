"""Reading the messages a client receives: msgpack decoding, and typed access
to fields in which every error names its field (SCHEMA.md section 2).

A nil value means the field is absent. Each reader takes (field, value) and
returns the value checked, or raises SchemaError.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Optional, TypeVar

import msgpack

from .errors import SchemaError
from .rules import key_path, path_problem, single_line_problem, token_problem
from .schema import SCHEMA_VERSION, TIME_MS_MAX

UINT_MAX = (1 << 53) - 1

T = TypeVar("T")


def _map_of_pairs(pairs: Iterable[tuple[Any, Any]]) -> dict[str, Any]:
    """Every map of a message, at any depth: str keys, each once (msgpack
    itself would keep the last of two values silently)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if not isinstance(key, str):
            raise SchemaError("", f"key is not a string: got {type(key).__name__}")
        if key in result:
            raise SchemaError("", f"duplicate key {key!r}")
        result[key] = value
    return result


def unpack(data: Any, newest: int = 1) -> dict[str, Any]:
    """The top-level map of a message whose version is 1 to newest, nil
    values dropped."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SchemaError("", f"expected bytes, got {type(data).__name__}")
    try:
        message = msgpack.unpackb(bytes(data), raw=False, object_pairs_hook=_map_of_pairs)
    except SchemaError:
        raise
    except msgpack.ExtraData:
        raise SchemaError("", "trailing bytes after the message") from None
    except UnicodeDecodeError as e:
        raise SchemaError("", f"a string is not valid UTF-8: {e.reason}") from None
    except (ValueError, msgpack.UnpackException) as e:
        raise SchemaError("", f"invalid msgpack: {e}") from None
    if not isinstance(message, dict):
        raise SchemaError("", f"not a map: the message is of type {type(message).__name__}")
    version = message.get("v")
    if version is None:
        raise SchemaError("v", "missing: this field is required")
    if isinstance(version, bool) or not isinstance(version, int):
        raise SchemaError("v", f"wrong type: expected unsigned integer, got "
                               f"{type(version).__name__}")
    if not SCHEMA_VERSION <= version <= newest:
        spoken = f"versions 1 to {newest}" if newest > 1 else f"version {SCHEMA_VERSION}"
        raise SchemaError("v", f"unsupported version {version}: this client speaks {spoken}")
    return {k: v for k, v in message.items() if v is not None}


class Fields:
    """Typed access to a message's fields, each error naming its field."""

    def __init__(self, message: Mapping[str, Any], parent: str = "") -> None:
        self.message = message
        self.parent = parent

    def path(self, name: str) -> str:
        return f"{self.parent}.{name}" if self.parent else name

    def get(self, name: str, kind: Callable[..., T], **bounds: Any) -> Optional[T]:
        """The field read by kind, None when absent (or nil)."""
        if self.message.get(name) is None:
            return None
        return kind(self.path(name), self.message[name], **bounds)

    def need(self, name: str, kind: Callable[..., T], **bounds: Any) -> T:
        """A required field."""
        if self.message.get(name) is None:
            raise SchemaError(self.path(name), "missing: this field is required")
        return kind(self.path(name), self.message[name], **bounds)


def uint(field: str, value: Any, low: int = 0, high: int = UINT_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SchemaError(field, f"wrong type: expected unsigned integer, got "
                                 f"{type(value).__name__}")
    if not low <= value <= high:
        raise SchemaError(field, f"out of range: {value} (min {low}, max {high})")
    return value


def time_ms(field: str, value: Any) -> int:
    return uint(field, value, 1, TIME_MS_MAX)


def text(field: str, value: Any, nonempty: bool = True,
         rule: Optional[Callable[[str], Optional[str]]] = None) -> str:
    if not isinstance(value, str):
        raise SchemaError(field, f"wrong type: expected string, got {type(value).__name__}")
    if nonempty and not value:
        raise SchemaError(field, "empty")
    if "\0" in value:
        raise SchemaError(field, f"contains NUL at position {value.index(chr(0))}")
    problem = rule(value) if rule else None
    if problem:
        raise SchemaError(field, problem)
    return value


def token(field: str, value: Any, allow_empty: bool = False) -> str:
    return text(field, value, not allow_empty,
                lambda t: token_problem(t, allow_empty=allow_empty))


def line(field: str, value: Any, high: int) -> str:
    """One line of 1 to high bytes."""
    return text(field, value, rule=lambda t: single_line_problem(t, high))


def bounded(field: str, value: Any, high: int, low: int = 1) -> str:
    """Text of low to high bytes, on any number of lines."""
    def size_problem(t: str) -> Optional[str]:
        size = len(t.encode("utf-8"))
        if size < low:
            return "empty"
        return f"too long: {size} bytes (max {high})" if size > high else None
    return text(field, value, nonempty=low > 0, rule=size_problem)


def binary(field: str, value: Any) -> bytes:
    """bin, or str taken as its UTF-8 bytes."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if not isinstance(value, bytes):
        raise SchemaError(field, f"wrong type: expected binary or string, got "
                                 f"{type(value).__name__}")
    return value


def boolean(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SchemaError(field, f"wrong type: expected boolean, got {type(value).__name__}")
    return value


def mapping(field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SchemaError(field, f"wrong type: expected map, got {type(value).__name__}")
    return value


def array(field: str, value: Any, high: int) -> list[Any]:
    if not isinstance(value, list):
        raise SchemaError(field, f"wrong type: expected array, got {type(value).__name__}")
    if len(value) > high:
        raise SchemaError(field, f"too many: {len(value)} elements (max {high})")
    return value


def files(field: str, value: Any) -> dict[str, bytes]:
    return {text(key_path(field, path), path, rule=path_problem):
            binary(key_path(field, path), content)
            for path, content in mapping(field, value).items()}


def pairs(field: str, value: Any) -> dict[str, str]:
    return {text(key_path(field, name), name): text(key_path(field, name), value_text,
                                                    nonempty=False)
            for name, value_text in mapping(field, value).items()}
