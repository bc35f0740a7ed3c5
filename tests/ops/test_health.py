"""`GET /healthz` and `GET /readyz` on the HTTP transport: no auth, nothing sensitive, and readiness
that costs Lynn at most one request per few seconds however often it is asked.

The server's HTTP app is served on a loopback port with its lifespan running; Lynn is the sandbox.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import anyio
import httpx2
import pytest
from ops_helpers import ServedApp, free_port
from settings_factory import make_settings, sandbox_settings

from lynn_mcp.config import Settings
from lynn_mcp.errors import Forbidden, LynnError, Timeout, Unauthorized, UpstreamUnavailable
from lynn_mcp.sandbox import SEED_TENANT, SandboxServer
from lynn_mcp.server import build_server
from lynn_mcp.server.health import Readiness, Verdict
from lynn_mcp.server.http import build_http_app

pytestmark = pytest.mark.anyio

BEARER = "http-bearer-" + "b" * 32


def served(settings: Settings) -> ServedApp:
    port = free_port()
    app = build_http_app(build_server(settings, served_over="http"), settings, host="127.0.0.1", port=port)
    return ServedApp(app, port)


def lynn_calls(sandbox: SandboxServer) -> dict[str, int]:
    operations: dict[str, int] = httpx2.get(f"{sandbox.base_url}/sandbox/stats").json()["operations"]
    return operations


@pytest.fixture
def ready_app(sandbox: SandboxServer) -> Iterator[ServedApp]:
    with served(sandbox_settings(sandbox, http_token=BEARER)) as app:
        yield app


def test_health_endpoints_need_no_bearer_and_say_nothing_sensitive(
    ready_app: ServedApp, sandbox: SandboxServer
) -> None:
    assert httpx2.post(f"{ready_app.url}/mcp", json={}).status_code == 401  # the bearer still guards MCP
    for path, body in (("/healthz", {"status": "ok"}), ("/readyz", {"status": "ready"})):
        answer = httpx2.get(f"{ready_app.url}{path}")
        assert (answer.status_code, answer.json()) == (200, body)
        assert answer.headers["cache-control"] == "no-store"
        for private in (BEARER, sandbox.base_url, str(SEED_TENANT)):
            assert private not in answer.text


async def test_readiness_asks_lynn_once_however_often_probed(
    ready_app: ServedApp, sandbox: SandboxServer
) -> None:
    before = lynn_calls(sandbox)
    answers: list[httpx2.Response] = []
    async with httpx2.AsyncClient(base_url=ready_app.url) as http:

        async def probe() -> None:
            answers.append(await http.get("/readyz"))

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(probe)
        answers.append(await http.get("/readyz"))
    assert [answer.status_code for answer in answers] == [200] * 21
    after = lynn_calls(sandbox)
    # One token exchange (the token is then held) and one read, for 21 probes.
    assert after.get("CreateToken", 0) - before.get("CreateToken", 0) == 1
    assert sum(after.values()) - sum(before.values()) == 2


@pytest.mark.parametrize(
    ("settings_of", "reason"),
    [
        (lambda sandbox: sandbox_settings(sandbox, access_token_secret="not-the-secret"), "unauthorized"),
        (lambda sandbox: sandbox_settings(sandbox, tenant=None), "not_configured"),
        (lambda sandbox: make_settings(base_url=f"http://127.0.0.1:{free_port()}", tenant=1, token="t" * 20),
         "upstream_unavailable"),
    ],
)  # fmt: skip
def test_not_ready_says_why_in_a_code(
    sandbox: SandboxServer, settings_of: Callable[[SandboxServer], Settings], reason: str
) -> None:
    with served(settings_of(sandbox)) as app:
        answer = httpx2.get(f"{app.url}/readyz")
        alive = httpx2.get(f"{app.url}/healthz")
    assert (answer.status_code, answer.json()) == (503, {"status": "not_ready", "reason": reason})
    assert alive.status_code == 200  # alive all the same: a restart would not fix Lynn


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def probe_answering(*outcomes: LynnError | None) -> tuple[Callable[[], Awaitable[object]], list[int]]:
    """A probe that fails with each outcome in turn (None: Lynn answered), counting its calls."""
    calls: list[int] = []

    async def probe() -> object:
        calls.append(len(calls))
        outcome = outcomes[len(calls) - 1]
        if outcome is not None:
            raise outcome
        return b"[]"

    return probe, calls


async def test_a_verdict_is_kept_for_its_time_then_asked_again() -> None:
    clock = Clock()
    probe, calls = probe_answering(None, UpstreamUnavailable("down"))
    readiness = Readiness(probe, ttl_s=5.0, clock=clock)
    assert await readiness.check() == Verdict(ready=True)
    clock.now += 4.9
    assert await readiness.check() == Verdict(ready=True)
    assert len(calls) == 1
    clock.now += 0.1
    assert await readiness.check() == Verdict(ready=False, reason="upstream_unavailable")
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("outcome", "verdict"),
    [
        (Unauthorized("refused"), Verdict(ready=False, reason="unauthorized")),
        (Timeout("slow"), Verdict(ready=False, reason="timeout")),
        (Forbidden("not yours"), Verdict(ready=True)),  # Lynn answered a token it knows
    ],
)
async def test_what_an_answer_from_lynn_means_for_readiness(outcome: LynnError, verdict: Verdict) -> None:
    probe, _ = probe_answering(outcome)
    assert await Readiness(probe).check() == verdict


async def test_a_probe_without_an_answer_in_time_is_not_ready() -> None:
    async def silent() -> object:
        await anyio.sleep_forever()

    assert await Readiness(silent, timeout_s=0.01).check() == Verdict(ready=False, reason="timeout")
