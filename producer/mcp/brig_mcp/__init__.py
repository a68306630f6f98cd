"""brig's MCP server: run_code, run_command, session files, runtimes and
cancel as MCP tools, served over stdio or Streamable HTTP, on the brig
Python client. `brig mcp --help` (or `python -m brig_mcp --help`) lists
the options; the README's MCP section shows a host's configuration."""

__version__ = "0.1.0"
