"""Start-up: spawn `lynn-mcp` over stdio until its tools/list reply arrives, next to a bare MCPServer
with one trivial tool (the SDK's own floor), runs interleaved; then the top import costs of the
stdio start path (`python -X importtime -m lynn_mcp`).

    .venv/bin/python bench/startup.py [--runs 10] [--json figures.json]

Both servers are driven the way an IDE does it (raw JSON-RPC over pipes: initialize with the
2025-11-25 handshake, initialized, tools/list), so client-side cost is identical and tiny.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    STDIO_HANDSHAKE_AND_LIST,
    Figure,
    clean_env,
    loadavg,
    median,
    print_table,
    quantile,
    write_figures,
)

GOAL_RATIO = 1.2
TIMEOUT_S = 30.0

BARE_SERVER = '''\
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("bare")


@mcp.tool()
def ping() -> str:
    """Answer pong."""
    return "pong"


mcp.run("stdio")
'''


async def spawn_until_tools(cmd: list[str], cwd: str) -> tuple[float, int]:
    """Seconds from spawn to the tools/list reply, and the number of tools listed."""
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
        env=clean_env(),
        limit=16 * 1024 * 1024,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        proc.stdin.write(STDIO_HANDSHAKE_AND_LIST)
        await proc.stdin.drain()
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                line = await proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"{cmd[0]} closed stdout before answering tools/list")
                reply = json.loads(line)
                if reply.get("id") == 2:
                    elapsed = time.perf_counter() - started
                    return elapsed, len(reply["result"]["tools"])
    finally:
        proc.stdin.close()
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


def importtime(cwd: str) -> list[tuple[str, int, int]]:
    """(module, self µs, cumulative µs) of every import on the stdio start path (stdin at EOF)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lynn_mcp"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        cwd=cwd,
        env=clean_env(),
        timeout=TIMEOUT_S,
        check=False,
    )
    pattern = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")
    return [
        (m.group(4), int(m.group(1)), int(m.group(2)))
        for m in map(pattern.match, done.stderr.decode().splitlines())
        if m
    ]


def report_imports(cwd: str) -> tuple[dict[str, float], list[tuple[str, int, int]]]:
    rows = importtime(cwd)
    per_package: dict[str, float] = defaultdict(float)
    for name, self_us, _ in rows:
        per_package[name.split(".")[0]] += self_us / 1000
    return per_package, sorted(rows, key=lambda row: -row[1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=10, help="spawns per server (default 10)")
    p.add_argument("--json", help="write the figures here (for bench/run.py)")
    args = p.parse_args()
    load_before = loadavg()
    lynn_cmd = [sys.executable, "-m", "lynn_mcp"]
    script = Path(sys.executable).parent / "lynn-mcp"
    if script.exists():
        lynn_cmd = [str(script)]
    with tempfile.TemporaryDirectory() as tmp:
        bare_path = Path(tmp) / "bare_server.py"
        bare_path.write_text(BARE_SERVER)
        bare_cmd = [sys.executable, str(bare_path)]

        async def measure() -> tuple[list[float], list[float], int]:
            await spawn_until_tools(bare_cmd, tmp)  # warm-up: byte-code caches, page cache
            await spawn_until_tools(lynn_cmd, tmp)
            bare: list[float] = []
            lynn: list[float] = []
            tools = 0
            for _ in range(args.runs):  # interleaved, so background load hits both alike
                bare.append((await spawn_until_tools(bare_cmd, tmp))[0])
                seconds, tools = await spawn_until_tools(lynn_cmd, tmp)
                lynn.append(seconds)
            return bare, lynn, tools

        bare, lynn, tools = asyncio.run(measure())
        per_package, top = report_imports(tmp)
    load_after = loadavg()

    ratio = median(lynn) / median(bare)
    print(f"start-up: spawn over stdio until the tools/list reply, {args.runs} runs each, interleaved")
    print(f"load average before {load_before}, after {load_after}")
    rows = []
    for name, samples in ((f"lynn-mcp ({tools} tools)", lynn), ("bare MCPServer (1 tool)", bare)):
        rows.append([
            name, f"{median(samples) * 1000:.0f}", f"{min(samples) * 1000:.0f}",
            f"{max(samples) * 1000:.0f}", f"{(quantile(samples, 0.75) - quantile(samples, 0.25)) * 1000:.0f}",
        ])  # fmt: skip
    print_table(["server", "median ms", "min ms", "max ms", "IQR ms"], rows)
    print(f"ratio lynn-mcp / bare: {ratio:.2f}  (goal <= {GOAL_RATIO})")
    print()
    print("import time on the stdio start path (python -X importtime -m lynn_mcp), self time per package:")
    packages = sorted(per_package.items(), key=lambda item: -item[1])
    total = sum(per_package.values())
    print_table(
        ["package", "ms", "share"],
        [[name, f"{ms:.1f}", f"{ms / total:.0%}"] for name, ms in packages[:12]],
    )
    print(f"total {total:.0f} ms over {len(per_package)} packages")
    print()
    print("top modules by self time:")
    print_table(
        ["module", "self ms", "cumulative ms"],
        [[n, f"{s / 1000:.1f}", f"{c / 1000:.1f}"] for n, s, c in top[:10]],
    )
    ours = sum(ms for name, ms in per_package.items() if name == "lynn_mcp")
    lynn_ms, bare_ms = median(lynn) * 1000, median(bare) * 1000
    goal = f"ratio <= {GOAL_RATIO}"
    spread = ((max(lynn) - min(lynn)) * 1000, (max(bare) - min(bare)) * 1000)
    write_figures(
        args.json,
        [
            Figure("start-up", "stdio spawn -> tools/list, median", lynn_ms, "ms", "bare MCPServer",
                   bare_ms, ratio, goal, ratio <= GOAL_RATIO),
            Figure("start-up", "stdio spawn spread, max-min", spread[0], "ms", "bare MCPServer", spread[1]),
            Figure("start-up", "import time, lynn_mcp modules (self)", ours, "ms", "all imports", total,
                   ours / total),
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
