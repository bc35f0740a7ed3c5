"""The audit trail: one JSON line per write tool call, in the log and in LYNN_AUDIT_LOG."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult
from server_helpers import sandbox_settings

from lynn_mcp.bulk import loads
from lynn_mcp.bulk.loads import BulkLoad
from lynn_mcp.errors import UpstreamUnavailable
from lynn_mcp.redaction import register_secret, secret_registry
from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SandboxServer
from lynn_mcp.server import build_server
from lynn_mcp.server.audit import AUDIT_LOGGER_NAME, MAX_LIST_ITEMS, MAX_STRING_CHARS, audit_arguments

pytestmark = pytest.mark.anyio
MISSING_CAMPAIGN = "00000000-0000-4000-8000-000000000000"


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class Answer:
    def __init__(self, action: str) -> None:
        self.action = action

    async def __call__(self, _: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        content = {"approve": True} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)  # type: ignore[arg-type]


async def test_write_calls_are_audited_reads_are_not(
    sandbox: SandboxServer, mode: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    audit_log = tmp_path / "audit.jsonl"
    server = build_server(sandbox_settings(sandbox, audit_log=audit_log))
    async with Client(server, mode=mode, elicitation_callback=Answer("accept")) as client:  # type: ignore[arg-type]
        await client.call_tool("list_campaigns", {})
        await client.call_tool("get_campaign", {"campaign_id": SEED_CAMPAIGN_ID})
        assert lines(audit_log) == []
        created = await client.call_tool("create_campaign", {"name": "Audited"})
        campaign_id = created.structured_content["id"]  # type: ignore[index]
        await client.call_tool("start_campaign", {"campaign_id": campaign_id})
        await client.call_tool("create_contact", {"name": "Dup", "identifier": "56900000001"})
        await client.call_tool("create_contact", {"name": "Dup", "identifier": "56900000001"})
        await client.call_tool("delete_campaign", {"campaign_id": MISSING_CAMPAIGN})
        await client.call_tool("create_campaign", {"name": ""})
    audited = lines(audit_log)
    assert [(line["tool"], line["outcome"], line["lynn_status"], line["consent"]) for line in audited] == [
        ("create_campaign", "ok", None, None),
        ("start_campaign", "ok", None, "elicitation"),  # one line, though 2026 asks in two rounds
        ("create_contact", "ok", None, None),
        ("create_contact", "conflict", 409, None),
        ("delete_campaign", "not_found", 404, None),
        ("create_campaign", "invalid_argument", None, None),
    ]
    assert audited[0]["arguments"] == {"name": "Audited"}
    assert audited[1]["arguments"] == {"campaign_id": campaign_id}
    assert all(line["event"] == "tool_call" and line["ts"].endswith("Z") for line in audited)
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT_LOGGER_NAME]
    assert logged == audited


async def test_consent_outcomes_and_the_token_are_audited_without_the_token(
    sandbox: SandboxServer, mode: str, tmp_path: Path
) -> None:
    audit_log = tmp_path / "audit.jsonl"
    settings = sandbox_settings(sandbox, audit_log=audit_log)
    async with Client(build_server(settings), mode=mode, elicitation_callback=Answer("decline")) as client:  # type: ignore[arg-type]
        await client.call_tool("delete_campaign", {"campaign_id": SEED_CAMPAIGN_ID})
    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        preview = await client.call_tool("delete_campaign", {"campaign_id": SEED_CAMPAIGN_ID})
        token = preview.content[0].text.split('once): "')[1].split('"')[0]  # type: ignore[union-attr]
        arguments = {"campaign_id": SEED_CAMPAIGN_ID, "confirmation_token": token}
        await client.call_tool("delete_campaign", arguments)
    audited = lines(audit_log)
    assert [(line["outcome"], line["consent"]) for line in audited] == [
        ("declined", "user declined"),
        ("confirmation_required", None),
        ("ok", "token"),
    ]
    assert audited[2]["arguments"] == {"campaign_id": SEED_CAMPAIGN_ID, "confirmation_token": "***"}
    assert token not in audit_log.read_text(encoding="utf-8")


async def test_a_lynn_error_in_a_consent_check_keeps_its_status_on_the_audit_line(
    sandbox: SandboxServer, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bulk_set_dnd's consent check reads the rows before anyone is asked, and then what they act
    on: a LynnError in either part becomes the tool error through the same path as a tool body's,
    which notes Lynn's status for the audit line (the check's own copy of that path did not)."""
    audit_log = tmp_path / "audit.jsonl"
    lift = [{"identifier": "56971400001", "do_not_disturb": False}]
    async with Client(build_server(sandbox_settings(sandbox, audit_log=audit_log)), mode=mode) as client:  # type: ignore[arg-type]
        missing = await client.call_tool("bulk_set_dnd", {"campaign_id": MISSING_CAMPAIGN, "rows": lift})

        async def lynn_fails(_: BulkLoad) -> None:
            raise UpstreamUnavailable("GetCampaign failed at Lynn (HTTP 503)", status=503)

        monkeypatch.setattr(loads, "blacklist_lifts", lynn_fails)
        failing = await client.call_tool("bulk_set_dnd", {"campaign_id": SEED_CAMPAIGN_ID, "rows": lift})
    assert missing.is_error
    assert failing.is_error
    audited = [(line["tool"], line["outcome"], line["lynn_status"]) for line in lines(audit_log)]
    assert audited == [
        ("bulk_set_dnd", "not_found", 404),  # the campaign, read for the preview
        ("bulk_set_dnd", "upstream_unavailable", 503),  # raised by the check itself
    ]


async def test_an_unwritable_audit_log_does_not_fail_the_call(
    sandbox: SandboxServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    server = build_server(sandbox_settings(sandbox, audit_log=tmp_path))  # a directory
    async with Client(server) as client:  # type: ignore[arg-type]
        result = await client.call_tool("create_campaign", {"name": "Still created"})
    assert not result.is_error
    assert any("could not write the audit log" in r.getMessage() for r in caplog.records)


def test_audit_arguments_are_redacted_and_capped() -> None:
    secret = "audit-secret-" + "q" * 20
    register_secret(secret)
    try:
        shown = audit_arguments(
            {
                "name": f"x {secret} y",
                "note": "z" * 1000,
                "rows": [{"identifier": str(n)} for n in range(50)],
                "confirmation_token": "abc.def",
                "password": "hunter2",
            }
        )
    finally:
        secret_registry.clear()
    assert shown["name"] == "x *** y"
    assert len(shown["note"]) == MAX_STRING_CHARS
    assert len(shown["rows"]) == MAX_LIST_ITEMS + 1
    assert shown["rows"][-1] == f"... {50 - MAX_LIST_ITEMS} more"
    assert shown["confirmation_token"] == "***"
    assert secret not in json.dumps(shown)
