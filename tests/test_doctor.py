"""`lynn-mcp doctor` against a real sandbox: each failure class has its own message and exit code."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest

from lynn_mcp.doctor import Exit, diagnose
from lynn_mcp.sandbox import SEED_ACCESS_TOKEN, SEED_ACCESS_TOKEN_SECRET, SEED_TENANT, SandboxServer

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer LYNN_* variable or .env file may influence the checks."""
    for name in list(os.environ):
        if name.startswith("LYNN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def good(sandbox: SandboxServer, **changes: Any) -> dict[str, Any]:
    return {
        "base_url": sandbox.base_url,
        "tenant": SEED_TENANT,
        "access_token": SEED_ACCESS_TOKEN,
        "access_token_secret": SEED_ACCESS_TOKEN_SECRET,
        **changes,
    }


async def run(overrides: dict[str, Any]) -> tuple[Exit, str]:
    out = io.StringIO()
    code = await diagnose(overrides, out)
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert SEED_ACCESS_TOKEN_SECRET not in text
    assert SEED_ACCESS_TOKEN not in text
    return code, flat(text)


def flat(text: str) -> str:
    """Messages are wrapped at 100 columns; compare them as running text."""
    return "\n".join(" ".join(line.split()) for line in text.replace("\n      ", " ").splitlines())


def closed_loopback_port() -> int:
    """A port nothing listens on: bound and released (loopback only)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_good_sandbox_configuration_passes_and_shows_the_operation_table(
    sandbox: SandboxServer,
) -> None:
    code, text = await run(good(sandbox))
    assert code == Exit.OK == 0
    assert "[ ok ] token exchange accepted for tenant 1000" in text
    assert "[ ok ] read-only call GetCampaigns answered: 1 campaign(s)" in text
    assert "Operation table in use (built-in):" in text
    assert "AddCampaingData POST /api/LynnService/AddCampaingData/{tenant}" in text
    assert "LYNN_ACCESS_TOKEN_SECRET set" in text
    assert "[FAIL]" not in text


async def test_wrong_secret_is_a_credentials_failure(sandbox: SandboxServer) -> None:
    code, text = await run(good(sandbox, access_token_secret="not-the-secret"))
    assert code == Exit.CREDENTIALS == 4
    assert "[FAIL] Lynn refused the access token and secret for tenant 1000" in text
    assert "LYNN_ACCESS_TOKEN_SECRET" in text.split("[FAIL]")[1]
    assert "not-the-secret" not in text


async def test_unreachable_host_is_a_network_failure() -> None:
    port = closed_loopback_port()
    code, text = await run(
        {
            "base_url": f"http://127.0.0.1:{port}",
            "tenant": 1000,
            "access_token": "a",
            "access_token_secret": "b",
        }
    )
    assert code == Exit.UNREACHABLE == 3
    assert f"[FAIL] cannot connect to http://127.0.0.1:{port} (connection refused" in text
    assert "check LYNN_BASE_URL" in text
    assert "token exchange" not in text


async def test_wrong_tenant_for_a_token_is_a_tenant_failure(sandbox: SandboxServer) -> None:
    token = httpx2.post(
        f"{sandbox.base_url}/api/LynnService/CreateToken",
        json={
            "accessToken": SEED_ACCESS_TOKEN,
            "accessTokenSecret": SEED_ACCESS_TOKEN_SECRET,
            "tenant": 1000,
        },
    ).json()["token"]
    code, text = await run({"base_url": sandbox.base_url, "tenant": 2000, "token": token})
    assert code == Exit.TENANT == 5
    assert "[FAIL] Lynn accepted the credentials but refused tenant 2000 (403)" in text
    assert "set LYNN_TENANT to the tenant number" in text
    assert token not in text


async def test_wrong_tenant_for_an_access_pair_names_the_tenant(sandbox: SandboxServer) -> None:
    # Lynn answers a pair issued for another tenant exactly like a wrong secret (401, empty body), so
    # the doctor cannot tell them apart; it says so and names the tenant it tried.
    code, text = await run(good(sandbox, tenant=2000))
    assert code == Exit.CREDENTIALS
    assert "refused the access token and secret for tenant 2000" in text
    assert "issued for tenant" in text


async def test_missing_configuration_says_which_variables(tmp_path: Path) -> None:
    code, text = await run({})
    assert code == Exit.CONFIG == 2
    assert "set LYNN_TENANT" in text
    assert "LYNN_ACCESS_TOKEN and LYNN_ACCESS_TOKEN_SECRET" in text


async def test_invalid_values_are_configuration_failures() -> None:
    code, text = await run({"tenant": -5})
    assert code == Exit.CONFIG
    assert "LYNN_TENANT" in text
    code, text = await run({"base_url": "http://lynn.example.com", "tenant": 1, "token": "t"})
    assert code == Exit.CONFIG
    assert "must use https" in text


async def test_paths_unknown_to_lynn_point_at_the_operations_file(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    override = tmp_path / "ops.toml"
    override.write_text('[GetCampaigns]\npath = "/api/Elsewhere/GetCampaigns/{tenant}"\n', encoding="utf-8")
    # Named relative to the working directory (tmp_path): the report shows the path in a 100-column
    # line, which a long temporary path (pytest-xdist adds a level to it) would overrun.
    code, text = await run(good(sandbox, operations_file=Path(override.name)))
    assert code == Exit.UNEXPECTED == 6
    assert "Lynn has no GET /api/Elsewhere/GetCampaigns/{tenant} (404)" in text
    assert "LYNN_OPERATIONS_FILE" in text


def test_the_command_line_exit_code_is_the_failure_class(tmp_path: Path) -> None:
    port = closed_loopback_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LYNN_")}
    env.update(LYNN_TENANT="1000", LYNN_TOKEN="x")
    result = subprocess.run(  # noqa: S603 # runs this interpreter on our own entry point
        [sys.executable, "-m", "lynn_mcp", "doctor", "--base-url", f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "connection refused" in flat(result.stdout)
