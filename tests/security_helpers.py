"""What the secret-leak tests share: sentinel secret values, logs captured at DEBUG, sandbox faults.

A test module that imports ``sentinels_fixture`` and ``captured_logs_fixture`` has the fixtures
``sentinels`` and ``captured_logs`` (pytest registers an imported fixture under its ``name``).
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from mcp.types import CallToolResult
from settings_factory import sandbox_settings

from lynn_mcp.config import Settings
from lynn_mcp.redaction import RedactingFilter, install_redaction, secret_registry
from lynn_mcp.sandbox import SEED_TENANT, SandboxServer

MISSING_CAMPAIGN = "00000000-0000-4000-8000-000000000000"


class Sentinels:
    """Unique secret values; `repr` withholds them so a failing assert cannot print one."""

    def __init__(self) -> None:
        self.access_token = "sentinel-access-" + secrets.token_hex(12)
        self.values = {
            "LYNN_ACCESS_TOKEN_SECRET": "sentinel-secret-" + secrets.token_hex(12),
            "LYNN_TOKEN": "sentinel-token-" + secrets.token_hex(12),
            "LYNN_HTTP_TOKEN": "sentinel-http-" + secrets.token_hex(12),
            "LYNN_SIGNING_KEY": "sentinel-signing-" + secrets.token_hex(16),
            "LYNN_ACCESS_TOKEN": self.access_token,
        }

    def __repr__(self) -> str:
        return "<Sentinels withheld>"

    def assert_absent(self, where: str, text: str) -> None:
        for name in self.leaked(text):
            pytest.fail(f"{name} leaked into {where} (value withheld)")

    def leaked(self, text: str, others: Mapping[str, str] | None = None) -> list[str]:
        """Names of the sentinels (and of ``others``: name -> secret) that occur in ``text``."""
        found = []
        for name, value in {**self.values, **(others or {})}.items():
            if any(spelling in text for spelling in {value, quote(value, safe=""), json.dumps(value)[1:-1]}):
                found.append(name)
        return found

    def grant(self, sandbox: SandboxServer) -> None:
        """Make the sentinel access token and secret real credentials for the sandbox's tenant."""
        with sqlite3.connect(sandbox.db_path) as db:
            db.execute(
                "INSERT INTO credentials VALUES (?, ?, ?)",
                (self.access_token, self.values["LYNN_ACCESS_TOKEN_SECRET"], SEED_TENANT),
            )

    def settings(self, sandbox: SandboxServer, **overrides: Any) -> Settings:
        return sandbox_settings(
            sandbox,
            **{
                "access_token": self.access_token,
                "access_token_secret": self.values["LYNN_ACCESS_TOKEN_SECRET"],
                "token": self.values["LYNN_TOKEN"],  # Lynn rejects it: the client must exchange
                "http_token": self.values["LYNN_HTTP_TOKEN"],
                "signing_key": self.values["LYNN_SIGNING_KEY"],
                **overrides,
            },
        )


@pytest.fixture(name="sentinels")
def sentinels_fixture() -> Iterator[Sentinels]:
    secret_registry.clear()  # what earlier tests registered must not hide a leak here
    yield Sentinels()
    secret_registry.clear()


@pytest.fixture(name="captured_logs")
def captured_logs_fixture() -> Iterator[io.StringIO]:
    """All logging into a StringIO through install_redaction, every logger at DEBUG; restored after."""
    root = logging.getLogger()
    saved_factory = logging.getLogRecordFactory()
    saved_root = (root.handlers[:], root.level)
    loggers = [node for node in logging.root.manager.loggerDict.values() if isinstance(node, logging.Logger)]
    saved = [(lg, lg.handlers[:], lg.level) for lg in loggers]
    stream = io.StringIO()
    install_redaction("DEBUG", stream)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    yield stream
    logging.setLogRecordFactory(saved_factory)
    root.handlers[:], root.level = saved_root
    for lg, handlers, level in saved:
        lg.handlers[:] = handlers
        lg.setLevel(level)
        for handler in lg.handlers:
            for log_filter in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
                handler.removeFilter(log_filter)


def set_faults(sandbox: SandboxServer, **faults: Any) -> None:
    httpx2.post(f"{sandbox.base_url}/sandbox/faults", json=faults).raise_for_status()


def clear_faults(sandbox: SandboxServer) -> None:
    httpx2.delete(f"{sandbox.base_url}/sandbox/faults").raise_for_status()


def result_text(result: CallToolResult) -> str:
    parts = [block.model_dump_json() for block in result.content]
    parts.append(json.dumps(result.structured_content))
    return "\n".join(parts)
