"""A guarded tool wired with `consent_resolver` inside the test, called through the SDK client: it asks
the human or fails closed with a preview and a token, the token binds the tool's arguments (or what
the check says it binds) and the previewed state, and a check that needs no one lets the call through.

The server's own guarded tools are wired once, when their modules are imported; a mutation run
(scripts/mutation.sh) swaps code only for calls made while a test runs, so `consent_resolver`
itself is tested here, where the wiring happens inside the test.

Deliberately without `from __future__ import annotations`: the SDK reads the tool's annotations,
and they name objects made inside the test.
"""

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from mcp import Client
from mcp.server.mcpserver import Resolve
from server_helpers import sandbox_settings
from test_confirm import Human, code_of, text_of, token_of

from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SandboxServer
from lynn_mcp.server import build_server
from lynn_mcp.server.consent import (
    Ask,
    ConfirmationToken,
    ConsentAnswer,
    Subject,
    consent_resolver,
    ensure_consented,
)
from lynn_mcp.server.state import LynnContext
from lynn_mcp.server.tool_errors import lynn_errors_as_tool_errors

pytestmark = pytest.mark.anyio


class Shelf:
    """What the guarded tool acts on: items with a version (the state an approval binds)."""

    def __init__(self) -> None:
        self.versions = {"atlas": 1, "globe": 1}
        self.archived: list[tuple[str, str | None]] = []


def guarded_client(sandbox: SandboxServer, mode: str, shelf: Shelf, human: Human | None) -> Client:
    server = build_server(sandbox_settings(sandbox))

    async def confirm_archive(ctx: LynnContext, item: str, note: str | None = None) -> Ask | None:
        if item == "free":
            return None  # nothing to protect: no one is asked

        async def subject() -> Subject:
            return Subject(f"Archive {item}.", state=f"version {shelf.versions[item]}")

        # An archive of the globe approves the item, whatever the note says.
        return Ask(subject, binds={"item": item} if item == "globe" else None)

    @server.tool()
    @lynn_errors_as_tool_errors
    async def archive_item(
        ctx: LynnContext,
        item: str,
        consent: Annotated[ConsentAnswer, Resolve(consent_resolver(confirm_archive))],
        note: str | None = None,
        confirmation_token: ConfirmationToken = None,
    ) -> str:
        ensure_consented(ctx, consent)
        shelf.archived.append((item, note))
        return f"archived {item}"

    return Client(server, mode=mode, elicitation_callback=human)  # type: ignore[arg-type]


@pytest.fixture
def shelf() -> Shelf:
    return Shelf()


@pytest.fixture
async def failing_closed(sandbox: SandboxServer, mode: str, shelf: Shelf) -> AsyncIterator[Client]:
    async with guarded_client(sandbox, mode, shelf, None) as client:
        yield client


async def test_without_elicitation_a_preview_and_a_token_then_the_call(
    failing_closed: Client, shelf: Shelf
) -> None:
    preview = await failing_closed.call_tool("archive_item", {"item": "atlas"})
    assert re.search(
        r"^Error executing tool archive_item: confirmation_required: "
        r"Archive atlas\. Current state: version 1\. "
        r"Nothing was done\. Show this to the user; only if they approve, call archive_item again with the "
        r'same arguments plus this confirmation_token \(valid 5 minutes, once\): "[^"]+"\. It stops applying '
        r"if the current state above changes\.$",
        text_of(preview),
    ), text_of(preview)
    assert shelf.archived == []
    token = token_of(preview)
    done = await failing_closed.call_tool("archive_item", {"item": "atlas", "confirmation_token": token})
    assert not done.is_error, text_of(done)
    assert text_of(done) == "archived atlas"
    assert shelf.archived == [("atlas", None)]
    again = await failing_closed.call_tool("archive_item", {"item": "atlas", "confirmation_token": token})
    assert text_of(again) == (  # a refusal says why and stops: no generic hint after it
        "Error executing tool archive_item: confirmation_invalid: "
        "The confirmation token has already been used; each token confirms one call."
    )


