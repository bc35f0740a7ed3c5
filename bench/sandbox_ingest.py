"""Sandbox ingest rate: AddCampaingData with 1,000-row requests over a real socket (httpx2),
timed from the first POST until every task is Completed, side by side with a baseline of the
same rows inserted straight into SQLite (the floor any HTTP + task pipeline sits on).

    .venv/bin/python bench/sandbox_ingest.py [--requests 50] [--concurrency 4] [--task-delay-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2

from lynn_mcp.sandbox import (
    SEED_ACCESS_TOKEN,
    SEED_ACCESS_TOKEN_SECRET,
    SEED_CAMPAIGN_ID,
    SEED_TEMPLATE_COLUMNS,
    SEED_TEMPLATE_ID,
    SEED_TENANT,
)

BASE = "/api/LynnService"
ROWS_PER_REQUEST = 1000


def make_rows(n_requests: int) -> list[list[dict[str, str]]]:
    batches = []
    for b in range(n_requests):
        batch = []
        for i in range(ROWS_PER_REQUEST):
            values = [f"Name {i}", f"569{b:04d}{i:04d}", "5000", "03/05/2024", "Store", str(i), str(b), "3"]
            batch.append(dict(zip(SEED_TEMPLATE_COLUMNS, values, strict=True)))
        batches.append(batch)
    return batches


async def ingest(base_url: str, batches: list[list[dict[str, str]]], concurrency: int) -> tuple[float, int]:
    async with httpx2.AsyncClient(base_url=base_url, timeout=60) as c:
        creds = {
            "accessToken": SEED_ACCESS_TOKEN,
            "accessTokenSecret": SEED_ACCESS_TOKEN_SECRET,
            "tenant": SEED_TENANT,
        }
        token = (await c.post(f"{BASE}/CreateToken", json=creds)).json()["token"]
        headers = {"Authorization": f"bearer {token}"}
        bodies = [
            json.dumps(
                {"campaingId": "", "templateId": SEED_TEMPLATE_ID, "typeOfData": 0, "data": b}
            ).encode()
            for b in batches
        ]
        headers_json = headers | {"content-type": "application/json"}
        queue = list(reversed(bodies))
        task_ids: list[str] = []

        async def sender() -> None:
            while queue:
                body = queue.pop()
                r = await c.post(f"{BASE}/AddCampaingData/{SEED_TENANT}", content=body, headers=headers_json)
                r.raise_for_status()
                task_ids.append(r.json()["taskId"])

        start = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        # Tasks run first-in first-out: poll the last one, then confirm every one is Completed.
        status = f"{BASE}/GetTaskStatus/{SEED_TENANT}/{{}}"
        for _ in range(100_000):
            task: dict[str, Any] = (await c.get(status.format(task_ids[-1]), headers=headers)).json()
            if task["state"] in ("Completed", "Failed"):
                break
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - start
        tasks = [(await c.get(status.format(t), headers=headers)).json() for t in task_ids]
        assert all(t["state"] == "Completed" for t in tasks), "a task was not Completed"
        return elapsed, sum(t["succeeded"] for t in tasks)


def sqlite_baseline(batches: list[list[dict[str, str]]], directory: str) -> float:
    db = sqlite3.connect(Path(directory) / "baseline.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE records (campaign_id TEXT, phone TEXT, data TEXT,"
        " PRIMARY KEY (campaign_id, phone)) WITHOUT ROWID"
    )
    start = time.perf_counter()
    for batch in batches:
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO records VALUES (?, ?, ?)",
            [(SEED_CAMPAIGN_ID, r["Phone"], json.dumps(r)) for r in batch],
        )
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


@contextmanager
def sandbox_process(db: Path, task_delay_ms: int) -> Iterator[str]:
    """The sandbox CLI in its own process, so client and server do not share one GIL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [sys.executable, "-m", "lynn_mcp.sandbox", "--port", str(port), "--db", str(db)]
    proc = subprocess.Popen([*cmd, "--task-delay-ms", str(task_delay_ms)], stdout=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx2.get(f"{base_url}/sandbox/health").status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.05)
        else:
            raise RuntimeError("the sandbox did not start")
        yield base_url
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--requests", type=int, default=50, help="number of 1,000-row requests (default 50)")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    p.add_argument("--task-delay-ms", type=int, default=0, help="sandbox delay per task chunk (default 0)")
    args = p.parse_args()
    batches = make_rows(args.requests)
    rows = args.requests * ROWS_PER_REQUEST
    with tempfile.TemporaryDirectory() as tmp:
        baseline = sqlite_baseline(batches, tmp)
        with sandbox_process(Path(tmp) / "sandbox.sqlite3", args.task_delay_ms) as base_url:
            elapsed, succeeded = asyncio.run(ingest(base_url, batches, args.concurrency))
    assert succeeded == rows, f"only {succeeded} of {rows} rows were accepted"
    sandbox_rate, baseline_rate = rows / elapsed, rows / baseline
    print(f"rows: {rows:,} in {args.requests} AddCampaingData requests of {ROWS_PER_REQUEST:,}, "
          f"concurrency {args.concurrency}, task delay {args.task_delay_ms} ms")  # fmt: skip
    print(f"{'measure':<44}{'seconds':>10}{'rows/s':>12}")
    print(f"{'sandbox: first POST -> all tasks Completed':<44}{elapsed:>10.3f}{sandbox_rate:>12,.0f}")
    print(f"{'baseline: executemany into sqlite only':<44}{baseline:>10.3f}{baseline_rate:>12,.0f}")
    print(f"sandbox / baseline: {sandbox_rate / baseline_rate:.2f}x   (goal: sandbox >= 80,000 rows/s)")


if __name__ == "__main__":
    main()
