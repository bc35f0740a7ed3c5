"""Per-call cost: `get_campaign` through an in-memory MCP client (both protocol eras) vs the same
through `LynnClient` directly vs a bare `httpx2` GET, all against one sandbox over a real socket.

    .venv/bin/python bench/per_call.py [--calls 2000] [--json figures.json]

The sandbox runs in its own process; the layers run in this one, interleaved in small blocks so
that background load hits them alike. Logging is configured the way `lynn-mcp` configures it
(install_redaction at the default INFO level; the stream is /dev/null instead of an IDE's pipe).
Overhead of a layer = its p50 minus the p50 of the layer beneath it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2
from mcp import Client
from pydantic import SecretStr

from bench._common import Figure, loadavg, print_table, quantile, sandbox_process, write_figures
from lynn_mcp.config import Settings
from lynn_mcp.lynn.client import LynnClient
from lynn_mcp.redaction import install_redaction
from lynn_mcp.sandbox import SEED_ACCESS_TOKEN, SEED_ACCESS_TOKEN_SECRET, SEED_CAMPAIGN_ID, SEED_TENANT
from lynn_mcp.server import build_server

GOAL_MCP_MS = 1.5
GOAL_CLIENT_MS = 0.3
BLOCK = 25

Call = Callable[[], Awaitable[object]]


def settings_for(base_url: str) -> Settings:
    return Settings(
        _env_file=None,
        base_url=base_url,
        tenant=SEED_TENANT,
        access_token=SecretStr(SEED_ACCESS_TOKEN),
        access_token_secret=SecretStr(SEED_ACCESS_TOKEN_SECRET),
    )


async def measure(base_url: str, calls: int) -> dict[str, list[float]]:
    settings = settings_for(base_url)
    path = f"/api/LynnService/GetCampaign/{SEED_TENANT}/{SEED_CAMPAIGN_ID}"
    creds = {
        "accessToken": SEED_ACCESS_TOKEN,
        "accessTokenSecret": SEED_ACCESS_TOKEN_SECRET,
        "tenant": SEED_TENANT,
    }
    async with (
        httpx2.AsyncClient(base_url=base_url) as http,
        LynnClient(settings) as lynn,
        Client(build_server(settings)) as modern,
        Client(build_server(settings), mode="legacy") as legacy,
    ):
        token = (await http.post("/api/LynnService/CreateToken", json=creds)).json()["token"]
        headers = {"Authorization": f"bearer {token}"}
        arguments = {"campaign_id": SEED_CAMPAIGN_ID}

        async def bare() -> object:
            response = await http.get(path, headers=headers)
            response.raise_for_status()
            return response.json()

        async def client() -> object:
            return await lynn.get_campaign(SEED_CAMPAIGN_ID)

        async def mcp_modern() -> object:
            result = await modern.call_tool("get_campaign", arguments)
            assert not result.is_error, result.content
            return result

        async def mcp_legacy() -> object:
            result = await legacy.call_tool("get_campaign", arguments)
            assert not result.is_error, result.content
            return result

        layers: dict[str, Call] = {
            "httpx2 GET (bare)": bare,
            "LynnClient.get_campaign": client,
            "MCP get_campaign, 2026-07-28": mcp_modern,
            "MCP get_campaign, 2025-11-25": mcp_legacy,
        }
        samples: dict[str, list[float]] = {name: [] for name in layers}
        for fn in layers.values():  # warm-up: connections, token, caches
            for _ in range(50):
                await fn()
        for _ in range(max(1, calls // BLOCK)):
            for name, fn in layers.items():
                for _ in range(BLOCK):
                    started = time.perf_counter()
                    await fn()
                    samples[name].append((time.perf_counter() - started) * 1000)
        return samples


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--calls", type=int, default=2000, help="calls per layer (default 2000)")
    p.add_argument("--json", help="write the figures here (for bench/run.py)")
    args = p.parse_args()
    load_before = loadavg()
    with open(os.devnull, "w") as devnull:
        install_redaction(os.environ.get("BENCH_LOG", "INFO"), stream=devnull)  # as `lynn-mcp` does
        with tempfile.TemporaryDirectory() as tmp, sandbox_process(Path(tmp) / "sandbox.sqlite3") as base_url:
            samples = asyncio.run(measure(base_url, args.calls))
    load_after = loadavg()
    p50 = {name: quantile(s, 0.5) for name, s in samples.items()}
    p95 = {name: quantile(s, 0.95) for name, s in samples.items()}
    names = list(samples)
    below = {names[1]: names[0], names[2]: names[1], names[3]: names[1]}
    print(f"per call: get_campaign against one sandbox process over loopback, {len(samples[names[0]])} calls "
          f"per layer in blocks of {BLOCK}, interleaved")  # fmt: skip
    print(f"load average before {load_before}, after {load_after}")
    rows = []
    for name in names:
        overhead = f"{p50[name] - p50[below[name]]:+.3f}" if name in below else ""
        rows.append([name, f"{p50[name]:.3f}", f"{p95[name]:.3f}", overhead])
    print_table(["layer", "p50 ms", "p95 ms", "p50 overhead vs layer below, ms"], rows)
    client_overhead = p50[names[1]] - p50[names[0]]
    mcp_overheads = {names[2]: p50[names[2]] - p50[names[1]], names[3]: p50[names[3]] - p50[names[1]]}
    print(f"client layer overhead {client_overhead:.3f} ms p50 (goal <= {GOAL_CLIENT_MS}); MCP layer "
          + ", ".join(f"{v:.3f} ms ({k.split(', ')[1]})" for k, v in mcp_overheads.items())
          + f" p50 (goal <= {GOAL_MCP_MS})")  # fmt: skip
    figures = [
        Figure("per call", "httpx2 GET p50", p50[names[0]], "ms"),
        Figure("per call", "LynnClient.get_campaign p50", p50[names[1]], "ms", "httpx2 GET", p50[names[0]],
               p50[names[1]] / p50[names[0]]),
        Figure("per call", "client layer overhead p50", client_overhead, "ms", goal=f"<= {GOAL_CLIENT_MS} ms",
               met=client_overhead <= GOAL_CLIENT_MS),
    ]  # fmt: skip
    for name in names[2:]:
        era = name.split(", ")[1]
        figures.append(
            Figure("per call", f"MCP get_campaign p50 ({era})", p50[name], "ms", "LynnClient", p50[names[1]],
                   p50[name] / p50[names[1]])
        )  # fmt: skip
        figures.append(
            Figure("per call", f"MCP layer overhead p50 ({era})", mcp_overheads[name], "ms",
                   goal=f"<= {GOAL_MCP_MS} ms", met=mcp_overheads[name] <= GOAL_MCP_MS)
        )  # fmt: skip
        figures.append(Figure("per call", f"MCP get_campaign p95 ({era})", p95[name], "ms"))
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
