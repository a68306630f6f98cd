"""A session's files as a model sees them, through the client's session
helpers (brig.AsyncSession: each a job of the session, so the workspace is
only ever touched in the jail of the worker that holds it). What comes
back is the job's and hostile: text is cut to a budget, binary described,
not shown, and the listing bounded."""
from typing import List

import brig
from mcp.types import CallToolResult, TextContent

from .render import as_text, cut, file_kind, image_block

# Characters of a text file in read_file's answer.
READ_CHARS = 50000
# Entries list_files shows.
LIST_MAX_ENTRIES = 1000


def error(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def text(text: str, structured: dict) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=structured)


def render_read(session: str, path: str, data: bytes) -> CallToolResult:
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


def render_list(session: str, under: str, files: List[brig.SessionFile]) -> CallToolResult:
    prefix = "" if under in ("", ".") else under.rstrip("/") + "/"
    chosen = [f for f in files if f.path.startswith(prefix)]
    lines = [f"{f.path}  {f.size} bytes" for f in chosen[:LIST_MAX_ENTRIES]]
    if not lines:
        lines.append(f"(no files{' under ' + prefix if prefix else ''} in session {session})")
    if len(chosen) > LIST_MAX_ENTRIES:
        lines.append(f"[brig: only the first {LIST_MAX_ENTRIES} of {len(chosen)} files are "
                     f"shown; give a directory]")
    return text("\n".join(lines), {"files": [{"path": f.path, "bytes": f.size}
                                             for f in chosen[:LIST_MAX_ENTRIES]],
                                   "complete": len(chosen) <= LIST_MAX_ENTRIES})
