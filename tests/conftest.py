"""Shared fixtures. The sandbox ones give every test its own fresh, temporary Lynn emulator."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest
from hypothesis import settings
from starlette.applications import Starlette

from lynn_mcp.sandbox import SandboxServer, create_app

# CI explores the same examples on every run (a submission must not fail on a new random draw);
# developers' runs keep drawing new ones, which is how edge cases are found.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (a stable sort): with a worker per core, one of them started last would
    keep the run going on one core after the other has finished."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _no_lynn_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own LYNN_* variables must not leak into tests (see settings_factory.py)."""
    for name in list(os.environ):
        if name.startswith("LYNN_"):
            monkeypatch.delenv(name)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def _sandbox_stops() -> Iterator[list[threading.Thread]]:
    """Sandboxes stopping in the background; all have stopped (temp databases gone) at the end."""
    stopping: list[threading.Thread] = []
    yield stopping
    for stopper in stopping:
        stopper.join()


@pytest.fixture
def sandbox(_sandbox_stops: list[threading.Thread]) -> Iterator[SandboxServer]:
    """A running sandbox on 127.0.0.1 (ephemeral port), fresh temp DB, 1 ms per task chunk.

    It stops while the next test runs: uvicorn's shutdown is 0.1 s of idle waiting, and hundreds
    of tests use this fixture."""
    server = SandboxServer(task_delay_ms=1).start()
    yield server
    stopper = threading.Thread(target=server.stop, name="sandbox-stop")
    stopper.start()
    _sandbox_stops.append(stopper)


@pytest.fixture
def sandbox_app() -> Iterator[Starlette]:
    """An in-process sandbox app (fresh temp DB). Run its lifespan to get background tasks, e.g.
    ``async with app.router.lifespan_context(app):`` around an ``httpx2.ASGITransport`` client."""
    app = create_app(task_delay_ms=1)
    yield app
    app.state.close()


@pytest.fixture
async def sandbox_client(sandbox_app: Starlette) -> AsyncIterator[httpx2.AsyncClient]:
    """An httpx2 client on ``sandbox_app`` with its lifespan (task worker) running; no auth."""
    async with (
        sandbox_app.router.lifespan_context(sandbox_app),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=sandbox_app), base_url="http://sandbox") as c,
    ):
        yield c
