"""Fixtures of the OAuth tests: a sandbox Lynn, the throwaway authorization server, lynn-mcp between."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from oauth_helpers import AuthorizationServer, LynnOverOAuth

from lynn_mcp.sandbox import SandboxServer


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[SandboxServer]:
    """One sandbox for a module's tests (the server under test keeps its client for the module)."""
    server = SandboxServer(task_delay_ms=1).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def authorization() -> Iterator[AuthorizationServer]:
    with AuthorizationServer() as server:
        yield server


@pytest.fixture(scope="module")
def lynn(
    module_sandbox: SandboxServer,
    authorization: AuthorizationServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LynnOverOAuth]:
    """lynn-mcp over HTTP with OAuth as configured from settings (its own key cache and clock)."""
    with LynnOverOAuth(module_sandbox, authorization, tmp_path_factory.mktemp("oauth")) as served:
        yield served


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    """Both protocol eras: 2026-07-28 (auto) and the 2025-11-25 handshake."""
    return str(request.param)
