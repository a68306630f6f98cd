"""An MCP client for the tests, on the official Python SDK (PyPI's `mcp`:
ClientSession over stdio_client or streamable_http_client), run by the
interpreter of a venv that has the SDK (the test process, Debian's
python3, has not).

    mcp_client.py stdio PROGRAM [ARG...]       starts the server itself
    mcp_client.py http URL [TOKEN]

It reads requests as JSON lines on stdin and answers each with a JSON line
on stdout, over one MCP session:

    {"op": "tools"}                 -> {"tools": [{name, description, input_schema, output_schema}]}
    {"op": "call", "name": N, "arguments": {...},
     "progress": false,             ask for progress notifications
     "cancel_on": null}             a text: cancel the call (MCP cancellation) once a
                                    progress message holds it
                                    -> {"content": [...], "structured": ..., "is_error": b,
                                        "progress": [messages], "cancelled": b, "ms": f}
"""
import json
import os
import sys
import time

import anyio
import httpx2
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client


def block(item):
    if item.type == "text":
        return {"type": "text", "text": item.text}
    if item.type == "image":
        return {"type": "image", "mime_type": item.mime_type, "data": item.data}
    return {"type": item.type}


async def call(session, request):
    progress = []
    cancel_on = request.get("cancel_on")
    answer = {"cancelled": False}
    started = time.monotonic()
    with anyio.CancelScope() as scope:
        async def on_progress(value, total, message):
            progress.append(message)
            if cancel_on is not None and message and cancel_on in message:
                scope.cancel()
        result = await session.call_tool(
            request["name"], request.get("arguments", {}),
            progress_callback=on_progress if request.get("progress") else None)
        answer.update(content=[block(c) for c in result.content],
                      structured=result.structured_content, is_error=result.is_error)
    answer["cancelled"] = scope.cancelled_caught
    answer["ms"] = (time.monotonic() - started) * 1000
    answer["progress"] = progress
    return answer


async def serve(session):
    await session.initialize()
    stdin = anyio.wrap_file(sys.stdin)
    async for line in stdin:
        request = json.loads(line)
        if request["op"] == "tools":
            listed = await session.list_tools()
            answer = {"tools": [{"name": t.name, "description": t.description,
                                 "input_schema": t.input_schema,
                                 "output_schema": t.output_schema} for t in listed.tools]}
        else:
            answer = await call(session, request)
        print(json.dumps(answer), flush=True)


async def main(argv):
    if argv[0] == "stdio":
        params = StdioServerParameters(command=argv[1], args=argv[2:], env=dict(os.environ))
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await serve(session)
    else:
        headers = {"Authorization": f"Bearer {argv[2]}"} if len(argv) > 2 else {}
        async with httpx2.AsyncClient(headers=headers,
                                      timeout=httpx2.Timeout(30, read=300)) as http:
            async with streamable_http_client(argv[1], http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await serve(session)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:])
