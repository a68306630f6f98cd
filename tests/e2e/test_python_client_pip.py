"""The Python client as a user installs it: `pip install ./producer/python`
into a fresh venv of Debian's python3, with confluent-kafka, msgpack and
cryptography from PyPI (not Debian's), then jobs, sessions, files, cancel,
the asyncio API and the agent-tool examples run by that venv's python
against a brig-worker, and the SASL_SSL listener of the real cluster reached through its Kafka
properties.

PyPI is reached once: the wheels are kept in build/python-wheels, and later
runs install from there without the network."""
import json
import os
import pathlib
import shutil
import subprocess
import textwrap

import pytest

from conftest import BUILD, ROOT, build_lock
from test_kafka_secured import secured  # noqa: F401  (the SASL_SSL module fixture)
from test_python_client import worker  # noqa: F401  (a worker on its embedded broker)

WHEELS = BUILD / "python-wheels"
SOURCE = ROOT / "producer" / "python"
# Beside the package's own dependencies: its build backend, the type checker,
# and what the LangChain example needs.
EXTRA = ["setuptools>=61", "mypy", "langchain-core"]
INSTALL_TIMEOUT_S = 600


def pip(python, *args):
    return subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)


def fill_wheelhouse(python, requirements):
    """The wheels of requirements in WHEELS, from PyPI unless the stamp says
    an earlier run fetched them all."""
    stamp = WHEELS / ".complete"
    wanted = "\n".join(requirements)
    with build_lock("python-wheels"):
        if stamp.exists() and stamp.read_text() == wanted:
            return
        WHEELS.mkdir(parents=True, exist_ok=True)
        online = pip(python, "download", "--find-links", str(WHEELS), "-d", str(WHEELS),
                     *requirements)
        assert online.returncode == 0, f"pip download:\n{online.stdout}{online.stderr}"
        stamp.write_text(wanted)


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv (no system site packages) with the client installed from
    a copy of producer/python, so that the build leaves nothing in the tree."""
    tmp = tmp_path_factory.mktemp("pip")
    source = tmp / "python"
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__"))
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(tmp / "venv")], check=True)
    python = tmp / "venv" / "bin" / "python"
    fill_wheelhouse(python, ["confluent-kafka", "cryptography", "msgpack", *EXTRA])
    install = pip(python, "install", "--no-index", "--find-links", str(WHEELS), str(source),
                  *EXTRA[1:])
    assert install.returncode == 0, f"pip install:\n{install.stdout}{install.stderr}"
    return python


def in_venv(python, script, env=None, timeout=180):
    """Runs script with the venv's python, outside the source tree; returns
    the JSON of its last line of stdout."""
    proc = subprocess.run([str(python), "-c", textwrap.dedent(script)], capture_output=True,
                          text=True, timeout=timeout, cwd=python.parents[2],
                          env={k: v for k, v in dict(os.environ, **(env or {})).items()
                               if k != "PYTHONPATH"})
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_installed_package_is_typed_and_needs_only_pypi(venv):
    facts = in_venv(venv, """
        import importlib.metadata, json, pathlib, brig, confluent_kafka, msgpack
        print(json.dumps({"file": brig.__file__, "typed": (pathlib.Path(brig.__file__).parent
                                                          / "py.typed").exists(),
                          "requires": importlib.metadata.requires("brig-client"),
                          "kafka": confluent_kafka.__file__, "msgpack": msgpack.__file__}))
    """)
    site = str(venv.parents[1] / "lib")
    assert all(facts[k].startswith(site) for k in ("file", "kafka", "msgpack")), facts
    assert facts["typed"]
    assert sorted(r.split(">")[0] for r in facts["requires"]) == \
        ["confluent-kafka", "cryptography", "msgpack"]
    mypy = subprocess.run([str(venv.parent / "mypy"), "--strict", "--config-file",
                           str(SOURCE / "pyproject.toml"), "-p", "brig"],
                          capture_output=True, text=True, timeout=300, cwd=venv.parents[2])
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr


def test_jobs_sessions_files_and_cancel(venv, worker):  # noqa: F811
    facts = in_venv(venv, """
        import json, brig
        with brig.Client() as c:
            r = c.run("print(6 * 7)", timeout=120)
            chunks = []
            streamed = c.run("import time\\nfor i in range(3):\\n print(i, flush=True)",
                             on_output=chunks.append, timeout=120)
            s = c.session()
            s.write_files({"in/data.csv": "a,b\\n1,2\\n", "odd [1]*.txt": b"\\x00raw"})
            made = s.run("import os\\nos.makedirs('out', exist_ok=True)\\n"
                         "rows = open('in/data.csv').read().splitlines()\\n"
                         "open('out/n.txt', 'w').write(str(len(rows)))",
                         collect=["out/*"], timeout=120)
            listing = [(f.path, f.size) for f in s.list_files()]
            try:
                s.read_file("missing.txt")
                missing = "read"
            except FileNotFoundError as e:
                missing = str(e)
            job_id = c.submit("import time; time.sleep(60)")
            c.cancel(job_id)
            cancelled = c.wait(job_id, timeout=120)
            print(json.dumps({
                "run": [r.status, r.stdout_text], "streamed": streamed.status,
                "chunks": b"".join(ch.data for ch in chunks).decode(),
                "collected": {p: v.decode() for p, v in made.files.items()},
                "read": s.read_file("out/n.txt").decode(),
                "odd": s.read_file("odd [1]*.txt").hex(), "listing": listing,
                "missing": missing, "cancelled": cancelled.status}))
    """)
    assert facts["run"] == ["ok", "42\n"]
    assert facts["streamed"] == "ok" and facts["chunks"] == "0\n1\n2\n"
    assert facts["collected"] == {"out/n.txt": "2"} and facts["read"] == "2"
    assert facts["odd"] == b"\x00raw".hex()
    assert ["in/data.csv", 8] in facts["listing"] and ["out/n.txt", 1] in facts["listing"]
    assert "no such regular file" in facts["missing"]
    assert facts["cancelled"] == "cancelled"


def test_the_asyncio_api(venv, worker):  # noqa: F811
    facts = in_venv(venv, """
        import asyncio, json, brig

        async def main():
            ticks = 0

            async def tick():
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            async with brig.AsyncClient() as c:
                ticker = asyncio.ensure_future(tick())
                runs = await asyncio.gather(*(c.run(f"import time; time.sleep(0.5); print({n})",
                                                    timeout=120) for n in range(3)))
                ticker.cancel()
                ids = [await c.submit(f"print({n} ** 2)") for n in range(4)]
                squares = sorted([r.stdout_text.strip() async for r in c.results(ids, 120)])
                job_id = await c.submit("print('live')", stream_logs=True)
                logs = [ch.data.decode() async for ch in c.logs(job_id, timeout=120)]
                await c.wait(job_id, 120)
                seen = []
                await c.run("print('cb')", on_output=lambda ch: seen.append(ch.data.decode()),
                            timeout=120)
                s = c.session()
                await s.write_files({"x.txt": "kept"})
                kept = (await s.read_file("x.txt")).decode()
                job_id = await c.submit("import time; time.sleep(60)")
                await c.cancel(job_id)
                cancelled = (await c.wait(job_id, 120)).status
                try:
                    await c.wait("never-submitted", timeout=0.2)
                    timed_out = False
                except brig.JobTimeout:
                    timed_out = True
                runtimes = [r.name for w in await c.runtimes() for r in w.runtimes]
            print(json.dumps({"runs": [r.stdout_text for r in runs], "ticks": ticks,
                              "squares": squares, "logs": logs, "seen": seen, "kept": kept,
                              "cancelled": cancelled, "timed_out": timed_out,
                              "runtimes": runtimes}))

        asyncio.run(main())
    """)
    assert facts["runs"] == ["0\n", "1\n", "2\n"]
    # The loop ran on while three jobs of half a second were awaited.
    assert facts["ticks"] > 10
    assert facts["squares"] == ["0", "1", "4", "9"]
    assert facts["logs"] == ["live\n"] and facts["seen"] == ["cb\n"]
    assert facts["kept"] == "kept" and facts["cancelled"] == "cancelled"
    assert facts["timed_out"] and "python" in facts["runtimes"]


def test_a_cells_display_outputs(venv, worker):  # noqa: F811
    facts = in_venv(venv, """
        import json, struct, brig
        with brig.Client() as c:
            s = c.session()
            first = s.run("x = 41", timeout=180)
            value = s.run("x + 1", timeout=180)
            chart = s.run("import matplotlib.pyplot as plt\\nplt.figure(figsize=(4, 3))\\n"
                          "plt.plot([1, 3, 2])", timeout=180)
            failed = s.run("1 / 0", timeout=180)
            png = chart.images[0][1] if chart.images else b""
            print(json.dumps({
                "started": [first.interpreter.started, value.interpreter.started],
                "value": [(o.kind, o.text) for o in value.outputs],
                "image": [chart.images[0][0] if chart.images else None, png[:8].hex(),
                          list(struct.unpack(">II", png[16:24])) if png else None],
                "exception": [failed.status, failed.exception.name, failed.exception.value]}))
    """)
    assert facts["started"] == [True, False]
    assert facts["value"] == [["result", "42"]]
    # A 4 x 3 inch figure at 100 dpi, cropped to its drawing by the inline backend.
    mime, signature, (width, height) = facts["image"]
    assert mime == "image/png" and signature == b"\x89PNG\r\n\x1a\n".hex()
    assert 200 < width <= 400 and 150 < height <= 300, facts["image"]
    assert facts["exception"] == ["failed", "ZeroDivisionError", "division by zero"]


PLOT = ("import os, matplotlib.pyplot as plt\nos.makedirs('out', exist_ok=True)\n"
        "plt.plot([1, 2, 3])\nplt.savefig('out/plot.png')\nprint('saved')")


def test_the_examples_answer_a_canned_tool_call(venv, worker):  # noqa: F811
    facts = in_venv(venv, f"""
        import base64, json, sys
        sys.path.insert(0, {str(SOURCE / "examples")!r})
        import anthropic_tool, langchain_tool, openai_tool
        arguments = {{"code": {PLOT!r}, "collect": ["out/*.png"]}}
        anthropic = anthropic_tool.handle_tool_use(
            {{"type": "tool_use", "id": "toolu_1", "name": "execute_code", "input": arguments}})
        openai = openai_tool.handle_tool_call(
            {{"id": "call_1", "type": "function",
              "function": {{"name": "execute_code", "arguments": json.dumps(arguments)}}}})
        bad = anthropic_tool.handle_tool_use({{"type": "tool_use", "id": "toolu_2",
                                               "input": {{"code": 5}}}})
        blocks = langchain_tool.make_tool().invoke(arguments)
        images = [base64.b64decode(b["source"]["data"])[:8].hex()
                  for b in anthropic["content"] if b["type"] == "image"]
        print(json.dumps({{"anthropic": anthropic, "images": images, "openai": openai,
                           "bad": bad, "langchain": [b["type"] for b in blocks],
                           "schema": anthropic_tool.TOOL["input_schema"]["required"]}}))
    """)
    a = facts["anthropic"]
    assert a["tool_use_id"] == "toolu_1" and a["is_error"] is False
    assert a["content"][0]["type"] == "text" and "saved" in a["content"][0]["text"]
    assert facts["images"] == [b"\x89PNG\r\n\x1a\n".hex()]
    assert facts["schema"] == ["code"]
    tool_message, image_message = facts["openai"]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_1"
    assert image_message["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert facts["bad"]["is_error"] is True
    assert "code must be a string" in facts["bad"]["content"][0]["text"]
    assert facts["langchain"] == ["text", "image"]


def test_sasl_ssl_through_kafka_properties(venv, kafka, secured):  # noqa: F811
    prefix, props, _ = secured
    settings = dict(line.split("=", 1) for line in
                    pathlib.Path(props["agent-b"]).read_text().splitlines() if "=" in line)
    facts = in_venv(venv, f"""
        import asyncio, json, brig
        common = dict(brokers={kafka.bootstrap_sasl!r}, topic_prefix={prefix!r},
                      reply_topic={prefix + ".reply.agent-b"!r})
        with brig.Client(kafka_config={props["agent-b"]!r}, **common) as c:
            r = c.run("print('over SASL_SSL')", timeout=120)
            runtimes = [w.worker_id for w in c.runtimes(timeout=60)]

        async def main():
            async with brig.AsyncClient(kafka_properties={settings!r}, **common) as c:
                return (await c.run("print('async')", timeout=120)).stdout_text

        print(json.dumps({{"sync": r.stdout_text, "runtimes": runtimes,
                           "async": asyncio.run(main())}}))
    """, timeout=300)
    assert facts == {"sync": "over SASL_SSL\n", "runtimes": ["secured"], "async": "async\n"}
