"""An approval stops applying once what it approved has changed, on any replica, in both eras.

The hostile case: a `start_campaign` approval (a confirmation token, or a 2026-07-28 answer with its
sealed request state) is replayed after the user stopped the campaign again. Replicas share
LYNN_SIGNING_KEY, so the per-process spent-token cache does not help: the approval is bound to the
campaign's status and updatedAt at preview time, and the replay meets a state that no longer holds.
The sandbox is the witness: the campaign stays Stopped.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp.server import request_state
from mcp.types import CallToolResult, ElicitRequest, ElicitResult, InputRequiredResult
from test_confirm import Human, code_of, connect, new_campaign, ok, signing_key, text_of, token_of

from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SandboxServer
from lynn_mcp.signing import DEFAULT_TTL_S

pytestmark = pytest.mark.anyio

APPROVE = ElicitResult(action="accept", content={"approve": True})


async def status_of(client: Client, campaign_id: str) -> str:
    return str((await ok(client, "get_campaign", campaign_id=campaign_id))["status"])


async def updated_at(client: Client, campaign_id: str) -> str:
    return str((await ok(client, "get_campaign", campaign_id=campaign_id))["updated_at"])


async def ask(client: Client, tool: str, arguments: dict[str, Any]) -> InputRequiredResult:
    """The first 2026-07-28 round, driven by hand: the question and its sealed request state."""
    first = await client.session.call_tool(tool, arguments, allow_input_required=True)
    assert isinstance(first, InputRequiredResult), first
    assert first.request_state is not None
    return first


async def answer(
    client: Client, tool: str, arguments: dict[str, Any], asked: InputRequiredResult
) -> CallToolResult | InputRequiredResult:
    """The answering round: approve every question `asked` put, echoing its request state."""
    assert asked.input_requests is not None
    responses: dict[str, Any] = dict.fromkeys(asked.input_requests, APPROVE)
    state = asked.request_state
    result = await client.session.call_tool(
        tool, arguments, input_responses=responses, request_state=state, allow_input_required=True
    )
    assert isinstance(result, CallToolResult | InputRequiredResult)
    return result


def question_of(asked: InputRequiredResult) -> str:
    assert asked.input_requests is not None
    (request,) = asked.input_requests.values()
    assert isinstance(request, ElicitRequest)
    return request.params.message


async def test_the_question_shows_the_state_the_approval_binds(sandbox: SandboxServer, mode: str) -> None:
    human = Human(action="decline")
    async with connect(sandbox, mode, human) as client:
        campaign_id = await new_campaign(client)
        await client.call_tool("start_campaign", {"campaign_id": campaign_id})
        changed = await updated_at(client, campaign_id)
    (question,) = human.shown
    assert f"Current state: status Stopped, last changed {changed}.\nApprove this?" in question


# --- confirmation tokens ------------------------------------------------------------------------


async def test_a_start_token_replayed_on_another_replica_after_a_stop_is_refused(
    sandbox: SandboxServer, mode: str
) -> None:
    key = signing_key()
    async with connect(sandbox, mode, signing_key=key) as a, connect(sandbox, mode, signing_key=key) as b:
        campaign_id = await new_campaign(a, "Launched")
        first = await a.call_tool("start_campaign", {"campaign_id": campaign_id})
        assert f"status Stopped, last changed {await updated_at(a, campaign_id)}" in text_of(first)
        start = {"campaign_id": campaign_id, "confirmation_token": token_of(first)}
        assert (await ok(a, "start_campaign", **start))["status"] == "Started"
        assert (await ok(a, "stop_campaign", campaign_id=campaign_id))["status"] == "Stopped"

        # B never saw the token spent; the campaign is Stopped again, but not as it was previewed.
        replay = await b.call_tool("start_campaign", start)
        assert code_of(replay) == "confirmation_invalid"
        assert "changed since its preview" in text_of(replay)
        assert await status_of(b, campaign_id) == "Stopped"
        # The refusal names no token and spends nothing: a fresh preview gives a working token.
        fresh = token_of(await b.call_tool("start_campaign", {"campaign_id": campaign_id}))
        restarted = await ok(b, "start_campaign", campaign_id=campaign_id, confirmation_token=fresh)
        assert restarted["status"] == "Started"


async def test_a_start_token_replayed_while_started_is_refused_before_anything(
    sandbox: SandboxServer, mode: str
) -> None:
    key = signing_key()
    async with connect(sandbox, mode, signing_key=key) as a, connect(sandbox, mode, signing_key=key) as b:
        campaign_id = await new_campaign(a, "Running")
        start = {"campaign_id": campaign_id}
        start["confirmation_token"] = token_of(await a.call_tool("start_campaign", start))
        await ok(a, "start_campaign", **start)
        replay = await b.call_tool("start_campaign", start)
        assert code_of(replay) == "conflict"
        assert "already Started" in text_of(replay)


async def test_a_lift_token_replayed_after_the_contact_opted_out_again_is_refused(
    sandbox: SandboxServer, mode: str
) -> None:
    key = signing_key()
    async with connect(sandbox, mode, signing_key=key) as a, connect(sandbox, mode, signing_key=key) as b:
        contact_id = (await ok(a, "list_contacts", name_contains="Maiko"))["contacts"][0]["id"]
        block = {"contact_id": contact_id, "campaign_id": SEED_CAMPAIGN_ID}
        await ok(a, "set_dnd_for_campaign", **block)
        lift = {**block, "do_not_disturb": False}
        first = await a.call_tool("set_dnd_for_campaign", lift)
        assert 'Current state: blocked for "Sandbox demo campaign" since ' in text_of(first)
        lift["confirmation_token"] = token_of(first)
        await ok(a, "set_dnd_for_campaign", **lift)
        await ok(a, "set_dnd_for_campaign", **block)  # the contact opts out again

        replay = await b.call_tool("set_dnd_for_campaign", lift)
        assert code_of(replay) == "confirmation_invalid"
        assert "changed since its preview" in text_of(replay)
        entries = (await ok(b, "get_contact_dnd", contact_id=contact_id))["entries"]
        assert [(e["campaign_id"], e["do_not_disturb"]) for e in entries] == [(SEED_CAMPAIGN_ID, True)]


async def test_a_category_lift_token_replayed_after_a_new_block_is_refused(
    sandbox: SandboxServer, mode: str
) -> None:
    key = signing_key()
    async with connect(sandbox, mode, signing_key=key) as a, connect(sandbox, mode, signing_key=key) as b:
        contact_id = (await ok(a, "list_contacts", name_contains="Maiko"))["contacts"][0]["id"]
        block = {"contact_id": contact_id, "category": "Promotions"}  # the seeded campaign's category
        await ok(a, "set_dnd_for_category", **block)
        lift = {**block, "do_not_disturb": False}
        lift["confirmation_token"] = token_of(await a.call_tool("set_dnd_for_category", lift))
        await ok(a, "set_dnd_for_category", **lift)
        await ok(a, "set_dnd_for_category", **block)

        replay = await b.call_tool("set_dnd_for_category", lift)
        assert code_of(replay) == "confirmation_invalid"
        entries = (await ok(b, "get_contact_dnd", contact_id=contact_id))["entries"]
        assert [e["do_not_disturb"] for e in entries] == [True]


async def test_a_token_for_a_contact_changed_since_its_preview_is_refused(
    sandbox: SandboxServer, mode: str
) -> None:
    async with connect(sandbox, mode) as client:
        contact_id = (await ok(client, "list_contacts", name_contains="Maiko"))["contacts"][0]["id"]
        first = await client.call_tool("delete_contact", {"contact_id": contact_id})
        assert "Current state: last changed " in text_of(first)
        delete = {"contact_id": contact_id, "confirmation_token": token_of(first)}
        await ok(client, "update_contact", contact_id=contact_id, name="Someone else now")
        refused = await client.call_tool("delete_contact", delete)
        assert code_of(refused) == "confirmation_invalid"
        assert (await ok(client, "get_contact", contact_id=contact_id))["name"] == "Someone else now"


# --- 2026-07-28: a replayed answer with its sealed request state ---------------------------------


async def test_a_replayed_2026_answer_after_a_stop_is_asked_again_on_any_replica(
    sandbox: SandboxServer,
) -> None:
    key = signing_key()
    a_server, b_server = (
        connect(sandbox, "auto", Human(), signing_key=key),
        connect(sandbox, "auto", Human(), signing_key=key),
    )
    async with a_server as a, b_server as b:
        assert a.protocol_version == "2026-07-28"
        campaign_id = await new_campaign(a, "Replayed")
        arguments = {"campaign_id": campaign_id}
        asked = await ask(a, "start_campaign", arguments)
        assert f"status Stopped, last changed {await updated_at(a, campaign_id)}" in question_of(asked)
        started = await answer(a, "start_campaign", arguments, asked)
        assert isinstance(started, CallToolResult)
        assert not started.is_error, text_of(started)
        assert await status_of(a, campaign_id) == "Started"
        await ok(a, "stop_campaign", campaign_id=campaign_id)

        for replica in (a, b):
            replay = await answer(replica, "start_campaign", arguments, asked)
            # The recorded answer was to another question: the SDK asks again instead of using it.
            assert isinstance(replay, InputRequiredResult), replay
            assert f"status Stopped, last changed {await updated_at(a, campaign_id)}" in question_of(replay)
            assert await status_of(replica, campaign_id) == "Stopped"


async def test_a_replayed_2026_answer_while_started_is_refused(sandbox: SandboxServer) -> None:
    async with connect(sandbox, "auto", Human()) as client:
        campaign_id = await new_campaign(client, "Twice")
        arguments = {"campaign_id": campaign_id}
        asked = await ask(client, "start_campaign", arguments)
        await answer(client, "start_campaign", arguments, asked)
        replay = await answer(client, "start_campaign", arguments, asked)
        assert isinstance(replay, CallToolResult)
        assert code_of(replay) == "conflict"


async def test_a_2026_question_must_be_answered_within_the_token_lifetime(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with connect(sandbox, "auto", Human()) as client:
        campaign_id = await new_campaign(client, "Late")
        arguments = {"campaign_id": campaign_id}
        asked = await ask(client, "start_campaign", arguments)
        # The SDK's own default would still accept this answer (600 s); ours expires with tokens.
        late = SimpleNamespace(time=lambda: time.time() + DEFAULT_TTL_S + 1)
        monkeypatch.setattr(request_state, "time", late)
        with pytest.raises(MCPError, match="Invalid or expired requestState"):
            await answer(client, "start_campaign", arguments, asked)
        monkeypatch.undo()
        assert await status_of(client, campaign_id) == "Stopped"
