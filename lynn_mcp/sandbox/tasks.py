"""Background tasks: creation, the status document, and the worker thread that processes them
in chunks (so pollers see progress) and resumes unfinished ones after a restart.

The worker is a plain thread, not an asyncio task: row processing is CPU and SQLite work, and
running it off the event loop keeps status polls answered while a 50,000-row upload is ingested.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
import time
import uuid
from typing import Any

import pydantic_core
from starlette.responses import Response

from lynn_mcp.sandbox import validate as v
from lynn_mcp.sandbox.errors import not_found
from lynn_mcp.sandbox.processing import Job, process_chunk
from lynn_mcp.sandbox.store import Store, now_iso

log = logging.getLogger("lynn_mcp.sandbox.tasks")
CHUNK_MAX = 1000
OFFER_MAX = 64  # parsed tasks waiting for the worker in memory (about 1 MB per 1,000 rows)
OPEN_STATES = ("Pending", "Running")
_KIND_OP = {"CampaignData": "GetTaskStatus", "Dnd": "GetDndTaskStatus"}


def create_task(
    db: sqlite3.Connection,
    tenant: int,
    kind: str,
    campaign_id: str,
    template_id: str | None,
    rows: list[Any],
    raw_body: bytes | None = None,
) -> str:
    """Queue ``rows``. ``raw_body``, a JSON object whose ``data`` is ``rows``, is stored as is
    when given, which saves serialising the rows a second time."""
    task_id = str(uuid.uuid4())
    now = now_iso()
    db.execute(
        "INSERT INTO tasks (id, tenant, kind, state, total, campaign_id, template_id, payload, created_at,"
        " updated_at) VALUES (?, ?, ?, 'Pending', ?, ?, ?, ?, ?, ?)",
        (task_id, tenant, kind, len(rows), campaign_id, template_id, raw_body or json.dumps(rows), now, now),
    )
    return task_id


def task_response(db: sqlite3.Connection, tenant: int, task_id: str, kind: str) -> Response:
    """The task's status document (records last), as a JSON response."""
    row = None
    if v.is_uuid(task_id):
        row = db.execute(
            "SELECT seq, id, kind, state, total, processed, succeeded, failed, message, campaign_id,"
            " template_id, created_at, updated_at FROM tasks WHERE id = ? AND tenant = ?",
            (task_id, tenant),
        ).fetchone()
    if row is None:
        raise not_found(f"task {task_id!r} not found for tenant {tenant}")
    if row[2] != kind:
        raise not_found(f"task {task_id!r} is a {row[2]} task; query it with {_KIND_OP[row[2]]}")
    keys = ("taskId", "kind", "state", "total", "processed", "succeeded", "failed", "message", "campaignId",
            "templateId", "createdAt", "updatedAt")  # fmt: skip
    head = pydantic_core.to_json(dict(zip(keys, row[1:], strict=True)))
    body = head[:-1] + b',"records":' + task_records(db, row[0], row[5]) + b"}"
    return Response(body, media_type="application/json")


def task_records(db: sqlite3.Connection, seq: int, processed: int) -> bytes:
    """One result per processed row, as a JSON array. ``task_results`` stores every row except the
    accepted ones without a message, which the worker leaves out (a database written before that
    stores them all): a processed row without a stored result is such a row. Their JSON is written
    from text kept for the purpose: a 1,000-row status is polled once per bulk chunk, and building
    and encoding a dict per row was most of its cost."""
    stored = db.execute(
        "SELECT row, status, message FROM task_results WHERE task_seq = ? ORDER BY row", (seq,)
    ).fetchall()
    exceptions = {
        number: pydantic_core.to_json({"row": number, "Status": status, "message": message})
        for number, status, message in stored
    }
    accepted = _accepted_records(processed)
    if not exceptions:
        return b"[" + b",".join(accepted) + b"]"
    return b"[" + b",".join([exceptions.get(n, accepted[n - 1]) for n in range(1, processed + 1)]) + b"]"


_ACCEPTED_RECORD = b'{"row":%d,"Status":"200","message":null}'
_ACCEPTED_KEPT = CHUNK_MAX * 10  # rows whose accepted-record text is kept for reuse
_accepted_record_cache: list[bytes] = []


def _accepted_records(count: int) -> list[bytes]:
    """The JSON of rows 1..count as accepted records."""
    cache = _accepted_record_cache
    cache.extend(_ACCEPTED_RECORD % n for n in range(len(cache) + 1, min(count, _ACCEPTED_KEPT) + 1))
    return cache[:count] + [_ACCEPTED_RECORD % n for n in range(len(cache) + 1, count + 1)]


