"""Graceful shutdown of a real `lynn-mcp --http` process with a bulk load in flight.

SIGTERM arrives while Lynn (the sandbox) holds every task of the load pending: the server stops
accepting connections at once, the load runs until `LYNN_SHUTDOWN_GRACE_S` is nearly over and then
answers with its report and resume handle, and the process exits 0. Lynn then runs the tasks it had
queued (the sandbox restarted on the same database), and the load, resumed through another server
that shares the signing key, finishes with every row stored once and counted once.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from ops_helpers import LynnProcess, lynn_env, refuses_connections
from settings_factory import sandbox_settings

from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SEED_TEMPLATE_COLUMNS, SEED_TEMPLATE_ID, SandboxServer
from lynn_mcp.server import build_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ROWS = 200
CHUNK = 20
GRACE_S = 6
SIGNING_KEY = "shutdown-test-signing-key-" + "k" * 32
PHONES = [f"5698{i:07d}" for i in range(ROWS)]
NEVER_MS = 3_600_000  # a task delay no test outlives: the sandbox never runs a task


def write_file(root: Path) -> Path:
    lines = [",".join(SEED_TEMPLATE_COLUMNS)]
    lines += [",".join([f"N{i}", phone, "t", "d", "s", "o", "c", "3"]) for i, phone in enumerate(PHONES)]
    path = root / "rows.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def posted_chunks(sandbox: SandboxServer) -> int:
    stats = httpx2.get(f"{sandbox.base_url}/sandbox/stats").json()
    return int(stats["operations"].get("AddCampaingData", 0))


def stored_phones(sandbox: SandboxServer) -> list[str]:
    body = httpx2.get(f"{sandbox.base_url}/sandbox/records", params={"campaignId": SEED_CAMPAIGN_ID}).json()
    return [record["phone"] for record in body["records"] if record["phone"] in set(PHONES)]


async def wait_until(condition: Any, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await anyio.to_thread.run_sync(condition):
        assert time.monotonic() < deadline, f"never: {what}"
        await anyio.sleep(0.05)


async def test_sigterm_with_a_load_in_flight_returns_its_report_and_exits_0(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    write_file(files)
    database = tmp_path / "lynn.sqlite3"
    # With the template's columns known, every chunk is sent without waiting for the first one's task.
    json_request = {"campaingId": "", "templateId": SEED_TEMPLATE_ID, "typeOfData": 0, "data": []}
    json_request["data"] = [dict.fromkeys(SEED_TEMPLATE_COLUMNS, "")]
    arguments = {
        "template_id": SEED_TEMPLATE_ID,
        "campaign_id": SEED_CAMPAIGN_ID,
        "json_request": json.dumps(json_request),
        "file_path": "rows.csv",
    }
    answers: list[Any] = []

    with SandboxServer(database, task_delay_ms=NEVER_MS) as held_lynn:
        env = lynn_env(
            held_lynn.base_url,
            LYNN_SHUTDOWN_GRACE_S=str(GRACE_S),
            LYNN_SIGNING_KEY=SIGNING_KEY,
            LYNN_FILE_ROOT=str(files),
            LYNN_CHUNK_SIZE=str(CHUNK),
        )
        # A bound: a server that ignored the grace period would hold the load for its 600 s timeout.
        with LynnProcess(env, tmp_path) as served, anyio.fail_after(120):
            async with (
                httpx2.AsyncClient(timeout=60) as http,
                Client(streamable_http_client(f"{served.url}/mcp", http_client=http)) as client,  # type: ignore[arg-type]
            ):
                # The client reads tool schemas once, now: after SIGTERM no new connection is accepted.
                await client.list_tools()
                async with anyio.create_task_group() as group:

                    async def load() -> None:
                        answers.append(await client.call_tool("load_campaign_data", arguments))

                    group.start_soon(load)
                    await wait_until(lambda: posted_chunks(held_lynn) == ROWS // CHUNK, "every chunk sent")
                    served.signal(signal.SIGTERM)
                    await wait_until(lambda: refuses_connections(served.port), "new connections refused")
                    assert answers == [], "the load is still running while new connections are refused"
            exit_code = await anyio.to_thread.run_sync(served.wait, 60)
            assert exit_code == 0, served.stderr()

    (result,) = answers
    assert not result.is_error, result.content
    first = result.structured_content
    assert (first["state"], first["submitted"], first["accepted"], first["unprocessed"]) == (
        "Incomplete",
        ROWS,
        0,
        ROWS,
    )
    assert "Stopped: the server is shutting down." in first["message"]
    assert first["resume"]

    # Lynn comes back and runs what it had queued; the load is resumed through another server.
    with SandboxServer(database, task_delay_ms=1) as lynn:
        settings = sandbox_settings(lynn, signing_key=SIGNING_KEY, file_root=files, chunk_size=CHUNK)
        async with Client(build_server(settings)) as client:
            result = await client.call_tool("load_campaign_data", {**arguments, "resume": first["resume"]})
        assert not result.is_error, result.content
        second = result.structured_content
        assert (
            second["state"],
            second["accepted"],
            second.get("already_in_campaign", 0),
            second["unprocessed"],
        ) == (
            "Completed",
            ROWS,
            0,
            0,
        ), "rows of the cut chunks that Lynn had stored count as accepted by the earlier attempt, once"
        assert sorted(stored_phones(lynn)) == sorted(PHONES), "every row stored, and stored once"


async def test_sigint_on_an_idle_server_exits_0(tmp_path: Path, sandbox: SandboxServer) -> None:
    with LynnProcess(lynn_env(sandbox.base_url), tmp_path) as served:
        served.signal(signal.SIGINT)
        assert await anyio.to_thread.run_sync(served.wait, 60) == 0, served.stderr()
        assert "Traceback" not in served.stderr()
