"""Sentinel test: Lynn echoes secrets in every text field, and none of them leaves the process.

The sandbox's `echoSecrets` fault puts the caller's bearer token and the access token secret (here
unique sentinel strings) into every free-text field Lynn returns. They must appear in none of: tool
results, error texts, the audit log, resources, prompts, completions, elicitation previews,
progress messages, results files, the logs (every logger at DEBUG). Sentinel values are never
printed, even on failure. Secrets under failures and broken configuration are
tests/test_security_failures.py.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp.client.session import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult, PromptReference
from security_helpers import MISSING_CAMPAIGN, Sentinels, result_text, set_faults

# Fixtures: pytest finds an imported fixture by its name= (captured_logs, sentinels).
from security_helpers import captured_logs_fixture as captured_logs_fixture
from security_helpers import sentinels_fixture as sentinels_fixture

from lynn_mcp.sandbox import (
    SEED_ACCESS_TOKEN_SECRET,
    SEED_CAMPAIGN_ID,
    SEED_TEMPLATE_COLUMNS,
    SEED_TEMPLATE_ID,
    SandboxServer,
)
from lynn_mcp.server import build_server

pytestmark = pytest.mark.anyio


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
