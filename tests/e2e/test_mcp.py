"""brig mcp, the MCP server, through an official MCP SDK client: PyPI's `mcp`
(ClientSession over stdio_client and streamable_http_client, driven by
mcp_client.py from the server's own venv, which `make mcp` builds) against
a brig-worker on the test broker, and over SASL_SSL on the real cluster.

The client lists the tools, runs Python, gets a matplotlib chart back as
image content, keeps files in a session across calls, cancels a long call
(MCP cancellation -> brig cancel: the job's result says cancelled), and is
told which argument is wrong; over HTTP a bearer token is required beyond
loopback and checked on loopback when given."""
import base64
import json
import os
import pathlib
import selectors
import shutil
import socket
import struct
import subprocess
import tempfile
import urllib.error
import urllib.request
import uuid

import pytest

from conftest import BUILD, ROOT, bin_path, build_lock, detach_mounts_under
from harness import Broker, Worker, free_port, wait_for
from test_kafka_secured import secured  # noqa: F401 - the SASL_SSL fixture

MCP_CLIENT = str(ROOT / "tests" / "e2e" / "mcp_client.py")
MCP_CLIENT_TS = str(ROOT / "tests" / "e2e" / "mcp_client.mjs")
# npm's official TypeScript SDK, major version 1, installed once under build/.
TS_SDK = "@modelcontextprotocol/sdk@1"
# Generous: a call may wait for a slot on a loaded machine.
ANSWER_S = 180
TOOLS = {"run_code", "run_command", "read_file", "write_file", "list_files", "list_runtimes",
         "cancel"}
CHART = """
import matplotlib.pyplot as plt
plt.figure(figsize=(4, 3), dpi=100)
plt.plot([1, 3, 2])
plt.savefig("chart.png")
"""


@pytest.fixture(scope="session")
def venv_python():
    """The MCP server's venv (make mcp), whose interpreter has the SDK the
    client uses."""
    build = os.path.relpath(BUILD, ROOT) if BUILD.is_relative_to(ROOT) else str(BUILD)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    with build_lock("mcp"):
        proc = subprocess.run(["make", "-C", str(ROOT), f"BUILD={build}", "mcp"],
                              capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return str(BUILD / "lib" / "brig" / "mcp" / "bin" / "python3")


@pytest.fixture(scope="session")
def ts_client():
    """The command that runs mcp_client.mjs on the TypeScript SDK, which npm
    installs under build/ the first time (its cache there too)."""
    prefix = BUILD / "mcp-ts-client"
    with build_lock("mcp-ts-client"):
        if not (prefix / "node_modules" / "@modelcontextprotocol" / "sdk").exists():
            prefix.mkdir(parents=True, exist_ok=True)
            (prefix / "package.json").write_text('{"private": true}\n')
            proc = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--cache",
                                   str(BUILD / "npm-cache"), TS_SDK], cwd=prefix,
                                  capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return ["node", MCP_CLIENT_TS], {"NODE_PATH": str(prefix / "node_modules")}


@pytest.fixture(scope="module")
def pool():
    """A test broker and a worker for the module. Not under pytest's
    tmp_path: the jails must reach the worker's state directory."""
    tmp = tempfile.mkdtemp(prefix="brig-mcp-", dir="/tmp")
    os.chmod(tmp, 0o755)
    broker = Broker(partitions=4)
    worker = Worker(pathlib.Path(tmp), broker.bootstrap, "mcp")
    try:
        worker.wait_consuming()
        yield broker.bootstrap
    finally:
        worker.stop()
        broker.stop()
        detach_mounts_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


