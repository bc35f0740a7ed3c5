"""The recipe of docs/deploy.md, run on loopback: its nginx site and its systemd `ExecStart` line,
read from the page itself, started as plain processes (no system service, no root needed).

Used by `tests/deploy/test_nginx_replicas.py` (the recipe under failures), `bench/http_scale.py`
(two replicas behind nginx) and `bench/http_restarts.py` (restarts under load). Reading the page
rather than keeping a copy means the tested configuration is the documented one: a change to
either shows up in the test.

What is changed when rendering, and nothing else: the documented port 8000 becomes a free port,
`listen 443 ssl` becomes a loopback port without TLS (no certificate here), the `ssl_*` lines go,
and a caller may add directives to `location = /mcp` (the test adds a header naming the replica).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx2

from bench._common import ROOT, free_port, stop, wait_http
from lynn_mcp.sandbox import SEED_CAMPAIGN_ID

DEPLOY_DOC = ROOT / "docs" / "deploy.md"
DOC_PORT = 8000
# The replicas of the documented upstream, one loopback address each, all on one port.
REPLICA_ADDRESSES = ("127.0.0.2", "127.0.0.3")
START_TIMEOUT_S = 30.0

# The one call the loads send: what mcp.Client sends for `get_campaign` on 2026-07-28 (stateless).
TOOL_CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {
        "name": "get_campaign",
        "arguments": {"campaign_id": SEED_CAMPAIGN_ID},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "lynn-mcp-load", "version": "0"},
            "io.modelcontextprotocol/clientCapabilities": {},
        },
    },
}
TOOL_CALL_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "Mcp-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/call",
    "Mcp-Name": "get_campaign",
}
# Added to `location = /mcp` by the tests and the restart benchmark (not by the page): the replicas
# nginx tried for a call, in order, so that a failed call can be put down to one of them.
UPSTREAM_HEADER = "X-Upstream-Tried"
UPSTREAM_DIRECTIVE = f"add_header {UPSTREAM_HEADER} $upstream_addr always;"


class RecipeChanged(AssertionError):
    """docs/deploy.md no longer has what the rendering expects (the recipe and the code disagree)."""


def find_nginx() -> str | None:
    """The nginx binary (Debian puts it in /usr/sbin, which a non-root PATH may lack)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def fenced_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.M | re.S)


def _one_block(language: str) -> str:
    blocks = fenced_blocks(DEPLOY_DOC.read_text(encoding="utf-8"), language)
    if len(blocks) != 1:
        raise RecipeChanged(f"docs/deploy.md has {len(blocks)} ```{language} blocks, expected exactly 1")
    return blocks[0]


def _replace(text: str, old: str, new: str, *, at_least: int = 1) -> str:
    if text.count(old) < at_least:
        raise RecipeChanged(f"docs/deploy.md: expected {old!r} at least {at_least} time(s)")
    return text.replace(old, new)


def render_site(
    *, listen_port: int, replica_port: int, down: Iterable[str] = (), mcp_directives: Iterable[str] = ()
) -> str:
    """The documented nginx site on loopback: nginx on `listen_port`, the replicas on `replica_port`,
    those at the addresses in `down` drained as the page's rolling restart does (`server ... down;`)."""
    site = _one_block("nginx")
    drained = set(down)
    for address in REPLICA_ADDRESSES:
        line = re.search(rf"^ *server {re.escape(address)}:{DOC_PORT} [^;\n]*;$", site, flags=re.M)
        if line is None:
            raise RecipeChanged(f"docs/deploy.md: no upstream line `server {address}:{DOC_PORT} ...;`")
        if address in drained:  # what the page's `sed` does
            site = site.replace(line.group(0), line.group(0).removesuffix(";") + " down;")
        site = _replace(site, f"server {address}:{DOC_PORT} ", f"server {address}:{replica_port} ")
    site = _replace(site, f"Host localhost:{DOC_PORT};", f"Host localhost:{replica_port};", at_least=2)
    site = _replace(site, "listen 443 ssl;", f"listen 127.0.0.1:{listen_port};")
    site = "".join(line for line in site.splitlines(keepends=True) if not line.strip().startswith("ssl_"))
    if f":{DOC_PORT}" in site:
        raise RecipeChanged(f"docs/deploy.md: port {DOC_PORT} left in the nginx site after rendering")
    extra = "".join(f"        {directive}\n" for directive in mcp_directives)
    return _replace(site, "location = /mcp {\n", "location = /mcp {\n" + extra)


