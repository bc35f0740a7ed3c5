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
_BOUNDARY = '"},{"'
_STR = frozenset([str])


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
    """``results`` lists every row except the accepted ones (Status "200", no message), which are
    only counted in ``succeeded``: ``task_records`` fills them back in."""

    results: list[Result] = field(default_factory=list)
    succeeded: int = 0
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
    seq = job.seq
    results: list[Result] = []
    pending: dict[str, int] = {}  # phone -> row number; first in the chunk wins
    accepted: list[Any] = []  # the rows of ``pending``, in the same order
    for number, row in enumerate(job.rows[start:end], start + 1):
        # The common, valid row takes this fast path (``set(map(type, ...))`` checks every value
        # is a str in C); row_problem explains the others.
        if type(row) is dict and row.keys() == column_set and set(map(type, row.values())) <= _STR:
            phone = row[phone_column]
            if phone in pending:
                results.append((seq, number, "409", f"phone {phone} repeats row {pending[phone]}"))
                continue
            problem = None if _is_phone(phone) else v.phone_error(phone)
        else:
            problem = row_problem(row, columns, column_set)
        if problem is not None:
            results.append((seq, number, "400", problem))
        elif phone in blacklist:
            results.append((seq, number, "403", f"phone {phone} is on this campaign's blacklist"))
        else:
            pending[phone] = number
            accepted.append(row)
    now = now_iso()
    inserted: set[str] = set()
    phones = list(pending)
    datas = _encode_rows(accepted)
    for i in range(0, len(phones), 1000):  # 5 parameters a row stays under SQLite's limit of 32766
        params: list[Any] = []
        for phone, data in zip(phones[i : i + 1000], datas[i : i + 1000], strict=True):
            params += (job.campaign_id, phone, data, job.task_id, now)
        # One multi-row statement that reports what it inserted: the conflict check and the
        # insert cost one pass over the (campaign_id, phone) index instead of two.
        sql = (
            "INSERT INTO records VALUES "  # noqa: S608 - only '?' placeholders are interpolated
            + ",".join(["(?,?,?,?,?)"] * (len(params) // 5))
            + " ON CONFLICT DO NOTHING RETURNING phone"
        )
        inserted.update(r[0] for r in db.execute(sql, params))
    ok = len(inserted)
    if ok < len(phones):
        results += [
            (seq, number, "409", f"phone {phone} is already a record of this campaign")
            for phone, number in pending.items()
            if phone not in inserted
        ]
    # Accepted rows are (Status "200", no message): the task keeps only the exceptions and
    # ``task_records`` fills the accepted rows back in, which saves a result row per record.
    return Outcome(results=results, succeeded=ok)


def _encode_rows(rows: list[Any]) -> list[str]:
    """Each row as compact JSON, the same text ``_encode(row)`` gives, from one encoder call.

    The rows are dicts of strings with one key set. When no key or value holds a ``{`` (then
    the text has exactly one ``{`` per row), every ``"},{"`` is a boundary between two rows, so
    splitting there is exact; otherwise encode row by row.
    """
    if not rows or not rows[0]:
        return [_encode(row) for row in rows]
    text = _encode(rows)
    if text.count("{") != len(rows):
        return [_encode(row) for row in rows]
    return ['{"' + part + '"}' for part in text[3:-3].split(_BOUNDARY)]


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
    return Outcome(results=results, succeeded=sum(1 for r in results if r[2] == "200"))


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
