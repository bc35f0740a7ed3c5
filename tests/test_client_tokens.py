"""LynnClient's token handling: what the exchange sends and refuses, the issued token treated as a
secret, one exchange however many calls start at once, and one renewal however many calls meet the
same stale token. A scripted httpx2.MockTransport plays Lynn.

Written for the mutation run (scripts/mutation.sh): tests/test_client_retries.py covers one call at
a time, so a second exchange per concurrent call, or a renewal per stale call, went unnoticed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import anyio
import httpx2
import pytest
from settings_factory import make_settings

from lynn_mcp.errors import ConfigError, Unauthorized, UpstreamUnavailable
from lynn_mcp.lynn.client import LynnClient
from lynn_mcp.redaction import ROTATING_SLOT_HISTORY, redact, secret_registry

pytestmark = pytest.mark.anyio

CAMPAIGN = {"id": "3c6f10ec-0000-4000-8000-000000000001", "name": "Spring", "status": "Stopped"}


@dataclass
class TokenLynn:
    """Issues `issued-bearer-token-<n>` per exchange; accepts only the newest bearer; every request
    waits at `gate` (when set) so that concurrent calls really overlap."""

    exchange_status: int = 200
    issue: str | None = None
    exchanges: list[httpx2.Request] = field(default_factory=list)
    requests: list[httpx2.Request] = field(default_factory=list)
    gate: anyio.Event | None = None

    @property
    def current(self) -> str:
        return f"issued-bearer-token-{len(self.exchanges)}"

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if self.gate is not None:
            await self.gate.wait()
        if request.url.path.endswith("/CreateToken"):
            self.exchanges.append(request)
            if self.exchange_status != 200:
                return httpx2.Response(self.exchange_status, json={"message": "no"})
            return httpx2.Response(200, json={"token": self.current if self.issue is None else self.issue})
        self.requests.append(request)
        if request.headers.get("Authorization") != f"bearer {self.current}":
            return httpx2.Response(401, json={"message": "expired"})
        return httpx2.Response(200, json={**CAMPAIGN, "name": f"Spring, sent with {self.current}"})


def client_for(lynn: TokenLynn, **overrides: object) -> LynnClient:
    settings = make_settings(
        base_url="http://127.0.0.1:9",
        tenant=1000,
        access_token="access-id-value",
        access_token_secret="access-secret-value",
        max_retries=0,
        **overrides,
    )
    return LynnClient(settings, transport=httpx2.MockTransport(lynn))


async def test_the_exchange_sends_the_credentials_and_the_tenant_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lynn = TokenLynn()
    with caplog.at_level(logging.DEBUG, logger="lynn_mcp.lynn.client"):
        async with client_for(lynn) as client:
            await client.get_campaign(CAMPAIGN["id"])
            await client.get_campaign(CAMPAIGN["id"])
            assert client.token_exchanges == 1
    [exchange] = lynn.exchanges
    assert exchange.method == "POST"
    assert "Authorization" not in exchange.headers  # nothing to show yet
    assert json.loads(exchange.content) == {
        "accessToken": "access-id-value",
        "accessTokenSecret": "access-secret-value",
        "tenant": 1000,
    }
    assert [request.headers["Authorization"] for request in lynn.requests] == [
        "bearer issued-bearer-token-1",
        "bearer issued-bearer-token-1",
    ]
    assert "exchanged credentials for a bearer token (exchange #1)" in caplog.messages


async def test_the_issued_token_is_a_secret_from_then_on() -> None:
    lynn = TokenLynn()
    async with client_for(lynn) as client:
        campaign = await client.get_campaign(CAMPAIGN["id"])
    # Lynn echoed the token in a name: it came back scrubbed, and redaction hides it anywhere else.
    assert campaign.name == "Spring, sent with ***"
    assert redact("a log line with issued-bearer-token-1 in it") == "a log line with *** in it"


async def test_credentials_lynn_refuses_name_the_tenant_and_nothing_secret() -> None:
    lynn = TokenLynn(exchange_status=401)
    async with client_for(lynn) as client:
        with pytest.raises(Unauthorized) as refused:
            await client.get_campaign(CAMPAIGN["id"])
    assert refused.value.message == "Lynn refused the access token and secret for tenant 1000"
    assert refused.value.status == 401
    assert lynn.requests == []  # nothing was sent without a token
    assert "access-secret-value" not in refused.value.for_agent()


async def test_an_exchange_answered_without_a_token_is_not_a_token() -> None:
    lynn = TokenLynn(issue="")
    async with client_for(lynn) as client:
        with pytest.raises(UpstreamUnavailable) as caught:
            await client.get_campaign(CAMPAIGN["id"])
    assert caught.value.message == "CreateToken answered without a token"
    assert lynn.requests == []


async def test_many_calls_at_once_share_one_exchange() -> None:
    lynn = TokenLynn(gate=anyio.Event())
    async with client_for(lynn) as client, anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(client.get_campaign, CAMPAIGN["id"])
        await anyio.wait_all_tasks_blocked()
        lynn.gate.set()  # type: ignore[union-attr]
    assert len(lynn.exchanges) == 1
    assert len(lynn.requests) == 8


async def test_many_calls_meeting_the_same_stale_token_renew_it_once() -> None:
    lynn = TokenLynn()
    async with client_for(lynn) as client:
        await client.get_campaign(CAMPAIGN["id"])  # holds token 1
        lynn.exchanges.append(lynn.exchanges[0])  # Lynn now wants token 2: token 1 is stale
        lynn.gate = anyio.Event()
        async with anyio.create_task_group() as group:
            for _ in range(6):
                group.start_soon(client.get_campaign, CAMPAIGN["id"])
            await anyio.wait_all_tasks_blocked()
            lynn.gate.set()
        assert client.token_exchanges == 2
    assert len(lynn.exchanges) == 3  # the first, the one simulated, and one renewal for all six
    assert [request.headers["Authorization"] for request in lynn.requests[-6:]] == [
        "bearer issued-bearer-token-3"
    ] * 6


async def test_a_client_that_is_not_configured_sends_nothing() -> None:
    lynn = TokenLynn()
    settings = make_settings(base_url="http://127.0.0.1:9", access_token="only-the-id")
    async with LynnClient(settings, transport=httpx2.MockTransport(lynn)) as client:
        with pytest.raises(ConfigError) as caught:
            await client.get_campaign(CAMPAIGN["id"])
    assert caught.value.message == (
        "lynn-mcp is not configured: set LYNN_TENANT to your Lynn tenant number; "
        "set LYNN_ACCESS_TOKEN_SECRET (LYNN_ACCESS_TOKEN is set without it)"
    )
    assert (lynn.exchanges, lynn.requests) == ([], [])


async def test_the_call_goes_to_our_tenants_path() -> None:
    lynn = TokenLynn()
    async with client_for(lynn) as client:
        await client.get_campaign(CAMPAIGN["id"])
    assert "/1000/" in lynn.requests[0].url.path
    assert lynn.requests[0].url.path.endswith(CAMPAIGN["id"])


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            httpx2.Response(200, text="<html>sign in</html>"),
            "CreateToken answered with something that is not JSON",
        ),
        (
            httpx2.Response(200, json={"tokn": "x"}),
            "CreateToken answered in a shape lynn-mcp does not understand",
        ),
    ],
)
async def test_an_exchange_answer_that_is_not_a_token_says_so(answer: httpx2.Response, message: str) -> None:
    def lynn(request: httpx2.Request) -> httpx2.Response:
        return answer

    settings = make_settings(
        base_url="http://127.0.0.1:9",
        tenant=1000,
        access_token="access-id-value",
        access_token_secret="s" * 12,
    )
    async with LynnClient(settings, transport=httpx2.MockTransport(lynn)) as client:
        with pytest.raises(UpstreamUnavailable) as caught:
            await client.get_campaign(CAMPAIGN["id"])
    assert caught.value.message == message


async def test_renewed_tokens_do_not_pile_up_as_secrets() -> None:
    """Each renewal registers the new bearer; only the last few stay registered (see redaction)."""
    lynn = TokenLynn()
    async with client_for(lynn) as client:
        before = len(secret_registry)  # with the credentials the client registered when it was made
        for _ in range(ROTATING_SLOT_HISTORY + 3):
            await client.get_campaign(CAMPAIGN["id"])
            lynn.exchanges.append(lynn.exchanges[-1])  # Lynn wants a new token for the next call
    assert len(lynn.exchanges) > 2 * ROTATING_SLOT_HISTORY
    assert len(secret_registry) - before <= ROTATING_SLOT_HISTORY
    latest = f"issued-bearer-token-{len(lynn.exchanges) - 1}"  # the bearer of the last call
    assert redact(latest) == "***"
