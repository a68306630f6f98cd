"""brig's Python kernel: a session's live interpreter (worker/interp.h).

Runs as the program of a live jail (sandbox/live.h): every cell of the
session is executed here, in one IPython InteractiveShell, so that variables,
imports and open files persist from cell to cell. The worker and the kernel
talk over the jail's channel, descriptors 5 (from the worker) and 6 (to it),
in frames: a 4-byte big-endian length, then one msgpack map. The frames and
their rules are worker/interp_channel.h's; in short:

    kernel -> worker  {"t": "ready"}                        once started
    worker -> kernel  {"t": "exec", "code": str, "env": {str: str}, "count": int}
    kernel -> worker  {"t": "output", "kind": "display" | "result",
                       "data": {mime: str | bytes}}      what the cell displays
                      {"t": "dropped"}                   an output past the bounds
                      {"t": "error", "name": str, "value": str,
                       "traceback": [str]}               at most once a cell
                      {"t": "done", "status": "ok" | "error" | "interrupted"}

The cell's stdout and stderr are the jail's, flushed before "done". A SIGINT
(the worker's interrupt, passed on by the jail's init) raises
KeyboardInterrupt in the cell, and nowhere else.

Started from the interp pool's warm server (brig-zygote), the kernel is a
copy of a server that ran this file as the module brig_python_kernel and
built the shell there, before any fork: main() only adopts it (adopt). The
session's venv, when missing, is the kernel's to make (make_venv), before
the cell that finds it missing.

This file is trusted, but it shares its process with the cells: the worker
trusts nothing that comes out of the channel, and the bounds kept here only
spare it outputs it would drop. Matplotlib figures follow IPython's inline
backend; tracebacks carry no colours.
"""

import os
import sys

# A warm server ran this file as this module, before its fork, and built the
# shell there (make_shell is most of a start): the kernel is that module's.
PREPARED = "brig_python_kernel"
if __name__ == "__main__" and PREPARED in sys.modules:
    sys.exit(sys.modules[PREPARED].main())

import atexit  # noqa: E402
import base64  # noqa: E402
import binascii  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import struct  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

IN_FD, OUT_FD = 5, 6
# schema/bounds.h and worker/interp_channel.h.
FRAME_MAX = 4 << 20
OUTPUTS_MAX = 256
OUTPUTS_MAX_BYTES = 2 << 20
MIME_ITEMS_MAX = 16
EXCEPTION_NAME_MAX = 256
EXCEPTION_VALUE_MAX = 64 << 10
TRACEBACK_MAX = 256
TRACEBACK_ENTRY_MAX = 16 << 10
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
VENV = "/work/.venv"


def set_environment():
    """What IPython and matplotlib keep for themselves goes to /tmp, not into
    the session's /work; figures use the inline backend, set before
    matplotlib reads its rcParams."""
    os.environ["IPYTHONDIR"] = "/tmp/.ipython"
    os.environ["MPLBACKEND"] = INLINE_BACKEND


set_environment()

import msgpack  # noqa: E402
from IPython.core.displayhook import DisplayHook  # noqa: E402
from IPython.core.displaypub import DisplayPublisher  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from IPython.utils.path import ensure_dir_exists, get_home_dir  # noqa: E402
from pickleshare import PickleShareDB  # noqa: E402
from traitlets import Type  # noqa: E402
from traitlets.config import Config  # noqa: E402


class Cell:
    """What the running cell has sent; executing is False between cells."""

    executing = False
    main_sending = False
    interrupt_pending = False
    outputs = 0
    output_bytes = 0
    result_sent = False
    error_sent = False


cell = Cell()
write_lock = threading.Lock()
main_thread = threading.main_thread()


def write_frame(frame):
    data = msgpack.packb(frame, use_bin_type=True)
    if len(data) > FRAME_MAX:
        data = msgpack.packb({"t": "dropped"})
    payload = memoryview(struct.pack(">I", len(data)) + data)
    with write_lock:
        while payload:
            payload = payload[os.write(OUT_FD, payload):]


def send(frame):
    """A frame, whole: an interrupt in the middle waits until it is out."""
    is_main = threading.current_thread() is main_thread
    if is_main:
        cell.main_sending = True
    try:
        write_frame(frame)
    finally:
        if is_main:
            cell.main_sending = False
    if is_main and cell.interrupt_pending:
        cell.interrupt_pending = False
        raise KeyboardInterrupt


