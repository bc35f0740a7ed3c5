"""The streamable-HTTP face of the server: stateless, Host/Origin-checked, optionally bearer-protected.

Stateless so that N replicas behind any load balancer behave as one (nothing a later call needs is
kept in memory; confirmation tokens and the elicitation round trip are sealed with keys derived from
`LYNN_SIGNING_KEY`, which replicas must share). On a non-loopback address a bearer token
(`LYNN_HTTP_TOKEN`) is mandatory; it is compared in constant time and never forwarded to Lynn (the
Lynn client has its own credentials and headers). Layers, outermost first:

1. CORS, only when `LYNN_ALLOWED_ORIGINS` lists browser origins; otherwise no CORS header is ever sent.
2. `BearerGuard` (when `LYNN_HTTP_TOKEN` is set): 401 without the right bearer.
3. `CaseInsensitiveHost`: Host and Origin lower-cased (names are case-insensitive; the SDK's
   allowlist compares exact strings, so `LOCALHOST:8000` was refused as a foreign host).
4. The SDK's transport: Host allowlist (421), Origin allowlist (403), body cap (413), JSON only.
"""

from __future__ import annotations

import hmac
import logging
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from lynn_mcp.config import Settings, is_loopback_host, split_names

MAX_BODY_BYTES = 1024 * 1024
# What a browser MCP client sends and reads (streamable HTTP); only used with LYNN_ALLOWED_ORIGINS.
CORS_REQUEST_HEADERS = ("Authorization", "Content-Type", "Accept", "Mcp-Session-Id", "Mcp-Protocol-Version")
CORS_EXPOSED_HEADERS = ("Mcp-Session-Id",)

logger = logging.getLogger(__name__)


class BearerGuard:
    """Refuses requests without `Authorization: Bearer <LYNN_HTTP_TOKEN>` (401, no detail)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") != "/health":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            scheme, _, credential = given.partition(b" ")
            if not hmac.compare_digest(scheme.lower() + b" " + credential.strip(), self._expected):
                response = Response(status_code=401, headers={"WWW-Authenticate": 'Bearer realm="lynn-mcp"'})
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


class CaseInsensitiveHost:
    """Lower-cases the Host and Origin headers, so the allowlists see one spelling of each name."""

    _NAMES = (b"host", b"origin")

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope.get("headers") or []
            scope = {
                **scope,
                "headers": [
                    (name, value.lower() if name in self._NAMES else value) for name, value in headers
                ],
            }
        await self._app(scope, receive, send)


def security_for(settings: Settings, host: str, port: int) -> TransportSecuritySettings:
    """Host/Origin allowlists: the bound address and localhost names, plus LYNN_ALLOWED_ORIGINS."""
    hosts = {f"{host}:{port}", f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
    origins = {f"http://127.0.0.1:{port}", f"http://localhost:{port}"}
    origins.update(split_names(settings.allowed_origins) or [])
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=sorted(hosts), allowed_origins=sorted(origins)
    )


def build_http_app(server: MCPServer[Any], settings: Settings, *, host: str, port: int) -> ASGIApp:
    """The ASGI app: `/mcp` (MCP, stateless, JSON responses) and `/health`."""

    # The SDK's custom_route decorator is untyped; the route itself is a plain Starlette endpoint.
    @server.custom_route("/health", methods=["GET"])  # type: ignore[untyped-decorator]
    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app: ASGIApp = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=True,
        json_response=True,
        max_request_body_size=MAX_BODY_BYTES,
        transport_security=security_for(settings, host, port),
        host=host,
    )
    app = CaseInsensitiveHost(app)
    if settings.http_token is not None:
        app = BearerGuard(app, settings.http_token.get_secret_value())
    browser_origins = split_names(settings.allowed_origins)
    if browser_origins:
        # Outside the guard: a browser's preflight carries no Authorization header.
        app = CORSMiddleware(
            app,
            allow_origins=browser_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=list(CORS_REQUEST_HEADERS),
            expose_headers=list(CORS_EXPOSED_HEADERS),
        )
    return app


def run_http(server: MCPServer[Any], settings: Settings, *, host: str, port: int) -> int:
    """Serve until interrupted. Refuses a non-loopback bind without LYNN_HTTP_TOKEN."""
    if not is_loopback_host(host) and settings.http_token is None:
        print(
            f"lynn-mcp: refusing to serve on {host} without LYNN_HTTP_TOKEN: anyone who can reach the port "
            "could use your Lynn credentials. Set LYNN_HTTP_TOKEN to a long random string (clients send it "
            "as `Authorization: Bearer ...`), or bind 127.0.0.1.",
            file=sys.stderr,
        )
        return 2
    if settings.signing_key is None:
        logger.warning(
            "LYNN_SIGNING_KEY is not set: confirmation tokens and elicitation answers are honoured only "
            "by this process. Behind a load balancer, give every replica the same LYNN_SIGNING_KEY."
        )
    if settings.file_root is None:
        logger.warning(
            "LYNN_FILE_ROOT is not set: the file tools refuse file_path over HTTP (inline rows work). "
            "Set it to the directory that holds the files remote clients may load."
        )
    import uvicorn

    app = build_http_app(server, settings, host=host, port=port)
    print(f"lynn-mcp: serving MCP at http://{host}:{port}/mcp", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(), access_log=False)
    return 0
