"""Human confirmation of consequential calls, in both protocol eras, against a real sandbox.

Elicitation where the client declares it; otherwise fail closed with a preview and a signed token.
The sandbox is the witness: after a refusal, the campaign or contact is still there.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult
from server_helpers import request_count, sandbox_settings

from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SEED_TENANT, SandboxServer
from lynn_mcp.server import build_server
from lynn_mcp.signing import ConfirmationSigner, canonical_arguments

pytestmark = pytest.mark.anyio

CODE = re.compile(r"^(?:Error executing tool [\w-]+: )?(?P<code>[a-z_]+)\b")
TOKEN = re.compile(r'confirmation_token \(valid 5 minutes, once\): "(?P<token>[A-Za-z0-9_\-.]+)"')
Elicitation = Callable[[ClientRequestContext, ElicitRequestParams], Awaitable[ElicitResult]]


def text_of(result: CallToolResult) -> str:
    return result.content[0].text  # type: ignore[union-attr]


def code_of(result: CallToolResult) -> str:
    assert result.is_error, text_of(result)
    match = CODE.match(text_of(result))
    assert match, text_of(result)
    return match.group("code")


def token_of(result: CallToolResult) -> str:
    assert code_of(result) == "confirmation_required"
    match = TOKEN.search(text_of(result))
    assert match, text_of(result)
    return match.group("token")


class Human:
    """An elicitation callback that answers as told and remembers what it was shown."""

    def __init__(self, action: str = "accept", approve: bool = True) -> None:
        self.action = action
        self.approve = approve
        self.shown: list[str] = []

    async def __call__(self, ctx: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.shown.append(params.message)
        content = {"approve": self.approve} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)  # type: ignore[arg-type]


async def ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return dict(result.structured_content)


async def new_campaign(client: Client, name: str = "Winter promo") -> str:
    created = await ok(client, "create_campaign", name=name, valid_until="2099-01-01T00:00:00+00:00")
    return str(created["id"])


def signing_key() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def key() -> str:
    return signing_key()


def connect(sandbox: SandboxServer, mode: str, human: Human | None = None, **settings: Any) -> Client:
    server = build_server(sandbox_settings(sandbox, **settings))
    return Client(server, mode=mode, elicitation_callback=human)  # type: ignore[arg-type]


async def campaign_exists(client: Client, campaign_id: str) -> bool:
    result = await client.call_tool("get_campaign", {"campaign_id": campaign_id})
    if result.is_error:
        assert code_of(result) == "not_found"
        return False
    return True


# --- elicitation --------------------------------------------------------------------------------


async def test_accepted_elicitation_starts_the_campaign(sandbox: SandboxServer, mode: str) -> None:
    human = Human()
    async with connect(sandbox, mode, human) as client:
        campaign_id = await new_campaign(client, "Winter promo")
        started = await ok(client, "start_campaign", campaign_id=campaign_id)
        assert started["status"] == "Started"
    assert len(human.shown) == 1
    assert '"Winter promo"' in human.shown[0]
    assert "Start campaign" in human.shown[0]


@pytest.mark.parametrize(("action", "approve"), [("decline", True), ("cancel", True), ("accept", False)])
async def test_refused_elicitation_changes_nothing(
    sandbox: SandboxServer, mode: str, action: str, approve: bool
) -> None:
    human = Human(action, approve)
    async with connect(sandbox, mode, human) as client:
        campaign_id = await new_campaign(client)
        result = await client.call_tool("delete_campaign", {"campaign_id": campaign_id})
        assert code_of(result) == "declined"
        assert "Nothing was done" in text_of(result)
        assert await campaign_exists(client, campaign_id)
        assert human.shown
        assert "Delete campaign" in human.shown[0]


async def test_elicitation_for_contact_and_dnd_lift(sandbox: SandboxServer, mode: str) -> None:
    human = Human()
    async with connect(sandbox, mode, human) as client:
        contact = (await ok(client, "list_contacts", name_contains="Maiko"))["contacts"][0]
        blocked = await ok(
            client, "set_dnd_for_campaign", contact_id=contact["id"], campaign_id=SEED_CAMPAIGN_ID
        )
        assert blocked["entries"][0]["do_not_disturb"] is True
        assert human.shown == []  # blocking needs nobody's approval
        lifted = await ok(
            client,
            "set_dnd_for_campaign",
            contact_id=contact["id"],
            campaign_id=SEED_CAMPAIGN_ID,
            do_not_disturb=False,
        )
        assert [e["do_not_disturb"] for e in lifted["entries"]] in ([], [False])
        assert len(human.shown) == 1
        assert "Lift the do-not-disturb block" in human.shown[0]
        assert (await ok(client, "delete_contact", contact_id=contact["id"]))["deleted"] is True
        assert len(human.shown) == 2
        assert "Delete contact" in human.shown[1]


async def test_valid_token_counts_as_consent_even_when_the_client_can_elicit(
    sandbox: SandboxServer, mode: str, key: str
) -> None:
    async with connect(sandbox, mode, signing_key=key) as no_elicitation:
        campaign_id = await new_campaign(no_elicitation)
        result = await no_elicitation.call_tool("delete_campaign", {"campaign_id": campaign_id})
        token = token_of(result)
    human = Human(action="decline")
    async with connect(sandbox, mode, human, signing_key=key) as client:
        arguments = {"campaign_id": campaign_id, "confirmation_token": token}
        assert (await ok(client, "delete_campaign", **arguments))["deleted"] is True
    assert human.shown == []


# --- fail closed: preview and token -------------------------------------------------------------


async def test_without_elicitation_a_preview_and_token_then_done_once(
    sandbox: SandboxServer, mode: str
) -> None:
    async with connect(sandbox, mode) as client:
        campaign_id = await new_campaign(client, "Summer promo")
        first = await client.call_tool("delete_campaign", {"campaign_id": campaign_id})
        token = token_of(first)
        assert '"Summer promo"' in text_of(first)
        assert "Nothing was done" in text_of(first)
        assert await campaign_exists(client, campaign_id)

        confirmed = {"campaign_id": campaign_id, "confirmation_token": token}
        assert (await ok(client, "delete_campaign", **confirmed))["deleted"] is True
        assert not await campaign_exists(client, campaign_id)

        replay = await client.call_tool("delete_campaign", confirmed)
        assert code_of(replay) == "not_found"  # what the token approved is gone: nothing to act on


async def test_a_model_supplied_flag_is_not_consent(sandbox: SandboxServer, mode: str) -> None:
    async with connect(sandbox, mode) as client:
        campaign_id = await new_campaign(client)
        for flag in ({"confirm": True}, {"confirmation_token": "yes"}, {"consent": {"approve": True}}):
            result = await client.call_tool("delete_campaign", {"campaign_id": campaign_id, **flag})
            # A flag the tool does not have is refused as an unknown argument; nothing is done either way.
            assert code_of(result) in ("confirmation_required", "confirmation_invalid", "invalid_argument"), (
                flag
            )
        assert await campaign_exists(client, campaign_id)


async def test_every_guarded_tool_binds_its_listed_name_and_its_arguments(
    sandbox: SandboxServer, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token binds the tool as tools/list names it and the arguments of the call: a name written
    by hand per tool (a typo, a copy from the tool above) would bind another tool's name, and an
    argument left out of the binding would let one approval serve other calls."""
    minted: list[tuple[str, dict[str, Any], str]] = []
    mint = ConfirmationSigner.mint

    def recording_mint(
        self: ConfirmationSigner, tool: str, arguments: Mapping[str, Any], *args: Any, **kwargs: Any
    ) -> str:
        token = mint(self, tool, arguments, *args, **kwargs)
        minted.append((tool, dict(arguments), token))
        return token

    monkeypatch.setattr(ConfirmationSigner, "mint", recording_mint)
    async with connect(sandbox, mode) as client:
        campaign_id = await new_campaign(client, "Bound")
        contact_id = (await ok(client, "list_contacts", name_contains="Maiko"))["contacts"][0]["id"]
        await ok(client, "set_dnd_for_campaign", contact_id=contact_id, campaign_id=SEED_CAMPAIGN_ID)
        await ok(client, "set_dnd_for_category", contact_id=contact_id, category="Promotions")
        lift = {"contact_id": contact_id, "do_not_disturb": False}
        lifted_rows = [{"identifier": "56971500001", "do_not_disturb": False}]
        calls: dict[str, dict[str, Any]] = {
            "delete_campaign": {"campaign_id": campaign_id},
            "start_campaign": {"campaign_id": campaign_id},
            "delete_contact": {"contact_id": contact_id},
            "set_dnd_for_campaign": {**lift, "campaign_id": SEED_CAMPAIGN_ID},
            "set_dnd_for_category": {**lift, "category": "Promotions"},
            "bulk_set_dnd": {"campaign_id": SEED_CAMPAIGN_ID, "rows": lifted_rows},
        }
        listed = (await client.list_tools()).tools
        parameters = {tool.name: set(tool.input_schema["properties"]) for tool in listed}
        guarded = {name for name, names in parameters.items() if "confirmation_token" in names}
        assert guarded == set(calls)  # a new guarded tool gets its row above
        for tool, arguments in calls.items():
            minted.clear()
            token = token_of(await client.call_tool(tool, arguments))
            assert [(name, presented) for name, _, presented in minted] == [(tool, token)]
            bound = minted[0][1]
            if tool == "bulk_set_dnd":
                # Which contacts it lifts, not the rows' text or a file's path (docs/security.md).
                assert sorted(bound.keys() - {"confirmation_token"}) == ["campaign_id", "lifted"]
                assert bound["campaign_id"] == SEED_CAMPAIGN_ID
            else:
                # Every argument of the tool, including one this call leaves out.
                assert bound.keys() - {"confirmation_token"} == parameters[tool] - {"confirmation_token"}
                assert canonical_arguments(bound) == canonical_arguments(arguments), tool


