"""HTTP transport under load from a load generator that is not Python: `wrk` (Debian) sends the same
stateless tool call (`get_campaign`, the request an SDK client sends on 2026-07-28: TOOL_CALL in
bench/http_deploy.py) over and over, and the server's own CPU time per call is read from
/proc/<pid>/stat.

    .venv/bin/python bench/http_scale.py [--duration 30] [--rounds 3] [--connections 16] [--quick] [--json F]

Three setups, each against the same sandbox process (its own process, task delay 0):

- bare: a bare SDK `MCPServer` with one tool doing the same httpx2 GET (bench/http_bare.py), the
  floor lynn-mcp is compared with;
- 1 replica: `lynn-mcp --http` as deployed (LYNN_HTTP_TOKEN, LYNN_SIGNING_KEY, default log level);
- 2 replicas + nginx: the docs/deploy.md recipe (bench/http_deploy.py), wrk pointed at nginx.

Each setup gets `--duration` seconds of load in total, split into `--rounds` runs that alternate
between the setups (so that background load on the shared machine hits them alike), after a 2 s
warm-up each. CPU per call = the server processes' user + system time during a run / the calls wrk
completed in it. Goal: lynn-mcp's CPU per call at most 1.3x the bare server's. Every process is on
loopback, every run is bounded by its duration, and everything stops by itself.
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    ROOT,
    Figure,
    free_port,
    loadavg,
    print_table,
    sandbox_env,
    sandbox_process,
    stop,
    wait_http,
    write_figures,
)
from bench.http_deploy import (
    REPLICA_ADDRESSES,
    TOOL_CALL,
    TOOL_CALL_HEADERS,
    Nginx,
    Replica,
    cpu_seconds,
    free_replica_port,
    render_site,
)

GOAL_CPU_RATIO = 1.3
WARM_UP_S = 2

# wrk's Lua: the request above; every answer must be HTTP 200 with "isError":false (a tool error
# or an HTTP error is counted); at the end one JSON line with the counts and the latencies.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
{headers}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) failed = 0 end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"isError":false', 1, true) then failed = failed + 1 end
end
function done(summary, latency, requests)
  local failed_total = 0
  for _, thread in ipairs(threads) do failed_total = failed_total + thread:get("failed") end
  local e = summary.errors
  io.write(string.format(
    'WRK {{"requests": %d, "duration_us": %d, "failed": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, failed_total, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


@dataclass
class Run:
    calls: int
    seconds: float
    failed: int
    p50_ms: float
    p95_ms: float
    server_cpu_s: float
    wrk_cpu_s: float
    other_cpu_s: float  # nginx, for the replicas behind it

    @property
    def rate(self) -> float:
        return self.calls / self.seconds


@dataclass
class Setup:
    name: str
    url: str
    server_pids: list[int]
    other_pids: list[int] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)

    def total(self, attribute: str) -> float:
        return float(sum(getattr(run, attribute) for run in self.runs))

    def cpu_ms_per_call(self) -> float:
        return 1000 * self.total("server_cpu_s") / self.total("calls")

    def row(self) -> list[str]:
        calls = self.total("calls")
        return [
            self.name,
            f"{int(calls):,}",
            f"{calls / self.total('seconds'):,.0f}",
            f"{statistics.median(r.p50_ms for r in self.runs):.1f}",
            f"{statistics.median(r.p95_ms for r in self.runs):.1f}",
            f"{self.cpu_ms_per_call():.3f}",
            " ".join(f"{1000 * r.server_cpu_s / r.calls:.3f}" for r in self.runs),
            f"{1000 * self.total('wrk_cpu_s') / calls:.3f}",
            f"{1000 * self.total('other_cpu_s') / calls:.3f}" if self.other_pids else "",
            str(int(self.total("failed"))),
        ]


def wrk_script(path: Path, bearer: str) -> Path:
    headers = {**TOOL_CALL_HEADERS, "Authorization": f"Bearer {bearer}"}
    lines = "\n".join(f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items())
    path.write_text(WRK_SCRIPT.format(body=json.dumps(TOOL_CALL, separators=(",", ":")), headers=lines))
    return path


def run_wrk(setup: Setup, script: Path, seconds: float, connections: int) -> Run:
    """One wrk run against `setup`, with the CPU its processes (and wrk) spent during it."""
    cpu_before = cpu_seconds(setup.server_pids)
    other_before = cpu_seconds(setup.other_pids)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script),
         f"{setup.url}/mcp"],
        capture_output=True, text=True, timeout=seconds + 60, check=False,
    )  # fmt: skip
    time.sleep(0.2)  # the calls in flight when wrk stopped finish (not counted: a tiny overestimate)
    server_cpu = cpu_seconds(setup.server_pids) - cpu_before
    other_cpu = cpu_seconds(setup.other_pids) - other_before
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    line = next((ln for ln in wrk.stdout.splitlines() if ln.startswith("WRK ")), None)
    if wrk.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({wrk.returncode}): {wrk.stderr.strip() or wrk.stdout.strip()}")
    out = json.loads(line.removeprefix("WRK "))
    return Run(
        calls=out["requests"],
        seconds=out["duration_us"] / 1e6,
        failed=out["failed"] + out["socket_errors"],
        p50_ms=out["p50_us"] / 1000,
        p95_ms=out["p95_us"] / 1000,
        server_cpu_s=server_cpu,
        wrk_cpu_s=wrk_cpu,
        other_cpu_s=other_cpu,
    )


@contextmanager
def bare_server(base_url: str, workdir: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    log = (workdir / "bare.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "http_bare.py"), "--port", str(port), "--base-url", base_url],
        stdout=log, stderr=log, cwd=workdir,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        stop(proc)
        log.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--duration", type=float, default=30.0, help="seconds of load per setup (default 30)")
    p.add_argument("--rounds", type=int, default=3, help="runs per setup, alternating (default 3)")
    p.add_argument("--connections", type=int, default=16, help="wrk's open connections (default 16)")
    p.add_argument("--quick", action="store_true", help="smoke run: 6 s per setup in 2 rounds")
    p.add_argument("--json", help="write the figures here (for bench/run.py)")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/http_scale.py needs wrk, the HTTP load generator: apt-get install wrk (Debian)")
    duration, rounds = (6.0, 2) if args.quick else (args.duration, args.rounds)
    load_before = loadavg()
    bearer = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        work = Path(tmp)
        sandbox_pids: list[int] = []
        base_url = stack.enter_context(sandbox_process(work / "sandbox.sqlite3", pids=sandbox_pids))
        bare_url, bare_pid = stack.enter_context(bare_server(base_url, work))
        env = sandbox_env(base_url, LYNN_SIGNING_KEY=secrets.token_urlsafe(32), LYNN_HTTP_TOKEN=bearer)
        env.pop("LYNN_LOG_LEVEL")  # as deployed: the default level
        lynn_mcp = [str(Path(sys.executable).parent / "lynn-mcp")]
        port = free_replica_port()
        replicas = []
        for address in REPLICA_ADDRESSES:
            (work / address).mkdir()
            replica = Replica(lynn_mcp, address, port, env, work / address / "replica.log")
            stack.callback(replica.stop)
            replicas.append(replica.start())
        listen_port = free_port()
        nginx = stack.enter_context(
            Nginx(
                work / "nginx",
                render_site(listen_port=listen_port, replica_port=port),
                listen_port=listen_port,
            )
        )
        setups = [
            Setup("bare MCPServer, 1 tool", bare_url, [bare_pid]),
            Setup("lynn-mcp, 1 replica", f"http://{replicas[0].upstream}", [replicas[0].pid]),
            Setup("lynn-mcp, 2 replicas + nginx", nginx.url, [r.pid for r in replicas], nginx.pids()),
        ]
        script = wrk_script(work / "call.lua", bearer)
        for setup in setups:
            run_wrk(setup, script, WARM_UP_S, args.connections)
        sandbox_before = cpu_seconds(sandbox_pids)
        for turn in range(rounds):
            order = setups if turn % 2 == 0 else setups[::-1]
            for setup in order:
                setup.runs.append(run_wrk(setup, script, duration / rounds, args.connections))
        sandbox_cpu = cpu_seconds(sandbox_pids) - sandbox_before
    load_after = loadavg()
    report(setups, args.connections, duration, rounds, load_before, load_after, sandbox_cpu, args.json)


def report(
    setups: Sequence[Setup],
    connections: int,
    duration: float,
    rounds: int,
    load_before: str,
    load_after: str,
    sandbox_cpu: float,
    json_path: str | None,
) -> None:
    bare, single, pair = setups
    all_calls = sum(s.total("calls") for s in setups)
    print(f"HTTP transport under wrk (-t1 -c{connections}): get_campaign, stateless, JSON responses; "
          f"{duration:.0f} s per setup in {rounds} alternating runs, {WARM_UP_S} s warm-up")  # fmt: skip
    print(f"load average before {load_before}, after {load_after}")
    print_table(
        ["setup", "calls", "calls/s", "p50 ms", "p95 ms", "server CPU ms/call", "per run", "wrk CPU ms/call",
         "nginx CPU ms/call", "failed"],
        [s.row() for s in setups],
    )  # fmt: skip
    print(f"sandbox CPU per call (every setup): {1000 * sandbox_cpu / all_calls:.3f} ms")
    ratio = single.cpu_ms_per_call() / bare.cpu_ms_per_call()
    per_run = [
        (a.server_cpu_s / a.calls) / (b.server_cpu_s / b.calls)
        for a, b in zip(single.runs, bare.runs, strict=True)
    ]
    met = ratio <= GOAL_CPU_RATIO
    print(f"CPU per call, lynn-mcp / bare: {ratio:.2f} (runs: {' '.join(f'{r:.2f}' for r in per_run)}; "
          f"goal <= {GOAL_CPU_RATIO}: {'met' if met else 'MISSED'})")  # fmt: skip
    failed = sum(s.total("failed") for s in setups)
    figures = [
        Figure("http", "server CPU per call, 1 replica", single.cpu_ms_per_call(), "ms", "bare MCPServer",
               bare.cpu_ms_per_call(), ratio, f"<= {GOAL_CPU_RATIO}x", met),
        Figure("http", "server CPU per call, 2 replicas + nginx", pair.cpu_ms_per_call(), "ms",
               "bare MCPServer", bare.cpu_ms_per_call(), pair.cpu_ms_per_call() / bare.cpu_ms_per_call()),
        Figure("http", "failed calls", failed, "", goal="0", met=failed == 0),
    ]  # fmt: skip
    for setup in setups:
        calls = setup.total("calls")
        figures += [
            Figure("http", f"{setup.name}: calls/s", calls / setup.total("seconds"), "calls/s"),
            Figure("http", f"{setup.name}: p50", statistics.median(r.p50_ms for r in setup.runs), "ms"),
            Figure("http", f"{setup.name}: p95", statistics.median(r.p95_ms for r in setup.runs), "ms"),
        ]
    write_figures(json_path, figures)


if __name__ == "__main__":
    main()
