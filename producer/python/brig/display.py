"""A cell's rich results (SCHEMA.md section 6.1): what it displayed, as MIME
bundles in order, the exception it raised, and the state of the session's
interpreter. Decoded strictly: a bundle that breaks the schema is a
SchemaError naming the field, as anything else in a result."""
from __future__ import annotations

import json as json_module
import re
from dataclasses import dataclass
from typing import Any, Optional

from .errors import SchemaError
from .rules import key_path
from .wire import (UINT_MAX, Fields, array, binary, boolean, bounded, line, mapping, text,
                   uint)

# The kinds of output this client knows; SCHEMA.md 6.1 says readers skip
# the others (a newer worker may add some).
OUTPUT_KINDS = ("display", "result")

OUTPUTS_MAX = 256
MIME_TYPES_MAX = 16
OUTPUT_DATA_MAX = 2 << 20
TRACEBACK_MAX = 256

_KIND = re.compile(r"[a-z_]*")
_MIME = re.compile(r"[a-z0-9!#$&^_.+/-]*")
# The raster types a model (or a browser) shows as they are.
_RASTER_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp")


@dataclass(frozen=True)
class Output:
    """One output of a cell, in one or more MIME types (Jupyter's MIME
    bundle): kind is "display" (display(), a matplotlib figure) or "result"
    (the value of the cell's last expression). data maps each MIME type to
    its raw bytes (UTF-8 for text types, not base64 for images)."""
    kind: str
    data: dict[str, bytes]

    @property
    def mime_types(self) -> list[str]:
        return list(self.data)

    def _text(self, mime: str) -> Optional[str]:
        value = self.data.get(mime)
        return None if value is None else value.decode("utf-8", errors="replace")

    @property
    def text(self) -> Optional[str]:
        """text/plain, the form every interpreter gives when it can."""
        return self._text("text/plain")

    @property
    def html(self) -> Optional[str]:
        return self._text("text/html")

    @property
    def markdown(self) -> Optional[str]:
        return self._text("text/markdown")

    @property
    def svg(self) -> Optional[str]:
        return self._text("image/svg+xml")

    @property
    def png(self) -> Optional[bytes]:
        return self.data.get("image/png")

    @property
    def jpeg(self) -> Optional[bytes]:
        return self.data.get("image/jpeg")

    @property
    def image(self) -> Optional[tuple[str, bytes]]:
        """(MIME type, bytes) of the first raster image of the bundle (PNG,
        JPEG, GIF or WebP), as a model's image input takes them."""
        for mime in _RASTER_IMAGES:
            if mime in self.data:
                return mime, self.data[mime]
        return None

    @property
    def json(self) -> Any:
        """application/json parsed; None when the bundle has none. ValueError
        when it is not JSON."""
        value = self.data.get("application/json")
        return None if value is None else json_module.loads(value)


@dataclass(frozen=True)
class CellException:
    """The exception a cell raised: its class name, message, and traceback
    frames as the interpreter formats them (no terminal colours)."""
    name: str
    value: Optional[str] = None
    traceback: tuple[str, ...] = ()


@dataclass(frozen=True)
class Interpreter:
    """The session's interpreter as the cell found and left it: started says
    this cell started a fresh one (what earlier cells defined is gone);
    state_lost that it ended during this cell (the next one starts fresh)."""
    started: bool
    execution_count: Optional[int] = None
    state_lost: bool = False


def _mime_problem(mime: str) -> Optional[str]:
    size = len(mime.encode("utf-8"))
    if not 3 <= size <= 127:
        return f"too long: {size} bytes (3 to 127)" if size > 127 else \
            f"too short: {size} bytes (3 to 127)"
    bad = next((i for i, c in enumerate(mime) if not _MIME.fullmatch(c)), None)
    if bad is not None:
        return f"invalid character {mime[bad]!r} at position {bad}: only a-z 0-9 !#$&^_.+-/"
    kind, _, subtype = mime.partition("/")
    if not kind or not subtype or "/" in subtype:
        return "invalid MIME type: a type and a subtype separated by one /"
    return None


def _kind_problem(kind: str) -> Optional[str]:
    if len(kind) > 32:
        return f"too long: {len(kind)} bytes (max 32)"
    bad = next((i for i, c in enumerate(kind) if not _KIND.fullmatch(c)), None)
    return None if bad is None else \
        f"invalid character {kind[bad]!r} at position {bad}: only a-z _"


def _bundle(field: str, value: Any) -> dict[str, bytes]:
    entries = mapping(field, value)
    if not entries:
        raise SchemaError(field, "empty: a bundle has at least one MIME type")
    if len(entries) > MIME_TYPES_MAX:
        raise SchemaError(field, f"too many: {len(entries)} MIME types (max {MIME_TYPES_MAX})")
    return {text(key_path(field, mime), mime, rule=_mime_problem):
            binary(key_path(field, mime), data) for mime, data in entries.items()}


def decode_outputs(field: str, value: Any) -> list[Output]:
    """Every output, in order, of the kinds this client knows."""
    outputs, total = [], 0
    for i, entry in enumerate(array(field, value, OUTPUTS_MAX)):
        f = Fields(mapping(f"{field}[{i}]", entry), f"{field}[{i}]")
        kind = f.need("kind", text, rule=_kind_problem)
        data = f.need("data", _bundle)
        total += sum(len(b) for b in data.values())
        if total > OUTPUT_DATA_MAX:
            raise SchemaError(f.path("data"), f"too long: the outputs' data passes "
                                              f"{OUTPUT_DATA_MAX} bytes")
        if kind in OUTPUT_KINDS:
            outputs.append(Output(kind, data))
    return outputs


def _traceback(field: str, value: Any) -> tuple[str, ...]:
    return tuple(bounded(f"{field}[{i}]", frame, 16 << 10, low=0)
                 for i, frame in enumerate(array(field, value, TRACEBACK_MAX)))


def decode_exception(field: str, value: Any) -> CellException:
    f = Fields(mapping(field, value), field)
    return CellException(name=f.need("name", line, high=256),
                         value=f.get("value", bounded, high=64 << 10, low=0),
                         traceback=f.get("traceback", _traceback) or ())


def decode_interpreter(field: str, value: Any) -> Interpreter:
    f = Fields(mapping(field, value), field)
    return Interpreter(started=f.need("started", boolean),
                       execution_count=f.get("execution_count", uint, low=1, high=UINT_MAX),
                       state_lost=bool(f.get("state_lost", boolean)))
