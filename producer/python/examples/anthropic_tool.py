#!/usr/bin/python3
"""brig as a tool for Anthropic's Messages API.

TOOL goes in the request's `tools` (Anthropic's tools describe their
arguments in `input_schema`); for each `tool_use` block of the model's
answer, handle_tool_use(block) gives the `tool_result` block to send back
in the next user message: the text answer and the run's images as base64
image blocks, with is_error set when the run did not succeed.

    import anthropic
    client = anthropic.Anthropic()
    messages = [{"role": "user", "content": "Plot sin(x) with matplotlib"}]
    reply = client.messages.create(model=..., max_tokens=1024, tools=[TOOL],
                                   messages=messages)
    messages.append({"role": "assistant", "content": reply.content})
    messages.append({"role": "user", "content": [
        handle_tool_use(block.model_dump()) for block in reply.content
        if block.type == "tool_use"]})

As a script, a canned tool_use block stands in for the model (no API key):

    /usr/bin/python3 anthropic_tool.py 'print(6 * 7)'
"""
from __future__ import annotations

import base64
import json
import pathlib
import sys
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import agent_tool  # noqa: E402

TOOL = {"name": agent_tool.TOOL["name"], "description": agent_tool.DESCRIPTION,
        "input_schema": agent_tool.PARAMETERS}


def handle_tool_use(block: dict[str, Any]) -> dict[str, Any]:
    """The tool_result block answering one tool_use block ({"type":
    "tool_use", "id", "name", "input": {...}})."""
    answer = agent_tool.execute(block.get("input"))
    content: list[dict[str, Any]] = [{"type": "text", "text": answer.text}]
    content += [{"type": "image", "source": {"type": "base64", "media_type": mime,
                                             "data": base64.b64encode(data).decode()}}
                for mime, data in answer.images]
    return {"type": "tool_result", "tool_use_id": block.get("id", ""), "content": content,
            "is_error": answer.is_error}


def main() -> int:
    canned = {"type": "tool_use", "id": "toolu_1", "name": "execute_code",
              "input": {"code": " ".join(sys.argv[1:]) or "print(1)"}}
    print(json.dumps(handle_tool_use(canned), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
