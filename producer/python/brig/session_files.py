"""A session's files through jobs of the session: written as a job's input
files, read back as collected files, listed by find(1) in the jail. The
worker never follows a link when it collects, and find runs in the jail, so
nothing here touches the host's files."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import BrigError
from .messages import Result
from .schema import LIMITS

# The session's packages: listing them would bury its own files.
_PRUNED = (".venv", "node_modules")
LIST_ARGV = ["find", ".", *[a for d in _PRUNED for a in ("-path", f"./{d}", "-prune", "-o")],
             "-type", "f", "-printf", "%P\\0%s\\0"]
TRUE_ARGV = ["true"]
# A file read back may be as large as a result's collected files may be.
READ_LIMITS = {"collect_bytes": LIMITS["collect_bytes"][1]}

_GLOB_SPECIAL = re.compile(r"([*?\[])")


@dataclass(frozen=True)
class SessionFile:
    path: str
    size: int


def literal_pattern(path: str) -> str:
    """A collect pattern that matches path only: glob characters in
    brackets."""
    return _GLOB_SPECIAL.sub(r"[\1]", path)


def _failed(what: str, result: Result) -> BrigError:
    why = result.error or result.stderr_text.strip() or f"status {result.status}"
    return BrigError(f"{what} in session {result.session}: {why}")


def checked(what: str, result: Result) -> Result:
    if not result.ok:
        raise _failed(what, result)
    return result


def file_of(path: str, result: Result) -> bytes:
    """The content of path from the result of a read job."""
    checked(f"reading {path}", result)
    if path in result.files:
        return result.files[path]
    for omitted in result.files_omitted:
        if omitted.path == path:
            raise BrigError(f"reading {path} in session {result.session}: {omitted.reason}")
    raise FileNotFoundError(f"{path}: no such regular file in session {result.session}")


def listing_of(result: Result) -> list[SessionFile]:
    """The files a LIST_ARGV job found, in path order."""
    checked("listing the files", result)
    if result.stdout_truncated:
        raise BrigError(f"listing the files of session {result.session}: the list passed the "
                        f"output limit")
    fields = result.stdout.split(b"\0")
    return sorted((SessionFile(path.decode("utf-8", errors="replace"), int(size))
                   for path, size in zip(fields[0:-1:2], fields[1::2])),
                  key=lambda f: f.path)


def read_options(path: str) -> dict[str, Any]:
    return {"collect": [literal_pattern(path)], "limits": READ_LIMITS}
