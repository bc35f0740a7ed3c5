"""The deployment recipe of docs/deploy.md under failures: two `lynn-mcp --http` replicas sharing
LYNN_SIGNING_KEY behind nginx, on loopback, with the nginx site and the systemd ExecStart line read
from the page (bench/http_deploy.py renders them).

Calls go through nginx the whole time while one replica is killed (SIGKILL, a crash; then started
again, as systemd's Restart=always does) and the other is restarted the way the page's rolling
restart does it (drained in nginx, SIGTERM, started, back in nginx). State minted by the killed
replica (confirmation tokens in both protocol eras, a bulk load's resume handle) is presented
through nginx while it is dead and taken by the survivor. No call may fail except those in flight
on the killed replica when it died: the test counts those and prints the count.

Each load call opens its own connection to nginx: a reload closes clients' idle keep-alive
connections (nginx's behaviour, described on the page), which is not what is tested here.

nginx comes from Debian (`apt-get install nginx`; .ci/run installs it); without it the tests are
skipped. Bounded: at most MAX_CALLS calls, every wait with a deadline; about 20-30 s.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

# bench/ holds the recipe's runner, shared with the HTTP benchmark; the repo root is not on sys.path
# when pytest is started as `pytest` rather than `python -m pytest`.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench._common import free_port  # after the path line above
from bench.http_deploy import (  # after the path line above
    REPLICA_ADDRESSES,
    Nginx,
    Replica,
    find_nginx,
    free_replica_port,
    render_site,
)
from lynn_mcp.sandbox import (  # after the path line above
    SEED_ACCESS_TOKEN,
    SEED_ACCESS_TOKEN_SECRET,
    SEED_CAMPAIGN_ID,
    SEED_TEMPLATE_COLUMNS,
    SEED_TEMPLATE_ID,
    SEED_TENANT,
    SandboxServer,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        find_nginx() is None,
        reason="nginx is not installed (Debian: apt-get install nginx; .ci/run installs it)",
    ),
]

UPSTREAM_HEADER = "X-Test-Upstream"  # which replica(s) nginx tried, in order (test-only header)
TOKEN = re.compile(r'confirmation_token \(valid 5 minutes, once\): "(?P<token>[A-Za-z0-9_\-.]+)"')
LOAD_WORKERS = 4
MAX_CALLS = 6000  # across all workers: the load stops there even if a phase runs long
# Between a worker's calls: the load keeps calls in flight without taking the two cores the
# replicas need to restart (they start in ~1 s idle, ~6 s under a saturating load).
PAUSE_S = 0.01
CALL_TIMEOUT_S = 10.0
PHASE_TIMEOUT_S = 20.0
# Sandbox tasks take 4 x this per row (a quarter of a small task per step): a load of 2 rows waiting
# 1 s leaves its task unfinished and a resume handle; reads are unaffected.
TASK_DELAY_MS = 1500

# What an SDK client sends for one tool call (2026-07-28, stateless): the load's one request.
GET_CAMPAIGN = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {
        "name": "get_campaign",
        "arguments": {"campaign_id": SEED_CAMPAIGN_ID},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "deploy-test", "version": "0"},
            "io.modelcontextprotocol/clientCapabilities": {},
        },
    },
}
CALL_HEADERS = {
    "Connection": "close",
    "Accept": "application/json, text/event-stream",
    "Mcp-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/call",
    "Mcp-Name": "get_campaign",
}


@dataclass(frozen=True)
class Call:
    started: float
    ended: float
    upstreams: tuple[str, ...]  # nginx's tries, in order; the last one answered (or failed)
    ok: bool
    failure: str = ""


@dataclass
class Load:
    """LOAD_WORKERS threads calling get_campaign through nginx until stopped (or MAX_CALLS)."""

    url: str
    bearer: str
    calls: list[Call] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        self._threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(LOAD_WORKERS)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=CALL_TIMEOUT_S + 5)

    def _worker(self) -> None:
        headers = {**CALL_HEADERS, "Authorization": f"Bearer {self.bearer}"}
        with httpx2.Client(timeout=CALL_TIMEOUT_S) as http:
            while not self._stop.is_set() and len(self.calls) < MAX_CALLS:
                started = time.monotonic()
                call = self._call(http, headers, started)
                with self._lock:
                    self.calls.append(call)
                self._stop.wait(PAUSE_S)

    def _call(self, http: httpx2.Client, headers: dict[str, str], started: float) -> Call:
        upstreams: tuple[str, ...] = ()
        try:
            # Streamed, to know the replica even when the body is cut short (killed mid-answer).
            with http.stream("POST", f"{self.url}/mcp", json=GET_CAMPAIGN, headers=headers) as response:
                tried = response.headers.get(UPSTREAM_HEADER, "")
                upstreams = tuple(u.strip() for u in tried.split(",") if u.strip())
                body = response.read()
        except httpx2.HTTPError as exc:
            return Call(started, time.monotonic(), upstreams, False, f"{type(exc).__name__}: {exc}")
        ended = time.monotonic()
        if response.status_code != 200:
            return Call(started, ended, upstreams, False, f"HTTP {response.status_code}: {body[:120]!r}")
        result = json.loads(body).get("result") or {}
        campaign = result.get("structuredContent") or {}
        if result.get("isError") is not False or campaign.get("id") != SEED_CAMPAIGN_ID:
            return Call(started, ended, upstreams, False, f"not the campaign: {body[:120]!r}")
        return Call(started, ended, upstreams, True)

    def served_by(self, upstream: str, *, after: float) -> bool:
        with self._lock:
            return any(c.ok and c.upstreams[-1:] == (upstream,) and c.started > after for c in self.calls)

    def wait_until_served_by(self, upstream: str, *, after: float) -> None:
        """Until a call started after `after` was answered by `upstream` (nginx retries a replica
        it had marked failed once fail_timeout has passed)."""
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        while not self.served_by(upstream, after=after):
            assert time.monotonic() < deadline, f"nginx sent no call to {upstream} within {PHASE_TIMEOUT_S} s"
            assert len(self.calls) < MAX_CALLS, "the load ended (MAX_CALLS) before the phase did"
            time.sleep(0.05)


# -- MCP clients, through nginx or straight to one replica -------------------------------------------


def text_of(result: CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


@dataclass
class Reply:
    result: CallToolResult
    upstreams: list[str]  # the replica that answered each HTTP request of the call


async def call(url: str, bearer: str, mode: str, tool: str, arguments: dict[str, Any]) -> Reply:
    """One tool call by the SDK's Client (`mode`: "auto" = 2026-07-28, "legacy" = 2025-11-25)."""
    upstreams: list[str] = []

    async def note_upstream(response: httpx2.Response) -> None:
        upstreams.append(response.headers.get(UPSTREAM_HEADER, "").split(",")[-1].strip())

    async with (
        httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=60,
            event_hooks={"response": [note_upstream]},
        ) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode) as client,  # type: ignore[arg-type]
    ):
        return Reply(await client.call_tool(tool, arguments), upstreams)