def on_interrupt(signum, frame):
    if not cell.executing:
        return
    if cell.main_sending:
        cell.interrupt_pending = True
        return
    raise KeyboardInterrupt


MIME_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+\Z")
TEXT_TYPES = ("application/json", "application/javascript", "image/svg+xml")


def is_text(mime):
    return mime.startswith("text/") or mime in TEXT_TYPES or mime.endswith("+json")


def as_bytes(mime, value):
    """A bundle's value as the wire's bytes: text as UTF-8, JSON serialised,
    and binary data raw, where Jupyter's formatters give it in base64."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        if not is_text(mime):
            try:
                return base64.b64decode("".join(value.split()), validate=True)
            except (binascii.Error, ValueError):
                pass
        return value.encode("utf-8", "replace")
    try:
        return json.dumps(value, default=repr).encode()
    except (TypeError, ValueError):
        return repr(value).encode("utf-8", "replace")


def emit(kind, data):
    """An output of the running cell; outside a cell (a thread that displays
    between cells) there is nobody to send it to."""
    if not cell.executing:
        return
    if kind == "result":
        if cell.result_sent:
            kind = "display"
        cell.result_sent = True
    bundle = {}
    size = 0
    for mime, value in data.items():
        if len(bundle) == MIME_ITEMS_MAX:
            break
        if not isinstance(mime, str) or len(mime) > 127 or not MIME_TYPE.match(mime.lower()):
            continue
        mime = mime.lower()
        body = as_bytes(mime, value)
        bundle[mime] = body.decode("utf-8", "replace") if is_text(mime) else body
        size += len(body)
    if not bundle:
        return
    if cell.outputs >= OUTPUTS_MAX or cell.output_bytes + size > OUTPUTS_MAX_BYTES:
        send({"t": "dropped"})
        return
    cell.outputs += 1
    cell.output_bytes += size
    send({"t": "output", "kind": kind, "data": bundle})


def cut(text, limit):
    data = text.encode("utf-8", "replace")[:limit]
    return data.decode("utf-8", "ignore")


class Publisher(DisplayPublisher):
    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw):
        emit("display", data)

    def clear_output(self, wait=False):
        pass


class Hook(DisplayHook):
    def start_displayhook(self):
        pass

    def write_output_prompt(self):
        pass

    def write_format_data(self, format_dict, md_dict=None):
        emit("result", format_dict)

    def finish_displayhook(self):
        sys.stdout.flush()
        sys.stderr.flush()


class Shell(InteractiveShell):
    displayhook_class = Type(Hook)
    display_pub_class = Type(Publisher)

    def enable_gui(self, gui=None):
        """The inline backend has no event loop to run."""

    def _showtraceback(self, etype, evalue, stb):
        if not cell.executing or cell.error_sent:
            return
        cell.error_sent = True
        name = getattr(etype, "__name__", None) or "Exception"
        try:
            value = str(evalue)
        except Exception:  # a cell's exception may refuse even that
            value = "<unprintable %s>" % name
        if isinstance(stb, str):
            stb = [stb]
        send({
            "t": "error",
            "name": cut(" ".join(name.split()), EXCEPTION_NAME_MAX) or "Exception",
            "value": cut(value, EXCEPTION_VALUE_MAX),
            "traceback": [cut(str(line), TRACEBACK_ENTRY_MAX) for line in stb[-TRACEBACK_MAX:]],
        })


def make_shell():
    config = Config()
    config.HistoryManager.enabled = False  # no sqlite file, no saving thread
    config.InteractiveShell.colors = "NoColor"
    config.InteractiveShell.warn_venv = False
    shell = Shell.instance(config=config)
    # Preloaded by a warm server before the inline backend was asked for.
    matplotlib = sys.modules.get("matplotlib")
    if matplotlib is not None:
        if "matplotlib.pyplot" in sys.modules:
            shell.enable_matplotlib("inline")
        else:
            matplotlib.use(INLINE_BACKEND)
    return shell


def adopt(shell):
    """The shell a warm server built, made this session's: what its
    construction took from the server's process (the home, the directory,
    __main__, the profile's directories in the server's /tmp) is taken again
    from the kernel's, as make_shell would have here."""
    set_environment()
    ensure_dir_exists(shell.profile_dir.location)
    shell.profile_dir.check_dirs()
    shell.db = PickleShareDB(os.path.join(shell.profile_dir.location, "db"))
    shell.starting_dir = os.getcwd()
    shell.history_manager.dir_hist[:] = [Path.cwd()]
    shell.home_dir = shell.logger.home_dir = get_home_dir()
    shell.save_sys_module_state()
    shell.init_sys_modules()
    atexit.register(shell.atexit_operations)
    return shell


