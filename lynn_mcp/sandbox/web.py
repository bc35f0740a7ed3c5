"""Request plumbing shared by every handler: the per-app state, bounded body reading, JSON
responses, bearer authentication and the per-operation counters."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic_core
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from lynn_mcp.sandbox.clock import SandboxClock
from lynn_mcp.sandbox.dialect import Dialect
from lynn_mcp.sandbox.errors import ApiError
from lynn_mcp.sandbox.faults import FaultInjector
from lynn_mcp.sandbox.store import Store

_BEARER = re.compile(r"\s*bearer\s+(\S+)\s*", re.IGNORECASE)


@dataclass
class Stats:
    """Requests seen per operation name, counted on arrival (faulted ones included)."""

    _counts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, operation: str) -> None:
        with self._lock:
            self._counts[operation] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"operations": dict(self._counts), "total": sum(self._counts.values())}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


@dataclass
class SandboxState:
    store: Store
    faults: FaultInjector
    token_ttl_s: int
    max_body_bytes: int
    wake_worker: Callable[[], None]
    stats: Stats = field(default_factory=Stats)
    clock: SandboxClock = field(default_factory=SandboxClock)
    # Hands a new task's already parsed rows to the worker (see TaskWorker.offer).
    offer_rows: Callable[[str, list[Any]], None] = lambda task_id, rows: None
    dialect: Dialect = field(default_factory=Dialect)


@dataclass
class Ctx:
    """What a handler sees: the request, the app state and the authenticated tenant."""

    request: Request
    sb: SandboxState
    tenant: int
    raw: bytes = b""
    body_schema: dict[str, Any] | None = None
    """The operation's request schema: a dialect's renames are undone by it (see `json`)."""

    @property
    def store(self) -> Store:
        return self.sb.store

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    async def body(self) -> bytes:
        return await read_body(self.request, self.sb.max_body_bytes)

    async def json(self) -> Any:
        raw = self.raw = await self.body()
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            raise ApiError(400, "request body is not valid JSON") from None
        if self.sb.dialect.renames and self.body_schema is not None:
            # Handlers read the contract's names; the raw body (kept to store as is) has others.
            self.raw = b""
            return self.sb.dialect.to_contract(self.body_schema, value)
        return value

    async def json_object(self) -> dict[str, Any]:
        value = await self.json()
        if not isinstance(value, dict):
            raise ApiError(400, "request body must be a JSON object")
        return value


Handler = Callable[[Ctx], Awaitable[Any]]


async def read_body(request: Request, cap: int) -> bytes:
    """Read the whole body, refusing (413) as soon as it passes ``cap`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise ApiError(413, f"request body exceeds the limit of {cap} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise ApiError(413, f"request body exceeds the limit of {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # pydantic-core writes the same compact UTF-8 JSON as json.dumps(ensure_ascii=False) in a third
    # of the time; it matters for a task status with 1,000 records, polled once per bulk chunk.
    body = pydantic_core.to_json(payload)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def error_response(exc: ApiError) -> Response:
    if exc.status == 401:
        return Response(b"", status_code=401)  # the vendor answers 401 with an empty body
    return json_response({"message": exc.message}, exc.status)


def authenticate(request: Request, store: Store, clock: SandboxClock) -> int:
    """The tenant the bearer token belongs to; ApiError(401) if missing, unknown or expired."""
    match = _BEARER.fullmatch(request.headers.get("authorization", ""))
    if match is None:
        raise ApiError(401, "missing bearer token")
    with store.read() as db:
        row = db.execute("SELECT tenant, expires_at FROM tokens WHERE token = ?", (match[1],)).fetchone()
    if row is None or row[1] <= clock.now():
        raise ApiError(401, "unknown or expired token")
    return int(row[0])


class StatsMiddleware:
    """Counts every ``/api/`` request by operation name before anything (faults included) runs."""

    def __init__(self, app: ASGIApp, stats: Stats, name_of: Callable[[str], str]) -> None:
        self.app = app
        self.stats = stats
        self.name_of = name_of  # path -> operation name (routes.operation_names)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            self.stats.hit(self.name_of(scope["path"]))
        await self.app(scope, receive, send)
