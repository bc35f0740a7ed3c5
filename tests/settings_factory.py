"""The one way tests build `Settings`: from exactly the values given, or for a sandbox's seeded tenant.

A module rather than tests/conftest.py because a conftest cannot be imported reliably (pytest loads
every conftest.py under the same module name); tests/ is on sys.path through its conftest. The
developer's own `LYNN_*` variables are removed for every test by an autouse fixture in conftest.py,
and `_env_file=None` keeps their `.env` out, so nothing but these values reaches the Settings.
"""

from __future__ import annotations

from typing import Any

from lynn_mcp.config import Settings
from lynn_mcp.sandbox import SEED_ACCESS_TOKEN, SEED_ACCESS_TOKEN_SECRET, SEED_TENANT, SandboxServer


def make_settings(**values: Any) -> Settings:
    """Settings from `values`, then `LYNN_*` variables (only those a test sets) and the defaults; never
    from a `.env` file."""
    return Settings(_env_file=None, **values)  # type: ignore[call-arg] # pydantic-settings' init-only option


def sandbox_settings(sandbox: SandboxServer, **overrides: Any) -> Settings:
    """Settings for the seeded tenant of `sandbox`, without retries unless `overrides` ask for them
    (a test that expects one request per call must not be fooled by a retry)."""
    return make_settings(
        **{
            "base_url": sandbox.base_url,
            "tenant": SEED_TENANT,
            "access_token": SEED_ACCESS_TOKEN,
            "access_token_secret": SEED_ACCESS_TOKEN_SECRET,
            "max_retries": 0,
            **overrides,
        }
    )
