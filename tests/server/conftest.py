"""Fixtures for testing the MCP server against a real sandbox over a real socket."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult
from settings_factory import sandbox_settings

from lynn_mcp.sandbox import SandboxServer
from lynn_mcp.server import build_server


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    """Both protocol eras: 2026-07-28 (auto) and the 2025-11-25 handshake IDE clients speak."""
    return str(request.param)


async def approving_human(_: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
    """A user who approves every confirmation (consequential tools ask; see test_confirm.py)."""
    return ElicitResult(action="accept", content={"approve": True})


@pytest.fixture
async def client(sandbox: SandboxServer, mode: str) -> AsyncIterator[Client]:
    server = build_server(sandbox_settings(sandbox))
    async with Client(server, mode=mode, elicitation_callback=approving_human) as mcp_client:  # type: ignore[arg-type]
        yield mcp_client