def run_call(url: str, bearer: str, mode: str, tool: str, **arguments: Any) -> Reply:
    return anyio.run(call, url, bearer, mode, tool, arguments)


def mint_confirmation_token(replica_url: str, bearer: str, mode: str) -> tuple[str, str]:
    """(contact id, token): delete_contact asks for confirmation; the client cannot elicit."""
    phone = f"5698{secrets.randbelow(10**7):07d}"
    created = run_call(
        replica_url, bearer, mode, "create_contact", name="Deploy Test", identifier=phone
    ).result
    assert not created.is_error, text_of(created)
    assert created.structured_content is not None
    contact_id = str(created.structured_content["id"])
    asked = run_call(replica_url, bearer, mode, "delete_contact", contact_id=contact_id).result
    match = TOKEN.search(text_of(asked))
    assert asked.is_error, text_of(asked)
    assert match is not None, text_of(asked)
    return contact_id, match.group("token")


def bulk_rows(count: int) -> list[dict[str, str]]:
    values = ["Deploy", "", "5000", "03/05/2024", "Store", "1", "7", "3"]
    rows = []
    for _ in range(count):
        values[1] = f"5698{secrets.randbelow(10**7):07d}"
        rows.append(dict(zip(SEED_TEMPLATE_COLUMNS, values, strict=True)))
    return rows


