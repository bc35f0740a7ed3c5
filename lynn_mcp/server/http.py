"""The streamable-HTTP face of the server: stateless, Host/Origin-checked, optionally bearer-protected,
with health endpoints for load balancers and a graceful shutdown.

Stateless so that N replicas behind any load balancer behave as one (nothing a later call needs is
kept in memory; confirmation tokens and the elicitation round trip are sealed with keys derived from
`LYNN_SIGNING_KEY`, which replicas must share). On a non-loopback address clients must sign in,
one of two ways: a static bearer token (`LYNN_HTTP_TOKEN`, one user; compared in constant time) or
OAuth (`LYNN_OAUTH_ISSUER`, each person through the team's identity provider; server/oauth/).
Neither credential is ever forwarded to Lynn (the Lynn client has its own credentials and headers).
Layers, outermost first:

1. CORS, only when `LYNN_ALLOWED_ORIGINS` lists browser origins; otherwise no CORS header is ever sent.
2. `BearerGuard` (when `LYNN_HTTP_TOKEN` is set): 401 without the right bearer. Or, with
   `LYNN_OAUTH_ISSUER`, `oauth.resource.ResourceServer`: the Protected Resource Metadata, and 401
   with the OAuth challenge without an accepted access token.
3. `CaseInsensitiveHost`: Host and Origin lower-cased (names are case-insensitive; the SDK's
   allowlist compares exact strings, so `LOCALHOST:8000` was refused as a foreign host).
4. The SDK's transport: Host allowlist (421), Origin allowlist (403), body cap (413), JSON only.

Health, without auth and without anything sensitive in the answer: `GET /healthz` (the process
serves; `/health` is the same) and `GET /readyz` (Lynn answers and a token is held or obtainable,
checked at most once per few seconds: see health.py), 200 or 503.

Shutdown (`GracefulServer`): on SIGTERM or SIGINT the listening socket closes (new connections are
refused; idle ones are closed), calls in flight get `LYNN_SHUTDOWN_GRACE_S` to finish, and bulk
loads still running `REPORT_TIME_S` before that ends stop as their own timeout would stop them,
answering with their report and resume handle (bulk/stopping.py). Then the process exits 0. What is
still running when the grace period ends is cancelled; a second SIGINT cancels at once.
"""

from __future__ import annotations

import hmac
import logging
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import uvicorn
from mcp.server.auth.provider import TokenVerifier
from mcp.server.transport_security import TransportSecuritySettings
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from lynn_mcp.bulk.stopping import SHUTDOWN
from lynn_mcp.config import Settings, is_loopback_host, split_names
from lynn_mcp.errors import UpstreamUnavailable
from lynn_mcp.server.build import LynnServer
from lynn_mcp.server.health import STARTING, Readiness

MAX_BODY_BYTES = 1024 * 1024
STARTUP_FAILURE = 3
"""Exit code when the server could not start (the port is taken...), as `uvicorn.run` exits."""
# What a browser MCP client sends and reads (streamable HTTP); only used with LYNN_ALLOWED_ORIGINS.
CORS_REQUEST_HEADERS = ("Authorization", "Content-Type", "Accept", "Mcp-Session-Id", "Mcp-Protocol-Version")
CORS_EXPOSED_HEADERS = ("Mcp-Session-Id", "WWW-Authenticate")
UNAUTHENTICATED_PATHS = frozenset({"/health", "/healthz", "/readyz"})
"""Load balancers probe these without credentials; they answer nothing sensitive."""
READY_PROBE_OPERATION: Final = "GetCampaigns"
"""The read that proves Lynn answers our token (see health.py)."""
REPORT_TIME_S: Final = 2.0
"""Of the shutdown grace period, the time kept for cut bulk loads to build and send their reports:
loads stop this long before it ends (halfway through a grace period shorter than twice this)."""
SHUTTING_DOWN: Final = "the server is shutting down"

logger = logging.getLogger(__name__)


