"""`lynn-mcp --http` as a real subprocess on loopback: bearer, Host, Origin, body cap, CORS, start-up.

The Lynn it talks to is the sandbox behind a recorder of every request header, which proves the
inbound bearer never travels on to Lynn.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from settings_factory import make_settings
from starlette.types import ASGIApp, Receive, Scope, Send

from lynn_mcp.sandbox import SEED_ACCESS_TOKEN, SEED_ACCESS_TOKEN_SECRET, SEED_TENANT
from lynn_mcp.sandbox.app import create_app
from lynn_mcp.server import build_server
from lynn_mcp.server.http import MAX_BODY_BYTES, build_http_app

pytestmark = pytest.mark.anyio

START_TIMEOUT_S = 30.0
LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


class HeaderRecorder:
    """ASGI wrapper that keeps every request header value Lynn (the sandbox) receives."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.values: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.values.extend(value for _, value in scope["headers"])
        await self._app(scope, receive, send)


class RecordedLynn:
    """The sandbox on an ephemeral loopback port, recording request headers."""

    def __init__(self) -> None:
        self.recorder = HeaderRecorder(create_app(task_delay_ms=1))
        config = uvicorn.Config(self.recorder, host="127.0.0.1", port=0, log_config=None, access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.base_url = ""

    def __enter__(self) -> RecordedLynn:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            assert self._thread.is_alive(), "the recorded sandbox died"
            assert time.monotonic() < deadline, "the recorded sandbox did not start"
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def lynn_env(base_url: str, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LYNN_")}
    env.update(
        LYNN_BASE_URL=base_url,
        LYNN_TENANT=str(SEED_TENANT),
        LYNN_ACCESS_TOKEN=SEED_ACCESS_TOKEN,
        LYNN_ACCESS_TOKEN_SECRET=SEED_ACCESS_TOKEN_SECRET,
        **extra,
    )
    return env


class HttpServer:
    """`python -m lynn_mcp --http` on 127.0.0.1 and a free port, stderr kept in a file."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = workdir / "stderr.log"
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 # this interpreter on our own entry point
            [sys.executable, "-m", "lynn_mcp", "--http", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            cwd=workdir,  # no developer .env
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.process.poll() is None, self.stderr_path.read_text(errors="replace")
            assert time.monotonic() < deadline, "lynn-mcp --http did not start in time"
            try:
                if httpx2.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx2.TransportError:
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._stderr.close()


@pytest.fixture(scope="module")
def lynn() -> Iterator[RecordedLynn]:
    with RecordedLynn() as recorded:
        yield recorded


@pytest.fixture(scope="module")
def bearer() -> str:
    return "http-" + secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def http_server(
    lynn: RecordedLynn, bearer: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpServer]:
    server = HttpServer(lynn_env(lynn.base_url, LYNN_HTTP_TOKEN=bearer), tmp_path_factory.mktemp("http"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def post(server: HttpServer, body: Any = LIST_TOOLS, **headers: str) -> httpx2.Response:
    return httpx2.post(f"{server.url}/mcp", json=body, headers={**JSON_HEADERS, **headers}, timeout=10)


def test_missing_or_wrong_bearer_is_401(http_server: HttpServer, bearer: str) -> None:
    for authorization in (None, f"Bearer {bearer}x", f"Bearer {bearer[:-1]}", "Basic abc", bearer, ""):
        headers = {} if authorization is None else {"Authorization": authorization}
        response = post(http_server, **headers)
        assert response.status_code == 401, authorization is None
        assert bearer not in response.text
        assert "access-control-allow-origin" not in response.headers


def test_the_right_bearer_passes_the_guard(http_server: HttpServer, bearer: str) -> None:
    response = post(http_server, Authorization=f"Bearer {bearer}")
    assert response.status_code == 200
    assert "tools" in response.json()["result"]
    assert (
        post(http_server, Authorization=f"bearer {bearer}").status_code == 200
    )  # scheme is case-insensitive


def test_foreign_host_and_origin_are_rejected(http_server: HttpServer, bearer: str) -> None:
    auth = f"Bearer {bearer}"
    assert post(http_server, Authorization=auth, Host="evil.example").status_code == 421
    foreign_with_port = post(http_server, Authorization=auth, Host=f"evil.example:{http_server.port}")
    assert foreign_with_port.status_code == 421
    assert post(http_server, Authorization=auth, Origin="https://evil.example").status_code == 403
    local = post(http_server, Authorization=auth, Origin=f"http://localhost:{http_server.port}")
    assert local.status_code == 200
    assert "access-control-allow-origin" not in local.headers  # no CORS without LYNN_ALLOWED_ORIGINS


def test_host_and_origin_names_are_case_insensitive(http_server: HttpServer, bearer: str) -> None:
    """`LOCALHOST:port` is the same host as `localhost:port`; a foreign name stays foreign in any case."""
    auth = f"Bearer {bearer}"
    port = http_server.port
    assert post(http_server, Authorization=auth, Host=f"LOCALHOST:{port}").status_code == 200
    assert post(http_server, Authorization=auth, Host=f"LocalHost:{port}").status_code == 200
    assert post(http_server, Authorization=auth, Origin=f"HTTP://LOCALHOST:{port}").status_code == 200
    assert post(http_server, Authorization=auth, Host=f"EVIL.example:{port}").status_code == 421


def test_no_cors_preflight_answer_without_allowed_origins(http_server: HttpServer) -> None:
    preflight = httpx2.options(
        f"{http_server.url}/mcp",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert not any(name.lower().startswith("access-control-") for name in preflight.headers)


def test_oversized_body_is_413(http_server: HttpServer, bearer: str) -> None:
    body = {**LIST_TOOLS, "params": {"padding": "x" * (MAX_BODY_BYTES + 1)}}
    assert post(http_server, body, Authorization=f"Bearer {bearer}").status_code == 413


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sdk_client_with_bearer_and_token_confirmation(
    http_server: HttpServer, lynn: RecordedLynn, bearer: str, mode: str
) -> None:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {bearer}"}, timeout=30) as http,
        Client(streamable_http_client(f"{http_server.url}/mcp", http_client=http), mode=mode) as client,  # type: ignore[arg-type]
    ):
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert {"list_campaigns", "delete_campaign"} <= tools
        created = await client.call_tool("create_campaign", {"name": f"HTTP {mode}"})
        assert not created.is_error, created.content
        assert created.structured_content is not None
        campaign_id = created.structured_content["id"]
        # No elicitation callback: fail closed; the token works on the next (stateless) request.
        preview = await client.call_tool("delete_campaign", {"campaign_id": campaign_id})
        text = preview.content[0].text  # type: ignore[union-attr]
        assert preview.is_error
        assert text.split(": ", 2)[1] == "confirmation_required"
        token = text.split('once): "')[1].split('"')[0]
        done = await client.call_tool(
            "delete_campaign", {"campaign_id": campaign_id, "confirmation_token": token}
        )
        assert not done.is_error, done.content
    # The inbound bearer never reached Lynn; Lynn saw only its own credentials.
    assert lynn.recorder.values
    assert not any(bearer.encode() in value for value in lynn.recorder.values)


def test_ephemeral_signing_key_warning_at_start_up(http_server: HttpServer) -> None:
    stderr = http_server.stderr_path.read_text(errors="replace")
    assert "LYNN_SIGNING_KEY is not set" in stderr


async def test_cors_only_for_listed_origins() -> None:
    """With LYNN_ALLOWED_ORIGINS a listed browser origin gets its preflight answered (before the bearer
    guard, as browsers send no Authorization on preflight); any other origin gets no CORS header."""
    settings = make_settings(allowed_origins="https://app.example", http_token="t" * 32)
    app = build_http_app(build_server(settings), settings, host="127.0.0.1", port=8000)
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as http:

        async def preflight(origin: str) -> httpx2.Response:
            headers = {"Origin": origin, "Access-Control-Request-Method": "POST"}
            return await http.options("/mcp", headers=headers)

        allowed = await preflight("https://app.example")
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        refused = await preflight("https://evil.example")
        assert "access-control-allow-origin" not in refused.headers


def test_non_loopback_bind_without_token_refuses_to_start(tmp_path: Path) -> None:
    env = lynn_env("http://127.0.0.1:9")
    completed = subprocess.run(  # noqa: S603 # this interpreter on our own entry point
        [sys.executable, "-m", "lynn_mcp", "--http", "--host", "0.0.0.0", "--port", str(free_port())],  # noqa: S104 (the refusal is the point)
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode != 0
    stderr = completed.stderr.decode(errors="replace")
    assert "refusing to serve on 0.0.0.0 without LYNN_HTTP_TOKEN" in stderr
    assert "Traceback" not in stderr
