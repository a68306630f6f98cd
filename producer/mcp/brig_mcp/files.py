"""A session's files, read, written and listed as jobs of the session: the
workspace lives on the worker that holds the session, so the server never
touches it itself. A read is an argv job that collects the one file, a
write a job that brings it, a listing a find(1) run. What comes back is
the job's and hostile: sizes are bounded, binary is described, not shown.
"""
from typing import List, Optional

import brig
from mcp.types import CallToolResult, TextContent

from .render import as_text, cut, file_kind, image_block

# The largest file read_file brings back (the collect budget of its job).
READ_MAX_BYTES = 2 << 20
# Characters of a text file in read_file's answer.
READ_CHARS = 50000
# Entries list_files shows; find's output is bounded by the job's output limit.
LIST_MAX_ENTRIES = 1000
LIST_OUTPUT_BYTES = 512 << 10
# Directories a listing names but does not enter: a session's packages.
PACKAGE_DIRS = (".venv", "node_modules")
FILE_JOB_WALL_MS = 20000


def literal_glob(path: str) -> str:
    """A collect pattern that matches path and nothing else (the worker's
    globs are fnmatch(3)'s, with backslash escapes)."""
    return "".join("\\" + c if c in "*?[\\" else c for c in path)


def read_job(path: str) -> dict:
    return {"argv": ["true"], "collect": [literal_glob(path)],
            "limits": {"collect_bytes": READ_MAX_BYTES, "wall_ms": FILE_JOB_WALL_MS}}


def write_job(path: str, data: bytes, executable: bool) -> dict:
    return {"argv": ["true"], "files": {path: data},
            "executable": [path] if executable else None,
            "limits": {"wall_ms": FILE_JOB_WALL_MS}}


def list_job(path: str, depth: int) -> dict:
    # find would take a name starting with "-" for an option.
    start = path if path.startswith(("/", ".")) else "./" + path
    prune = ["("]
    for name in PACKAGE_DIRS:
        prune += ["-name", name, "-o"]
    prune[-1] = ")"
    argv = ["find", start, "-mindepth", "1", "-maxdepth", str(depth), *prune, "-type", "d",
            "-prune", "-printf", "p\t%s\t%P\\0", "-o", "-printf", "%y\t%s\t%P\\0"]
    return {"argv": argv, "limits": {"output_bytes": LIST_OUTPUT_BYTES,
                                     "wall_ms": FILE_JOB_WALL_MS}}


def _failed(result: brig.Result, what: str) -> Optional[CallToolResult]:
    """An error answer when the job itself did not run to the end."""
    if result.status == "ok":
        return None
    detail = result.error or result.stderr_text.strip() or f"status {result.status}"
    return error(f"{what}: {cut(detail, 2000, keep_end=True)}")


def error(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def text(text: str, structured: dict) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=structured)


def render_read(result: brig.Result, session: str, path: str) -> CallToolResult:
    failed = _failed(result, f"reading {path} in session {session}")
    if failed:
        return failed
    data = result.files.get(path)
    if data is None:
        reasons = [o.reason for o in result.files_omitted]
        if reasons:
            return error(f"{path} in session {session} was not returned: {'; '.join(reasons)}. "
                         f"Files over {READ_MAX_BYTES} bytes: read a part with run_command "
                         f"(head -c, tail, sed -n).")
        return error(f"session {session} has no regular file {path} (list_files shows "
                     f"what it has)")
    kind = file_kind(data)
    structured = {"path": path, "bytes": len(data), "type": kind}
    if kind.startswith("image/"):
        return CallToolResult(
            content=[TextContent(type="text", text=f"{path}: {kind}, {len(data)} bytes"),
                     image_block(data, kind)], structured_content=structured)
    if kind == "binary":
        return text(f"{path}: binary, {len(data)} bytes (not shown; inspect it with "
                    f"run_command, e.g. [\"xxd\", \"-l\", \"256\", \"{path}\"])", structured)
    return text(cut(as_text(data) or "", READ_CHARS, keep_end=False), structured)


def render_write(result: brig.Result, session: str, path: str, size: int) -> CallToolResult:
    failed = _failed(result, f"writing {path} in session {session}")
    if failed:
        return failed
    return text(f"wrote {size} bytes to {path} in session {session}",
                {"path": path, "bytes": size})


def render_list(result: brig.Result, session: str, path: str) -> CallToolResult:
    failed = _failed(result, f"listing {path} in session {session}")
    if failed:
        return failed
    entries: List[dict] = []
    lines = []
    records = [r for r in result.stdout.split(b"\0") if r]
    for record in records[:LIST_MAX_ENTRIES]:
        kind, _, rest = record.decode("utf-8", errors="replace").partition("\t")
        size, _, name = rest.partition("\t")
        size_n = int(size) if size.isdigit() else 0
        if kind == "d":
            lines.append(f"{name}/")
            entries.append({"path": name, "type": "directory"})
        elif kind == "p":
            lines.append(f"{name}/ (the session's packages, not listed)")
            entries.append({"path": name, "type": "directory"})
        else:
            what = "file" if kind == "f" else "link" if kind == "l" else "other"
            lines.append(f"{name}  {size_n} bytes" + ("" if what == "file" else f" ({what})"))
            entries.append({"path": name, "type": what, "bytes": size_n})
    if not lines:
        lines.append("(empty)")
    if len(records) > LIST_MAX_ENTRIES or result.stdout_truncated:
        lines.append(f"[brig: only the first {len(entries)} entries are shown; list a "
                     f"subdirectory or give a smaller depth]")
    return text("\n".join(lines), {"path": path, "entries": entries,
                                   "complete": len(entries) == len(records)
                                   and not result.stdout_truncated})