# -- the deployment ----------------------------------------------------------------------------------


def site_for(listen_port: int, replica_port: int, down: list[str]) -> str:
    """The documented site, with a header naming the replica(s) nginx tried (tests only)."""
    return render_site(
        listen_port=listen_port,
        replica_port=replica_port,
        down=down,
        mcp_directives=[f"add_header {UPSTREAM_HEADER} $upstream_addr always;"],
    )


@dataclass
class Deployment:
    nginx: Nginx
    replicas: dict[str, Replica]  # by upstream address
    bearer: str
    listen_port: int
    replica_port: int

    def site(self, down: list[str] | None = None) -> str:
        return site_for(self.listen_port, self.replica_port, down or [])

    def url_of(self, replica: Replica) -> str:
        return f"http://{replica.upstream}"


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    sandbox = SandboxServer(task_delay_ms=TASK_DELAY_MS).start()
    bearer = "deploy-" + secrets.token_urlsafe(24)
    env = {name: value for name, value in os.environ.items() if not name.startswith("LYNN_")}
    env |= {
        "LYNN_BASE_URL": sandbox.base_url,
        "LYNN_TENANT": str(SEED_TENANT),
        "LYNN_ACCESS_TOKEN": SEED_ACCESS_TOKEN,
        "LYNN_ACCESS_TOKEN_SECRET": SEED_ACCESS_TOKEN_SECRET,
        "LYNN_SIGNING_KEY": secrets.token_urlsafe(32),  # shared: the point of the recipe
        "LYNN_HTTP_TOKEN": bearer,
        "LYNN_LOG_LEVEL": "WARNING",
    }
    lynn_mcp = [sys.executable, "-m", "lynn_mcp"]  # this interpreter's package, as the unit's venv would
    port = free_replica_port()
    replicas: dict[str, Replica] = {}
    nginx: Nginx | None = None
    try:
        for address in REPLICA_ADDRESSES:
            workdir = tmp_path / address
            workdir.mkdir()
            replica = Replica(lynn_mcp, address, port, env, workdir / "replica.log")
            replicas[replica.upstream] = replica.start()
        listen_port = free_port()
        nginx = Nginx(tmp_path / "nginx", site_for(listen_port, port, []), listen_port=listen_port).start()
        yield Deployment(nginx, replicas, bearer, listen_port, port)
    finally:
        if nginx is not None:
            nginx.stop()
        for replica in replicas.values():
            replica.stop()
        sandbox.stop()


def test_the_documented_site_is_what_nginx_runs(deployment: Deployment) -> None:
    """The rendered site keeps the documented directives that matter for replicas and bulk loads."""
    site = (deployment.nginx.prefix / "lynn-mcp.conf").read_text()
    for directive in (
        "proxy_next_upstream error timeout;",
        "proxy_read_timeout 3900s;",
        "proxy_buffering off;",
        "max_fails=1",
    ):
        assert directive in site
    health = httpx2.get(f"{deployment.nginx.url}/health", timeout=CALL_TIMEOUT_S)
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    unauthenticated = httpx2.post(f"{deployment.nginx.url}/mcp", json=GET_CAMPAIGN, headers=CALL_HEADERS)
    assert unauthenticated.status_code == 401  # the bearer is the replicas' own, through nginx


