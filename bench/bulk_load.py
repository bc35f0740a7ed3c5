"""Bulk loading: load_campaign_data (through the MCP tool, in-process client) against a baseline that
posts the same 1,000-row chunks with bare httpx2, no validation and no waiting for tasks, and a
reference that is that baseline also waiting for each chunk's task the way the tool does.

Each run is its own subprocess (so peak RSS is that side's alone) against its own fresh sandbox
process (loopback only; `--latency-ms` makes every answer as slow as a round trip to a remote Lynn).
The sides take turns `--repeats` times and their medians are compared: on a shared 2-core machine
one run of a side moves by 10-20%. Prints rows/s, peak RSS, the ratios, and the tool's peak RSS at
10,000 vs 100,000 rows.

    .venv/bin/python bench/bulk_load.py [--rows 100000] [--small-rows 10000] [--repeats 3]
                                        [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import httpx2

from lynn_mcp.sandbox import (
    SEED_ACCESS_TOKEN,
    SEED_ACCESS_TOKEN_SECRET,
    SEED_TEMPLATE_COLUMNS,
    SEED_TEMPLATE_ID,
    SEED_TENANT,
)

sys.path.insert(0, str(Path(__file__).parent))
# The sibling benchmark's sandbox starter (bench/ is scripts, not a package).
sandbox_process = importlib.import_module("sandbox_ingest").sandbox_process


BASE = "/api/LynnService"
CHUNK = 1000
IN_FLIGHT = 4
PENDING_TASKS = 16  # the tool's default LYNN_MAX_PENDING_TASKS: chunks sent and awaiting their task
SIDES = {
    "baseline": "baseline: bare httpx2 POSTs, no checks/waits",
    "reference": "reference: the baseline, waiting for each task",
    "tool": "load_campaign_data tool (validate, send, wait)",
}


def write_csv(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SEED_TEMPLATE_COLUMNS)
        for i in range(rows):
            writer.writerow([f"Name {i}", f"569{i:08d}", "5000", "03/05/2024", "Store", str(i), str(i), "3"])
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def run_tool(base_url: str, path: Path) -> dict[str, Any]:
    from mcp import Client

    from lynn_mcp.config import Settings
    from lynn_mcp.server import build_server

    values: dict[str, Any] = {
        "base_url": base_url,
        "tenant": SEED_TENANT,
        "access_token": SEED_ACCESS_TOKEN,
        "access_token_secret": SEED_ACCESS_TOKEN_SECRET,
        "log_level": "WARNING",
    }
    settings = Settings(_env_file=None, **values)
    async with Client(build_server(settings)) as client:
        # Same footing as the baseline, which has its HTTP client, token and imports before its
        # clock starts: one read call builds the client and exchanges the token, and a one-row dry
        # run imports the bulk workflow and compiles the client's output-schema validator.
        warm_up = await client.call_tool("get_task_status", {"task_id": "not-a-task"})
        assert warm_up.is_error
        with path.open(encoding="utf-8", newline="") as handle:
            first_row = next(csv.DictReader(handle))
        dry_run = {"template_id": SEED_TEMPLATE_ID, "rows": [first_row], "dry_run": True}
        warm_up = await client.call_tool("load_campaign_data", dry_run)
        assert not warm_up.is_error, warm_up.content
        start = time.perf_counter()
        result = await client.call_tool(
            "load_campaign_data", {"template_id": SEED_TEMPLATE_ID, "file_path": str(path), "timeout_s": 600}
        )
        seconds = time.perf_counter() - start
    report = result.structured_content
    assert not result.is_error, result.content
    assert report is not None
    return {"seconds": seconds, "accepted": report["accepted"], "unprocessed": report["unprocessed"]}


async def run_bare(base_url: str, path: Path, *, wait: bool) -> dict[str, Any]:
    """The baseline (`wait=False`), or the reference: the same POSTs, then each chunk's task polled
    until it finishes, as the tool polls: a chunk starts once the chunk IN_FLIGHT before it is done,
    and at most PENDING_TASKS chunks await their tasks."""
    async with httpx2.AsyncClient(base_url=base_url, timeout=60) as http:
        creds = {
            "accessToken": SEED_ACCESS_TOKEN,
            "accessTokenSecret": SEED_ACCESS_TOKEN_SECRET,
            "tenant": SEED_TENANT,
        }
        token = (await http.post(f"{BASE}/CreateToken", json=creds)).json()["token"]
        headers = {"Authorization": f"bearer {token}"}
        start = time.perf_counter()
        posting = asyncio.Semaphore(IN_FLIGHT)
        pending = asyncio.Semaphore(PENDING_TASKS)
        accepted = 0

        async def settled(task_id: str) -> int:
            delay = 0.01
            while True:
                url = f"{BASE}/GetTaskStatus/{SEED_TENANT}/{task_id}"
                task = (await http.get(url, headers=headers)).json()
                if task["state"] in ("Completed", "Failed"):
                    return int(task["succeeded"])
                await asyncio.sleep(delay)
                delay *= 1.3

        async def send(rows: list[dict[str, str]], before: asyncio.Event | None, done: asyncio.Event) -> None:
            nonlocal accepted
            try:
                try:
                    body = {"campaingId": "", "templateId": SEED_TEMPLATE_ID, "typeOfData": 0, "data": rows}
                    response = await http.post(
                        f"{BASE}/AddCampaingData/{SEED_TENANT}", json=body, headers=headers
                    )
                    response.raise_for_status()
                finally:
                    posting.release()
                if not wait:
                    accepted += len(rows)
                    return
                if before is not None:
                    await before.wait()
                # Not `accepted += await ...`, which reads `accepted` before awaiting: chunks polled
                # side by side would overwrite each other's counts.
                succeeded = await settled(response.json()["taskId"])
                accepted += succeeded
            finally:
                pending.release()
                done.set()

        async with asyncio.TaskGroup() as group:
            earlier_done: deque[asyncio.Event] = deque(maxlen=IN_FLIGHT)

            async def launch(rows: list[dict[str, str]]) -> None:
                await pending.acquire()
                await posting.acquire()
                done = asyncio.Event()
                oldest = earlier_done[0] if len(earlier_done) == IN_FLIGHT else None
                group.create_task(send(rows, oldest, done))
                earlier_done.append(done)

            with path.open(encoding="utf-8", newline="") as handle:
                chunk: list[dict[str, str]] = []
                for row in csv.DictReader(handle):
                    chunk.append(row)
                    if len(chunk) == CHUNK:
                        await launch(chunk)
                        chunk = []
                if chunk:
                    await launch(chunk)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "accepted": accepted, "unprocessed": 0}


def worker(side: str, base_url: str, path: Path) -> None:
    if side == "tool":
        result = asyncio.run(run_tool(base_url, path))
    else:
        result = asyncio.run(run_bare(base_url, path, wait=side == "reference"))
    print(json.dumps(result | {"peak_rss_mb": peak_rss_mb()}))


def measure(side: str, path: Path, rows: int, database: Path, latency_ms: int) -> dict[str, Any]:
    with sandbox_process(database, 0) as base_url:
        if latency_ms:  # every /api/ answer waits this long at the sandbox, like a round trip to Lynn
            httpx2.post(f"{base_url}/sandbox/faults", json={"latencyMs": latency_ms}).raise_for_status()
        out = subprocess.run(
            [sys.executable, __file__, "--worker", side, "--base-url", base_url, "--csv", str(path)],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    assert result["accepted"] == rows, result
    assert result["unprocessed"] == 0, result
    return result | {"rows_per_s": rows / result["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--small-rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="turns of every side (default 3)")
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every Lynn answer (default 0)")
    parser.add_argument("--worker", choices=list(SIDES), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.base_url, args.csv)
        return
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in [*SIDES, "tool-small"]}
    with tempfile.TemporaryDirectory(prefix="lynn-bulk-bench-") as name:
        tmp = Path(name)
        big = write_csv(tmp / "big.csv", args.rows)
        small = write_csv(tmp / "small.csv", args.small_rows)
        for turn in range(args.repeats):
            for side in SIDES:
                runs[side].append(
                    measure(side, big, args.rows, tmp / f"{side}-{turn}.sqlite3", args.latency_ms)
                )
            runs["tool-small"].append(
                measure("tool", small, args.small_rows, tmp / f"small-{turn}.sqlite3", args.latency_ms)
            )
    median = {
        side: {
            key: statistics.median(run[key] for run in side_runs)
            for key in ("seconds", "rows_per_s", "peak_rss_mb")
        }
        for side, side_runs in runs.items()
    }
    print(
        f"rows: {args.rows:,} from CSV, chunks of {CHUNK:,}, {IN_FLIGHT} in flight, sandbox task delay 0 ms,"
        f" latency {args.latency_ms} ms, median of {args.repeats} turn(s)"
    )
    print(f"{'side':<50}{'seconds':>9}{'rows/s':>10}{'peak RSS MB':>13}")
    for side, label in SIDES.items():
        m = median[side]
        print(f"{label:<50}{m['seconds']:>9.2f}{m['rows_per_s']:>10,.0f}{m['peak_rss_mb']:>13.1f}")
    for side in SIDES:
        seconds = " ".join(f"{run['seconds']:.2f}" for run in runs[side])
        print(f"  {side} runs (s): {seconds}")
    rate = {side: median[side]["rows_per_s"] for side in SIDES}
    print(f"tool / baseline rows/s: {rate['tool'] / rate['baseline']:.2f} (goal >= 0.80)")
    print(
        f"tool / reference rows/s: {rate['tool'] / rate['reference']:.2f} (checks and report, beyond waiting)"
    )
    print(f"reference / baseline rows/s: {rate['reference'] / rate['baseline']:.2f} (waiting alone)")
    tool_rss, small_rss = median["tool"]["peak_rss_mb"], median["tool-small"]["peak_rss_mb"]
    print(f"tool peak RSS: {tool_rss:.1f} MB (goal <= 150); at {args.small_rows:,} rows "
          f"{small_rss:.1f} MB, growth {tool_rss - small_rss:+.1f} MB (goal <= 20)")  # fmt: skip


if __name__ == "__main__":
    main()
