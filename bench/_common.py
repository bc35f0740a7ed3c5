"""Helpers the benchmarks share: statistics, the sandbox in its own process, figures for the runner.

Every benchmark prints its own table and, with `--json PATH`, writes its figures (value, baseline,
ratio, goal) so that `bench/run.py` can print one table of everything.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent


# What an IDE sends a freshly spawned stdio server before it can use it: the 2025-11-25 handshake,
# then tools/list. Newline-delimited JSON-RPC, ready to write to the server's stdin.
def stdio_handshake_and_list(capabilities: dict[str, object] | None = None) -> bytes:
    """The handshake and tools/list; `capabilities` are the client's (an apps host adds its extension)."""
    return b"".join(
        json.dumps(message).encode() + b"\n"
        for message in (
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": capabilities or {},
                    "clientInfo": {"name": "lynn-mcp-bench", "version": "0"},
                },
            },
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        )
    )


STDIO_HANDSHAKE_AND_LIST = stdio_handshake_and_list()
# A host that renders MCP Apps (Claude, ChatGPT, VS Code...): it is shown the tools' links to views.
APPS_HOST_CAPABILITIES: dict[str, object] = {
    "extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html;profile=mcp-app"]}}
}


@dataclass
class Figure:
    """One measured figure, with the baseline it is compared to and the goal it must meet."""

    bench: str
    measure: str
    value: float
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None

    def row(self) -> list[str]:
        base = "" if self.baseline_value is None else f"{self.baseline}: {fmt(self.baseline_value)}"
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}x"
        met = "" if self.met is None else ("met" if self.met else "MISSED")
        value = self.unit if self.unit in ("pass", "fail") else f"{fmt(self.value)} {self.unit}".strip()
        return [self.bench, self.measure, value, base, ratio, self.goal, met]


def fmt(value: float) -> str:
    if value == int(value) and abs(value) >= 100:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def write_figures(path: str | None, figures: Sequence[Figure]) -> None:
    if path:
        Path(path).write_text(json.dumps([asdict(f) for f in figures], indent=1))


def read_figures(path: Path) -> list[Figure]:
    if not path.exists() or not path.read_text().strip():
        return []
    return [Figure(**item) for item in json.loads(path.read_text())]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]
    for line in [list(headers), ["-" * w for w in widths], *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=False)).rstrip())


def quantile(samples: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation between closest ranks."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any LYNN_* variable (a developer's own must not leak in), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LYNN_")}
    env.update(extra)
    return env


def wait_http(url: str, *, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with {proc.returncode}")
        try:
            if httpx2.get(url, timeout=2).status_code < 500:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes], *, timeout: float = 10.0) -> None:
    """SIGINT, then SIGKILL if it will not stop in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


@contextmanager
def sandbox_process(db: Path, *, task_delay_ms: int = 0, pids: list[int] | None = None) -> Iterator[str]:
    """The sandbox CLI in its own process (its own GIL), on a free loopback port; yields its URL
    (and appends its pid to `pids`, for CPU accounting)."""
    port = free_port()
    cmd = [sys.executable, "-m", "lynn_mcp.sandbox", "--port", str(port), "--db", str(db)]
    proc = subprocess.Popen(
        [*cmd, "--task-delay-ms", str(task_delay_ms)], stdout=subprocess.DEVNULL, env=clean_env()
    )
    if pids is not None:
        pids.append(proc.pid)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base_url}/sandbox/health", proc=proc)
        yield base_url
    finally:
        stop(proc)


def sandbox_env(base_url: str, **extra: str) -> dict[str, str]:
    """LYNN_* variables for the sandbox's seeded tenant (imported lazily: the sandbox is heavy)."""
    from lynn_mcp.sandbox import SEED_ACCESS_TOKEN, SEED_ACCESS_TOKEN_SECRET, SEED_TENANT

    return clean_env(
        LYNN_BASE_URL=base_url,
        LYNN_TENANT=str(SEED_TENANT),
        LYNN_ACCESS_TOKEN=SEED_ACCESS_TOKEN,
        LYNN_ACCESS_TOKEN_SECRET=SEED_ACCESS_TOKEN_SECRET,
        LYNN_LOG_LEVEL="WARNING",
        **extra,
    )
