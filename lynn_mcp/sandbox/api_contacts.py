"""Contact operations: list, get, create, update, delete."""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from lynn_mcp.sandbox import validate as v
from lynn_mcp.sandbox.errors import bad_request, conflict, not_found
from lynn_mcp.sandbox.store import now_iso
from lynn_mcp.sandbox.web import Ctx

MAX_CORRELATION_IDS = 3
_COLUMNS = "id, name, channel, identifier, correlation_ids, created_at, updated_at"


def contact_json(row: tuple[Any, ...]) -> dict[str, Any]:
    cid, name, channel, identifier, correlation, created, updated = row
    return {
        "id": cid, "name": name, "channel": channel, "identifier": identifier,
        "correlationIds": json.loads(correlation), "createdAt": created, "updatedAt": updated,
    }  # fmt: skip


def load_contact(db: sqlite3.Connection, tenant: int, contact_id: str) -> dict[str, Any]:
    row = None
    if v.is_uuid(contact_id):
        row = db.execute(
            f"SELECT {_COLUMNS} FROM contacts WHERE id = ? AND tenant = ?",  # noqa: S608 - interpolates module constants or '?' placeholders only
            (contact_id, tenant),
        ).fetchone()
    if row is None:
        raise not_found(f"contact {contact_id!r} not found for tenant {tenant}")
    return contact_json(row)


def insert_contact(db: sqlite3.Connection, tenant: int, c: dict[str, Any]) -> None:
    db.execute(
        f"INSERT OR REPLACE INTO contacts (tenant, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - interpolates module constants or '?' placeholders only
        (
            tenant, c["id"], c["name"], c["channel"], c["identifier"], json.dumps(c["correlationIds"]),
            c["createdAt"], c["updatedAt"],
        ),
    )  # fmt: skip


def _check(db: sqlite3.Connection, tenant: int, c: dict[str, Any]) -> None:
    c["name"] = v.string(c, "name", max_len=200) or ""
    c["channel"] = v.choice(c, "channel", v.CHANNELS, "WhatsApp")
    if (problem := v.identifier_error(c["channel"], c.get("identifier"))) is not None:
        raise bad_request(problem)
    c["correlationIds"] = v.string_list(c, "correlationIds", MAX_CORRELATION_IDS)
    clash = db.execute(
        "SELECT id FROM contacts WHERE tenant = ? AND channel = ? AND identifier = ? AND id != ?",
        (tenant, c["channel"], c["identifier"], c["id"]),
    ).fetchone()
    if clash:
        raise conflict(
            f"a {c['channel']} contact with identifier {c['identifier']!r} already exists ({clash[0]})"
        )


async def get_contacts(ctx: Ctx) -> Any:
    with ctx.store.read() as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM contacts WHERE tenant = ? ORDER BY created_at, id",  # noqa: S608 - interpolates module constants or '?' placeholders only
            (ctx.tenant,),
        ).fetchall()
    return [contact_json(r) for r in rows]


async def get_contact(ctx: Ctx) -> Any:
    with ctx.store.read() as db:
        return load_contact(db, ctx.tenant, ctx.param("contactId"))


async def post_contact(ctx: Ctx) -> Any:
    body = await ctx.json_object()
    now = now_iso()
    contact = {k: body.get(k) for k in ("name", "channel", "identifier", "correlationIds")}
    contact.update(id=str(uuid.uuid4()), createdAt=now, updatedAt=now)
    with ctx.store.write() as db:
        _check(db, ctx.tenant, contact)
        insert_contact(db, ctx.tenant, contact)
    return contact


async def put_contact(ctx: Ctx) -> Any:
    body = await ctx.json_object()
    with ctx.store.write() as db:
        contact = load_contact(db, ctx.tenant, ctx.param("contactId"))
        contact.update({k: body[k] for k in ("name", "channel", "identifier", "correlationIds") if k in body})
        _check(db, ctx.tenant, contact)
        contact["updatedAt"] = now_iso()
        insert_contact(db, ctx.tenant, contact)
    return contact


async def delete_contact(ctx: Ctx) -> Any:
    with ctx.store.write() as db:
        contact = load_contact(db, ctx.tenant, ctx.param("contactId"))
        db.execute("DELETE FROM contacts WHERE id = ?", (contact["id"],))
        db.execute("DELETE FROM dnd WHERE contact_id = ?", (contact["id"],))
    return {"deleted": True}
