"""bulk_set_dnd asks the human only when rows lift a block, and the token binds which contacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.types import ElicitResult, InputRequiredResult
from server_helpers import sandbox_settings
from test_confirm import Human, code_of, text_of, token_of

from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SandboxServer
from lynn_mcp.server import build_server

pytestmark = pytest.mark.anyio

PHONES = ("56971110001", "56971110002", "56971110003")


def records_blacklisted(sandbox: SandboxServer) -> set[str]:
    """Identifiers the sandbox holds on the campaign's blacklist (via GetDnDContact per contact)."""
    token = httpx2.post(
        f"{sandbox.base_url}/api/LynnService/CreateToken",
        json={"accessToken": "sandbox-access-token", "accessTokenSecret": "sandbox-secret", "tenant": 1000},
    ).json()["token"]
    headers = {"Authorization": f"bearer {token}"}
    contacts = httpx2.get(f"{sandbox.base_url}/api/LynnService/GetContacts/1000", headers=headers).json()
    blocked: set[str] = set()
    for contact in contacts:
        if contact["identifier"] not in PHONES:
            continue
        entries = httpx2.get(
            f"{sandbox.base_url}/api/LynnService/GetDnDContact/1000/{contact['id']}", headers=headers
        ).json()
        if any(e["campaignId"] == SEED_CAMPAIGN_ID and e["doNotDisturb"] for e in entries):
            blocked.add(contact["identifier"])
    return blocked


async def block_all(client: Client) -> None:
    rows = [{"identifier": phone} for phone in PHONES]
    result = await client.call_tool("bulk_set_dnd", {"campaign_id": SEED_CAMPAIGN_ID, "rows": rows})
    assert not result.is_error, text_of(result)  # blacklisting needs no confirmation


async def test_lifting_rows_fail_closed_then_token_lifts_exactly_those(
    sandbox: SandboxServer, mode: str
) -> None:
    async with Client(build_server(sandbox_settings(sandbox)), mode=mode) as client:  # type: ignore[arg-type]
        await block_all(client)
        assert records_blacklisted(sandbox) == set(PHONES)
        lift = [{"identifier": PHONES[0], "do_not_disturb": False}, {"identifier": PHONES[1]}]
        first = await client.call_tool("bulk_set_dnd", {"campaign_id": SEED_CAMPAIGN_ID, "rows": lift})
        token = token_of(first)
        assert "1 contact(s)" in text_of(first)
        assert records_blacklisted(sandbox) == set(PHONES)  # nothing done yet
        other = [{"identifier": PHONES[2], "do_not_disturb": False}]
        wrong = await client.call_tool(
            "bulk_set_dnd", {"campaign_id": SEED_CAMPAIGN_ID, "rows": other, "confirmation_token": token}
        )
        assert code_of(wrong) == "confirmation_invalid"
        done = await client.call_tool(
            "bulk_set_dnd", {"campaign_id": SEED_CAMPAIGN_ID, "rows": lift, "confirmation_token": token}
        )
        assert not done.is_error, text_of(done)
        # A bulk approval is not bound to the contacts' blocks (docs/security.md): within this
        # process the spent token is what refuses its replay.
        replay = await client.call_tool(
            "bulk_set_dnd", {"campaign_id": SEED_CAMPAIGN_ID, "rows": lift, "confirmation_token": token}
        )
        assert code_of(replay) == "confirmation_invalid"
        assert "already been used" in text_of(replay)
    assert records_blacklisted(sandbox) == {PHONES[1], PHONES[2]}


async def test_a_file_that_lifts_asks_the_human(sandbox: SandboxServer, mode: str, tmp_path: Path) -> None:
    lifts = tmp_path / "optins.csv"
    lifts.write_text("identifier,do_not_disturb\n" + "".join(f"{p},false\n" for p in PHONES[:2]))
    declining, accepting = Human(action="decline"), Human()
    settings = sandbox_settings(sandbox)
    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        await block_all(client)
    async with Client(build_server(settings), mode=mode, elicitation_callback=declining) as client:  # type: ignore[arg-type]
        refused = await client.call_tool(
            "bulk_set_dnd", {"campaign_id": SEED_CAMPAIGN_ID, "file_path": str(lifts)}
        )
    assert code_of(refused) == "declined"
    assert records_blacklisted(sandbox) == set(PHONES)
    async with Client(build_server(settings), mode=mode, elicitation_callback=accepting) as client:  # type: ignore[arg-type]
        done = await client.call_tool(
            "bulk_set_dnd", {"campaign_id": SEED_CAMPAIGN_ID, "file_path": str(lifts)}
        )
    assert not done.is_error, text_of(done)
    assert "2 contact(s)" in accepting.shown[0]
    assert records_blacklisted(sandbox) == {PHONES[2]}


async def test_a_2026_answer_does_not_count_for_a_file_rewritten_with_other_lifts(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    lifts = tmp_path / "optins.csv"
    lifts.write_text(f"identifier,do_not_disturb\n{PHONES[0]},false\n")
    arguments = {"campaign_id": SEED_CAMPAIGN_ID, "file_path": str(lifts)}
    async with Client(build_server(sandbox_settings(sandbox)), elicitation_callback=Human()) as client:  # type: ignore[arg-type]
        await block_all(client)
        asked = await client.session.call_tool("bulk_set_dnd", arguments, allow_input_required=True)
        assert isinstance(asked, InputRequiredResult)
        assert asked.input_requests is not None
        lifts.write_text(f"identifier,do_not_disturb\n{PHONES[2]},false\n")  # same count, another contact
        approve = ElicitResult(action="accept", content={"approve": True})
        responses: dict[str, Any] = dict.fromkeys(asked.input_requests, approve)
        answered = await client.session.call_tool(
            "bulk_set_dnd",
            arguments,
            input_responses=responses,
            request_state=asked.request_state,
            allow_input_required=True,
        )
        assert isinstance(answered, InputRequiredResult)  # asked again about the list it would lift now
    assert records_blacklisted(sandbox) == set(PHONES)
