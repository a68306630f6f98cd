"""Streamable HTTP for remote agents: the SDK's app at /mcp behind a bearer
token check. Beyond loopback the token is required (options.parse refuses
to start without one); on loopback it is optional.

The token is compared in constant time (hmac.compare_digest), so that the
time an answer takes says nothing about how much of a guess was right.
"""
import hmac
import json
from typing import Optional

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from .options import HttpOptions


class BearerAuth:
    """ASGI middleware: HTTP requests without `Authorization: Bearer TOKEN`
    get 401; everything else (the lifespan) passes through."""

    def __init__(self, app, token: str):
        self.app = app
        self.expected = token.encode("ascii")

    def authorized(self, scope) -> Optional[str]:
        """None when the request carries the token, else why not."""
        values = [v for k, v in scope.get("headers", []) if k.lower() == b"authorization"]
        if len(values) != 1:
            return "missing bearer token" if not values else "more than one Authorization header"
        scheme, _, given = values[0].partition(b" ")
        if scheme.lower() != b"bearer":
            return "missing bearer token"
        if not hmac.compare_digest(given.strip(), self.expected):
            return "invalid bearer token"
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            why = self.authorized(scope)
            if why is not None:
                body = json.dumps({"error": why}).encode()
                error = "invalid_token" if why == "invalid bearer token" else "invalid_request"
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", f'Bearer realm="brig", error="{error}"'.encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _host_header(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def serve(server: MCPServer, options: HttpOptions) -> None:
    if options.loopback:
        # A page in a local browser must not reach the server through a
        # name that resolves to loopback (DNS rebinding): only loopback
        # names are accepted in Host and Origin.
        hosts = {_host_header(options.host), "127.0.0.1", "localhost", "[::1]"}
        security = TransportSecuritySettings(
            allowed_hosts=[f"{h}:*" for h in sorted(hosts)],
            allowed_origins=[f"http://{h}:*" for h in sorted(hosts)])
    else:
        # Beyond loopback the token is what keeps others out, whatever name
        # they reach the server by.
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app = server.streamable_http_app(host=options.host, transport_security=security)
    if options.token is not None:
        app = BearerAuth(app, options.token)
    config = uvicorn.Config(app, host=options.host, port=options.port, log_level="warning",
                            lifespan="on")
    uvicorn.Server(config).run()
