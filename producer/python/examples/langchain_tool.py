#!/usr/bin/python3
"""brig as a LangChain tool (langchain-core): a StructuredTool whose
arguments are agent_tool's JSON schema, answering with content blocks (the
text, then each image as a base64 image block) for models that take images
in tool results.

    from langchain_tool import make_tool
    llm = ChatAnthropic(model=...).bind_tools([make_tool()])

    pip install langchain-core     # not needed by brig itself
"""
from __future__ import annotations

import base64
import pathlib
import sys
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import agent_tool  # noqa: E402
from langchain_core.tools import StructuredTool  # noqa: E402


def content_blocks(answer: agent_tool.ToolAnswer) -> list[dict[str, Any]]:
    """The answer as LangChain's standard content blocks."""
    return [{"type": "text", "text": answer.text},
            *({"type": "image", "source_type": "base64", "mime_type": mime,
               "data": base64.b64encode(data).decode()} for mime, data in answer.images)]


def _run(**arguments: Any) -> list[dict[str, Any]]:
    return content_blocks(agent_tool.execute(arguments))


def make_tool() -> StructuredTool:
    return StructuredTool.from_function(
        func=_run, name=agent_tool.TOOL["name"], description=agent_tool.DESCRIPTION,
        args_schema={"title": "execute_code", **agent_tool.PARAMETERS})


if __name__ == "__main__":
    tool = make_tool()
    print(tool.invoke({"code": " ".join(sys.argv[1:]) or "print(1)"}))
