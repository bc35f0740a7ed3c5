"""``create_app``: the Starlette application, its lifespan (task worker) and the request wrapper
that authenticates, checks the tenant and turns errors into ``{"message"}`` bodies."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynn_mcp.sandbox.clock import SandboxClock
from lynn_mcp.sandbox.console import console_routes
from lynn_mcp.sandbox.dialect import Dialect
from lynn_mcp.sandbox.echo import SecretEchoMiddleware
from lynn_mcp.sandbox.errors import ApiError
from lynn_mcp.sandbox.faults import FaultInjector, FaultMiddleware, Faults
from lynn_mcp.sandbox.openapi import build_openapi
from lynn_mcp.sandbox.routes import Operation, in_dialect, operation_names
from lynn_mcp.sandbox.seed import seed
from lynn_mcp.sandbox.store import Store
from lynn_mcp.sandbox.tasks import TaskWorker
from lynn_mcp.sandbox.web import (
    Ctx,
    SandboxState,
    StatsMiddleware,
    authenticate,
    error_response,
    json_response,
)

log = logging.getLogger("lynn_mcp.sandbox")
DEFAULT_MAX_BODY = 10 * 1024 * 1024


def _endpoint(op: Operation, state: SandboxState) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            tenant = 0
            if op.auth:
                tenant = authenticate(request, state.store, state.clock)
                path_tenant = request.path_params.get("tenant")
                if path_tenant is not None and path_tenant != str(tenant):
                    raise ApiError(
                        403, f"tenant {path_tenant!r} in the path is not the token's tenant ({tenant})"
                    )
            result = await op.handler(Ctx(request, state, tenant, body_schema=op.request))
        except ApiError as exc:
            return error_response(exc)
        except Exception:  # the sandbox must answer, never crash, whatever the input
            log.exception("sandbox %s failed", op.name)
            return json_response({"message": f"internal sandbox error in {op.name}"}, 500)
        if state.dialect.renames and op.response is not None:
            return _in_dialect(state.dialect, op, result)
        return result if isinstance(result, Response) else json_response(result, op.status)

    return endpoint


def _in_dialect(dialect: Dialect, op: Operation, result: Any) -> Response:
    """A handler's answer (contract names) in the dialect's names."""
    status = op.status
    if isinstance(result, Response):  # a task status, written as bytes for speed
        status, result = result.status_code, json.loads(bytes(result.body))
    return json_response(dialect.to_wire(op.response, result), status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: f"no operation at {request.url.path}", 405: f"method {request.method} not allowed here"}
    return json_response({"message": messages.get(exc.status_code, str(exc.detail))}, exc.status_code)


def _cleanup(store: Store, tmpdir: str | None) -> None:
    store.close()
    if tmpdir is not None:
        shutil.rmtree(tmpdir, ignore_errors=True)


def create_app(
    db_path: str | os.PathLike[str] | None = None,
    *,
    task_delay_ms: int = 5,
    token_ttl_s: int = 3600,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    faults: Faults | None = None,
    clock: SandboxClock | None = None,
    dialect: Dialect | None = None,
) -> Starlette:
    """The sandbox app. ``db_path=None`` uses a fresh temporary database, deleted on shutdown;
    ``clock`` (a fresh one by default) decides when bearer tokens expire; ``dialect`` makes it
    answer as a deployment that differs from the contract (dialect.py)."""
    dialect = dialect or Dialect()
    operations = in_dialect(dialect)
    tmpdir = None
    if db_path is None:
        tmpdir = tempfile.mkdtemp(prefix="lynn-sandbox-")
        db_path = Path(tmpdir) / "sandbox.sqlite3"
    else:
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    store = Store(db_path)
    seed(store)
    worker = TaskWorker(store, task_delay_ms)
    injector = FaultInjector(faults)
    state = SandboxState(
        store,
        injector,
        token_ttl_s,
        max_body_bytes,
        worker.wake,
        offer_rows=worker.offer,
        clock=clock or SandboxClock(),
        dialect=dialect,
    )
    openapi_doc = build_openapi(operations)

    async def openapi(request: Request) -> Response:
        return json_response(openapi_doc)

    routes = [Route(op.path, _endpoint(op, state), methods=[op.method]) for op in operations]
    routes.append(Route("/openapi.json", openapi, methods=["GET"]))
    routes += console_routes(store)
    name_of = operation_names(operations)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        worker.start()
        try:
            yield
        finally:
            worker.stop()
            finalizer()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
        middleware=[
            Middleware(StatsMiddleware, stats=state.stats, name_of=name_of),
            Middleware(SecretEchoMiddleware, injector=injector, store=store, name_of=name_of),
            Middleware(FaultMiddleware, injector=injector),
        ],
    )
    # Without a lifespan run (e.g. a bare ASGITransport) the store still closes and the temp dir
    # goes when the app is garbage collected.
    finalizer = weakref.finalize(app, _cleanup, store, tmpdir)
    app.state.sandbox = state
    app.state.task_worker = worker
    app.state.db_path = str(db_path)
    app.state.close = finalizer  # idempotent; lets fixtures release the store without a lifespan
    return app