async def test_refused_tokens_change_nothing(sandbox: SandboxServer, mode: str, key: str) -> None:
    async with connect(sandbox, mode, signing_key=key) as client:
        target, other = await new_campaign(client, "Target"), await new_campaign(client, "Other")
        token = token_of(await client.call_tool("delete_campaign", {"campaign_id": target}))
        expired = ConfirmationSigner(key).mint(
            "delete_campaign", {"campaign_id": target}, SEED_TENANT, now=time.time() - 600
        )
        foreign = ConfirmationSigner(signing_key()).mint(
            "delete_campaign", {"campaign_id": target}, SEED_TENANT
        )
        other_tenant = ConfirmationSigner(key).mint(
            "delete_campaign", {"campaign_id": target}, SEED_TENANT + 1
        )
        flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
        refusals = {
            "changed arguments": ("delete_campaign", {"campaign_id": other}, token, "different arguments"),
            "other tool": ("start_campaign", {"campaign_id": target}, token, "another tool"),
            "expired": ("delete_campaign", {"campaign_id": target}, expired, "expired"),
            "tampered": ("delete_campaign", {"campaign_id": target}, flipped, ""),
            "other key": ("delete_campaign", {"campaign_id": target}, foreign, "signature"),
            "other tenant": ("delete_campaign", {"campaign_id": target}, other_tenant, "another tenant"),
        }
        for case, (tool, arguments, presented, reason) in refusals.items():
            result = await client.call_tool(tool, {**arguments, "confirmation_token": presented})
            assert code_of(result) == "confirmation_invalid", case
            assert reason in text_of(result), case
        assert await campaign_exists(client, target)
        assert await campaign_exists(client, other)
        status = (await ok(client, "get_campaign", campaign_id=target)).get("status")
        assert status != "Started"
        # The refusals did not burn the genuine token.
        assert (await ok(client, "delete_campaign", campaign_id=target, confirmation_token=token))["deleted"]


