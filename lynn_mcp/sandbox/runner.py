"""Running the sandbox under uvicorn: ``SandboxServer`` (a background thread, for tests and
embedding) and ``main`` (the ``lynn-mcp sandbox`` command line)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from lynn_mcp.sandbox.app import DEFAULT_MAX_BODY, create_app
from lynn_mcp.sandbox.clock import SandboxClock
from lynn_mcp.sandbox.dialect import Dialect, describe
from lynn_mcp.sandbox.faults import TRANSPORT_KEY, Faults
from lynn_mcp.sandbox.routes import CONTRACT_ROUTES
from lynn_mcp.sandbox.seed import SEED_ACCESS_TOKEN, SEED_ACCESS_TOKEN_SECRET, SEED_TEMPLATE_ID, SEED_TENANT


class _DroppableProtocol(H11Protocol):
    """uvicorn's h11 protocol that hands the connection's transport to the app, so the drop fault
    can close the socket without any response (ASGI itself has no way to say that)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})[TRANSPORT_KEY] = self.transport
            await inner(scope, receive, send)

        self.app = app


class _PromptServer(uvicorn.Server):
    """uvicorn's server, woken by ``request_stop`` instead of noticing ``should_exit`` on its next
    0.1 s tick: a test suite starts and stops the sandbox hundreds of times."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._stop_requested = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864_000  # on_tick refreshes the Date header when counter % 10 == 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested.wait(), timeout=1)

    def request_stop(self) -> None:
        self.should_exit = True
        loop, event = self._loop, self._stop_requested
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed: nothing to wake
                loop.call_soon_threadsafe(event.set)


class SandboxServer:
    """The sandbox on ``host:port`` (an ephemeral port by default) in a background thread.

    Its own thread runs its own event loop, so it works from inside a running asyncio loop too.
    Tests move its ``clock`` forward to expire tokens, and ``wait_for_task`` instead of polling.
    ``dialect`` (a dialect file, or a loaded ``Dialect``) makes it answer as a deployment that
    differs from the contract; a bad file raises ``DialectError``.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        task_delay_ms: int = 5,
        token_ttl_s: int = 3600,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        faults: Faults | None = None,
        log_level: str = "warning",
        dialect: Dialect | str | os.PathLike[str] | None = None,
    ) -> None:
        if dialect is not None and not isinstance(dialect, Dialect):
            dialect = load_dialect(Path(dialect))
        self._tmpdir = None if db_path is not None else tempfile.mkdtemp(prefix="lynn-sandbox-")
        self.db_path = (
            str(db_path) if db_path is not None else str(Path(str(self._tmpdir)) / "sandbox.sqlite3")
        )
        self.host, self.port = host, port
        self.token_ttl_s = token_ttl_s
        self.base_url = ""
        self._options: dict[str, Any] = {
            "task_delay_ms": task_delay_ms, "token_ttl_s": token_ttl_s, "max_body_bytes": max_body_bytes,
            "faults": faults, "dialect": dialect,
        }  # fmt: skip
        self._log_level = log_level
        self.clock = SandboxClock()
        self._app: Starlette | None = None
        self._server: _PromptServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SandboxServer:
        if self._server is not None:
            return self
        app = create_app(self.db_path, clock=self.clock, **self._options)
        config = uvicorn.Config(
            app,
            host=self.host,
            port=self.port,
            http=_DroppableProtocol,
            lifespan="on",
            log_level=self._log_level,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        server = _PromptServer(config)
        thread = threading.Thread(target=server.run, name="lynn-sandbox-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.request_stop()
                thread.join(timeout=5)
                raise RuntimeError(f"the sandbox failed to start on {self.host}:{self.port}")
            time.sleep(0.002)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://{self.host}:{self.port}"
        self._app, self._server, self._thread = app, server, thread
        return self

    def wait_for_task(self, task_id: str, timeout_s: float = 60) -> str:
        """Block until the task is Completed or Failed and return that state (the event a test
        waits on rather than polling GetTaskStatus). TimeoutError after ``timeout_s``."""
        if self._app is None:
            raise RuntimeError("the sandbox is not running")
        state: str = self._app.state.task_worker.wait_settled(task_id, timeout_s)
        return state

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.request_stop()
            self._thread.join(timeout=15)
        self._app = self._server = self._thread = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def load_dialect(path: Path) -> Dialect:
    """A dialect file read and checked against the contract's routes (DialectError if unusable)."""
    return Dialect.load(path, CONTRACT_ROUTES)


def default_db_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lynn-mcp" / "sandbox.sqlite3"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lynn-mcp sandbox", description="Run the Lynn Outbound API sandbox.")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8040, help="port (default 8040; 0 picks a free one)")
    p.add_argument("--db", type=Path, default=None, help=f"SQLite file (default {default_db_path()})")
    p.add_argument("--task-delay-ms", type=int, default=5, help="delay per task processing chunk (default 5)")
    p.add_argument("--token-ttl-s", type=int, default=3600, help="bearer token lifetime in seconds")
    p.add_argument(
        "--max-body-bytes", type=int, default=DEFAULT_MAX_BODY, help="request body cap (413 above)"
    )
    p.add_argument("--error-rate", type=float, default=0.0, help="fraction of /api/ calls answered 500/503")
    p.add_argument("--latency-ms", type=int, default=0, help="added latency per /api/ call")
    p.add_argument("--drop-rate", type=float, default=0.0, help="fraction of /api/ connections dropped")
    p.add_argument("--rate-limit", type=int, default=None, help="max /api/ calls per second (429 above)")
    p.add_argument(
        "--dialect",
        type=Path,
        default=None,
        help="TOML dialect file: answer with its verbs, paths, field and value names (see the contract)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        faults = Faults.from_json({
            "errorRate": args.error_rate, "latencyMs": args.latency_ms, "dropRate": args.drop_rate,
            "rateLimitPerSecond": args.rate_limit,
        })  # fmt: skip
        dialect = None if args.dialect is None else load_dialect(args.dialect)
    except Exception as exc:
        sys.stderr.write(f"lynn-mcp sandbox: {exc}\n")
        return 2
    server = SandboxServer(
        args.db or default_db_path(), host=args.host, port=args.port, task_delay_ms=args.task_delay_ms,
        token_ttl_s=args.token_ttl_s, max_body_bytes=args.max_body_bytes, faults=faults, log_level="info",
        dialect=dialect,
    )  # fmt: skip
    try:
        server.start()
    except (RuntimeError, OSError) as exc:
        sys.stderr.write(f"lynn-mcp sandbox: {exc}\n")
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Installed explicitly: a shell starting us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sys.stdout.write(
        f"Lynn sandbox running at {server.base_url}  (database {server.db_path})\n"
        f"  tenant            {SEED_TENANT}\n"
        f"  accessToken       {SEED_ACCESS_TOKEN}\n"
        f"  accessTokenSecret {SEED_ACCESS_TOKEN_SECRET}\n"
        f"  templateId        {SEED_TEMPLATE_ID}\n"
        f"  OpenAPI           {server.base_url}/openapi.json\n"
        f"  console           {server.base_url}/  (read-only: campaigns, records, tasks, blacklist)\n"
        + (f"  dialect           {args.dialect}: {describe(dialect)}\n" if dialect is not None else "")
        + "Press Ctrl-C to stop.\n"
    )
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            if server._thread is None or not server._thread.is_alive():
                break
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
