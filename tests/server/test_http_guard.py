"""The HTTP face's guards served in this process (uvicorn in a thread, the sandbox as Lynn): the bearer,
the Host and Origin allowlists, CORS only for listed origins, and `run_http`'s refusal to serve a
non-loopback address without LYNN_HTTP_TOKEN.

tests/server/test_http.py runs `lynn-mcp --http` as a subprocess, which is how users start it; these
run the same app in the test's own process, where a mutation run (scripts/mutation.sh) sees which
test reaches which line, and add the cases those tests did not pin down: the bearer guard still
standing when LYNN_ALLOWED_ORIGINS is set, a LAN address without a token, the exact allowlists.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from settings_factory import make_settings, sandbox_settings
from starlette.types import ASGIApp, Receive, Scope, Send

from lynn_mcp.config import Settings
from lynn_mcp.sandbox import SandboxServer
from lynn_mcp.server import build_server
from lynn_mcp.server.http import MAX_BODY_BYTES, GracefulServer, build_http_app, run_http, security_for

pytestmark = pytest.mark.anyio

LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
BROWSER_ORIGIN = "https://app.example"
# The name the app is built for, as a replica behind a load balancer is (served here on loopback).
SERVED_NAME = "mcp.internal"


class InProcessHttp:
    """`build_http_app` served by uvicorn on an ephemeral loopback port, in a thread of this process."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def __enter__(self) -> InProcessHttp:
        # The allowlists name the port, so it is chosen first: bind a socket, then build the app for it.
        import socket

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        app = build_http_app(build_server(self._settings), self._settings, host=SERVED_NAME, port=self.port)

        # A plain function in front: uvicorn inspects the app's signature to tell an app from an app
        # factory, and a mutation run's wrapped methods would pass for a factory.
        async def served(scope: Scope, receive: Receive, send: Send) -> None:
            await app(scope, receive, send)

        config = uvicorn.Config(served, log_config=None, access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert self._thread.is_alive(), "the in-process HTTP server died"
            assert time.monotonic() < deadline, "the in-process HTTP server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, body: Any = LIST_TOOLS, **headers: str) -> httpx2.Response:
        return httpx2.post(f"{self.url}/mcp", json=body, headers={**JSON_HEADERS, **headers}, timeout=30)


@pytest.fixture(scope="module")
def bearer() -> str:
    # Upper and lower case: the scheme is case-insensitive, the credential is not.
    return "Http-" + secrets.token_urlsafe(24) + "-Zz"


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(task_delay_ms=1).start()
    yield server
    server.stop()


# The served apps are built per test, not per module: a mutation run credits a call made while a
# fixture is set up to the first test that set it up, so a shared app would be tested by one test.
@pytest.fixture
def guarded(module_sandbox: SandboxServer, bearer: str) -> Iterator[InProcessHttp]:
    """A token and browser origins both set: the bearer guard must stand behind CORS."""
    settings = sandbox_settings(module_sandbox, http_token=bearer, allowed_origins=f"{BROWSER_ORIGIN}, ")
    with InProcessHttp(settings) as served:
        yield served


@pytest.fixture
def open_loopback(module_sandbox: SandboxServer) -> Iterator[InProcessHttp]:
    """No token, no browser origins: loopback use from an IDE."""
    with InProcessHttp(sandbox_settings(module_sandbox)) as served:
        yield served


def test_the_bearer_guard_stands_when_browser_origins_are_allowed(
    guarded: InProcessHttp, bearer: str
) -> None:
    for authorization in (None, "", bearer, f"Basic {bearer}", f"Bearer {bearer}x", f"Bearer {bearer[:-1]}"):
        headers = {} if authorization is None else {"Authorization": authorization}
        refused = guarded.post(**headers)
        assert refused.status_code == 401, authorization
        assert refused.headers["www-authenticate"] == 'Bearer realm="lynn-mcp"'
        assert refused.content == b""  # nothing about why, nothing of the token
    # The credential is compared as given: the token in another case is another token.
    assert guarded.post(Authorization=f"Bearer {bearer.swapcase()}").status_code == 401
    # A browser's request from a listed origin still needs the bearer (CORS is no authentication).
    from_browser = guarded.post(Origin=BROWSER_ORIGIN)
    assert from_browser.status_code == 401


def test_a_refused_call_is_not_carried_out(guarded: InProcessHttp, bearer: str) -> None:
    """The guard answers 401 and stops there: the tool never runs behind the refusal."""

    def call(tool: str, arguments: dict[str, Any], authorization: str) -> httpx2.Response:
        body = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        return guarded.post(body, Authorization=authorization)

    refused, allowed = (f"Campaign {secrets.token_hex(4)}" for _ in range(2))
    assert call("create_campaign", {"name": refused}, f"Bearer {bearer}x").status_code == 401
    assert call("create_campaign", {"name": allowed}, f"Bearer {bearer}").status_code == 200
    listed = call("list_campaigns", {}, f"Bearer {bearer}")
    assert listed.status_code == 200
    assert allowed in listed.text
    assert refused not in listed.text


def test_the_right_bearer_passes_in_any_scheme_case(guarded: InProcessHttp, bearer: str) -> None:
    for scheme in ("Bearer", "bearer", "BEARER"):
        answer = guarded.post(Authorization=f"{scheme} {bearer}")
        assert answer.status_code == 200, scheme
        assert answer.headers["content-type"].startswith("application/json")  # JSON, not an event stream
        assert {tool["name"] for tool in answer.json()["result"]["tools"]} >= {"list_campaigns"}
    # A stray space before the credential (a pasted token) does not matter.
    assert guarded.post(Authorization=f"Bearer  {bearer}").status_code == 200


def test_health_needs_no_bearer_and_nothing_else_does_without_it(guarded: InProcessHttp, bearer: str) -> None:
    health = httpx2.get(f"{guarded.url}/health", timeout=30)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert httpx2.get(f"{guarded.url}/other", timeout=30).status_code == 401
    authorized = httpx2.get(f"{guarded.url}/other", headers={"Authorization": f"Bearer {bearer}"}, timeout=30)
    assert authorized.status_code == 404


def test_a_listed_browser_origin_gets_cors_and_others_get_none(guarded: InProcessHttp, bearer: str) -> None:
    preflight_headers = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    allowed = httpx2.options(
        f"{guarded.url}/mcp", headers={"Origin": BROWSER_ORIGIN, **preflight_headers}, timeout=30
    )
    assert allowed.status_code == 200  # answered before the guard: a preflight carries no bearer
    assert allowed.headers["access-control-allow-origin"] == BROWSER_ORIGIN
    assert set(allowed.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST", "DELETE"}
    allowed_headers = {
        name.strip().lower() for name in allowed.headers["access-control-allow-headers"].split(",")
    }
    assert allowed_headers >= {
        "authorization",
        "content-type",
        "accept",
        "mcp-session-id",
        "mcp-protocol-version",
    }
    refused = httpx2.options(
        f"{guarded.url}/mcp", headers={"Origin": "https://evil.example", **preflight_headers}, timeout=30
    )
    assert "access-control-allow-origin" not in refused.headers

    answer = guarded.post(Authorization=f"Bearer {bearer}", Origin=BROWSER_ORIGIN)
    assert answer.status_code == 200  # a listed origin also passes the transport's Origin allowlist
    assert answer.headers["access-control-allow-origin"] == BROWSER_ORIGIN
    # The session id, and the OAuth challenge a browser client reads to find where to sign in.
    exposed = {name.strip() for name in answer.headers["access-control-expose-headers"].split(",")}
    assert exposed == {"Mcp-Session-Id", "WWW-Authenticate"}


def test_hosts_and_origins_outside_the_allowlists_are_refused(guarded: InProcessHttp, bearer: str) -> None:
    auth = f"Bearer {bearer}"
    port = guarded.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"{SERVED_NAME}:{port}"):
        assert guarded.post(Authorization=auth, Host=host).status_code == 200, host
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", SERVED_NAME):
        assert guarded.post(Authorization=auth, Host=host).status_code == 421, host
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        assert guarded.post(Authorization=auth, Origin=origin).status_code == 200, origin
    for origin in ("https://evil.example", f"http://{SERVED_NAME}:{port}", f"http://127.0.0.1:{port + 1}"):
        assert guarded.post(Authorization=auth, Origin=origin).status_code == 403, origin


def test_host_and_origin_are_compared_without_case(guarded: InProcessHttp, bearer: str) -> None:
    auth = f"Bearer {bearer}"
    port = guarded.port
    assert guarded.post(Authorization=auth, Host=f"LOCALHOST:{port}").status_code == 200
    assert guarded.post(Authorization=auth, Host=f"Mcp.Internal:{port}").status_code == 200
    assert guarded.post(Authorization=auth, Origin=f"HTTP://LocalHost:{port}").status_code == 200
    assert guarded.post(Authorization=auth, Origin=BROWSER_ORIGIN.upper()).status_code == 200
    assert guarded.post(Authorization=auth, Host=f"EVIL.example:{port}").status_code == 421


def test_only_host_and_origin_lose_their_case(guarded: InProcessHttp, bearer: str) -> None:
    """Other headers reach the SDK as sent: its Content-Type check is exact, so a capitalised media
    type is refused as it would be without the guard."""
    auth = f"Bearer {bearer}"
    assert guarded.post(Authorization=auth, **{"Content-Type": "application/json"}).status_code == 200
    assert guarded.post(Authorization=auth, **{"Content-Type": "Application/JSON"}).status_code == 415


def test_a_body_over_the_cap_is_refused(guarded: InProcessHttp, bearer: str) -> None:
    oversized = {**LIST_TOOLS, "params": {"padding": "x" * (MAX_BODY_BYTES + 1)}}
    assert guarded.post(oversized, Authorization=f"Bearer {bearer}").status_code == 413


def test_without_a_token_or_origins_loopback_is_open_and_sends_no_cors(open_loopback: InProcessHttp) -> None:
    answer = open_loopback.post()
    assert answer.status_code == 200
    assert "www-authenticate" not in answer.headers
    preflight = httpx2.options(
        f"{open_loopback.url}/mcp",
        headers={"Origin": BROWSER_ORIGIN, "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    assert not any(name.startswith("access-control-") for name in preflight.headers)
    assert open_loopback.post(Origin=BROWSER_ORIGIN).status_code == 403


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_sdk_client_works_through_the_guard_statelessly(
    guarded: InProcessHttp, bearer: str, mode: str
) -> None:
    """Each request stands alone (stateless): the SDK client's session spans many of them."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {bearer}"}, timeout=30) as http,
        Client(streamable_http_client(f"{guarded.url}/mcp", http_client=http), mode=mode) as client,  # type: ignore[arg-type]
    ):
        campaigns = await client.call_tool("list_campaigns", {})
        assert not campaigns.is_error, campaigns.content
    # A request without the session the handshake made is served too: nothing is kept between them.
    assert guarded.post(Authorization=f"Bearer {bearer}").status_code == 200


def test_allowlists_name_the_bound_address_localhost_and_the_listed_origins() -> None:
    settings = make_settings(allowed_origins="https://a.example, https://b.example")
    security = security_for(settings, "10.0.0.5", 8123)
    assert security.enable_dns_rebinding_protection is True
    assert security.allowed_hosts == sorted(
        ["10.0.0.5:8123", "127.0.0.1:8123", "localhost:8123", "[::1]:8123"]
    )
    assert security.allowed_origins == sorted(
        ["http://127.0.0.1:8123", "http://localhost:8123", "https://a.example", "https://b.example"]
    )
    plain = security_for(make_settings(), "127.0.0.1", 9)
    assert plain.allowed_origins == ["http://127.0.0.1:9", "http://localhost:9"]


# -- run_http: what it refuses, what it serves -------------------------------------------------------


class UvicornRun:
    """Stands in for the server's `run`: records what would be served, binds nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[ASGIApp, dict[str, Any]]] = []
        self.starts = True  # False: as uvicorn when the port is taken

    def record(self, server: GracefulServer) -> None:
        config = server.config
        options = {
            "host": config.host,
            "port": config.port,
            "log_level": config.log_level,
            "access_log": config.access_log,
            "graceful_s": (config.timeout_graceful_shutdown, server.grace_s),
        }
        self.calls.append((config.app, options))
        server.started = self.starts


@pytest.fixture
def uvicorn_run(monkeypatch: pytest.MonkeyPatch) -> UvicornRun:
    recorder = UvicornRun()

    def run(server: GracefulServer, sockets: object = None) -> None:
        recorder.record(server)

    monkeypatch.setattr(GracefulServer, "run", run)
    return recorder


REFUSAL = (
    "lynn-mcp: refusing to serve on {host} without LYNN_HTTP_TOKEN or LYNN_OAUTH_ISSUER: anyone who "
    "can reach the port could use your Lynn credentials. Set LYNN_HTTP_TOKEN to a long random string "
    "(clients send it as `Authorization: Bearer ...`), or sign people in through your identity "
    "provider with LYNN_OAUTH_ISSUER and LYNN_PUBLIC_URL (docs/security.md), or bind 127.0.0.1.\n"
)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "10.0.0.5", "mcp.example.com", "::"])  # noqa: S104
def test_a_non_loopback_address_without_a_token_is_refused(
    host: str, uvicorn_run: UvicornRun, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(base_url="http://127.0.0.1:9", tenant=1, token="t" * 32)
    assert run_http(build_server(settings), settings, host=host, port=8000) == 2
    assert uvicorn_run.calls == []
    captured = capsys.readouterr()
    assert captured.err == REFUSAL.format(host=host)
    assert captured.out == ""


async def test_with_a_token_a_lan_address_is_served_behind_the_bearer(
    uvicorn_run: UvicornRun, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(
        base_url="http://127.0.0.1:9", tenant=1, token="t" * 32, http_token="h" * 32, log_level="warning"
    )
    assert run_http(build_server(settings), settings, host="192.168.1.20", port=8123) == 0
    [(app, options)] = uvicorn_run.calls
    assert options == {
        "host": "192.168.1.20",
        "port": 8123,
        "log_level": "warning",
        "access_log": False,
        "graceful_s": (settings.shutdown_grace_s, settings.shutdown_grace_s),
    }
    assert capsys.readouterr().err == "lynn-mcp: serving MCP at http://192.168.1.20:8123/mcp\n"
    async with (
        running(app),
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url="http://192.168.1.20:8123"
        ) as http,
    ):
        assert (await http.get("/health")).status_code == 200
        assert (await http.post("/mcp", json=LIST_TOOLS, headers=JSON_HEADERS)).status_code == 401
        authorized = {**JSON_HEADERS, "Authorization": f"Bearer {'h' * 32}"}
        # The app serves the address it was told to bind, on that port, and no other.
        assert (await http.post("/mcp", json=LIST_TOOLS, headers=authorized)).status_code == 200
        elsewhere = {**authorized, "Host": "192.168.1.20:8124"}
        assert (await http.post("/mcp", json=LIST_TOOLS, headers=elsewhere)).status_code == 421


@contextlib.asynccontextmanager
async def running(app: ASGIApp) -> AsyncIterator[None]:
    """The app's lifespan (the SDK's session manager starts there), as a server would run it."""
    to_app, app_receives = anyio.create_memory_object_stream[dict[str, Any]](4)
    app_sends, from_app = anyio.create_memory_object_stream[dict[str, Any]](4)
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    async with anyio.create_task_group() as group:
        group.start_soon(app, scope, app_receives.receive, app_sends.send)
        await to_app.send({"type": "lifespan.startup"})
        assert (await from_app.receive())["type"] == "lifespan.startup.complete"
        yield
        await to_app.send({"type": "lifespan.shutdown"})
        assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_is_served_without_a_token(
    host: str, uvicorn_run: UvicornRun, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(base_url="http://127.0.0.1:9", tenant=1, token="t" * 32)
    with caplog.at_level(logging.INFO, logger="lynn_mcp.server.http"):
        assert run_http(build_server(settings), settings, host=host, port=8000) == 0
    assert [options["host"] for _, options in uvicorn_run.calls] == [host]
    assert uvicorn_run.calls[0][1]["log_level"] == "info"
    logged = [record.getMessage() for record in caplog.records if record.name == "lynn_mcp.server.http"]
    assert logged == [
        "HTTP sign-in: none (loopback only)",
        "LYNN_SIGNING_KEY is not set: confirmation tokens and elicitation answers are honoured only "
        "by this process. Behind a load balancer, give every replica the same LYNN_SIGNING_KEY.",
        "LYNN_FILE_ROOT is not set: the file tools refuse file_path over HTTP (inline rows work). "
        "Set it to the directory that holds the files remote clients may load.",
    ]
    levels = [record.levelno for record in caplog.records if record.name == "lynn_mcp.server.http"]
    assert levels == [logging.INFO, logging.WARNING, logging.WARNING]


def test_a_server_that_could_not_start_exits_with_uvicorns_code(uvicorn_run: UvicornRun) -> None:
    settings = make_settings(base_url="http://127.0.0.1:9", tenant=1, token="t" * 32)
    uvicorn_run.starts = False
    assert run_http(build_server(settings), settings, host="127.0.0.1", port=8000) == 3


async def test_readiness_says_starting_until_the_lifespan_has_run() -> None:
    # Lynn is a closed port: a readiness probe that asked it would say upstream_unavailable.
    settings = make_settings(base_url="http://127.0.0.1:9", tenant=1, token="t" * 32)
    app = build_http_app(build_server(settings), settings, host="127.0.0.1", port=8000)
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as http:
        answer = await http.get("/readyz")
    assert (answer.status_code, answer.json()) == (503, {"status": "not_ready", "reason": "starting"})


async def test_a_public_url_alone_signs_no_one_in(module_sandbox: SandboxServer) -> None:
    # LYNN_PUBLIC_URL is only the address OAuth tokens name; without LYNN_OAUTH_ISSUER nothing checks them.
    settings = sandbox_settings(module_sandbox, public_url="https://mcp.example.com/mcp")
    app = build_http_app(build_server(settings), settings, host="127.0.0.1", port=8000)
    async with (
        running(app),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http,
    ):
        answer = await http.post("/mcp", json=LIST_TOOLS, headers=JSON_HEADERS)
        assert answer.status_code == 200
        assert "www-authenticate" not in answer.headers
        assert (await http.get("/.well-known/oauth-protected-resource")).status_code == 404


def test_a_shared_signing_key_and_a_file_root_leave_nothing_to_warn_about(
    uvicorn_run: UvicornRun, caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    settings = make_settings(
        base_url="http://127.0.0.1:9", tenant=1, token="t" * 32, signing_key="k" * 32, file_root=str(tmp_path)
    )
    with caplog.at_level(logging.WARNING, logger="lynn_mcp.server.http"):
        assert run_http(build_server(settings), settings, host="127.0.0.1", port=8000) == 0
    assert [record for record in caplog.records if record.name == "lynn_mcp.server.http"] == []
    assert len(uvicorn_run.calls) == 1


async def test_readiness_asks_lynn_once_and_does_not_retry() -> None:
    # The probe answers for this replica now: a Lynn that is down is reported at once, not retried.
    asked: list[str] = []

    def lynn(request: httpx2.Request) -> httpx2.Response:
        asked.append(request.url.path)
        return httpx2.Response(503, json={"message": "down for maintenance"})

    settings = make_settings(base_url="http://127.0.0.1:9", tenant=1, token="t" * 32)
    server = build_server(settings, transport=httpx2.MockTransport(lynn))
    app = build_http_app(server, settings, host="127.0.0.1", port=8000)
    async with (
        running(app),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http,
    ):
        answer = await http.get("/readyz")
    assert (answer.status_code, answer.json()) == (
        503,
        {"status": "not_ready", "reason": "upstream_unavailable"},
    )
    assert len(asked) == 1
