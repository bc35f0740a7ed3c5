"""Configuring OAuth: what is refused at start-up and why, and what a configuration means."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import ToolAnnotations
from settings_factory import make_settings, sandbox_settings

from lynn_mcp.config import InvalidSettings, load_settings
from lynn_mcp.sandbox import SandboxServer
from lynn_mcp.server import build_server
from lynn_mcp.server.http import unprotected_bind
from lynn_mcp.server.oauth.scopes import ADMIN, READ, WRITE, scope_of

ISSUER = "https://login.example.com/realms/lynn"
PUBLIC_URL = "https://mcp.example.com/mcp"
OAUTH = {"oauth_issuer": ISSUER, "public_url": PUBLIC_URL}


@pytest.fixture(autouse=True)
def _no_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`load_settings` (what the CLI calls) reads a `.env` from the working directory: use an empty one."""
    monkeypatch.chdir(tmp_path)


def refusal(**values: Any) -> str:
    with pytest.raises(InvalidSettings) as refused:
        load_settings(values)
    return str(refused.value)


def test_the_static_bearer_and_oauth_together_are_a_config_error() -> None:
    message = refusal(http_token="t" * 32, **OAUTH)
    assert message.startswith("LYNN_HTTP_TOKEN and LYNN_OAUTH_ISSUER are both set: choose one")
    assert "t" * 32 not in message


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"oauth_issuer": ISSUER}, "LYNN_OAUTH_ISSUER needs LYNN_PUBLIC_URL"),
        (
            {"oauth_jwks_url": f"{ISSUER}/certs", "public_url": PUBLIC_URL},
            "LYNN_OAUTH_JWKS_URL is set without",
        ),
        ({"oauth_audience": "api://lynn", "public_url": PUBLIC_URL}, "LYNN_OAUTH_AUDIENCE is set without"),
        (
            {**OAUTH, "oauth_issuer": "http://login.example.com"},
            "LYNN_OAUTH_ISSUER: Value error, must use https",
        ),
        (
            {**OAUTH, "public_url": "http://mcp.example.com/mcp"},
            "LYNN_PUBLIC_URL: Value error, must use https",
        ),
        (
            {**OAUTH, "oauth_jwks_url": "ftp://x/certs"},
            "LYNN_OAUTH_JWKS_URL: Value error, must be an http(s) URL",
        ),
        ({**OAUTH, "public_url": "https://u:p@mcp.example.com/mcp"}, "without credentials"),
    ],
)
def test_incomplete_or_insecure_oauth_settings_are_refused(values: dict[str, Any], expected: str) -> None:
    assert expected in refusal(**values)


def test_what_an_oauth_configuration_means() -> None:
    local = make_settings(
        oauth_issuer="http://127.0.0.1:8080/realms/dev", public_url="http://localhost:8000/mcp"
    )
    assert local.token_audience == "http://localhost:8000/mcp"  # loopback may use plain http
    entra = make_settings(**OAUTH, oauth_audience="api://lynn-mcp")
    assert entra.token_audience == "api://lynn-mcp"
    blank = make_settings(oauth_issuer=" ", public_url="", http_token="t" * 32)
    assert blank.oauth_issuer is None  # blank is unset, not a URL
    assert blank.public_url is None
    assert entra.masked()["HTTP sign-in"] == f"OAuth: access tokens from {ISSUER} for api://lynn-mcp"
    assert blank.masked()["HTTP sign-in"] == "LYNN_HTTP_TOKEN (one shared bearer)"


def test_a_non_loopback_bind_needs_the_bearer_or_oauth() -> None:
    unprotected = unprotected_bind(make_settings(), "0.0.0.0")  # noqa: S104 # the address is only judged
    assert unprotected is not None
    assert "LYNN_HTTP_TOKEN or LYNN_OAUTH_ISSUER" in unprotected
    assert unprotected_bind(make_settings(**OAUTH), "0.0.0.0") is None  # noqa: S104
    assert unprotected_bind(make_settings(http_token="t" * 32), "10.0.0.5") is None
    assert unprotected_bind(make_settings(), "127.0.0.1") is None


@pytest.mark.slow
def test_the_cli_stops_on_both_with_the_message(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LYNN_")}
    env.update(LYNN_HTTP_TOKEN="t" * 32, LYNN_OAUTH_ISSUER=ISSUER, LYNN_PUBLIC_URL=PUBLIC_URL)
    done = subprocess.run(
        [sys.executable, "-m", "lynn_mcp", "--http", "--port", "9"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "invalid configuration: LYNN_HTTP_TOKEN and LYNN_OAUTH_ISSUER are both set" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.anyio
async def test_over_stdio_oauth_settings_restrict_nothing(sandbox: SandboxServer) -> None:
    """Scopes are enforced only where OAuth signs callers in: over stdio the one user has every tool."""
    settings = sandbox_settings(sandbox, **OAUTH)
    async with Client(build_server(settings, served_over="stdio")) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"list_campaigns", "create_campaign", "start_campaign"} <= names
        created = await client.call_tool("create_campaign", {"name": "Over stdio"})
        assert not created.is_error


def test_a_tools_scope_comes_from_its_annotations() -> None:
    assert scope_of(ToolAnnotations(read_only_hint=True)) == READ
    assert scope_of(ToolAnnotations(read_only_hint=False, destructive_hint=True)) == ADMIN
    assert scope_of(ToolAnnotations(read_only_hint=False, destructive_hint=False)) == WRITE
    assert scope_of(None) == WRITE  # unannotated: it may change something
