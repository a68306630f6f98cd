"""The MCP server's driver for the agent-pace bench (tests/bench/agent_pace.py
describes the protocol): one `brig mcp` over stdio for the whole run, each
job a run_code call through the official MCP SDK's ClientSession, timed
from just before call_tool until its result is in hand.

Started with Debian's python3, it goes on in the interpreter of the MCP
server's venv ($BRIG_BUILD/lib/brig/mcp, made by make mcp), which has the
SDK."""
import json
import os
import sys
import time

VENV_PYTHON = os.path.join(os.environ.get("BRIG_BUILD", "build"), "lib", "brig", "mcp", "bin",
                           "python3")

try:
    import anyio
    from mcp import ClientSession, StdioServerParameters, stdio_client
except ImportError:
    if sys.prefix != sys.base_prefix:  # already the venv's: it lacks the SDK
        raise
    if not os.access(VENV_PYTHON, os.X_OK):
        sys.exit(f"driver_mcp: no MCP venv at {VENV_PYTHON}: run make mcp")
    os.execv(VENV_PYTHON, [VENV_PYTHON, *sys.argv])


async def main():
    brig = os.path.join(os.environ.get("BRIG_BUILD", "build"), "bin", "brig")
    params = StdioServerParameters(command=brig, args=["mcp"], env=dict(os.environ))
    async with stdio_client(params, errlog=sys.stderr) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            print(json.dumps({"ready": True}), flush=True)
            async for line in anyio.wrap_file(sys.stdin):
                job = json.loads(line)
                started = time.monotonic()
                result = await session.call_tool(
                    "run_code", {"code": job["code"], "language": job["runtime"]})
                client_ms = (time.monotonic() - started) * 1000
                facts = result.structured_content or {}
                wall_ms = facts.get("wall_ms")
                print(json.dumps({"id": job["id"], "client_ms": client_ms,
                                  "wall_us": None if wall_ms is None else round(wall_ms * 1000),
                                  "status": facts.get("status", "error"),
                                  "job_id": facts.get("job_id")}), flush=True)


if __name__ == "__main__":
    anyio.run(main)
