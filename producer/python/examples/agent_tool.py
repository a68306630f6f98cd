#!/usr/bin/python3
"""brig as an agent's "execute code" tool, for any agent framework.

An agent framework registers TOOL (a name, a description and a JSON schema
for the arguments) and, when the model calls the tool, runs
execute(arguments) and hands the answer back to the model: ToolAnswer.text
(a status line, the exit code, stdout and stderr cut to a budget, a sentence
explaining timeouts, memory kills and forbidden system calls, the files that
came back) and ToolAnswer.images (charts the code displayed or saved, as
(MIME type, bytes)). openai_tool.py, anthropic_tool.py and langchain_tool.py
put this answer in each API's own shapes.

Arguments: code, language, and optionally session (a name: files and, for
Python and JavaScript, variables persist across the calls that give it),
files ({path: text} written into the working directory first) and collect
(globs of files to bring back: images among them are shown to the model).

As a script, against a running brig-worker (found as brig.Client() finds
it: BRIG_BROKERS, or the embedded broker's state file):

    /usr/bin/python3 agent_tool.py 'print(6 * 7)'
    echo 'console.log(1)' | /usr/bin/python3 agent_tool.py --language javascript -
    /usr/bin/python3 agent_tool.py --schema
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

try:
    import brig
except ImportError:  # run from the source tree rather than installed
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    import brig

# The runtimes of brig's default runtime table (sandbox/runtimes.json).
LANGUAGES = ["python", "javascript", "typescript", "bash", "sh", "c"]

# What the model gets back of stdout and stderr together, in characters.
OUTPUT_BUDGET = 4000
# A collected text file is shown up to this many characters.
FILE_BUDGET = 2000
# Images given back to the model, at most, per call.
IMAGES_MAX = 4

# How long a call may take, limits included: the wall-clock limit, plus time
# to queue for a free worker slot.
WALL_MS = 20000
ANSWER_TIMEOUT_S = 120

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "description": "The complete program source."},
        "language": {"type": "string", "enum": LANGUAGES, "default": "python",
                     "description": "The language to run the program with."},
        "session": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$",
                    "description": "A name of your choice to keep state between calls: "
                                   "calls with the same session share their files, and "
                                   "Python/JavaScript variables persist between them. "
                                   "Leave it out for a fresh sandbox."},
        "files": {"type": "object", "additionalProperties": {"type": "string"},
                  "description": "Files to write into the working directory before the "
                                 "run: {relative path: text content}."},
        "collect": {"type": "array", "items": {"type": "string"},
                    "description": "Glob patterns of files to bring back after the run "
                                   "(e.g. \"out/*.png\"); images are shown to you."},
    },
    "required": ["code"],
    "additionalProperties": False,
}

DESCRIPTION = (
    "Run a program in an isolated sandbox and get its output. Without a session each "
    "call starts from an empty directory; with one, files and variables stay from one "
    f"call to the next. No network, at most {WALL_MS // 1000} s of wall-clock time and "
    "256 MiB of memory. Print what you want to see: stdout and stderr come back, cut to "
    f"about {OUTPUT_BUDGET} characters; matplotlib figures shown in a session, and "
    "image files you collect, come back as images.")

TOOL = {"name": "execute_code", "description": DESCRIPTION, "parameters": PARAMETERS}

_EXPLANATIONS = {
    "ok": "The program ran and exited normally.",
    "failed": "The program exited with an error.",
    "timeout": "The program was stopped because it ran longer than the {wall} s wall-clock "
               "limit: look for an infinite loop, a wait on input that never comes, or work "
               "too slow to finish.",
    "cpu_timeout": "The program was stopped because it used more CPU time than allowed: "
                   "the computation is too heavy, or loops forever.",
    "oom": "The program was killed because it used more memory than the limit: "
           "process the data in smaller pieces.",
    "output_limit": "The program was stopped because it printed more than the output "
                    "limit: print less, or a summary.",
    "seccomp": "The program was killed because it made a system call the sandbox forbids{call}: "
               "network access, process tracing and similar operations are not available.",
    "signaled": "The program was killed by signal {signal}{crash}.",
    "compile_error": "The program did not compile; the compiler's messages are below.",
    "setup_error": "The sandbox could not be prepared for this program: {error}",
    "rejected": "The sandbox refused the request: {error}",
    "internal_error": "The sandbox failed for reasons of its own, not because of the "
                      "program: {error}",
    "cancelled": "The program was cancelled before it finished.",
}

_IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg",
                b"GIF87a": "image/gif", b"GIF89a": "image/gif"}


@dataclass
class ToolAnswer:
    """What the model gets: text, and images as (MIME type, bytes)."""
    text: str
    images: list[tuple[str, bytes]] = field(default_factory=list)
    is_error: bool = False


def _cut(text: str, budget: int, keep_end: bool) -> str:
    """text within budget characters, with a note saying what was cut. The
    end of stderr matters most (a traceback ends with the error), the start
    and end of stdout."""
    if len(text) <= budget:
        return text
    cut = len(text) - budget
    note = f"\n[... {cut} characters cut ...]\n"
    if keep_end:
        return note.lstrip("\n") + text[-budget:]
    head = budget // 2
    return text[:head] + note + text[len(text) - (budget - head):]


def _section(name: str, text: str, truncated_by_sandbox: bool, budget: int,
             keep_end: bool) -> str:
    if not text:
        return ""
    body = _cut(text, budget, keep_end)
    note = " (the sandbox kept only the start: output over its limit was dropped)" \
        if truncated_by_sandbox else ""
    return f"--- {name}{note} ---\n{body.rstrip(chr(10))}\n"


def _image_type(content: bytes) -> Optional[str]:
    return next((mime for magic, mime in _IMAGE_TYPES.items() if content.startswith(magic)),
                None)


def _files_section(result: brig.Result) -> str:
    lines = []
    for path, content in sorted(result.files.items()):
        if _image_type(content):
            lines.append(f"--- file {path} ({len(content)} bytes, an image: shown) ---\n")
            continue
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            lines.append(f"--- file {path} ({len(content)} bytes, binary) ---\n")
            continue
        lines.append(f"--- file {path} ({len(content)} bytes) ---\n"
                     f"{_cut(text, FILE_BUDGET, keep_end=False).rstrip(chr(10))}\n")
    lines += [f"--- file {o.path}: not returned: {o.reason} ---\n"
              for o in result.files_omitted]
    return "".join(lines)


def _cell_section(result: brig.Result) -> str:
    """What a session's interpreter adds: whether the model's variables are
    still there, the cell's value, and the exception with its traceback."""
    text = ""
    interpreter = result.interpreter
    if interpreter is not None and interpreter.started:
        text += ("(this call started a fresh interpreter: variables of earlier calls "
                 "in the session are not defined)\n")
    if interpreter is not None and interpreter.state_lost:
        text += ("(the interpreter ended during this call: the next call starts a fresh "
                 "one, and this session's variables are gone; its files stay)\n")
    for output in result.outputs:
        if output.kind == "result" and output.text is not None and output.image is None:
            text += f"--- value ---\n{_cut(output.text, FILE_BUDGET, False).rstrip()}\n"
    if result.exception is not None:
        e = result.exception
        frames = "\n".join(frame.rstrip("\n") for frame in e.traceback)
        text += "--- exception ---\n"
        if frames:
            text += _cut(frames, FILE_BUDGET, keep_end=True) + "\n"
        text += f"{e.name}: {e.value or ''}\n"
    return text


