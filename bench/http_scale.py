"""HTTP scale-out: `lynn-mcp --http` (stateless) under 16 concurrent SDK clients calling read tools
against the sandbox; then two server processes behind a tiny round-robin proxy, and the
cross-process checks (a confirmation token minted by one process is accepted by the other when
LYNN_SIGNING_KEY is shared; a resume handle too, once a tool takes one).

    .venv/bin/python bench/http_scale.py [--duration 30] [--clients 16] [--quick] [--json figures.json]

Everything runs on loopback in separate processes (sandbox, servers, proxy) and stops by itself:
each phase lasts --duration seconds (--quick: 5 s), each call has a timeout.
The proxy (this file, `--proxy PORT BACKEND_PORT...`) picks a backend per request, not per
connection, so consecutive calls of one client session land on different processes; it rewrites
Host to the backend's own address (the servers' Host allowlist names their bound port).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    Figure,
    clean_env,
    free_port,
    loadavg,
    print_table,
    quantile,
    sandbox_env,
    sandbox_process,
    stop,
    wait_http,
    write_figures,
)

GOAL_CALLS_S = 300.0
GOAL_P95_MS = 60.0
CALL_TIMEOUT_S = 10.0
TOKEN = re.compile(r'confirmation_token[^"]*"(?P<token>[A-Za-z0-9_\-.]+)"')


# -- the round-robin proxy ------------------------------------------------------------------------


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> bytes | None:
    """The body after `head` by Content-Length or chunked framing; None means "until EOF"."""
    length: int | None = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        parts = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            parts.append(size_line + await reader.readexactly(size + 2))
            if size == 0:
                return b"".join(parts)
    if length is not None:
        return await reader.readexactly(length)
    status = head.split(b" ", 2)[1:2]
    if status and (status[0].startswith(b"1") or status[0] in (b"204", b"304")):
        return b""
    return None


async def run_proxy(port: int, backends: list[int]) -> None:
    """HTTP/1.1 reverse proxy: each request goes to the next backend, with Host rewritten."""
    turn = itertools.count()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                backend = backends[next(turn) % len(backends)]
                lines = head[:-4].split(b"\r\n")
                for i, line in enumerate(lines[1:], start=1):
                    if line[:5].lower() == b"host:":
                        lines[i] = b"Host: 127.0.0.1:%d" % backend
                request = b"\r\n".join(lines) + b"\r\n\r\n"
                body = await _read_body(reader, request)
                if backend not in upstream:
                    upstream[backend] = await asyncio.open_connection("127.0.0.1", backend)
                up_reader, up_writer = upstream[backend]
                up_writer.write(request + (body or b""))
                await up_writer.drain()
                response_head = await up_reader.readuntil(b"\r\n\r\n")
                response_body = await _read_body(up_reader, response_head)
                if response_body is None:  # no framing: the backend closes to end it
                    response_body = await up_reader.read()
                    up_writer.close()
                    del upstream[backend]
                writer.write(response_head + response_body)
                await writer.drain()
        finally:
            for _, up_writer in upstream.values():
                up_writer.close()
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=256)
    async with server:
        await server.serve_forever()


# -- processes ------------------------------------------------------------------------------------


def lynn_command() -> list[str]:
    script = Path(sys.executable).parent / "lynn-mcp"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lynn_mcp"]


@contextmanager
def lynn_http(env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """`lynn-mcp --http` on a free loopback port; yields (its /mcp URL, port)."""
    port = free_port()
    proc = subprocess.Popen(
        [*lynn_command(), "--http", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
        yield f"http://127.0.0.1:{port}/mcp", port
    finally:
        stop(proc)


@contextmanager
def proxy(backends: list[int]) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--proxy", str(port), *map(str, backends)]
    proc = subprocess.Popen(cmd, env=clean_env(), stdout=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop(proc)


# -- load -----------------------------------------------------------------------------------------


@dataclass
class Load:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def fail(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 3:
            self.error_samples.append(what[:200])


def read_calls() -> list[tuple[str, dict[str, Any]]]:
    from lynn_mcp.sandbox import SEED_CAMPAIGN_ID

    return [
        ("get_campaign", {"campaign_id": SEED_CAMPAIGN_ID}),
        ("list_campaigns", {}),
        ("list_contacts", {"limit": 5}),
    ]


async def load(url: str, clients: int, duration: float) -> Load:
    """`clients` SDK clients (streamable HTTP, default era) each calling read tools back to back."""
    from mcp import Client

    result = Load()
    calls = read_calls()
    ready = asyncio.Event()
    warmed = 0
    deadline = 0.0

    async def worker(offset: int) -> None:
        nonlocal warmed
        async with Client(url) as client:
            for name, arguments in calls:  # warm-up, outside the measured window
                await client.call_tool(name, arguments)
            warmed += 1
            await ready.wait()
            for n in itertools.count(offset):
                if time.perf_counter() >= deadline:
                    return
                name, arguments = calls[n % len(calls)]
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(CALL_TIMEOUT_S):
                        reply = await client.call_tool(name, arguments)
                except Exception as exc:  # every failure is a counted error; the run goes on
                    result.fail(f"{name}: {type(exc).__name__}: {exc}")
                    continue
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                if reply.is_error:
                    result.fail(f"{name}: {reply.content}")

    tasks = [asyncio.create_task(worker(i)) for i in range(clients)]
    async with asyncio.timeout(60):  # connecting and warming up
        while warmed < clients and not any(t.done() for t in tasks):
            await asyncio.wait(tasks, timeout=0.02)
    started = time.perf_counter()
    deadline = started + duration
    ready.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    result.seconds = time.perf_counter() - started
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            result.fail(f"client: {type(outcome).__name__}: {outcome}")
    return result


async def capture(url: str) -> list[tuple[dict[str, str], bytes]]:
    """The exact HTTP requests an SDK client sends for the read calls (headers, body)."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    seen: list[httpx2.Request] = []

    async def hook(request: httpx2.Request) -> None:
        seen.append(request)

    captured = []
    async with (
        httpx2.AsyncClient(event_hooks={"request": [hook]}, timeout=CALL_TIMEOUT_S) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        for name, arguments in read_calls():
            await client.call_tool(name, arguments)
            request = seen[-1]
            headers = {
                k: v for k, v in request.headers.items() if k.lower() not in ("content-length", "host")
            }
            captured.append((headers, request.content))
    return captured


async def lean_load(url: str, clients: int, duration: float) -> Load:
    """The same requests as the SDK clients, replayed by `clients` plain httpx2 loops: what the
    server sustains when the load generator costs almost nothing (an SDK client spends more CPU
    per call than the server does, and here both share two cores)."""
    import httpx2

    result = Load()
    requests = await capture(url)
    deadline = time.perf_counter() + duration

    async def worker(offset: int, http: httpx2.AsyncClient) -> None:
        for n in itertools.count(offset):
            if time.perf_counter() >= deadline:
                return
            headers, body = requests[n % len(requests)]
            started = time.perf_counter()
            try:
                response = await http.post(url, content=body, headers=headers)
            except Exception as exc:  # every failure is a counted error; the run goes on
                result.fail(f"{type(exc).__name__}: {exc}")
                continue
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200 or b'"isError":true' in response.content:
                result.fail(f"HTTP {response.status_code}: {response.content[:150]!r}")

    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx2.AsyncClient(timeout=CALL_TIMEOUT_S, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(i, http) for i in range(clients)))
        result.seconds = time.perf_counter() - started
    return result


