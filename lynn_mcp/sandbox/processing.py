"""What one chunk of a task does to the store: campaign data rows become records (or rejections),
DnD rows update the blacklist. Per-row work is kept lean; SQLite work is batched per chunk."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any

from lynn_mcp.sandbox import validate as v
from lynn_mcp.sandbox.store import now_iso

Result = tuple[int, int, str, str | None]  # task seq, 1-based row, Status, message
_is_phone = re.compile(r"[0-9]{8,15}").fullmatch
_encode = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":")
).encode  # built once: dumps() rebuilds it


@dataclass
class Job:
    """A task being worked on, parsed once rather than once per chunk."""

    seq: int
    kind: str
    tenant: int
    campaign_id: str
    template_id: str | None
    total: int
    rows: list[Any]
    task_id: str = ""


@dataclass
class Outcome:
    results: list[Result] = field(default_factory=list)
    failure: str | None = None


def process_chunk(db: sqlite3.Connection, job: Job, start: int, end: int) -> Outcome:
    campaign = db.execute(
        "SELECT channel FROM campaigns WHERE id = ? AND tenant = ?", (job.campaign_id, job.tenant)
    ).fetchone()
    if campaign is None:
        return Outcome(failure=f"campaign {job.campaign_id} was deleted before the task finished")
    if job.kind == "Dnd":
        return _dnd_chunk(db, job, start, end, campaign[0])
    return _data_chunk(db, job, start, end)


def row_problem(row: Any, columns: list[str], column_set: frozenset[str]) -> str | None:
    """Why a data row cannot become a record (shape and types), or None."""
    if not isinstance(row, dict):
        return "row must be a JSON object of template columns"
    if row.keys() != column_set:
        missing = [c for c in columns if c not in row]
        if missing:
            return f"missing template column(s): {', '.join(missing)}"
        extra = sorted(str(k) for k in row if k not in column_set)
        return f"column(s) not in the template: {', '.join(extra)}"
    for key, value in row.items():
        if not isinstance(value, str):
            return f"column {key!r} must be a string"
    return None


def _data_chunk(db: sqlite3.Connection, job: Job, start: int, end: int) -> Outcome:
    columns_json, phone_column = db.execute(
        "SELECT columns, phone_column FROM templates WHERE id = ?", (job.template_id,)
    ).fetchone()
    columns: list[str] = json.loads(columns_json)
    column_set = frozenset(columns)
    blacklist = {
        r[0]
        for r in db.execute(
            "SELECT c.identifier FROM dnd d JOIN contacts c ON c.id = d.contact_id"
            " WHERE d.campaign_id = ? AND d.do_not_disturb = 1",
            (job.campaign_id,),
        )
    }
    results: list[Result] = []
    pending: dict[str, tuple[int, Any]] = {}  # phone -> (row number, row); first in the chunk wins
    for number in range(start + 1, end + 1):
        row = job.rows[number - 1]
        # The common, valid row takes this fast path; row_problem explains the others.
        if type(row) is dict and row.keys() == column_set and all(type(x) is str for x in row.values()):
            phone = row[phone_column]
            problem = None if _is_phone(phone) else v.phone_error(phone)
        else:
            problem = row_problem(row, columns, column_set)
        if problem is not None:
            results.append((job.seq, number, "400", problem))
            continue
        if phone in blacklist:
            results.append((job.seq, number, "403", f"phone {phone} is on this campaign's blacklist"))
        elif phone in pending:
            results.append((job.seq, number, "409", f"phone {phone} repeats row {pending[phone][0]}"))
        else:
            pending[phone] = (number, row)
    now = now_iso()
    inserted: set[str] = set()
    items = list(pending.items())
    for i in range(0, len(items), 1000):  # 5 parameters a row stays under SQLite's limit of 32766
        part = items[i : i + 1000]
        params: list[Any] = []
        for phone, (_, data) in part:
            params += (job.campaign_id, phone, _encode(data), job.task_id, now)
        # One multi-row statement that reports what it inserted: the conflict check and the
        # insert cost one pass over the (campaign_id, phone) index instead of two.
        sql = (
            "INSERT INTO records VALUES "  # noqa: S608 - only '?' placeholders are interpolated
            + ",".join(["(?,?,?,?,?)"] * len(part))
            + " ON CONFLICT DO NOTHING RETURNING phone"
        )
        inserted.update(r[0] for r in db.execute(sql, params))
    for phone, (number, _) in items:
        if phone in inserted:
            results.append((job.seq, number, "200", None))
        else:
            results.append((job.seq, number, "409", f"phone {phone} is already a record of this campaign"))
    return Outcome(results=results)


def _dnd_chunk(db: sqlite3.Connection, job: Job, start: int, end: int, campaign_channel: str) -> Outcome:
    results: list[Result] = []
    now = now_iso()
    for number in range(start + 1, end + 1):
        item = job.rows[number - 1]
        problem = _dnd_problem(item, campaign_channel)
        if problem is not None:
            results.append((job.seq, number, "400", problem))
            continue
        channel = item.get("channel") or campaign_channel
        found = db.execute(
            "SELECT id FROM contacts WHERE tenant = ? AND channel = ? AND identifier = ?",
            (job.tenant, channel, item["identifier"]),
        ).fetchone()
        created = found is None
        contact_id = found[0] if found else _new_contact(db, job.tenant, item, channel, now)
        db.execute(
            "INSERT OR REPLACE INTO dnd VALUES (?, ?, ?, ?)",
            (job.campaign_id, contact_id, int(item["doNotDisturb"]), now),
        )
        flag = "true" if item["doNotDisturb"] else "false"
        results.append(
            (job.seq, number, "200", f"{'contact created, ' if created else ''}doNotDisturb={flag}")
        )
    return Outcome(results=results)


def _dnd_problem(item: Any, campaign_channel: str) -> str | None:
    if not isinstance(item, dict):
        return "contact entry must be a JSON object"
    if not isinstance(item.get("doNotDisturb"), bool):
        return "doNotDisturb must be true or false"
    channel = item.get("channel") or campaign_channel
    if channel not in v.CHANNELS:
        return f"channel must be one of {', '.join(v.CHANNELS)}"
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        return "name must be a string"
    return v.identifier_error(channel, item.get("identifier"))


def _new_contact(db: sqlite3.Connection, tenant: int, item: dict[str, Any], channel: str, now: str) -> str:
    contact_id = str(uuid.uuid4())
    db.execute(
        "INSERT INTO contacts VALUES (?, ?, ?, ?, ?, '[]', ?, ?)",
        (contact_id, tenant, item.get("name") or item["identifier"], channel, item["identifier"], now, now),
    )
    return contact_id
