"""Helpers shared by the server tests: settings for a sandbox, fault switches, request counts."""

from __future__ import annotations

from typing import Any

import httpx2

from lynn_mcp.config import Settings
from lynn_mcp.sandbox import SEED_ACCESS_TOKEN, SEED_ACCESS_TOKEN_SECRET, SEED_TENANT, SandboxServer


def sandbox_settings(sandbox: SandboxServer, **overrides: Any) -> Settings:
    """Settings for the seeded tenant of `sandbox`, ignoring the developer's own .env and LYNN_ vars."""
    values: dict[str, Any] = {
        "base_url": sandbox.base_url,
        "tenant": SEED_TENANT,
        "access_token": SEED_ACCESS_TOKEN,
        "access_token_secret": SEED_ACCESS_TOKEN_SECRET,
        "max_retries": 0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg] # init-only option


def set_faults(sandbox: SandboxServer, **faults: Any) -> None:
    httpx2.post(f"{sandbox.base_url}/sandbox/faults", json=faults).raise_for_status()


def request_count(sandbox: SandboxServer) -> int:
    total: int = httpx2.get(f"{sandbox.base_url}/sandbox/stats").json()["total"]
    return total