# -- cross-process checks -------------------------------------------------------------------------


def _text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def resume_checks(a: Any, b: Any) -> list[tuple[str, bool, str]]:
    """A load that outlives its wait on A leaves a resume handle; B finishes it from the handle."""
    from lynn_mcp.sandbox import SEED_TEMPLATE_COLUMNS, SEED_TEMPLATE_ID

    tools = {tool.name: tool for tool in (await a.list_tools()).tools}
    load_tool = tools.get("load_campaign_data")
    if load_tool is None or "resume" not in (load_tool.input_schema.get("properties") or {}):
        return [("resume handle A -> B", False, "not checked: load_campaign_data takes no resume handle yet")]
    rows = [
        dict(zip(SEED_TEMPLATE_COLUMNS, [f"Bench {i}", f"5699{secrets.randbelow(10**7):07d}", "5000",
                                         "03/05/2024", "Store", str(i), "7", "3"], strict=True))
        for i in range(3)
    ]  # fmt: skip
    arguments: dict[str, Any] = {"template_id": SEED_TEMPLATE_ID, "rows": rows}
    first = await a.call_tool("load_campaign_data", {**arguments, "timeout_s": 1})
    handle = (first.structured_content or {}).get("resume")
    if first.is_error or not handle:
        return [("resume handle A -> B", False, f"A left no resume handle: {_text(first)[:120]}")]
    forged = await b.call_tool("load_campaign_data", {**arguments, "resume": handle[:-4] + "AAAA"})
    checks = [("B refuses a tampered resume handle", forged.is_error, _text(forged)[:100])]
    resumed = await b.call_tool("load_campaign_data", {**arguments, "resume": handle, "timeout_s": 60})
    report = resumed.structured_content or {}
    finished = not resumed.is_error and not report.get("resume")
    checks.append(
        ("B finishes A's load from its resume handle", finished, _text(resumed)[:100].replace("\n", " "))
    )
    return checks