async def test_dnd_lift_needs_a_token_and_binds_the_flag(sandbox: SandboxServer, mode: str) -> None:
    async with connect(sandbox, mode) as client:
        contact_id = (await ok(client, "list_contacts", name_contains="Maiko"))["contacts"][0]["id"]
        await ok(client, "set_dnd_for_category", contact_id=contact_id, category="Promotions")
        lift = {"contact_id": contact_id, "category": "Promotions", "do_not_disturb": False}
        first = await client.call_tool("set_dnd_for_category", lift)
        token = token_of(first)
        assert 'category "Promotions"' in text_of(first)
        still = await ok(client, "get_contact_dnd", contact_id=contact_id)
        assert still["entries"]
        assert all(e["do_not_disturb"] for e in still["entries"])
        # The token lifts this block, not another category's.
        other = await client.call_tool(
            "set_dnd_for_category", {**lift, "category": "Other", "confirmation_token": token}
        )
        assert code_of(other) == "confirmation_invalid"
        await ok(client, "set_dnd_for_category", **lift, confirmation_token=token)
        after = await ok(client, "get_contact_dnd", contact_id=contact_id)
        assert not any(e["do_not_disturb"] for e in after["entries"])


async def test_confirm_never_is_the_operators_switch(sandbox: SandboxServer, mode: str) -> None:
    human = Human(action="decline")
    async with connect(sandbox, mode, human, confirm="never") as client:
        campaign_id = await new_campaign(client)
        assert (await ok(client, "start_campaign", campaign_id=campaign_id))["status"] == "Started"
        assert (await ok(client, "delete_campaign", campaign_id=campaign_id))["deleted"] is True
    assert human.shown == []


