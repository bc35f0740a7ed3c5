"""Sentinel test: configured secrets never leave the process, whatever goes wrong.

LYNN_ACCESS_TOKEN_SECRET, LYNN_TOKEN, LYNN_HTTP_TOKEN (and the access token and signing key) hold
unique sentinel strings; every logger runs at DEBUG; Lynn answers 401, 404, 429, 500, too late, or
drops the connection; configuration is broken; a tool crashes with the secret in its exception;
Lynn echoes the bearer token and the access token secret in every text field it returns.
The sentinels must appear in none of: captured logs and stderr, tool results, error texts, the
audit log, resources, prompts, completions, elicitation previews, progress messages, results files.
Runs in-process (every failure, log records captured) and as the stdio subprocess
(`python -m lynn_mcp`, its stderr captured). Sentinel values are never printed, even on failure.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.session import ClientRequestContext
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, PromptReference
from settings_factory import sandbox_settings

from lynn_mcp.config import Settings
from lynn_mcp.lynn.client import LynnClient
from lynn_mcp.redaction import RedactingFilter, install_redaction, secret_registry
from lynn_mcp.sandbox import (
    SEED_ACCESS_TOKEN_SECRET,
    SEED_CAMPAIGN_ID,
    SEED_TEMPLATE_COLUMNS,
    SEED_TEMPLATE_ID,
    SEED_TENANT,
    SandboxServer,
)
from lynn_mcp.server import build_server

pytestmark = pytest.mark.anyio

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


@pytest.fixture
def sentinels() -> Iterator[Sentinels]:
    secret_registry.clear()  # what earlier tests registered must not hide a leak here
    yield Sentinels()
    secret_registry.clear()


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
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


# --- Lynn echoes secrets in every text field ------------------------------------------------------

#: An access token secret of the sentinel tenant that lynn-mcp does not hold (the sandbox's demo
#: credential), so nothing redacts it: the echo fault puts it next to the sentinels, and where it
#: shows, Lynn's echoed text reached that output. Outputs without Lynn's text are listed apart.
WITNESS = SEED_ACCESS_TOKEN_SECRET
# The DnD load's rows are all accepted, so its report quotes nothing Lynn wrote.
NO_LYNN_TEXT = frozenset({"progress messages", "the audit log", "the logs", "the bulk_set_dnd result"})
BLACKLISTED_PHONE = "56933330001"
ACCEPTED_PHONE = "56933330002"


class Outputs:
    """Everything the session put in front of the agent or on disk, by where it appeared."""

    def __init__(self) -> None:
        self.by_place: dict[str, list[str]] = {}

    def add(self, place: str, text: str) -> None:
        self.by_place.setdefault(place, []).append(text)

    def text(self, place: str) -> str:
        return "\n".join(self.by_place.get(place, []))


class EchoSession:
    """One SDK client session against the echoing sandbox, recording every output by place."""

    def __init__(self, client: Client, outputs: Outputs) -> None:
        self.client = client
        self.outputs = outputs

    async def tool(self, tool: str, progress: Any = None, **arguments: Any) -> dict[str, Any]:
        result = await self.client.call_tool(tool, arguments, progress_callback=progress)
        self.outputs.add(f"the {tool} result", result_text(result))
        return dict(result.structured_content or {}) if not result.is_error else {}

    async def resource(self, uri: str) -> None:
        try:
            read = await self.client.read_resource(uri)
        except MCPError as exc:
            self.outputs.add(f"the resource error of {uri}", f"{exc.error.message} {exc.error.data}")
            return
        self.outputs.add(f"the resource {uri}", read.model_dump_json())


def task_ids(sandbox: SandboxServer, kind: str) -> list[str]:
    with sqlite3.connect(sandbox.db_path) as db:
        return [
            task_id for (task_id,) in db.execute("SELECT id FROM tasks WHERE kind = ? ORDER BY seq", (kind,))
        ]


def bearer_tokens(sandbox: SandboxServer) -> dict[str, str]:
    with sqlite3.connect(sandbox.db_path) as db:
        tokens = [token for (token,) in db.execute("SELECT token FROM tokens")]
    return {f"bearer token #{i}": token for i, token in enumerate(tokens, 1)}


def data_file(path: Path) -> Path:
    """A template CSV whose first row Lynn rejects (blacklisted phone): its record message, echoed,
    goes to the results file."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(SEED_TEMPLATE_COLUMNS) + "\n")
        for phone in (BLACKLISTED_PHONE, ACCEPTED_PHONE):
            values = {"Name": "Row", "Phone": phone}
            handle.write(",".join(values.get(column, "1") for column in SEED_TEMPLATE_COLUMNS) + "\n")
    return path


def read_results_file(report: Mapping[str, Any]) -> str:
    return Path(report["results_path"]).read_text(encoding="utf-8")


