"""What an agent gets back from a consent question, in both protocol eras, against a real sandbox.

An answer that does not fit the form is `declined`, not a crash; a token pasted with whitespace or
quotes still works; a campaign StartCampaign cannot start is refused before anyone is asked; a
secret that Lynn echoes in a name never reaches the human's question or the agent's preview.
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp.client.session import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult
from server_helpers import sandbox_settings
from test_confirm import Human, code_of, connect, new_campaign, ok, text_of, token_of

from lynn_mcp.sandbox import SEED_ACCESS_TOKEN_SECRET, SandboxServer
from lynn_mcp.server.consent import request_state_security
from lynn_mcp.signing import DEFAULT_TTL_S

pytestmark = pytest.mark.anyio


class Answer:
    """A client that answers `accept` with the given content, whatever it is shown."""

    def __init__(self, content: dict[str, Any] | None) -> None:
        self.content = content
        self.shown: list[str] = []

    async def __call__(self, ctx: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.shown.append(params.message)
        return ElicitResult(action="accept", content=self.content)


@pytest.mark.parametrize(
    "content",
    [{"approve": "maybe"}, {"approve": "yes"}, {"approve": 1}, {}, None],
    ids=["maybe", "yes-text", "one", "empty", "no-content"],
)
async def test_an_answer_that_does_not_fit_the_form_is_declined(
    sandbox: SandboxServer, mode: str, content: dict[str, Any] | None
) -> None:
    client_answer = Answer(content)
    async with connect(sandbox, mode, client_answer) as client:  # type: ignore[arg-type]
        campaign_id = await new_campaign(client)
        result = await client.call_tool("start_campaign", {"campaign_id": campaign_id})
        assert code_of(result) == "declined", text_of(result)
        assert "did not fit its form" in text_of(result)
        assert "Nothing was done" in text_of(result)
        assert (await ok(client, "get_campaign", campaign_id=campaign_id))["status"] == "Stopped"
    assert len(client_answer.shown) == 1


@pytest.mark.parametrize("wrap", ["  {}\n", '"{}"', "\n'{}' \t", "`{}`"])
async def test_a_pasted_token_with_whitespace_or_quotes_is_honoured(
    sandbox: SandboxServer, mode: str, wrap: str
) -> None:
    async with connect(sandbox, mode) as client:
        campaign_id = await new_campaign(client)
        token = token_of(await client.call_tool("start_campaign", {"campaign_id": campaign_id}))
        pasted = wrap.format(token)
        started = await ok(client, "start_campaign", campaign_id=campaign_id, confirmation_token=pasted)
        assert started["status"] == "Started"


SCHEDULE = {
    "start_date": "2098-01-01T09:00:00+00:00",
    "stop_date": "2098-02-01T09:00:00+00:00",
    "valid_until": "2099-01-01T00:00:00+00:00",
}


@pytest.mark.parametrize("asks", [True, False], ids=["elicitation", "token"])
@pytest.mark.parametrize("kind", ["Scheduled", "AlwaysOn", "Started"])
async def test_a_campaign_start_cannot_start_is_refused_before_anyone_is_asked(
    sandbox: SandboxServer, mode: str, kind: str, asks: bool
) -> None:
    human = Human() if asks else None
    async with connect(sandbox, mode, human) as client, connect(sandbox, mode, confirm="never") as operator:
        if kind == "Started":
            campaign_id = await new_campaign(client, "Running")
            await ok(operator, "start_campaign", campaign_id=campaign_id)
        else:
            created = await ok(client, "create_campaign", name=kind, execution_mode=kind, **SCHEDULE)
            campaign_id = str(created["id"])
        result = await client.call_tool("start_campaign", {"campaign_id": campaign_id})
        assert code_of(result) == "conflict", text_of(result)
        assert "nobody was asked" in text_of(result)
        assert "confirmation_token" not in text_of(result)
        expected = "Started" if kind == "Started" else "Stopped"
        assert (await ok(client, "get_campaign", campaign_id=campaign_id))["status"] == expected
    if human is not None:
        assert human.shown == []


async def test_a_secret_echoed_in_a_name_never_reaches_the_question_or_the_preview(
    sandbox: SandboxServer, mode: str
) -> None:
    human = Human(action="decline")
    async with connect(sandbox, mode, human) as asking, connect(sandbox, mode) as failing_closed:
        campaign_id = await new_campaign(asking, f"Promo {SEED_ACCESS_TOKEN_SECRET}")
        declined = await asking.call_tool("start_campaign", {"campaign_id": campaign_id})
        assert code_of(declined) == "declined"
        preview = await failing_closed.call_tool("start_campaign", {"campaign_id": campaign_id})
        assert code_of(preview) == "confirmation_required"
    (question,) = human.shown
    for text in (question, text_of(preview)):
        assert SEED_ACCESS_TOKEN_SECRET not in text
        assert '"Promo ***"' in text


@pytest.mark.parametrize("signing_key", [None, "k" * 32])
def test_the_request_state_lives_as_long_as_a_token(sandbox: SandboxServer, signing_key: str | None) -> None:
    security = request_state_security(sandbox_settings(sandbox, signing_key=signing_key))
    assert security.ttl == DEFAULT_TTL_S