def has_venv():
    """As the worker looks for it: .venv itself no link."""
    return (os.path.isdir(VENV) and not os.path.islink(VENV)
            and os.path.lexists(os.path.join(VENV, "pyvenv.cfg")))


def make_venv(program, python, starting):
    """The session's venv, of the interpreter python, when it is missing:
    made by the worker's program, [make_venv's source, brig's pip]
    (worker/session_env.h), the kernel's arguments. Then the kernel goes on
    as the venv's python, as one started there: from a warm server through
    the server's own site step; cold by starting again, only before the
    first cell (no session's state is lost to it). What fails is said on the
    cell's stderr: the cell runs without the venv, as a job would."""
    if not program or has_venv():
        return
    try:
        code = {}
        exec(program[0], code)
        code["make_venv"](python, program[1])
        if sys.prefix == VENV:
            return
        python = os.path.join(VENV, "bin", "python3")
        warm = sys.modules.get("_brig_warm")
        if warm is not None:
            warm.use_python(python)
        elif starting:
            os.execv(python, [python] + sys.orig_argv[1:])
    except Exception as e:
        print("brig: making the session's venv %s: %s" % (VENV, e), file=sys.stderr)


def flush_all():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    if "ctypes" in sys.modules:
        try:
            libc = sys.modules["ctypes"].CDLL(None)
            libc.fflush(None)
        except Exception:
            pass


def read_exact(n):
    data = bytearray()
    while len(data) < n:
        chunk = os.read(IN_FD, n - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def next_request():
    head = read_exact(4)
    if head is None:
        return None
    body = read_exact(struct.unpack(">I", head)[0])
    return None if body is None else msgpack.unpackb(body, raw=False)


def run(shell, request, venv):
    make_venv(*venv, False)
    os.environ.update(request.get("env") or {})
    shell.execution_count = request["count"]
    shell.exit_now = False
    cell.outputs = cell.output_bytes = 0
    cell.result_sent = cell.error_sent = cell.interrupt_pending = False
    status = "ok"
    result = None
    try:
        cell.executing = True
        result = shell.run_cell(request["code"], store_history=True)
    except KeyboardInterrupt:
        status = "interrupted"
        shell.showtraceback()
    finally:
        cell.executing = False
    # exit() ends nothing here: the interpreter is the session's.
    shell.exit_now = False
    if result is not None:
        error = result.error_before_exec or result.error_in_exec
        if isinstance(error, KeyboardInterrupt):
            status = "interrupted"
        elif error is not None:
            status = "error"
    flush_all()
    send({"t": "done", "status": status})


def main():
    # The interpreter the session's venv is of: this one, unless it is the
    # venv's own.
    python = sys.executable if sys.prefix == sys.base_prefix else sys._base_executable
    venv = (sys.argv[1:3], python)
    make_venv(*venv, True)
    # The channel is the kernel's: programs a cell starts do not get it.
    os.set_inheritable(IN_FD, False)
    os.set_inheritable(OUT_FD, False)
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    shell = adopt(prepared) if __name__ == PREPARED else make_shell()
    signal.signal(signal.SIGINT, on_interrupt)
    send({"t": "ready"})
    while True:
        request = next_request()
        if request is None:
            return 0
        if request.get("t") != "exec":
            return 2
        run(shell, request, venv)


if __name__ == "__main__":
    sys.exit(main())
elif __name__ == PREPARED:
    prepared = make_shell()
    # What a cell's first run would do once for every session, and nothing
    # of the session's: the tokenizer's expressions compiled, the result's
    # formatters looked up.
    prepared.transform_cell("1\n")
    prepared.display_formatter.format(1)
    # The server's exit, and its other jobs', are not this shell's: the
    # kernel's is (adopt).
    atexit.unregister(prepared.atexit_operations)