class Shell:
    """mcp_client.py: one MCP session, requests and answers as JSON lines."""

    def __init__(self, client, *target):
        """client: the venv's interpreter (the Python SDK), or ts_client."""
        argv, env = ([client, MCP_CLIENT], {}) if isinstance(client, str) else client
        self.proc = subprocess.Popen([*argv, *target], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, **env))

    def ask(self, request, timeout=ANSWER_S):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                self.proc.kill()
                pytest.fail(f"no answer to {request} within {timeout} s: "
                            f"{self.proc.stderr.read()[-4000:]}")
        line = self.proc.stdout.readline()
        if not line:
            pytest.fail(f"the client ended: {self.proc.wait()} {self.proc.stderr.read()[-4000:]}")
        return json.loads(line)

    def call(self, name, **arguments):
        return self.ask({"op": "call", "name": name, "arguments": arguments})

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def stdio(venv_python, pool):
    """An MCP session with `brig mcp` over stdio, which the SDK starts."""
    shell = Shell(venv_python, "stdio", bin_path("brig"), "mcp", "--brokers", pool)
    yield shell
    shell.close()


def text_of(answer):
    return "\n".join(c["text"] for c in answer["content"] if c["type"] == "text")


def png_size(data):
    """(width, height) of a PNG, from its IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:16]
    return struct.unpack(">II", data[16:24])


def assert_runs_python(shell):
    answer = shell.call("run_code", code="print(6 * 7)")
    assert not answer["is_error"], answer
    assert "42" in text_of(answer) and answer["structured"]["status"] == "ok", answer
    assert answer["structured"]["exit_code"] == 0


def assert_session_persists(shell, session):
    answer = shell.call("run_code", session=session,
                        code="open('kept.txt', 'w').write('from the first call')")
    assert answer["structured"]["status"] == "ok", answer
    answer = shell.call("run_code", session=session, code="print(open('kept.txt').read())")
    assert "from the first call" in text_of(answer), answer


def assert_cancels(shell, brokers):
    """A call cancelled the MCP way once its job runs: the job's own result
    (brig wait) says cancelled."""
    answer = shell.ask({"op": "call", "name": "run_code", "progress": True,
                        "cancel_on": "started", "arguments": {
                            "code": "import time\nprint('started', flush=True)\ntime.sleep(300)",
                            "timeout": 400}})
    assert answer["cancelled"], answer
    job_id = answer["progress"][0].split()[1]
    waited = subprocess.run([bin_path("brig"), "wait", "--brokers", brokers, job_id],
                            capture_output=True, text=True, timeout=ANSWER_S)
    assert waited.returncode == 130 and "cancelled" in waited.stderr, waited.stderr


def test_lists_the_tools_with_schemas(stdio):
    tools = {t["name"]: t for t in stdio.ask({"op": "tools"})["tools"]}
    assert set(tools) == TOOLS
    run_code = tools["run_code"]
    assert {"code", "language", "session", "files", "collect", "timeout"} <= \
        set(run_code["input_schema"]["properties"])
    assert run_code["input_schema"]["required"] == ["code"]
    assert "status" in run_code["output_schema"]["properties"]
    for tool in tools.values():
        assert len(tool["description"]) > 60, tool


def test_runs_python(stdio):
    assert_runs_python(stdio)


def test_a_failure_is_a_result_and_a_refusal_an_error(stdio):
    answer = stdio.call("run_code", code="raise ValueError('bad input')")
    assert not answer["is_error"] and answer["structured"]["status"] == "failed", answer
    assert "ValueError: bad input" in text_of(answer)
    answer = stdio.call("run_code", language="cobol", code="DISPLAY 'HI'.")
    assert answer["is_error"] and answer["structured"]["status"] == "rejected", answer
    assert "cobol" in text_of(answer)


def test_a_chart_comes_back_as_image_content(stdio):
    answer = stdio.call("run_code", code=CHART, collect=["chart.png"])
    images = [c for c in answer["content"] if c["type"] == "image"]
    assert len(images) == 1 and images[0]["mime_type"] == "image/png", answer
    assert png_size(base64.b64decode(images[0]["data"])) == (400, 300)
    assert answer["structured"]["files"] == [
        {"path": "chart.png", "bytes": len(base64.b64decode(images[0]["data"])),
         "type": "image/png"}]


# A cell's rich results (SCHEMA.md 6.1) as render() gets them from the client,
# until workers run cells: the chart a cell displayed, its last value and
# the exception it raised; a bundle that calls non-PNG bytes image/png.
RENDER_CELL = """
import json, sys
import brig
from brig_mcp.render import render
png = bytes.fromhex(sys.argv[1])
result = brig.Result(id="j1", attempt=1, status="failed", outputs=[
    brig.Output("result", {"text/plain": b"42"}),
    brig.Output("display", {"image/png": png, "text/plain": b"<Figure 400x300>"}),
    brig.Output("display", {"image/png": b"<svg>not a png</svg>", "text/plain": b"fake"})],
    exception=brig.CellException("ValueError", "bad input", (
        "Traceback (most recent call last):\\n", "ValueError: bad input\\n")),
    interpreter=brig.Interpreter(started=True, execution_count=1))