async def run_every_path(session: EchoSession, sandbox: SandboxServer, tmp_path: Path) -> None:
    """Every read tool, a load with a row Lynn rejects, a consequential tool, resources, prompts."""
    outputs = session.outputs
    await session.tool("list_campaigns")
    await session.tool("get_campaign", campaign_id=SEED_CAMPAIGN_ID)
    await session.tool("get_campaign", campaign_id=MISSING_CAMPAIGN)  # Lynn's 404 message, echoed
    contact = await session.tool("create_contact", name="Ana", identifier="56911112222")
    contact_id = str(contact["id"])
    await session.tool("list_contacts")
    await session.tool("get_contact", contact_id=contact_id)
    await session.tool("set_dnd_for_campaign", contact_id=contact_id, campaign_id=SEED_CAMPAIGN_ID)
    await session.tool("get_contact_dnd", contact_id=contact_id)
    blacklist = [{"identifier": BLACKLISTED_PHONE, "do_not_disturb": True}]
    await session.tool("bulk_set_dnd", campaign_id=SEED_CAMPAIGN_ID, rows=blacklist)

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        outputs.add("progress messages", f"{progress} {total} {message}")

    path = data_file(tmp_path / "contacts.csv")
    report = await session.tool(
        "load_campaign_data", on_progress, template_id=SEED_TEMPLATE_ID, file_path=str(path)
    )
    assert (report["accepted"], report["rejected"]) == (1, 1), report
    outputs.add("the results file", read_results_file(report))
    await session.tool("get_task_status", task_id=task_ids(sandbox, "CampaignData")[0])
    await session.tool("get_dnd_task_status", task_id=task_ids(sandbox, "Dnd")[0])
    await session.tool("start_campaign", campaign_id=SEED_CAMPAIGN_ID)  # preview shows the name
    await session.tool("stop_campaign", campaign_id=SEED_CAMPAIGN_ID)

    for uri in (
        "lynn://campaigns",
        f"lynn://campaigns/{SEED_CAMPAIGN_ID}",
        f"lynn://campaigns/{MISSING_CAMPAIGN}",
        f"lynn://contacts/{contact_id}",
        f"lynn://tasks/{task_ids(sandbox, 'CampaignData')[0]}",
    ):
        await session.resource(uri)

    # Prompts filled in the way a client does it: from completions (Lynn's names and categories).
    for prompt in (await session.client.list_prompts()).prompts:
        arguments: dict[str, str] = {}
        for argument in prompt.arguments or []:
            ref = PromptReference(type="ref/prompt", name=prompt.name)
            completion = await session.client.complete(ref, {"name": argument.name, "value": ""})
            outputs.add("completions", completion.model_dump_json())
            values = completion.completion.values
            arguments[argument.name] = values[0] if values else f"<{argument.name}>"
        rendered = await session.client.get_prompt(prompt.name, arguments)
        outputs.add("prompts", rendered.model_dump_json())


async def echoing_session(
    sandbox: SandboxServer, sentinels: Sentinels, logs: io.StringIO, tmp_path: Path, mode: str
) -> Outputs:
    """Run every path against a sandbox that echoes secrets; return what came out, by place."""
    sentinels.grant(sandbox)
    set_faults(sandbox, echoSecrets=True)
    audit_log = tmp_path / "audit.jsonl"
    outputs = Outputs()

    async def human(_: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        outputs.add("elicitation previews", params.message)
        return ElicitResult(action="accept", content={"approve": True})

    server = build_server(sentinels.settings(sandbox, audit_log=audit_log))
    async with Client(server, mode=mode, elicitation_callback=human) as client:  # type: ignore[arg-type]
        await run_every_path(EchoSession(client, outputs), sandbox, tmp_path)
    outputs.add("the audit log", audit_log.read_text(encoding="utf-8"))
    outputs.add("the logs", logs.getvalue())

    assert outputs.text("elicitation previews"), "start_campaign asked the human nothing"
    assert outputs.text("progress messages"), "the load reported no progress"
    unexercised = [
        place
        for place in outputs.by_place
        if place not in NO_LYNN_TEXT and WITNESS not in outputs.text(place)
    ]
    assert not unexercised, f"Lynn's echoed text did not reach: {unexercised}"
    return outputs


def assert_no_leaks(
    sandbox: SandboxServer, sentinels: Sentinels, outputs: Outputs, exempt: frozenset[str] = frozenset()
) -> None:
    bearers = bearer_tokens(sandbox)
    assert bearers, "the client never exchanged its credentials"
    leaks = [
        f"{name} in {place}"
        for place in outputs.by_place
        if place not in exempt
        for name in sentinels.leaked(outputs.text(place), bearers)
    ]
    assert not leaks, f"secrets leaked (values withheld): {leaks}"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_lynn_echoing_secrets_in_every_text_field_leaks_nothing(
    sandbox: SandboxServer, sentinels: Sentinels, captured_logs: io.StringIO, tmp_path: Path, mode: str
) -> None:
    outputs = await echoing_session(sandbox, sentinels, captured_logs, tmp_path, mode)
    assert_no_leaks(sandbox, sentinels, outputs)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_outbound_filter_alone_stops_what_reaches_an_answer(
    sandbox: SandboxServer,
    sentinels: Sentinels,
    captured_logs: io.StringIO,
    tmp_path: Path,
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Defence in depth: with Lynn's answers NOT scrubbed on arrival, the outbound filter alone keeps
    the secrets out of every answer (tool results, resources, prompts, completions, the 2026-07-28
    preview inside the tools/call answer), progress, the audit log and the logs."""
    monkeypatch.setattr("lynn_mcp.lynn.client.redact_json_body", lambda body: body)
    outputs = await echoing_session(sandbox, sentinels, captured_logs, tmp_path, mode)
    # The results file is written from Lynn's text without passing any answer: only the scrub on
    # arrival protects it. A 2025-11-25 elicitation preview does not pass an answer either (the SDK
    # sends elicitation/create itself); consent.py redacts it before it is sent.
    assert_no_leaks(sandbox, sentinels, outputs, frozenset({"the results file"}))