class TaskWorker:
    def __init__(self, store: Store, delay_ms: int) -> None:
        self._store = store
        self._delay = max(0, delay_ms) / 1000
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: Job | None = None
        self._offered: dict[str, list[Any]] = {}  # task id -> its rows, as parsed by the handler
        self._stepped = threading.Condition()  # notified after every chunk the worker commits

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="lynn-sandbox-tasks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def offer(self, task_id: str, rows: list[Any]) -> None:
        """The rows of a new task as its handler parsed them, so the worker need not parse the
        stored payload again. Only an optimisation: up to OFFER_MAX tasks are kept, a task
        without an offer (or after a restart) is read from its payload, and whatever is left when
        the worker runs out of tasks (a creation rolled back) is dropped."""
        if len(self._offered) < OFFER_MAX:
            self._offered[task_id] = rows

    def _run(self) -> None:
        dirty = False  # written to since the last checkpoint
        while not self._stop.is_set():
            self._wake.clear()
            task = self._next()
            if task is None:
                self._offered.clear()
                if dirty:  # out of work: checkpoint now rather than in a commit on the task path
                    dirty = False
                    self._checkpoint()
                    continue  # a task may have come in meanwhile
                self._wake.wait(timeout=1.0)
                continue
            dirty = True
            if self._delay and self._stop.wait(self._delay):
                return
            try:
                self._step(task)
            except Exception:  # a bug must fail one task, never kill the worker
                log.exception("sandbox task %s failed", task.seq)
                self._finish_failed(task.seq, "internal sandbox error while processing the task")
            with self._stepped:
                self._stepped.notify_all()

    def wait_settled(self, task_id: str, timeout_s: float) -> str:
        """Block until the task is Completed or Failed and return that state: what a test waits on
        instead of polling its status. LookupError for an unknown task, TimeoutError after
        ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        # The worker notifies after its commit, and cannot while we hold the condition between
        # reading the state and waiting: no step goes unnoticed.
        with self._stepped:
            while True:
                with self._store.read() as db:
                    row = db.execute("SELECT state FROM tasks WHERE id = ?", (task_id,)).fetchone()
                if row is None:
                    raise LookupError(f"no task {task_id!r}")
                if row[0] not in OPEN_STATES:
                    return str(row[0])
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"task {task_id!r} is still {row[0]} after {timeout_s} s")
                self._stepped.wait(remaining)

    def _checkpoint(self) -> None:
        try:
            self._store.checkpoint()
        except sqlite3.Error:  # the next idle moment (or an automatic checkpoint) will do it
            log.warning("sandbox WAL checkpoint failed", exc_info=True)

    def _next(self) -> Job | None:
        with self._store.read() as db:
            row = db.execute(
                "SELECT seq, kind, tenant, campaign_id, template_id, total, id FROM tasks"
                " WHERE state IN ('Pending', 'Running') ORDER BY seq LIMIT 1"
            ).fetchone()
            if row is None:
                self._current = None
                return None
            if self._current is None or self._current.seq != row[0]:
                seq, kind, tenant, campaign_id, template_id, total, task_id = row
                rows = self._offered.pop(task_id, None)
                if rows is None:
                    (payload,) = db.execute("SELECT payload FROM tasks WHERE seq = ?", (seq,)).fetchone()
                    rows = _rows(json.loads(payload))
                self._current = Job(
                    seq=seq,
                    kind=kind,
                    tenant=tenant,
                    campaign_id=campaign_id,
                    template_id=template_id,
                    total=total,
                    rows=rows,
                    task_id=task_id,
                )
        return self._current

    def _step(self, task: Job) -> None:
        # Quarter chunks let a poller watch progress; without a delay nobody is watching, so
        # take the biggest chunk (fewest commits).
        chunk = CHUNK_MAX if not self._delay else min(CHUNK_MAX // 2, max(1, math.ceil(task.total / 4)))
        with self._store.write() as db:
            state, processed = db.execute(
                "SELECT state, processed FROM tasks WHERE seq = ?", (task.seq,)
            ).fetchone()
            if state not in OPEN_STATES:
                return
            end = min(task.total, processed + chunk)
            outcome = process_chunk(db, task, processed, end)
            if outcome.failure is not None:
                _mark(db, task.seq, "Failed", outcome.failure)
                return
            db.executemany("INSERT INTO task_results VALUES (?, ?, ?, ?)", outcome.results)
            ok = outcome.succeeded
            done = end >= task.total
            db.execute(
                "UPDATE tasks SET state = ?, processed = ?, succeeded = succeeded + ?, failed = failed + ?,"
                " updated_at = ? WHERE seq = ?",
                ("Completed" if done else "Running", end, ok, end - processed - ok, now_iso(), task.seq),
            )
            if done:
                succeeded, failed = db.execute(
                    "SELECT succeeded, failed FROM tasks WHERE seq = ?", (task.seq,)
                ).fetchone()
                noun = "records created" if task.kind == "CampaignData" else "contacts updated"
                _mark(db, task.seq, "Completed", f"{succeeded} of {task.total} {noun}, {failed} rejected")

    def _finish_failed(self, seq: int, message: str) -> None:
        with self._store.write() as db:
            _mark(db, seq, "Failed", message)


def _mark(db: sqlite3.Connection, seq: int, state: str, message: str) -> None:
    db.execute(
        "UPDATE tasks SET state = ?, message = ?, updated_at = ? WHERE seq = ?",
        (state, message, now_iso(), seq),
    )


def _rows(payload: Any) -> list[Any]:
    return list(payload["data"]) if isinstance(payload, dict) else list(payload)
