"""brig mcp: the MCP server over stdio (the default) or Streamable HTTP."""
import sys
from typing import List, Optional

from . import http, options, tools
from .backend import Backend


def main(argv: Optional[List[str]] = None) -> int:
    opts = options.parse(argv)
    backend = Backend(opts.client)
    server = tools.build(backend)
    if opts.http is None:
        server.run("stdio")
    else:
        http.serve(server, opts.http)
    return 0


if __name__ == "__main__":
    sys.exit(main())
