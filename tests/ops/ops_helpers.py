"""What the operations tests share: a free loopback port, an ASGI app served in a thread, and
`lynn-mcp --http` as a real process that can be signalled."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx2
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from lynn_mcp.sandbox import SEED_ACCESS_TOKEN, SEED_ACCESS_TOKEN_SECRET, SEED_TENANT

START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def refuses_connections(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:`port` any more."""
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) != 0


class ServedApp:
    """An ASGI app (lifespan included) served by uvicorn on 127.0.0.1:`port`, in a thread."""

    def __init__(self, app: ASGIApp, port: int) -> None:
        # A plain function in front: uvicorn calls the app with no arguments to tell an app from an
        # app factory, and a mutation run's wrapped `__call__` would pass for a factory.
        async def served(scope: Scope, receive: Receive, send: Send) -> None:
            await app(scope, receive, send)

        config = uvicorn.Config(served, host="127.0.0.1", port=port, log_config=None, access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> ServedApp:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            assert self._thread.is_alive(), "the app did not start"
            assert time.monotonic() < deadline, "the app did not start in time"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


def lynn_env(base_url: str, **extra: str) -> dict[str, str]:
    """This process's environment without LYNN_* or OTEL_* variables, then the sandbox tenant."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LYNN_", "OTEL_"))}
    env.update(
        LYNN_BASE_URL=base_url,
        LYNN_TENANT=str(SEED_TENANT),
        LYNN_ACCESS_TOKEN=SEED_ACCESS_TOKEN,
        LYNN_ACCESS_TOKEN_SECRET=SEED_ACCESS_TOKEN_SECRET,
        **extra,
    )
    return env


class LynnProcess:
    """`python -m lynn_mcp --http` on 127.0.0.1 and a free port; stderr kept in a file."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = workdir / f"lynn-mcp-{self.port}.log"
        self._stderr: IO[bytes] = self.stderr_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 # this interpreter on our own entry point
            [sys.executable, "-m", "lynn_mcp", "--http", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            cwd=workdir,  # no developer .env
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )

    def __enter__(self) -> LynnProcess:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.process.poll() is None, self.stderr()
            assert time.monotonic() < deadline, "lynn-mcp --http did not start in time"
            try:
                if httpx2.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx2.TransportError:
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._stderr.close()

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout_s: float) -> int:
        """The exit code, once the process has ended (at most `timeout_s` from now)."""
        return self.process.wait(timeout=timeout_s)

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")
