"""Fixtures for testing the MCP server against a real sandbox over a real socket."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from mcp import Client
from server_helpers import sandbox_settings

from lynn_mcp.sandbox import SandboxServer
from lynn_mcp.server import build_server


@pytest.fixture(autouse=True)
def _no_lynn_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own LYNN_* variables must not leak into tests."""
    import os

    for name in list(os.environ):
        if name.startswith("LYNN_"):
            monkeypatch.delenv(name)


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    """Both protocol eras: 2026-07-28 (auto) and the 2025-11-25 handshake IDE clients speak."""
    return str(request.param)


@pytest.fixture
async def client(sandbox: SandboxServer, mode: str) -> AsyncIterator[Client]:
    async with Client(build_server(sandbox_settings(sandbox)), mode=mode) as mcp_client:  # type: ignore[arg-type]
        yield mcp_client
