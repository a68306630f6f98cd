#!/usr/bin/python3
"""brig as a function for OpenAI's function calling (Chat Completions).

TOOL goes in the request's `tools`; when the model answers with tool_calls,
handle_tool_call(call) gives the messages to append before the next
request: the `tool` message with the text answer and, when the run made
images, a `user` message carrying them as base64 data URLs (a tool message
holds text only).

    from openai import OpenAI
    client, messages = OpenAI(), [{"role": "user", "content": "Plot sin(x)"}]
    reply = client.chat.completions.create(model=..., messages=messages, tools=[TOOL])
    message = reply.choices[0].message
    messages.append(message.model_dump(exclude_none=True))
    for call in message.tool_calls or []:
        messages += handle_tool_call(call.model_dump())

As a script, a canned tool call stands in for the model (no API key):

    /usr/bin/python3 openai_tool.py 'print(6 * 7)'
"""
from __future__ import annotations

import base64
import json
import pathlib
import sys
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import agent_tool  # noqa: E402

TOOL = {"type": "function",
        "function": {"name": agent_tool.TOOL["name"], "description": agent_tool.DESCRIPTION,
                     "parameters": agent_tool.PARAMETERS}}


def handle_tool_call(call: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages answering one tool call of the model ({"id", "type":
    "function", "function": {"name", "arguments": JSON text}})."""
    function = call.get("function") or {}
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except json.JSONDecodeError as e:
        answer = agent_tool.ToolAnswer(f"error: the arguments are not JSON: {e}", is_error=True)
    else:
        answer = agent_tool.execute(arguments)
    messages: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": call.get("id", ""), "content": answer.text}]
    if answer.images:
        messages.append({"role": "user", "content": [
            {"type": "text", "text": f"The images the {TOOL['function']['name']} call "
                                     f"{call.get('id', '')} produced:"},
            *({"type": "image_url",
               "image_url": {"url": f"data:{mime};base64,{base64.b64encode(data).decode()}"}}
              for mime, data in answer.images)]})
    return messages


def main() -> int:
    canned = {"id": "call_1", "type": "function",
              "function": {"name": "execute_code",
                           "arguments": json.dumps({"code": " ".join(sys.argv[1:]) or "print(1)"})}}
    print(json.dumps(handle_tool_call(canned), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
