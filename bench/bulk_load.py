"""Bulk loading: load_campaign_data (through the MCP tool, in-process client) against a baseline that
posts the same 1,000-row chunks with bare httpx2, no validation and no waiting for tasks.

Each side runs in its own subprocess (so peak RSS is that side's alone) against its own fresh
sandbox process (loopback only). Prints rows/s, peak RSS, the ratio, and the tool's peak RSS at
10,000 vs 100,000 rows.

    .venv/bin/python bench/bulk_load.py [--rows 100000] [--small-rows 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib
import json
import resource
import subprocess
import sys
import tempfile
import time
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


async def run_baseline(base_url: str, path: Path) -> dict[str, Any]:
    async with httpx2.AsyncClient(base_url=base_url, timeout=60) as http:
        creds = {
            "accessToken": SEED_ACCESS_TOKEN,
            "accessTokenSecret": SEED_ACCESS_TOKEN_SECRET,
            "tenant": SEED_TENANT,
        }
        token = (await http.post(f"{BASE}/CreateToken", json=creds)).json()["token"]
        headers = {"Authorization": f"bearer {token}"}
        start = time.perf_counter()
        slots = asyncio.Semaphore(IN_FLIGHT)
        posted = 0

        async def post(rows: list[dict[str, str]]) -> None:
            nonlocal posted
            try:
                body = {"campaingId": "", "templateId": SEED_TEMPLATE_ID, "typeOfData": 0, "data": rows}
                response = await http.post(
                    f"{BASE}/AddCampaingData/{SEED_TENANT}", json=body, headers=headers
                )
                response.raise_for_status()
                posted += len(rows)
            finally:
                slots.release()

        async with asyncio.TaskGroup() as group:
            with path.open(encoding="utf-8", newline="") as handle:
                chunk: list[dict[str, str]] = []
                for row in csv.DictReader(handle):
                    chunk.append(row)
                    if len(chunk) == CHUNK:
                        await slots.acquire()
                        group.create_task(post(chunk))
                        chunk = []
                if chunk:
                    await slots.acquire()
                    group.create_task(post(chunk))
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "accepted": posted, "unprocessed": 0}


def worker(side: str, base_url: str, path: Path) -> None:
    runner = run_tool if side == "tool" else run_baseline
    result = asyncio.run(runner(base_url, path))
    print(json.dumps(result | {"peak_rss_mb": peak_rss_mb()}))


def measure(side: str, path: Path, rows: int, tmp: Path) -> dict[str, Any]:
    with sandbox_process(tmp / f"{side}-{rows}.sqlite3", 0) as base_url:
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
    parser.add_argument("--worker", choices=["tool", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.base_url, args.csv)
        return
    with tempfile.TemporaryDirectory(prefix="lynn-bulk-bench-") as name:
        tmp = Path(name)
        big = write_csv(tmp / "big.csv", args.rows)
        small = write_csv(tmp / "small.csv", args.small_rows)
        baseline = measure("baseline", big, args.rows, tmp)
        tool = measure("tool", big, args.rows, tmp)
        tool_small = measure("tool", small, args.small_rows, tmp)
    print(
        f"rows: {args.rows:,} from CSV, chunks of {CHUNK:,}, {IN_FLIGHT} in flight, sandbox task delay 0 ms"
    )
    print(f"{'side':<46}{'seconds':>9}{'rows/s':>10}{'peak RSS MB':>13}")
    print(f"{'baseline: bare httpx2 POSTs, no checks/waits':<46}{baseline['seconds']:>9.2f}"
          f"{baseline['rows_per_s']:>10,.0f}{baseline['peak_rss_mb']:>13.1f}")  # fmt: skip
    print(f"{'load_campaign_data tool (validate, send, wait)':<46}{tool['seconds']:>9.2f}"
          f"{tool['rows_per_s']:>10,.0f}{tool['peak_rss_mb']:>13.1f}")  # fmt: skip
    ratio = tool["rows_per_s"] / baseline["rows_per_s"]
    growth = tool["peak_rss_mb"] - tool_small["peak_rss_mb"]
    print(f"tool / baseline rows/s: {ratio:.2f} (goal >= 0.80)")
    print(f"tool peak RSS: {tool['peak_rss_mb']:.1f} MB (goal <= 150); at {args.small_rows:,} rows "
          f"{tool_small['peak_rss_mb']:.1f} MB, growth {growth:+.1f} MB (goal <= 20)")  # fmt: skip


if __name__ == "__main__":
    main()