def replica_command(lynn_mcp: Sequence[str], address: str, port: int) -> list[str]:
    """The documented unit's ExecStart for instance `address`, with our lynn-mcp and `port`."""
    unit = _one_block("ini")
    lines = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    if len(lines) != 1:
        raise RecipeChanged("docs/deploy.md: the systemd unit must have exactly one ExecStart= line")
    program, *arguments = shlex.split(lines[0].removeprefix("ExecStart="))
    if not program.endswith("/lynn-mcp"):
        raise RecipeChanged(f"docs/deploy.md: ExecStart runs {program}, not lynn-mcp")
    rendered = [arg.replace("%i", address) for arg in arguments]
    if address not in rendered or str(DOC_PORT) not in rendered:
        raise RecipeChanged("docs/deploy.md: ExecStart must take --host %i and --port 8000")
    return [*lynn_mcp, *(str(port) if arg == str(DOC_PORT) else arg for arg in rendered)]


def free_replica_port() -> int:
    """A port free on every replica address (they all listen on the same one)."""
    for _ in range(50):
        port = free_port()
        try:
            for address in REPLICA_ADDRESSES:
                with socket.socket() as probe:
                    probe.bind((address, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on all replica addresses")


class Replica:
    """One `lynn-mcp --http` replica on `address:port`, started by the documented ExecStart."""

    def __init__(
        self, lynn_mcp: Sequence[str], address: str, port: int, env: dict[str, str], log: Path
    ) -> None:
        self.address = address
        self.port = port
        self.upstream = f"{address}:{port}"
        self._command = replica_command(lynn_mcp, address, port)
        self._env = env
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "the replica is not running"
        return self.process.pid

    def start(self) -> Replica:
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(
                self._command,
                env=self._env,
                cwd=self._log.parent,  # the unit's empty working directory: no developer .env
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        try:
            wait_http(f"http://{self.upstream}/healthz", timeout=START_TIMEOUT_S, proc=self.process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{self.log_tail()}") from None
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing in flight is finished."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=START_TIMEOUT_S)

    def terminate(self) -> int:
        """SIGTERM, as `systemctl stop` does; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=START_TIMEOUT_S)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def log_tail(self, lines: int = 20) -> str:
        text = self._log.read_text(errors="replace") if self._log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Nginx:
    """nginx with a config of our own in `prefix` (its pid, logs and temp files there), on loopback."""

    def __init__(self, prefix: Path, site: str, *, listen_port: int) -> None:
        binary = find_nginx()
        if binary is None:
            raise RuntimeError("nginx is not installed (Debian: apt-get install nginx)")
        self.binary = binary
        self.prefix = prefix
        self.url = f"http://127.0.0.1:{listen_port}"
        self.process: subprocess.Popen[bytes] | None = None
        # nginx's workers run as `nobody` when the master is root: they must reach the temp dirs.
        prefix.mkdir(parents=True, exist_ok=True)
        prefix.chmod(0o755)
        self.write_site(site)

    @property
    def config(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def error_log(self) -> Path:
        return self.prefix / "error.log"

    def write_site(self, site: str) -> None:
        (self.prefix / "lynn-mcp.conf").write_text(site)
        self.config.write_text(
            f"daemon off;\n"
            f"worker_processes 1;\n"
            f"pid {self.prefix / 'nginx.pid'};\n"
            f"error_log {self.error_log} warn;\n"
            f"events {{ worker_connections 1024; }}\n"
            f"http {{\n"
            f"    access_log off;\n"
            f"    client_body_temp_path {self.prefix / 'client_body'};\n"
            f"    proxy_temp_path {self.prefix / 'proxy'};\n"
            f"    fastcgi_temp_path {self.prefix / 'fastcgi'};\n"
            f"    uwsgi_temp_path {self.prefix / 'uwsgi'};\n"
            f"    scgi_temp_path {self.prefix / 'scgi'};\n"
            f"    include {self.prefix / 'lynn-mcp.conf'};\n"
            f"}}\n"
        )

    def _command(self, *extra: str) -> list[str]:
        return [
            self.binary,
            "-p",
            str(self.prefix),
            "-e",
            str(self.error_log),
            "-c",
            str(self.config),
            *extra,
        ]

    def check(self) -> None:
        """`nginx -t`: the configuration is valid (raises with nginx's words when not)."""
        result = subprocess.run(self._command("-t"), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"nginx -t refused the configuration:\n{result.stderr}")

    def start(self) -> Nginx:
        self.check()
        self.process = subprocess.Popen(
            self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (self.prefix / "nginx.pid").exists() or len(self.pids()) < 2:  # the master, a worker
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start:\n{self.log_tail()}")
            time.sleep(0.02)
        return self

    def reload(self, site: str) -> None:
        """A new site, as `nginx -s reload`; returns once the old workers are gone: they finish the
        requests they had (to whichever replica), new workers take the new site."""
        self.write_site(site)
        self.check()
        assert self.process is not None
        old_workers = set(self.pids()[1:])
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            workers = set(self.pids()[1:])
            if workers and not workers & old_workers:
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not reload:\n{self.log_tail()}")
            time.sleep(0.02)

    def pids(self) -> list[int]:
        """The master and its workers (for CPU accounting)."""
        assert self.process is not None
        master = self.process.pid
        children = Path(f"/proc/{master}/task/{master}/children")
        try:
            return [master, *map(int, children.read_text().split())]
        except OSError:
            return [master]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_tail(self, lines: int = 20) -> str:
        text = self.error_log.read_text(errors="replace") if self.error_log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of the processes (all their threads), from /proc/<pid>/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        # Fields after the command name (which may hold spaces, inside parentheses): utime is the
        # 14th field of the line, stime the 15th.
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


# -- a load through nginx ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    started: float
    ended: float
    upstreams: tuple[str, ...]  # nginx's tries, in order; the last one answered (or failed)
    ok: bool
    failure: str = ""


@dataclass
class Load:
    """`workers` threads sending TOOL_CALL to `url` until stopped (or `max_calls` in all), each call
    on its own connection: a reload of nginx closes clients' idle kept-alive connections, which is
    nginx's doing, not the replicas' (docs/deploy.md)."""

    url: str
    bearer: str
    workers: int = 4
    pause_s: float = 0.01  # between a worker's calls: leaves CPU for replicas that restart
    max_calls: int = 6000
    call_timeout_s: float = 10.0
    calls: list[Call] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        self._threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(self.workers)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.call_timeout_s + 5)

    def _worker(self) -> None:
        headers = {**TOOL_CALL_HEADERS, "Connection": "close", "Authorization": f"Bearer {self.bearer}"}
        with httpx2.Client(timeout=self.call_timeout_s) as http:
            while not self._stop.is_set() and len(self.calls) < self.max_calls:
                call = self._call(http, headers, time.monotonic())
                with self._lock:
                    self.calls.append(call)
                self._stop.wait(self.pause_s)

    def _call(self, http: httpx2.Client, headers: dict[str, str], started: float) -> Call:
        upstreams: tuple[str, ...] = ()
        try:
            # Streamed, to know the replica even when the body is cut short (killed mid-answer).
            with http.stream("POST", f"{self.url}/mcp", json=TOOL_CALL, headers=headers) as response:
                tried = response.headers.get(UPSTREAM_HEADER, "")
                upstreams = tuple(u.strip() for u in tried.split(",") if u.strip())
                body = response.read()
        except httpx2.HTTPError as exc:
            return Call(started, time.monotonic(), upstreams, False, f"{type(exc).__name__}: {exc}")
        ended = time.monotonic()
        if response.status_code != 200:
            return Call(started, ended, upstreams, False, f"HTTP {response.status_code}: {body[:120]!r}")
        result = json.loads(body).get("result") or {}
        campaign = result.get("structuredContent") or {}
        if result.get("isError") is not False or campaign.get("id") != SEED_CAMPAIGN_ID:
            return Call(started, ended, upstreams, False, f"not the campaign: {body[:120]!r}")
        return Call(started, ended, upstreams, True)

    def failures(self) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if not call.ok]

    def served_by(self, upstream: str, *, after: float) -> bool:
        with self._lock:
            return any(c.ok and c.upstreams[-1:] == (upstream,) and c.started > after for c in self.calls)

    def wait_until_served_by(self, upstream: str, *, after: float, timeout: float = 20.0) -> None:
        """Until a call started after `after` was answered by `upstream` (nginx tries a replica it
        had marked failed again once fail_timeout has passed)."""
        deadline = time.monotonic() + timeout
        while not self.served_by(upstream, after=after):
            if time.monotonic() > deadline:
                raise TimeoutError(f"nginx sent no call to {upstream} within {timeout:.0f} s")
            if len(self.calls) >= self.max_calls:
                raise TimeoutError(f"the load stopped at {self.max_calls} calls before {upstream} answered")
            time.sleep(0.05)
