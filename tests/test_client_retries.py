"""LynnClient's retry, auth and error-mapping rules, as tables, with waits switched off.

A scripted httpx2.MockTransport plays Lynn so each case controls exactly what every attempt sees.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx2
import pytest
from pydantic import SecretStr
from settings_factory import make_settings

from lynn_mcp.errors import (
    Conflict,
    Forbidden,
    InvalidArgument,
    LynnError,
    NotFound,
    RateLimited,
    Timeout,
    Unauthorized,
    UpstreamUnavailable,
)
from lynn_mcp.lynn.client import LynnClient
from lynn_mcp.lynn.models import Task
from lynn_mcp.lynn.retry import REQUEST_RETRY

pytestmark = pytest.mark.anyio

CAMPAIGN = {"id": "3c6f10ec-0000-4000-8000-000000000001", "name": "Spring", "status": "Stopped"}
TASK = {"taskId": "task-1", "state": "Running", "total": 3, "processed": 1}
TOKEN = "issued-token-value-123456"

Step = int | httpx2.Response | type[Exception]


@dataclass
class ScriptedLynn:
    """Answers CreateToken with a token, and each other request with the next scripted step."""

    steps: list[Step]
    requests: list[httpx2.Request] = field(default_factory=list)
    exchanges: int = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/CreateToken"):
            self.exchanges += 1
            return httpx2.Response(200, json={"token": f"{TOKEN}-{self.exchanges}"})
        self.requests.append(request)
        step = self.steps.pop(0)
        if isinstance(step, type):
            raise step("scripted failure")
        if isinstance(step, httpx2.Response):
            return step
        ok = TASK if "TaskStatus" in request.url.path else CAMPAIGN
        body = ok if step == 200 else {"message": f"scripted {step}"}
        return httpx2.Response(step, json=body)


@dataclass
class Sleeps:
    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_client(lynn: ScriptedLynn, sleeps: Sleeps, **overrides: object) -> LynnClient:
    settings = make_settings(
        base_url="http://127.0.0.1:9",
        tenant=1000,
        access_token="access-id",
        access_token_secret="access-secret-value",
        **overrides,
    )
    return LynnClient(
        settings, transport=httpx2.MockTransport(lynn), sleep=sleeps, retry=REQUEST_RETRY.without_jitter()
    )


def get(client: LynnClient) -> Callable[[], object]:
    return lambda: client.get_campaign(CAMPAIGN["id"])


@pytest.mark.parametrize(
    ("steps", "expected_requests", "error"),
    [
        ([503, 503, 200], 3, None),
        ([500, 502, 504], 3, Timeout),
        ([500, 500, 500], 3, UpstreamUnavailable),
        ([400], 1, InvalidArgument),
        ([404], 1, NotFound),
        ([409], 1, Conflict),
        ([403], 1, Forbidden),
        ([413], 1, InvalidArgument),
        ([408, 200], 2, None),
        ([httpx2.ConnectError, 200], 2, None),
        ([httpx2.ReadTimeout, 200], 2, None),
        ([httpx2.RemoteProtocolError, 200], 2, None),
        ([httpx2.ReadTimeout] * 3, 3, Timeout),
    ],
)
async def test_get_retry_table(
    steps: list[Step], expected_requests: int, error: type[LynnError] | None
) -> None:
    lynn, sleeps = ScriptedLynn(list(steps)), Sleeps()
    async with make_client(lynn, sleeps) as client:
        if error is None:
            campaign = await client.get_campaign(CAMPAIGN["id"])
            assert campaign.name == "Spring"
        else:
            with pytest.raises(error):
                await client.get_campaign(CAMPAIGN["id"])
    assert len(lynn.requests) == expected_requests
    assert len(sleeps.waits) == expected_requests - 1


async def test_retry_after_is_honoured() -> None:
    limited = httpx2.Response(429, headers={"Retry-After": "2"}, json={"message": "slow down"})
    lynn, sleeps = ScriptedLynn([limited, 200]), Sleeps()
    async with make_client(lynn, sleeps) as client:
        await client.get_campaign(CAMPAIGN["id"])
    assert sleeps.waits == [2.0]
    assert len(lynn.requests) == 2


async def test_retry_after_beyond_sixty_seconds_is_not_waited_for() -> None:
    limited = httpx2.Response(429, headers={"Retry-After": "120"}, json={"message": "later"})
    lynn, sleeps = ScriptedLynn([limited]), Sleeps()
    async with make_client(lynn, sleeps) as client:
        with pytest.raises(RateLimited) as caught:
            await client.get_campaign(CAMPAIGN["id"])
    assert caught.value.retry_after == 120.0
    assert "retry_after=120s" in caught.value.for_agent()
    assert sleeps.waits == []


async def test_backoff_grows_exponentially_without_retry_after() -> None:
    lynn, sleeps = ScriptedLynn([503, 503, 503]), Sleeps()
    async with make_client(lynn, sleeps, max_retries=2) as client:
        with pytest.raises(UpstreamUnavailable):
            await client.get_campaign(CAMPAIGN["id"])
    assert sleeps.waits == [0.5, 1.0]


async def test_max_retries_zero_sends_once() -> None:
    lynn, sleeps = ScriptedLynn([503]), Sleeps()
    async with make_client(lynn, sleeps, max_retries=0) as client:
        with pytest.raises(UpstreamUnavailable):
            await client.get_campaign(CAMPAIGN["id"])
    assert len(lynn.requests) == 1


async def test_post_refused_before_sending_is_retried() -> None:
    lynn, sleeps = ScriptedLynn([httpx2.ConnectError, 200]), Sleeps()
    async with make_client(lynn, sleeps) as client:
        campaign = await client.start_campaign(CAMPAIGN["id"])
    assert campaign.id == CAMPAIGN["id"]
    assert [r.method for r in lynn.requests] == ["POST", "POST"]


@pytest.mark.parametrize("failure", [httpx2.ReadTimeout, httpx2.RemoteProtocolError, httpx2.WriteError])
async def test_post_that_may_have_arrived_is_not_retried(failure: type[Exception]) -> None:
    lynn, sleeps = ScriptedLynn([failure, 200]), Sleeps()
    async with make_client(lynn, sleeps) as client:
        with pytest.raises(LynnError) as caught:
            await client.start_campaign(CAMPAIGN["id"])
    assert caught.value.maybe_processed is True
    assert len(lynn.requests) == 1


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_post_is_not_retried_on_status(status: int) -> None:
    lynn, sleeps = ScriptedLynn([status, 200]), Sleeps()
    async with make_client(lynn, sleeps) as client:
        with pytest.raises(LynnError):
            await client.start_campaign(CAMPAIGN["id"])
    assert len(lynn.requests) == 1


async def test_unauthorized_reexchanges_once_then_succeeds() -> None:
    lynn, sleeps = ScriptedLynn([401, 200]), Sleeps()
    async with make_client(lynn, sleeps) as client:
        await client.get_campaign(CAMPAIGN["id"])
        assert client.token_exchanges == 2
    first, second = (r.headers["Authorization"] for r in lynn.requests)
    assert first == f"bearer {TOKEN}-1"
    assert second == f"bearer {TOKEN}-2"


async def test_unauthorized_twice_gives_up_after_one_reexchange() -> None:
    lynn, sleeps = ScriptedLynn([401, 401, 200]), Sleeps()
    async with make_client(lynn, sleeps) as client:
        with pytest.raises(Unauthorized):
            await client.get_campaign(CAMPAIGN["id"])
    assert lynn.exchanges == 2
    assert len(lynn.requests) == 2


async def test_ready_token_without_credentials_is_not_exchanged() -> None:
    lynn, sleeps = ScriptedLynn([401]), Sleeps()
    settings = make_settings(base_url="http://127.0.0.1:9", tenant=1000, token="ready-made-token")
    async with LynnClient(settings, transport=httpx2.MockTransport(lynn), sleep=sleeps) as client:
        with pytest.raises(Unauthorized):
            await client.get_campaign(CAMPAIGN["id"])
    assert lynn.exchanges == 0
    assert lynn.requests[0].headers["Authorization"] == "bearer ready-made-token"


async def test_errors_carry_no_url_token_or_secret() -> None:
    for step in (401, 404, 500, httpx2.ConnectError, httpx2.ReadTimeout):
        lynn, sleeps = ScriptedLynn([step] * 6), Sleeps()
        async with make_client(lynn, sleeps) as client:
            with pytest.raises(LynnError) as caught:
                await client.get_campaign(CAMPAIGN["id"])
        text = caught.value.for_agent() + repr(caught.value.args)
        for forbidden in (TOKEN, "access-secret-value", "/api/", CAMPAIGN["id"]):
            assert forbidden not in text


async def test_hostile_ids_send_nothing() -> None:
    lynn, sleeps = ScriptedLynn([200]), Sleeps()
    async with make_client(lynn, sleeps) as client:
        for hostile in ("..", "%2e%2e", "a/b", "a?b", "a#b", "a\r\nb", "a\x00b", "", "x" * 10_000):
            with pytest.raises(InvalidArgument):
                await client.get_campaign(hostile)
    assert lynn.requests == []
    assert lynn.exchanges == 0


async def test_not_json_success_is_upstream_unavailable() -> None:
    lynn, sleeps = ScriptedLynn([httpx2.Response(200, text="<html>gateway</html>")]), Sleeps()
    async with make_client(lynn, sleeps) as client:
        with pytest.raises(UpstreamUnavailable, match="not JSON"):
            await client.get_campaign(CAMPAIGN["id"])


async def test_unexpected_shape_is_upstream_unavailable() -> None:
    lynn, sleeps = ScriptedLynn([httpx2.Response(200, json={"unexpected": True})]), Sleeps()
    async with make_client(lynn, sleeps) as client:
        with pytest.raises(UpstreamUnavailable, match="shape"):
            await client.get_campaign(CAMPAIGN["id"])


@pytest.mark.parametrize("get_status", [LynnClient.get_task, LynnClient.get_dnd_task])
async def test_a_task_status_read_is_retried_unless_the_task_waiter_polls(
    get_status: Callable[..., Awaitable[Task]],
) -> None:
    """The get_task_status tools read once and get the client's retries; the task waiter asks for one
    attempt per poll because it retries polls itself (one place, paced up to its deadline)."""
    lynn, sleeps = ScriptedLynn([503, 200]), Sleeps()
    async with make_client(lynn, sleeps) as client:
        assert (await get_status(client, "task-1")).processed == 1
        assert (len(lynn.requests), sleeps.waits) == (2, [0.5])

        lynn.steps = [503, 200]
        with pytest.raises(UpstreamUnavailable):
            await get_status(client, "task-1", retry=False)
    assert len(lynn.requests) == 3
    assert sleeps.waits == [0.5]


async def test_a_poll_without_retries_still_renews_a_rejected_token() -> None:
    lynn, sleeps = ScriptedLynn([401, 200]), Sleeps()
    async with make_client(lynn, sleeps) as client:
        assert (await client.get_task("task-1", retry=False)).state == "Running"
    assert lynn.exchanges == 2


def test_the_client_registers_as_secrets_only_what_it_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    """LYNN_HTTP_TOKEN guards our own HTTP endpoint and LYNN_SIGNING_KEY signs confirmations: neither
    reaches Lynn, and the CLI registers both (and every other configured secret) itself."""
    registered: list[str] = []

    def record(secret: str | SecretStr | None, *, slot: str | None = None) -> None:
        if secret is not None:
            registered.append(secret.get_secret_value() if isinstance(secret, SecretStr) else secret)

    monkeypatch.setattr("lynn_mcp.lynn.client.register_secret", record)
    make_client(
        ScriptedLynn([]),
        Sleeps(),
        token="ready-made-token-value",
        subscription_key="subscription-key-value",
        http_token="http-endpoint-token-value",
        signing_key="signing-key-value-" + "k" * 32,
    )
    assert sorted(registered) == sorted(
        ["ready-made-token-value", "access-id", "access-secret-value", "subscription-key-value"]
    )