async def test_hostile_ids_are_refused_before_any_preview_request(sandbox: SandboxServer, mode: str) -> None:
    async with connect(sandbox, mode) as client:
        await ok(client, "list_campaigns")
        before = request_count(sandbox)
        for tool in ("delete_campaign", "start_campaign"):
            result = await client.call_tool(tool, {"campaign_id": "../GetCampaigns"})
            assert code_of(result) == "invalid_argument"
        result = await client.call_tool(
            "delete_contact", {"contact_id": "a/b", "confirmation_token": "x" * 300}
        )
        assert code_of(result) == "invalid_argument"
        assert request_count(sandbox) == before


# --- across replicas ----------------------------------------------------------------------------


async def test_replicas_share_the_key_and_a_repeat_does_nothing(
    sandbox: SandboxServer, mode: str, key: str
) -> None:
    """Replica A mints; B honours. A never saw the token spent, yet its replay there does nothing: the
    deleted campaign is gone and the started one is refused as already Started (no token check, no
    request to start). test_consent_replay.py covers a replay after the state moved back."""
    async with connect(sandbox, mode, signing_key=key) as a, connect(sandbox, mode, signing_key=key) as b:
        doomed, launched = await new_campaign(a, "Doomed"), await new_campaign(a, "Launched")
        delete_token = token_of(await a.call_tool("delete_campaign", {"campaign_id": doomed}))
        start_token = token_of(await a.call_tool("start_campaign", {"campaign_id": launched}))

        delete = {"campaign_id": doomed, "confirmation_token": delete_token}
        start = {"campaign_id": launched, "confirmation_token": start_token}
        assert (await ok(b, "delete_campaign", **delete))["deleted"] is True
        assert (await ok(b, "start_campaign", **start))["status"] == "Started"

        assert code_of(await a.call_tool("delete_campaign", delete)) == "not_found"
        assert code_of(await a.call_tool("start_campaign", start)) == "conflict"
        assert code_of(await b.call_tool("start_campaign", start)) == "conflict"