answer = render(result, 30)
print(json.dumps({"content": [c.model_dump(mode="json") for c in answer.content],
                  "structured": answer.structured_content, "is_error": answer.is_error}))
"""


def test_a_cells_display_output_comes_back_as_image_content(venv_python):
    png = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + struct.pack(">II", 400, 300) + bytes(9)
    proc = subprocess.run([venv_python, "-c", RENDER_CELL, png.hex()], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    text = answer["content"][0]["text"]
    images = [c for c in answer["content"] if c["type"] == "image"]
    assert len(images) == 1 and base64.b64decode(images[0]["data"]) == png, answer
    assert "[result] 42" in text and "[display] fake" in text, text
    assert "raised an exception" in text and "ValueError: bad input" in text, text
    assert "a fresh one started" in text, text
    structured = answer["structured"]
    assert structured["error"] == {"name": "ValueError", "value": "bad input", "traceback": [
        "Traceback (most recent call last):\n", "ValueError: bad input\n"]}, structured
    assert [o["kind"] for o in structured["outputs"]] == ["result", "display", "display"]
    assert structured["interpreter"] == {"started": True, "execution_count": 1,
                                         "state_lost": False}
    assert not answer["is_error"]


def test_a_session_keeps_its_files_across_calls(stdio):
    session = f"s{uuid.uuid4().hex[:8]}"
    assert_session_persists(stdio, session)
    answer = stdio.call("write_file", session=session, path="data/in.csv", content="a,b\n1,2\n")
    assert not answer["is_error"], answer
    answer = stdio.call("run_command", session=session, command=["wc", "-l", "data/in.csv"])
    assert answer["structured"]["exit_code"] == 0 and "2 data/in.csv" in text_of(answer)
    listing = stdio.call("list_files", session=session)
    paths = {f["path"]: f["bytes"] for f in listing["structured"]["files"]}
    assert paths["data/in.csv"] == 8 and "kept.txt" in paths, listing
    assert stdio.call("list_files", session=session, path="data")["structured"]["files"] == [
        {"path": "data/in.csv", "bytes": 8}]
    assert stdio.call("read_file", session=session, path="data/in.csv")["content"][0]["text"] \
        == "a,b\n1,2\n"

    stdio.call("run_code", session=session, code=CHART)
    image = stdio.call("read_file", session=session, path="chart.png")
    assert [c["type"] for c in image["content"]] == ["text", "image"], image
    blob = stdio.call("write_file", session=session, path="blob.bin", encoding="base64",
                      content=base64.b64encode(bytes(range(256)) * 4).decode())
    assert not blob["is_error"], blob
    answer = stdio.call("read_file", session=session, path="blob.bin")
    assert text_of(answer).startswith("blob.bin: binary, 1024 bytes"), answer
    missing = stdio.call("read_file", session=session, path="no/such[1].txt")
    assert missing["is_error"] and "no/such[1].txt: no such regular file" in text_of(missing)
    stdio.call("run_command", session=session,
               command=["bash", "-c", "head -c 5000000 /dev/zero >big.bin"])
    big = stdio.call("read_file", session=session, path="big.bin")
    assert big["is_error"] and "big.bin" in text_of(big) and "too large" in text_of(big), big


def test_list_runtimes_names_the_workers_languages(stdio):
    answer = stdio.call("list_runtimes")
    names = {r["name"] for r in answer["structured"]["runtimes"]}
    assert not answer["is_error"] and {"python", "bash"} <= names, answer
    assert "python" in text_of(answer)


def test_live_output_comes_as_progress(stdio):
    answer = stdio.ask({"op": "call", "name": "run_code", "progress": True, "arguments": {
        "code": "for i in range(3): print('line', i, flush=True)"}})
    assert answer["structured"]["status"] == "ok", answer
    assert answer["progress"][0].startswith("job ") and answer["progress"][0].endswith(" submitted")
    streamed = "".join(m for m in answer["progress"][1:])
    assert "line 0" in streamed and "[stdout]" in streamed, answer["progress"]


def test_cancelling_a_call_cancels_its_job(stdio, pool):
    assert_cancels(stdio, pool)
    assert_runs_python(stdio)


def test_wrong_arguments_are_tool_errors_naming_them(stdio):
    for name, arguments, argument in [
            ("run_code", {"code": 5}, "code"),
            ("run_code", {"code": "1", "timeout": "soon"}, "timeout"),
            ("run_code", {"code": "1", "timeout": 100000}, "timeout"),
            ("run_code", {"code": "1", "files": {"a.txt": 5}}, "files"),
            ("run_code", {"code": "1", "session": "no spaces"}, "session"),
            ("run_code", {"code": "1", "files": {"../up": "x"}}, "files"),
            ("run_command", {"command": []}, "command"),
            ("run_command", {"command": "ls -l"}, "command"),
            ("read_file", {"path": "a"}, "session"),
            ("write_file", {"session": "s", "path": "a", "content": "!", "encoding": "base64"},
             "content"),
            ("list_files", {"session": "s", "path": 5}, "path"),
            ("cancel", {"job_id": "no spaces"}, "job_id")]:
        answer = stdio.call(name, **arguments)
        assert answer["is_error"] and argument in text_of(answer), (name, arguments, answer)
    assert_runs_python(stdio)


def test_huge_output_is_cut_with_a_marker(stdio):
    answer = stdio.call("run_code", code="print('x' * 500000)\nprint('the end')")
    text = text_of(answer)
    assert answer["structured"]["status"] == "ok" and "characters cut here" in text
    assert len(text) < 30000 and "the end" in text


def test_an_unreachable_broker_is_a_tool_error(venv_python):
    shell = Shell(venv_python, "stdio", bin_path("brig"), "mcp", "--brokers",
                  f"127.0.0.1:{free_port()}")
    try:
        answer = shell.call("run_code", code="print(1)")
        assert answer["is_error"] and "cannot reach the Kafka broker" in text_of(answer), answer
    finally:
        shell.close()


def test_brig_mcp_says_when_the_server_is_not_installed(tmp_path):
    (tmp_path / "bin").mkdir()
    copy = tmp_path / "bin" / "brig"
    copy.write_bytes(open(bin_path("brig"), "rb").read())
    copy.chmod(0o755)
    proc = subprocess.run([str(copy), "mcp"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 125
    assert "the MCP server is not installed" in proc.stderr and "lib/brig/mcp" in proc.stderr


# --- Streamable HTTP ----------------------------------------------------------------------


class HttpServer:
    def __init__(self, brokers, address, *extra):
        self.url = f"http://{address}/mcp"
        self.proc = subprocess.Popen([bin_path("brig"), "mcp", "--brokers", brokers, "--http",
                                      address, *extra], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        host, port = address.rsplit(":", 1)

        def listening():
            assert self.proc.poll() is None, self.proc.stdout.read()
            with socket.socket() as s:
                return s.connect_ex((host, int(port))) == 0
        wait_for(listening, what="brig mcp --http to listen")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def post(url, token=None):
    """A bare initialize request, as any HTTP client would send it."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}}).encode()
    headers = {"Content-Type": "application/json",
               "Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=30) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(uuid.uuid4().hex + uuid.uuid4().hex + "\n")
    path.chmod(0o600)
    return path


def test_http_on_loopback_serves_the_sdk_client(venv_python, pool):
    server = HttpServer(pool, f"127.0.0.2:{free_port()}")
    shell = Shell(venv_python, "http", server.url)
    try:
        assert {t["name"] for t in shell.ask({"op": "tools"})["tools"]} == TOOLS
        assert_runs_python(shell)
        answer = shell.call("run_code", code=CHART, collect=["chart.png"])
        assert [c["type"] for c in answer["content"]] == ["text", "image"], answer
        assert_session_persists(shell, f"h{uuid.uuid4().hex[:8]}")
        assert_cancels(shell, pool)
    finally:
        shell.close()
        server.stop()


def test_http_checks_the_bearer_token(venv_python, pool, token_file):
    token = token_file.read_text().strip()
    server = HttpServer(pool, f"127.0.0.2:{free_port()}", "--token-file", str(token_file))
    try:
        status, headers = post(server.url)
        assert status == 401 and headers["www-authenticate"].startswith("Bearer "), headers
        assert post(server.url, token[:-1] + "x")[0] == 401
        assert post(server.url, "")[0] == 401
        assert post(server.url, token)[0] == 200
        shell = Shell(venv_python, "http", server.url, token)
        try:
            assert_runs_python(shell)
        finally:
            shell.close()
    finally:
        server.stop()


def test_http_beyond_loopback_refuses_to_start_without_a_token(pool, token_file):
    proc = subprocess.run([bin_path("brig"), "mcp", "--brokers", pool, "--http",
                           f"0.0.0.0:{free_port()}"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--token-file" in proc.stderr, proc.stderr
    token_file.chmod(0o644)
    proc = subprocess.run([bin_path("brig"), "mcp", "--brokers", pool, "--http",
                           f"0.0.0.0:{free_port()}", "--token-file", str(token_file)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "chmod 600" in proc.stderr, proc.stderr


# --- the TypeScript SDK ----------------------------------------------------------------


def test_typescript_sdk_client(ts_client, pool, token_file):
    shell = Shell(ts_client, "stdio", bin_path("brig"), "mcp", "--brokers", pool)
    try:
        assert {t["name"] for t in shell.ask({"op": "tools"})["tools"]} == TOOLS
        assert_runs_python(shell)
        answer = shell.call("run_code", code=CHART, collect=["chart.png"])
        images = [c for c in answer["content"] if c["type"] == "image"]
        assert png_size(base64.b64decode(images[0]["data"])) == (400, 300), answer
        assert_session_persists(shell, f"t{uuid.uuid4().hex[:8]}")
        assert_cancels(shell, pool)
        answer = shell.call("run_code", code=7)
        assert answer["is_error"] and "code" in text_of(answer), answer
    finally:
        shell.close()
    server = HttpServer(pool, f"127.0.0.2:{free_port()}", "--token-file", str(token_file))
    shell = Shell(ts_client, "http", server.url, token_file.read_text().strip())
    try:
        assert_runs_python(shell)
    finally:
        shell.close()
        server.stop()


# --- the real cluster ----------------------------------------------------------------------


def test_sasl_ssl_through_kafka_properties(venv_python, kafka, secured):  # noqa: F811
    prefix, props, _ = secured
    shell = Shell(venv_python, "stdio", bin_path("brig"), "mcp", "--brokers",
                  kafka.bootstrap_sasl, "--topic-prefix", prefix, "--kafka-config",
                  props["agent-a"], "--reply-topic", f"{prefix}.reply.agent-a")
    try:
        assert_runs_python(shell)
    finally:
        shell.close()