def test_calls_survive_a_killed_and_a_restarted_replica(deployment: Deployment) -> None:
    nginx, bearer = deployment.nginx, deployment.bearer
    killed, restarted = deployment.replicas.values()
    killed_url = deployment.url_of(killed)

    # State minted by the replica about to die: confirmation tokens (both protocol eras) and a
    # load that outlives its 1 s wait, leaving a resume handle.
    tokens = {mode: mint_confirmation_token(killed_url, bearer, mode) for mode in ("auto", "legacy")}
    rows = bulk_rows(2)
    load_arguments = {"template_id": SEED_TEMPLATE_ID, "campaign_id": SEED_CAMPAIGN_ID, "rows": rows}
    unfinished = run_call(
        killed_url, bearer, "auto", "load_campaign_data", **load_arguments, timeout_s=1
    ).result
    assert not unfinished.is_error, text_of(unfinished)
    handle = (unfinished.structured_content or {}).get("resume")
    assert handle, text_of(unfinished)

    with Load(nginx.url, bearer) as load:
        start = time.monotonic()
        for replica in (killed, restarted):  # nginx balances over both
            load.wait_until_served_by(replica.upstream, after=start)

        killed_before = time.monotonic()
        killed.kill()
        killed_after = time.monotonic()

        # Through nginx, only the survivor can answer: it takes the dead replica's state.
        for mode, (contact_id, token) in tokens.items():
            deleted = run_call(
                nginx.url, bearer, mode, "delete_contact", contact_id=contact_id, confirmation_token=token
            )
            assert set(deleted.upstreams) == {restarted.upstream}, deleted.upstreams
            assert not deleted.result.is_error, (mode, text_of(deleted.result))
            assert (deleted.result.structured_content or {}).get("deleted") is True
        resumed = run_call(nginx.url, bearer, "auto", "load_campaign_data", **load_arguments, resume=handle)
        assert set(resumed.upstreams) == {restarted.upstream}, resumed.upstreams
        assert not resumed.result.is_error, text_of(resumed.result)
        report = resumed.result.structured_content or {}
        assert report.get("resume") is None, report
        assert (report["unprocessed"], report["rejected"]) == (0, 0), report
        assert report["accepted"] + report.get("already_in_campaign", 0) == len(rows), report

        # The crashed replica comes back (systemd's Restart=always); nginx sends it calls again.
        killed.start()
        load.wait_until_served_by(killed.upstream, after=time.monotonic())

        # The rolling restart of docs/deploy.md: drained in nginx (the reload returns once the
        # old workers have finished what they had sent to it), SIGTERM, started, back in nginx.
        restart_at = time.monotonic()
        nginx.reload(deployment.site(down=[restarted.address]))
        restarted.terminate()
        restarted.start()
        nginx.reload(deployment.site())
        load.wait_until_served_by(restarted.upstream, after=restart_at)
        load.wait_until_served_by(killed.upstream, after=time.monotonic())

    calls = load.calls
    in_flight_on_killed = [
        c
        for c in calls
        if not c.ok
        and c.upstreams[-1:] == (killed.upstream,)
        and c.started < killed_after
        and c.ended > killed_before
    ]
    other_failures = [c for c in calls if not c.ok and c not in in_flight_on_killed]
    served = {u: sum(c.ok and c.upstreams[-1:] == (u,) for c in calls) for u in deployment.replicas}
    print(
        f"\n{len(calls)} calls through nginx: {sum(c.ok for c in calls)} answered "
        f"({', '.join(f'{u}: {n}' for u, n in served.items())}); "
        f"{len(in_flight_on_killed)} failed in flight on the killed replica; "
        f"{len(other_failures)} other failures"
    )
    assert other_failures == [], [(c.upstreams, c.failure) for c in other_failures[:5]]
    assert len(in_flight_on_killed) <= LOAD_WORKERS  # one call per worker can be in flight
