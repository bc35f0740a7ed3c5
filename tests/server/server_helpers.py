"""Helpers shared by the server tests: settings for a sandbox (from settings_factory), fault switches,
request counts."""

from __future__ import annotations

from typing import Any

import httpx2
from settings_factory import sandbox_settings

from lynn_mcp.sandbox import SandboxServer

__all__ = ["request_count", "sandbox_settings", "set_faults"]


def set_faults(sandbox: SandboxServer, **faults: Any) -> None:
    httpx2.post(f"{sandbox.base_url}/sandbox/faults", json=faults).raise_for_status()


def request_count(sandbox: SandboxServer) -> int:
    total: int = httpx2.get(f"{sandbox.base_url}/sandbox/stats").json()["total"]
    return total
