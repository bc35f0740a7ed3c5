"""Run every benchmark and print one table of all figures with their baselines, ratios and goals.

    .venv/bin/python bench/run.py            # or: .venv/bin/python -m bench
    .venv/bin/python bench/run.py --quick    # smoke run (fewer spawns, calls, seconds, rows)

Each benchmark runs in its own subprocess (its own output is shown as it ran), with a time limit;
the suite stays under 5 minutes and touches loopback only. Benchmarks that write figures
(`--json`) feed the table directly; for the others the runner reads their summary lines.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, Figure, loadavg, print_table, read_figures

BENCH = ROOT / "bench"
Parser = Callable[[str], list[Figure]]


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def parse_ingest(out: str) -> list[Figure]:
    figures = []
    sandbox = re.search(r"sandbox: first POST -> all tasks Completed\s+([\d.]+)\s+([\d,]+)", out)
    baseline = re.search(r"baseline: executemany into sqlite only\s+([\d.]+)\s+([\d,]+)", out)
    if sandbox and baseline:
        rate, base = _number(sandbox.group(2)), _number(baseline.group(2))
        figures.append(
            Figure(
                "sandbox ingest",
                "AddCampaingData rows/s",
                rate,
                "rows/s",
                "sqlite executemany",
                base,
                rate / base,
                ">= 50,000",
                rate >= 50_000,
            )
        )
    return figures


def parse_bulk(out: str) -> list[Figure]:
    figures = []
    tool = re.search(r"load_campaign_data tool[^\n]*?([\d.]+)\s+([\d,]+)\s+([\d.]+)\s*$", out, re.M)
    base = re.search(r"baseline: bare httpx2[^\n]*?([\d.]+)\s+([\d,]+)\s+([\d.]+)\s*$", out, re.M)
    if tool and base:
        rate, base_rate = _number(tool.group(2)), _number(base.group(2))
        rss, base_rss = _number(tool.group(3)), _number(base.group(3))
        figures += [
            Figure("bulk", "load_campaign_data rows/s", rate, "rows/s", "bare httpx2", base_rate,
                   rate / base_rate, "ratio >= 0.80", rate / base_rate >= 0.80),
            Figure("bulk", "load_campaign_data peak RSS", rss, "MB", "bare httpx2", base_rss,
                   rss / base_rss, "<= 150 MB", rss <= 150),
        ]  # fmt: skip
    return figures


@dataclass
class Bench:
    name: str
    script: Path
    args: list[str]
    quick_args: list[str]
    timeout_s: float
    parse: Parser | None = None
    figures: list[Figure] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "not run"


def suite() -> list[Bench]:
    benches = [
        Bench("start-up", BENCH / "startup.py", ["--runs", "10"], ["--runs", "3"], 90),
        Bench("per call", BENCH / "per_call.py", ["--calls", "2000"], ["--calls", "300"], 90),
        Bench("http scale", BENCH / "http_scale.py", ["--duration", "20"], ["--quick"], 150),
        Bench("sandbox ingest", BENCH / "sandbox_ingest.py", ["--requests", "30"], ["--requests", "5"], 60,
              parse_ingest),
        Bench("bulk", BENCH / "bulk_load.py", [], ["--rows", "10000", "--small-rows", "2000",
              "--repeats", "1"], 180, parse_bulk),
        Bench("context", BENCH / "context_tokens.py", [], [], 60),
    ]  # fmt: skip
    return [bench for bench in benches if bench.script.exists()]


def run(bench: Bench, quick: bool, workdir: Path) -> None:
    out_json = workdir / f"{bench.script.stem}.json"
    takes_json = '"--json"' in bench.script.read_text()
    cmd = [sys.executable, str(bench.script), *(bench.quick_args if quick else bench.args)]
    if takes_json:
        cmd += ["--json", str(out_json)]
    print(f"\n=== {bench.name}: {' '.join(Path(c).name if c == sys.executable else c for c in cmd[1:])}")
    started = time.perf_counter()
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=bench.timeout_s, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        bench.status = f"timed out after {bench.timeout_s:.0f} s"
        print(bench.status)
        return
    finally:
        bench.seconds = time.perf_counter() - started
    print(done.stdout.rstrip())
    if done.returncode != 0:
        bench.status = f"failed (exit {done.returncode})"
        print(bench.status)
        print("\n".join(done.stderr.strip().splitlines()[-8:]))
        return
    bench.status = "ok"
    bench.figures = read_figures(out_json) if takes_json else []
    if bench.parse is not None:
        bench.figures += bench.parse(done.stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="smoke run: fewer spawns, calls, seconds and rows")
    p.add_argument("--only", help="comma-separated benchmark names (start-up, per call, http scale, ...)")
    args = p.parse_args()
    benches = suite()
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        benches = [bench for bench in benches if bench.name in wanted]
    load_before = loadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for bench in benches:
            run(bench, args.quick, Path(tmp))
    elapsed = time.perf_counter() - started
    print("\n=== all figures")
    rows = [figure.row() for bench in benches for figure in bench.figures]
    print_table(["benchmark", "measure", "value", "baseline", "ratio", "goal", "met"], rows)
    print()
    print_table(["benchmark", "status", "seconds"], [[b.name, b.status, f"{b.seconds:.0f}"] for b in benches])
    print(f"suite: {elapsed:.0f} s; load average before {load_before}, after {loadavg()}; "
          f"{'quick' if args.quick else 'full'} run")  # fmt: skip
    if any(bench.status != "ok" for bench in benches):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
