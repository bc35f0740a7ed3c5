"""The SQLite store: schema, the shared connection and its lock.

Concurrency choice: ONE connection (``check_same_thread=False``) guarded by one lock. SQLite
serialises writers anyway, so a connection per thread would only add ``SQLITE_BUSY`` handling
(read-to-write lock upgrades fail without waiting) and buy no parallelism on a 2-core box. Every
statement is microseconds; the task worker holds the lock for one chunk at a time, so request
handlers never wait long. WAL keeps the file crash-safe and lets outside readers (sqlite3 CLI) look
in while the sandbox runs.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS credentials (
    access_token TEXT PRIMARY KEY, secret TEXT NOT NULL, tenant INTEGER NOT NULL REFERENCES tenants(id));
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, tenant INTEGER NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS templates (
    id TEXT PRIMARY KEY, tenant INTEGER NOT NULL, name TEXT NOT NULL, columns TEXT NOT NULL,
    phone_column TEXT NOT NULL, campaign_id TEXT, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS campaigns (
    id TEXT PRIMARY KEY, tenant INTEGER NOT NULL, name TEXT NOT NULL, division TEXT, category TEXT,
    campaign_type TEXT NOT NULL, execution_mode TEXT NOT NULL, channel TEXT NOT NULL, template_id TEXT,
    start_date TEXT, stop_date TEXT, valid_until TEXT, status TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (tenant, name));
CREATE TABLE IF NOT EXISTS contacts (
    id TEXT PRIMARY KEY, tenant INTEGER NOT NULL, name TEXT NOT NULL, channel TEXT NOT NULL,
    identifier TEXT NOT NULL, correlation_ids TEXT NOT NULL, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, UNIQUE (tenant, channel, identifier));
CREATE INDEX IF NOT EXISTS contacts_identifier ON contacts (tenant, identifier);
CREATE TABLE IF NOT EXISTS dnd (
    campaign_id TEXT NOT NULL, contact_id TEXT NOT NULL, do_not_disturb INTEGER NOT NULL,
    updated_at TEXT NOT NULL, PRIMARY KEY (campaign_id, contact_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dnd_contact ON dnd (contact_id);
CREATE TABLE IF NOT EXISTS records (
    campaign_id TEXT NOT NULL, phone TEXT NOT NULL, data TEXT NOT NULL, task_id TEXT NOT NULL,
    created_at TEXT NOT NULL, PRIMARY KEY (campaign_id, phone)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, tenant INTEGER NOT NULL, kind TEXT NOT NULL,
    state TEXT NOT NULL, total INTEGER NOT NULL, processed INTEGER NOT NULL DEFAULT 0,
    succeeded INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0, message TEXT,
    campaign_id TEXT NOT NULL, template_id TEXT, payload TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_open ON tasks (state) WHERE state IN ('Pending', 'Running');
CREATE TABLE IF NOT EXISTS task_results (
    task_seq INTEGER NOT NULL, row INTEGER NOT NULL, status TEXT NOT NULL, message TEXT,
    PRIMARY KEY (task_seq, row)) WITHOUT ROWID;
"""

# Pages (4 KiB) the WAL may grow to before a commit checkpoints it itself (SQLite's default is
# 1,000): about 30,000 records, so a burst of uploads never pays for checkpoints in its commits.
WAL_AUTOCHECKPOINT = 10_000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    """Owns the connection; every access goes through :meth:`read` or :meth:`write`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        # isolation_level=None: we issue BEGIN ourselves so a write transaction takes the
        # write lock up front (BEGIN IMMEDIATE) and never fails half way.
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across app crashes
        self._conn.execute("PRAGMA busy_timeout=5000")  # an outside reader/writer must not fail us
        # Checkpoints move off the commit path: the task worker runs them when it runs out of
        # work (:meth:`checkpoint`); a commit checkpoints only past WAL_AUTOCHECKPOINT pages.
        self._conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")
        self._conn.executescript(SCHEMA)
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_lock = threading.Lock()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One atomic transaction: committed on success, rolled back on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def checkpoint(self) -> None:
        """Copy the WAL into the database file without blocking anyone: a PASSIVE checkpoint on
        a connection of its own, so readers and writers on the shared one carry on meanwhile."""
        with self._checkpoint_lock:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        with self._checkpoint_lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
        with self._lock:
            self._conn.close()
