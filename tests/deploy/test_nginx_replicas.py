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
skipped. Bounded: at most 6,000 load calls (Load's bound), every wait with a deadline; 25-40 s.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
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

from bench._common import free_port
from bench.http_deploy import (
    REPLICA_ADDRESSES,
    TOOL_CALL,
    TOOL_CALL_HEADERS,
    UPSTREAM_DIRECTIVE,
    UPSTREAM_HEADER,
    Load,
    Nginx,
    Replica,
    find_nginx,
    free_replica_port,
    render_site,
)
from lynn_mcp.sandbox import (
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

TOKEN = re.compile(r'confirmation_token \(valid 5 minutes, once\): "(?P<token>[A-Za-z0-9_\-.]+)"')
# Sandbox tasks take 4 x this per row (a quarter of a small task per step): a load of 2 rows waiting
# 1 s leaves its task unfinished and a resume handle; reads are unaffected.
TASK_DELAY_MS = 1500


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
        mcp_directives=[UPSTREAM_DIRECTIVE],
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
    health = httpx2.get(f"{deployment.nginx.url}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    unauthenticated = httpx2.post(f"{deployment.nginx.url}/mcp", json=TOOL_CALL, headers=TOOL_CALL_HEADERS)
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
    assert len(in_flight_on_killed) <= load.workers  # one call per worker can be in flight