async def test_a_token_binds_the_arguments_and_the_state(failing_closed: Client, shelf: Shelf) -> None:
    token = token_of(await failing_closed.call_tool("archive_item", {"item": "atlas"}))
    other_note = await failing_closed.call_tool(
        "archive_item", {"item": "atlas", "note": "late", "confirmation_token": token}
    )
    assert code_of(other_note) == "confirmation_invalid"
    assert "issued for different arguments" in text_of(other_note)
    shelf.versions["atlas"] = 2
    changed = await failing_closed.call_tool("archive_item", {"item": "atlas", "confirmation_token": token})
    assert code_of(changed) == "confirmation_invalid"
    assert "has changed since its preview" in text_of(changed)
    assert shelf.archived == []


async def test_a_check_may_bind_less_than_every_argument(failing_closed: Client, shelf: Shelf) -> None:
    token = token_of(await failing_closed.call_tool("archive_item", {"item": "globe", "note": "first"}))
    done = await failing_closed.call_tool(
        "archive_item", {"item": "globe", "note": "second", "confirmation_token": token}
    )
    assert not done.is_error, text_of(done)
    assert shelf.archived == [("globe", "second")]


async def test_a_call_that_needs_no_one_is_carried_out_at_once(failing_closed: Client, shelf: Shelf) -> None:
    done = await failing_closed.call_tool("archive_item", {"item": "free"})
    assert not done.is_error, text_of(done)
    assert shelf.archived == [("free", None)]


async def test_a_client_that_can_elicit_asks_the_human(
    sandbox: SandboxServer, mode: str, shelf: Shelf
) -> None:
    approving, declining, unticked = Human(), Human(action="decline"), Human(approve=False)
    async with guarded_client(sandbox, mode, shelf, approving) as client:
        done = await client.call_tool("archive_item", {"item": "atlas", "note": "n"})
        assert not done.is_error, text_of(done)
    assert approving.shown == ["Archive atlas. Current state: version 1.\nApprove this?"]
    async with guarded_client(sandbox, mode, shelf, declining) as client:
        refused = await client.call_tool("archive_item", {"item": "globe"})
        assert code_of(refused) == "declined"
        assert "the user declined archive_item" in text_of(refused)
    async with guarded_client(sandbox, mode, shelf, unticked) as client:
        refused = await client.call_tool("archive_item", {"item": "globe"})
        assert code_of(refused) == "declined"
        assert "the user did not approve archive_item" in text_of(refused)
    assert shelf.archived == [("atlas", "n")]


async def test_the_tool_lists_the_token_as_an_optional_argument(failing_closed: Client) -> None:
    tools = {tool.name: tool for tool in (await failing_closed.list_tools()).tools}
    schema: dict[str, Any] = tools["archive_item"].input_schema
    assert schema["required"] == ["item"]
    assert {"item", "note", "confirmation_token"} <= set(schema["properties"])


def test_a_preview_reads_as_one_sentence_with_its_state() -> None:
    assert Subject("Move box X.", state="version 2").describe() == "Move box X. Current state: version 2."
    assert Subject("Delete it...").describe() == "Delete it."
    assert Subject(".Start it").describe() == ".Start it."


async def test_a_call_that_needs_no_one_is_audited_without_a_consent(
    sandbox: SandboxServer, mode: str, tmp_path: Path
) -> None:
    """Setting a block asks no one: its audit line says nothing about consent (lifting one does)."""
    audit_log = tmp_path / "audit.jsonl"
    server = build_server(sandbox_settings(sandbox, audit_log=audit_log))
    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        found = await client.call_tool("list_contacts", {"name_contains": "Maiko"})
        assert found.structured_content is not None
        arguments = {
            "contact_id": found.structured_content["contacts"][0]["id"],
            "campaign_id": SEED_CAMPAIGN_ID,
        }
        blocked = await client.call_tool("set_dnd_for_campaign", arguments)
        assert not blocked.is_error, text_of(blocked)
    audited = [json.loads(line) for line in audit_log.read_text(encoding="utf-8").splitlines()]
    assert [(line["tool"], line["outcome"], line["consent"]) for line in audited] == [
        ("set_dnd_for_campaign", "ok", None),
    ]