def describe(result: brig.Result, budget: int = OUTPUT_BUDGET) -> str:
    """The text a model reads about a brig.Result."""
    wall_s = result.usage.wall_us / 1e6 if result.usage else None
    status_line = f"status: {result.status}"
    if result.exit_code is not None:
        status_line += f", exit code {result.exit_code}"
    if wall_s is not None:
        status_line += f", {wall_s:.2f} s"
    explanation = _EXPLANATIONS.get(result.status, "").format(
        wall=WALL_MS // 1000,
        call=f" ({result.syscall})" if result.syscall else "",
        signal=result.signal,
        crash=" (a crash such as a segmentation fault or an abort)"
        if result.signal in (6, 7, 8, 11) else "",
        error=result.error or "no reason given.")
    stdout, stderr = result.stdout_text, result.stderr_text
    # stderr gets what stdout leaves of the budget, and at least a third of it.
    stderr_budget = max(budget - len(stdout), budget // 3)
    stdout_budget = budget - min(len(stderr), stderr_budget)
    text = f"{status_line}\n{explanation}\n"
    text += _section("stdout", stdout, result.stdout_truncated, stdout_budget, keep_end=False)
    text += _section("stderr", stderr, result.stderr_truncated, stderr_budget, keep_end=True)
    if not stdout and not stderr:
        text += "(no output)\n"
    return text + _cell_section(result) + _files_section(result)


def images_of(result: brig.Result) -> list[tuple[str, bytes]]:
    """The images to show the model: what the cell displayed, then the
    collected image files, IMAGES_MAX at most."""
    found = list(result.images)
    for _, content in sorted(result.files.items()):
        mime = _image_type(content)
        if mime:
            found.append((mime, content))
    return found[:IMAGES_MAX]


_client: Optional[brig.Client] = None
_client_lock = threading.Lock()


def _shared_client() -> brig.Client:
    global _client
    with _client_lock:
        if _client is None:
            _client = brig.Client()
        return _client


def _problem(arguments: Any) -> Optional[str]:
    """What is wrong with the model's arguments, in words it can act on."""
    if not isinstance(arguments, dict):
        return "the arguments must be an object"
    unknown = sorted(set(arguments) - set(PARAMETERS["properties"]))
    if unknown:
        return f"unknown argument(s) {', '.join(unknown)}"
    if not isinstance(arguments.get("code"), str):
        return "code must be a string"
    if arguments.get("language", "python") not in LANGUAGES:
        return (f"unknown language {arguments.get('language')!r}; use one of: "
                f"{', '.join(LANGUAGES)}")
    if not isinstance(arguments.get("session", ""), str):
        return "session must be a string"
    files = arguments.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        return "files must be an object of path to text"
    collect = arguments.get("collect", [])
    if not isinstance(collect, list) or not all(isinstance(p, str) for p in collect):
        return "collect must be an array of glob patterns"
    return None


def execute(arguments: Any) -> ToolAnswer:
    """The tool: runs the call's arguments and returns the answer. Problems
    (bad arguments, no broker, no answer in time) come back as an answer
    too, since the model must always get one it can act on."""
    problem = _problem(arguments)
    if problem:
        return ToolAnswer(f"error: {problem}.", is_error=True)
    try:
        result = _shared_client().run(
            arguments["code"], arguments.get("language", "python"),
            session=arguments.get("session") or None, files=arguments.get("files") or None,
            collect=arguments.get("collect") or None, limits={"wall_ms": WALL_MS},
            timeout=ANSWER_TIMEOUT_S)
    except brig.InvalidJob as e:
        return ToolAnswer(f"error: the request is invalid: {e}", is_error=True)
    except brig.JobTimeout:
        return ToolAnswer(f"error: no answer from the sandbox within {ANSWER_TIMEOUT_S} s; "
                          f"it may be overloaded. Try again later.", is_error=True)
    except brig.BrigError as e:
        return ToolAnswer(f"error: the sandbox is not available: {e}", is_error=True)
    return ToolAnswer(describe(result), images_of(result), is_error=not result.ok)


def execute_code(code: str, language: str = "python", **more: Any) -> str:
    """execute() as text alone, for frameworks that take a function."""
    return execute({"code": code, "language": language, **more}).text


def main() -> int:
    parser = argparse.ArgumentParser(description="Run code through brig as an agent tool would.")
    parser.add_argument("code", nargs="?", help="the program, or - to read it from stdin")
    parser.add_argument("--language", default="python", choices=LANGUAGES)
    parser.add_argument("--session")
    parser.add_argument("--collect", action="append")
    parser.add_argument("--schema", action="store_true", help="print the tool description")
    options = parser.parse_args()
    if options.schema:
        print(json.dumps(TOOL, indent=2))
        return 0
    if options.code is None:
        parser.error("give the program, or - to read it from stdin")
    code = sys.stdin.read() if options.code == "-" else options.code
    more = {k: v for k, v in (("session", options.session), ("collect", options.collect)) if v}
    answer = execute({"code": code, "language": options.language, **more})
    print(answer.text, end="")
    for mime, content in answer.images:
        print(f"[image {mime}, {len(content)} bytes]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