async def cross_process_checks(url_a: str, url_b: str) -> list[tuple[str, bool, str]]:
    """(check, passed, detail): state minted by process A, presented to process B."""
    from mcp import Client

    checks: list[tuple[str, bool, str]] = []
    phone = f"569{secrets.randbelow(10**8):08d}"
    async with Client(url_a) as a, Client(url_b) as b:
        created = await a.call_tool("create_contact", {"name": "Bench Scale", "identifier": phone})
        if created.is_error or not created.structured_content:
            return [("confirmation token A -> B", False, f"create_contact failed: {_text(created)}")]
        contact_id = created.structured_content["id"]
        first = await a.call_tool("delete_contact", {"contact_id": contact_id})
        match = TOKEN.search(_text(first))
        if not first.is_error or match is None:
            detail = "delete_contact ran without asking" if not first.is_error else _text(first)[:160]
            return [("confirmation token A -> B", False, f"no confirmation token from A: {detail}")]
        token = match.group("token")
        other = await b.call_tool(
            "delete_contact", {"contact_id": "not-" + contact_id, "confirmation_token": token}
        )
        refused = other.is_error and "confirmation_invalid" in _text(other)
        checks.append(("B refuses A's token for other arguments", refused, _text(other)[:100]))
        accepted = await b.call_tool(
            "delete_contact", {"contact_id": contact_id, "confirmation_token": token}
        )
        deleted = not accepted.is_error and (accepted.structured_content or {}).get("deleted") is True
        checks.append(("B accepts A's confirmation token (shared key)", deleted, _text(accepted)[:100]))
        gone = await a.call_tool("get_contact", {"contact_id": contact_id})
        checks.append(("A sees B's delete", gone.is_error and "not_found" in _text(gone), _text(gone)[:100]))
        checks += await resume_checks(a, b)
    return checks


# -- main -----------------------------------------------------------------------------------------


