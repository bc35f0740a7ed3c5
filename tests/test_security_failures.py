"""Configured secrets never leave the process, whatever goes wrong.

LYNN_ACCESS_TOKEN_SECRET, LYNN_TOKEN, LYNN_HTTP_TOKEN (and the access token and signing key) hold
unique sentinel strings; every logger runs at DEBUG; Lynn answers 401, 404, 429, 500, too late, or
drops the connection; configuration is broken; a tool crashes with the secret in its exception.
The sentinels must appear in none of: captured logs and stderr, tool results, error texts, the
audit log. Runs in-process (every failure, log records captured) and as the stdio subprocess
(`python -m lynn_mcp`, its stderr captured). Sentinel values are never printed, even on failure.
Lynn echoing the secrets back in its answers is tests/test_security_sentinels.py.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from security_helpers import MISSING_CAMPAIGN, Sentinels, clear_faults, result_text, set_faults

# Fixtures: pytest finds an imported fixture by its name= (captured_logs, sentinels).
from security_helpers import captured_logs_fixture as captured_logs_fixture
from security_helpers import sentinels_fixture as sentinels_fixture

from lynn_mcp.config import Settings
from lynn_mcp.lynn.client import LynnClient
from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SEED_TENANT, SandboxServer
from lynn_mcp.server import build_server

pytestmark = pytest.mark.anyio


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_no_sentinel_in_logs_results_errors_or_audit_in_process(
    sandbox: SandboxServer,
    sentinels: Sentinels,
    captured_logs: io.StringIO,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    sentinels.grant(sandbox)
    audit_log = tmp_path / "audit.jsonl"
    texts: list[str] = []
    codes: list[str] = []

    async def run(settings: Settings, tool: str, **arguments: Any) -> None:
        async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
            result = await client.call_tool(tool, arguments)
        texts.append(result_text(result))
        codes.append(result.content[0].text.split(": ", 2)[1] if result.is_error else "ok")  # type: ignore[union-attr]

    settings = sentinels.settings(sandbox, audit_log=audit_log)
    await run(settings, "list_campaigns")  # LYNN_TOKEN refused (401), exchange with the secret
    await run(settings, "get_campaign", campaign_id=MISSING_CAMPAIGN)  # 404
    await run(settings, "delete_campaign", campaign_id=MISSING_CAMPAIGN)  # 404 while previewing
    await run(settings, "start_campaign", campaign_id=SEED_CAMPAIGN_ID)  # preview + token
    for status in (401, 429, 500):
        set_faults(sandbox, errorRate=1.0, errorStatuses=[status])
        await run(settings, "list_campaigns")
        await run(settings, "create_contact", name="Ana", identifier="56911112222")
    set_faults(sandbox, latencyMs=1500)
    await run(sentinels.settings(sandbox, audit_log=audit_log, timeout=0.3), "list_contacts")
    set_faults(sandbox, dropRate=1.0)
    await run(settings, "stop_campaign", campaign_id=SEED_CAMPAIGN_ID)
    clear_faults(sandbox)
    await run(sentinels.settings(sandbox, tenant=None), "list_campaigns")  # config error
    leaky_url = f"https://lynn.example/?token={sentinels.values['LYNN_TOKEN']}"
    await run(sentinels.settings(sandbox, base_url=leaky_url), "list_campaigns")  # config error

    async def crash(self: LynnClient) -> None:
        raise RuntimeError(f"unexpected {sentinels.values['LYNN_ACCESS_TOKEN_SECRET']}")

    monkeypatch.setattr(LynnClient, "list_contacts", crash)
    await run(settings, "list_contacts")

    assert codes == [
        "ok",
        "not_found",
        "not_found",
        "confirmation_required",
        "unauthorized",
        "unauthorized",
        "rate_limited",
        "rate_limited",
        "upstream_unavailable",
        "upstream_unavailable",
        "timeout",
        "upstream_unavailable",
        "config_error",
        "config_error",
        "internal_error",
    ]
    for text in texts:
        sentinels.assert_absent("a tool result or error text", text)
    logs = captured_logs.getvalue()
    assert "lynn_mcp.audit" in logs
    assert "Traceback" in logs  # the crash was logged (redacted), so the log path was exercised
    sentinels.assert_absent("the logs", logs)
    audit = audit_log.read_text(encoding="utf-8")
    assert len(audit.splitlines()) == 6  # delete, start, 3 x create_contact, stop: the write calls
    sentinels.assert_absent("the audit log", audit)


def stdio_env(sentinels: Sentinels, base_url: str, audit_log: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LYNN_")}
    env.update(sentinels.values)
    env.update(
        LYNN_BASE_URL=base_url,
        LYNN_TENANT=str(SEED_TENANT),
        LYNN_LOG_LEVEL="DEBUG",
        LYNN_MAX_RETRIES="0",
        LYNN_AUDIT_LOG=str(audit_log),
    )
    env.update(extra)
    return env


async def test_no_sentinel_on_the_stdio_subprocess_stderr(
    sandbox: SandboxServer, sentinels: Sentinels, tmp_path: Path
) -> None:
    sentinels.grant(sandbox)
    audit_log = tmp_path / "audit.jsonl"
    stderr_path = tmp_path / "stderr.log"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "lynn_mcp"],
        env=stdio_env(sentinels, sandbox.base_url, audit_log),
        cwd=tmp_path,
    )
    texts: list[str] = []
    with stderr_path.open("w", encoding="utf-8") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:  # type: ignore[arg-type]

            async def run(tool: str, **arguments: Any) -> None:
                texts.append(result_text(await client.call_tool(tool, arguments)))

            await run("list_campaigns")
            await run("get_campaign", campaign_id=MISSING_CAMPAIGN)
            await run("delete_campaign", campaign_id=SEED_CAMPAIGN_ID)
            for status in (401, 429, 500):
                set_faults(sandbox, errorRate=1.0, errorStatuses=[status])
                await run("create_contact", name="Ana", identifier="56911112222")
            set_faults(sandbox, dropRate=1.0)
            await run("list_contacts")
            clear_faults(sandbox)
    for text in texts:
        sentinels.assert_absent("a stdio tool result", text)
    stderr = stderr_path.read_text(encoding="utf-8", errors="replace")
    assert "DEBUG" in stderr  # the subprocess really logged at DEBUG
    sentinels.assert_absent("the stdio server's stderr", stderr)
    audit = audit_log.read_text(encoding="utf-8")
    assert audit.count('"event":"tool_call"') == 4
    sentinels.assert_absent("the audit log", audit)


@pytest.mark.parametrize(
    "broken",
    [
        {"LYNN_TIMEOUT": "soon"},
        {"LYNN_SIGNING_KEY": "short"},
        {"LYNN_BASE_URL": "https://user:{LYNN_TOKEN}@lynn.example/?token={LYNN_TOKEN}"},
        {"LYNN_OPERATIONS_FILE": "/nonexistent/ops.toml"},
    ],
)
def test_no_sentinel_when_configuration_is_broken(
    sentinels: Sentinels, tmp_path: Path, broken: dict[str, str]
) -> None:
    broken = {name: value.format(**sentinels.values) for name, value in broken.items()}
    env = stdio_env(sentinels, "http://127.0.0.1:9", tmp_path / "audit.jsonl", **broken)
    # stdio with stdin closed: the server starts (or refuses to) and exits at once.
    completed = subprocess.run(  # this interpreter on our own entry point
        [sys.executable, "-m", "lynn_mcp"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )
    output = completed.stdout.decode(errors="replace") + completed.stderr.decode(errors="replace")
    sentinels.assert_absent("start-up output with broken configuration", output)
    assert "Traceback" not in output
