"""The recipe of docs/deploy.md, run on loopback: its nginx site and its systemd `ExecStart` line,
read from the page itself, started as plain processes (no system service, no root needed).

Used by `tests/deploy/test_nginx_replicas.py` (the recipe under failures) and
`bench/http_scale.py` (two replicas behind nginx). Reading the page rather than keeping a copy
means the tested configuration is the documented one: a change to either shows up in the test.

What is changed when rendering, and nothing else: the documented port 8000 becomes a free port,
`listen 443 ssl` becomes a loopback port without TLS (no certificate here), the `ssl_*` lines go,
and a caller may add directives to `location = /mcp` (the test adds a header naming the replica).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

from bench._common import ROOT, free_port, stop, wait_http

DEPLOY_DOC = ROOT / "docs" / "deploy.md"
DOC_PORT = 8000
# The replicas of the documented upstream, one loopback address each, all on one port.
REPLICA_ADDRESSES = ("127.0.0.2", "127.0.0.3")
START_TIMEOUT_S = 30.0


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
            wait_http(f"http://{self.upstream}/health", timeout=START_TIMEOUT_S, proc=self.process)
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