def summarize(label: str, run: Load) -> tuple[list[str], float, float]:
    calls = len(run.latencies_ms)
    rate = calls / run.seconds if run.seconds else 0.0
    p95 = quantile(run.latencies_ms, 0.95)
    row = [
        label, f"{calls:,}", f"{rate:,.0f}", f"{quantile(run.latencies_ms, 0.5):.1f}", f"{p95:.1f}",
        f"{quantile(run.latencies_ms, 0.99):.1f}", str(run.errors),
    ]  # fmt: skip
    return row, rate, p95


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--duration", type=float, default=30.0, help="seconds per phase (default 30)")
    p.add_argument("--clients", type=int, default=16, help="concurrent SDK clients (default 16)")
    p.add_argument("--quick", action="store_true", help="smoke run: 5 s per phase")
    p.add_argument("--json", help="write the figures here (for bench/run.py)")
    p.add_argument("--proxy", nargs="+", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.proxy:
        with suppress(KeyboardInterrupt):
            asyncio.run(run_proxy(args.proxy[0], args.proxy[1:]))
        return
    duration = 5.0 if args.quick else args.duration
    load_before = loadavg()
    key = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        # Task chunks take 1.5 s, so a load waiting 1 s leaves a resume handle; reads are unaffected.
        base_url = stack.enter_context(sandbox_process(Path(tmp) / "sandbox.sqlite3", task_delay_ms=1500))
        env = sandbox_env(base_url, LYNN_SIGNING_KEY=key)
        url_a, port_a = stack.enter_context(lynn_http(env))
        single = asyncio.run(load(url_a, args.clients, duration))
        lean = asyncio.run(lean_load(url_a, args.clients, duration))
        url_b, port_b = stack.enter_context(lynn_http(env))
        proxied_url = stack.enter_context(proxy([port_a, port_b]))
        pair = asyncio.run(load(proxied_url, args.clients, duration))
        checks = asyncio.run(cross_process_checks(url_a, url_b))
    load_after = loadavg()

    print(f"HTTP scale-out: {args.clients} clients, streamable HTTP (stateless, JSON responses), "
          f"{duration:.0f} s per phase; get_campaign / list_campaigns / list_contacts in turn")  # fmt: skip
    print(f"load average before {load_before}, after {load_after}")
    runs = {
        "1 process, SDK clients": single,
        "1 process, same requests from plain httpx2": lean,
        "2 processes + round-robin proxy, SDK clients": pair,
    }
    summaries = {label: summarize(label, run) for label, run in runs.items()}
    print_table(
        ["setup", "calls", "calls/s", "p50 ms", "p95 ms", "p99 ms", "errors"],
        [row for row, _, _ in summaries.values()],
    )
    for label, run in runs.items():
        for sample in run.error_samples:
            print(f"  error ({label}): {sample}")
    print(f"goals: >= {GOAL_CALLS_S:.0f} calls/s, p95 <= {GOAL_P95_MS:.0f} ms, 0 errors")
    print()
    print("cross-process checks (LYNN_SIGNING_KEY shared by both processes):")
    print_table(
        ["check", "result", "detail"],
        [[c, "pass" if ok else "FAIL", " ".join(d.split())[:90]] for c, ok, d in checks],
    )
    figures: list[Figure] = []
    _, rate_1, _ = summaries["1 process, SDK clients"]
    for label, run in runs.items():
        _, rate, p95 = summaries[label]
        short = label.replace(", same requests from plain httpx2", ", plain httpx2 load")
        figures += [
            Figure("http scale", f"{short}: calls/s", rate, "calls/s", "1 process, SDK clients",
                   None if run is single else rate_1, rate / rate_1 if rate_1 and run is not single else None,
                   f">= {GOAL_CALLS_S:.0f}", rate >= GOAL_CALLS_S),
            Figure("http scale", f"{short}: p50", quantile(run.latencies_ms, 0.5), "ms"),
            Figure("http scale", f"{short}: p95", p95, "ms", goal=f"<= {GOAL_P95_MS:.0f} ms",
                   met=p95 <= GOAL_P95_MS),
            Figure("http scale", f"{short}: p99", quantile(run.latencies_ms, 0.99), "ms"),
            Figure("http scale", f"{short}: errors", run.errors, "", goal="0", met=run.errors == 0),
        ]  # fmt: skip
    for check, ok, _ in checks:
        figures.append(Figure("http scale", check, float(ok), "pass" if ok else "fail", goal="pass", met=ok))
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