class BearerGuard:
    """Refuses requests without `Authorization: Bearer <LYNN_HTTP_TOKEN>` (401, no detail)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") not in UNAUTHENTICATED_PATHS:
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


def build_http_app(
    server: LynnServer,
    settings: Settings,
    *,
    host: str,
    port: int,
    token_verifier: TokenVerifier | None = None,
) -> ASGIApp:
    """The ASGI app: `/mcp` (MCP, stateless, JSON responses), `/healthz` (and `/health`), `/readyz`,
    and with OAuth the Protected Resource Metadata. `token_verifier` replaces the one the OAuth
    settings describe (tests use it to hold the clock of the key cache)."""

    async def ask_lynn() -> object:
        state = server.app_state
        if state is None:  # the lifespan ended between the check below and this probe
            raise UpstreamUnavailable(SHUTTING_DOWN)
        return await state.client.call(READY_PROBE_OPERATION, retry=False)

    readiness = Readiness(ask_lynn)
    no_store = {"Cache-Control": "no-store"}

    async def alive(_: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers=no_store)

    async def ready(_: Request) -> Response:
        verdict = STARTING if server.app_state is None else await readiness.check()
        return JSONResponse(verdict.as_json(), status_code=200 if verdict.ready else 503, headers=no_store)

    # The SDK's custom_route decorator is untyped; the routes are plain Starlette endpoints.
    for path in ("/healthz", "/health"):
        server.custom_route(path, methods=["GET"])(alive)
    server.custom_route("/readyz", methods=["GET"])(ready)

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
    elif settings.oauth_issuer is not None and settings.public_url is not None:
        from lynn_mcp.server.oauth.resource import ResourceServer, verifier_from

        app = ResourceServer(
            app,
            verifier=token_verifier or verifier_from(settings),
            public_url=settings.public_url,
            issuer=settings.oauth_issuer,
            open_paths=UNAUTHENTICATED_PATHS,
        )
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


class GracefulServer(uvicorn.Server):
    """uvicorn's server with lynn-mcp's shutdown (see the module docstring): bulk loads are told to
    stop in time to answer, and a signal that stopped the server cleanly ends the process with 0."""

    def __init__(self, config: uvicorn.Config, *, grace_s: int) -> None:
        super().__init__(config)
        self.grace_s = grace_s

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn's own raises the signal again once the server has stopped, so a clean shutdown
        # would still end the process by SIGTERM (exit 143) or KeyboardInterrupt.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        loads_s = self.grace_s - min(REPORT_TIME_S, self.grace_s / 2)
        SHUTDOWN.stop_in(loads_s, SHUTTING_DOWN)
        logger.info(
            "shutting down: calls in flight have %g s to finish, bulk loads stop after %g s with a report",
            self.grace_s,
            loads_s,
        )
        await super().shutdown(sockets)


def unprotected_bind(settings: Settings, host: str) -> str | None:
    """Why serving on `host` is refused (a non-loopback address and no way to sign clients in), or None."""
    if is_loopback_host(host) or settings.http_token is not None or settings.oauth_issuer is not None:
        return None
    return (
        f"refusing to serve on {host} without LYNN_HTTP_TOKEN or LYNN_OAUTH_ISSUER: anyone who can reach "
        "the port could use your Lynn credentials. Set LYNN_HTTP_TOKEN to a long random string (clients "
        "send it as `Authorization: Bearer ...`), or sign people in through your identity provider with "
        "LYNN_OAUTH_ISSUER and LYNN_PUBLIC_URL (docs/security.md), or bind 127.0.0.1."
    )


def run_http(server: LynnServer, settings: Settings, *, host: str, port: int) -> int:
    """Serve until SIGTERM or SIGINT, then shut down gracefully (exit code 0). Refuses a non-loopback
    bind without LYNN_HTTP_TOKEN or LYNN_OAUTH_ISSUER; 3 when the server could not start (uvicorn's code)."""
    refusal = unprotected_bind(settings, host)
    if refusal is not None:
        print(f"lynn-mcp: {refusal}", file=sys.stderr)
        return 2
    logger.info("HTTP sign-in: %s", settings.http_sign_in())
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
    app = build_http_app(server, settings, host=host, port=port)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )
    uvicorn_server = GracefulServer(config, grace_s=settings.shutdown_grace_s)
    print(f"lynn-mcp: serving MCP at http://{host}:{port}/mcp", file=sys.stderr)
    uvicorn_server.run()
    return 0 if uvicorn_server.started else STARTUP_FAILURE
