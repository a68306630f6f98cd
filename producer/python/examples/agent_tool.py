#!/usr/bin/python3
"""brig as an agent's "execute code" tool.

An agent framework registers TOOL (a name, a description and a JSON schema
for the arguments) and, when the model calls the tool, runs
execute_code(**arguments) and hands the returned text back to the model.
The text is meant for a model to read: a status line, the exit code, stdout
and stderr cut to a budget (saying so when they were cut), and a sentence
explaining timeouts, memory kills and forbidden system calls.

As a script, against a running brig-worker (found as brig.Client() finds
it: BRIG_BROKERS, or the embedded broker's state file):

    /usr/bin/python3 agent_tool.py 'print(6 * 7)'
    echo 'console.log(1)' | /usr/bin/python3 agent_tool.py --language javascript -
    /usr/bin/python3 agent_tool.py --schema
"""
import argparse
import json
import pathlib
import sys
import threading

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import brig  # noqa: E402

# The runtimes of brig's default runtime table (sandbox/runtimes.json).
LANGUAGES = ["python", "javascript", "typescript", "bash", "sh", "c"]

# What the model gets back of stdout and stderr together, in characters.
OUTPUT_BUDGET = 4000

# How long a call may take, limits included: the wall-clock limit, plus time
# to queue for a free worker slot.
WALL_MS = 20000
ANSWER_TIMEOUT_S = 120

TOOL = {
    "name": "execute_code",
    "description": (
        "Run a program in an isolated sandbox and get its output. Each call starts "
        "from an empty directory, with no network, at most "
        f"{WALL_MS // 1000} s of wall-clock time and 256 MiB of memory. Print "
        "what you want to see: only stdout and stderr come back, cut to about "
        f"{OUTPUT_BUDGET} characters."),
    "parameters": {
        "type": "object",
        "properties": {
            "code": {"type": "string", "description": "The complete program source."},
            "language": {"type": "string", "enum": LANGUAGES, "default": "python",
                         "description": "The language to run the program with."},
        },
        "required": ["code"],
        "additionalProperties": False,
    },
}

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
}


def _cut(text, budget, keep_end):
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


def _section(name, text, truncated_by_sandbox, budget, keep_end):
    if not text:
        return ""
    body = _cut(text, budget, keep_end)
    note = " (the sandbox kept only the start: output over its limit was dropped)" \
        if truncated_by_sandbox else ""
    return f"--- {name}{note} ---\n{body.rstrip(chr(10))}\n"


def describe(result, budget=OUTPUT_BUDGET):
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
    return text


_client = None
_client_lock = threading.Lock()


def _shared_client():
    global _client
    with _client_lock:
        if _client is None:
            _client = brig.Client()
        return _client


def execute_code(code: str, language: str = "python") -> str:
    """The tool: runs code and returns text for the model. Problems on brig's
    side (no broker, no answer in time) come back as text too, since the
    model must always get an answer it can act on."""
    if language not in LANGUAGES:
        return f"error: unknown language {language!r}; use one of: {', '.join(LANGUAGES)}."
    try:
        result = _shared_client().run(code, language, limits={"wall_ms": WALL_MS},
                                      timeout=ANSWER_TIMEOUT_S)
    except brig.JobTimeout:
        return (f"error: no answer from the sandbox within {ANSWER_TIMEOUT_S} s; it may be "
                f"overloaded. Try again later.")
    except brig.BrigError as e:
        return f"error: the sandbox is not available: {e}"
    return describe(result)


def main():
    parser = argparse.ArgumentParser(description="Run code through brig as an agent tool would.")
    parser.add_argument("code", nargs="?", help="the program, or - to read it from stdin")
    parser.add_argument("--language", default="python", choices=LANGUAGES)
    parser.add_argument("--schema", action="store_true", help="print the tool description")
    options = parser.parse_args()
    if options.schema:
        print(json.dumps(TOOL, indent=2))
        return 0
    if options.code is None:
        parser.error("give the program, or - to read it from stdin")
    code = sys.stdin.read() if options.code == "-" else options.code
    print(execute_code(code, options.language), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
