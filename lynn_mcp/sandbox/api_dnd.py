"""Blacklist (DnD) operations: read a contact's entries, set one by campaign or category, bulk
management through a task, and that task's status."""

from __future__ import annotations

import sqlite3
from typing import Any

from lynn_mcp.sandbox import validate as v
from lynn_mcp.sandbox.api_campaigns import changed_at, load_campaign
from lynn_mcp.sandbox.api_contacts import load_contact
from lynn_mcp.sandbox.errors import ApiError, bad_request, not_found
from lynn_mcp.sandbox.tasks import create_task, task_response
from lynn_mcp.sandbox.web import Ctx

MAX_DND_CONTACTS = 50_000


def _entries(db: sqlite3.Connection, contact_id: str, campaign_ids: list[str] | None) -> list[dict[str, Any]]:
    sql = (
        "SELECT d.campaign_id, c.name, c.category, d.do_not_disturb, d.updated_at FROM dnd d"
        " JOIN campaigns c ON c.id = d.campaign_id WHERE d.contact_id = ?"
    )
    params: list[Any] = [contact_id]
    if campaign_ids is None:
        sql += " AND d.do_not_disturb = 1"
    else:
        sql += f" AND d.campaign_id IN ({','.join('?' * len(campaign_ids))})"
        params += campaign_ids
    rows = db.execute(sql + " ORDER BY c.name", params).fetchall()
    return [
        {
            "campaignId": cid,
            "campaignName": name,
            "category": cat,
            "doNotDisturb": bool(flag),
            "updatedAt": at,
        }
        for cid, name, cat, flag, at in rows
    ]


def _set(db: sqlite3.Connection, campaign_ids: list[str], contact_id: str, flag: bool) -> None:
    """Write the contact's entries; each one's updatedAt moves on, even when the flag stays the same."""
    in_campaigns = f"campaign_id IN ({','.join('?' * len(campaign_ids))})"
    previous = dict(
        db.execute(
            f"SELECT campaign_id, updated_at FROM dnd WHERE contact_id = ? AND {in_campaigns}",  # noqa: S608 - interpolates '?' placeholders only
            [contact_id, *campaign_ids],
        ).fetchall()
    )
    db.executemany(
        "INSERT OR REPLACE INTO dnd VALUES (?, ?, ?, ?)",
        [(cid, contact_id, int(flag), changed_at(previous.get(cid))) for cid in campaign_ids],
    )


async def get_dnd_contact(ctx: Ctx) -> Any:
    with ctx.store.read() as db:
        contact = load_contact(db, ctx.tenant, ctx.param("contactId"))
        return _entries(db, contact["id"], None)


async def set_dnd_by_campaign(ctx: Ctx) -> Any:
    body = await ctx.json_object()
    flag = v.boolean(body, "doNotDisturb")
    with ctx.store.write() as db:
        campaign = load_campaign(db, ctx.tenant, str(body.get("campaignId")))
        contact = load_contact(db, ctx.tenant, str(body.get("contactId")))
        _set(db, [campaign["id"]], contact["id"], flag)
        return _entries(db, contact["id"], [campaign["id"]])


async def set_dnd_by_category(ctx: Ctx) -> Any:
    body = await ctx.json_object()
    category = v.string(body, "category", required=True, max_len=100)
    flag = v.boolean(body, "doNotDisturb")
    with ctx.store.write() as db:
        contact = load_contact(db, ctx.tenant, str(body.get("contactId")))
        ids = [
            r[0]
            for r in db.execute(
                "SELECT id FROM campaigns WHERE tenant = ? AND category = ?", (ctx.tenant, category)
            )
        ]
        if not ids:
            raise not_found(f"no campaign of tenant {ctx.tenant} has category {category!r}")
        _set(db, ids, contact["id"], flag)
        return _entries(db, contact["id"], ids)


async def manage_dnd_by_campaign(ctx: Ctx) -> Any:
    body = await ctx.json_object()
    contacts = body.get("contacts")
    if not isinstance(contacts, list) or not contacts:
        raise bad_request("contacts must be a non-empty list")
    if len(contacts) > MAX_DND_CONTACTS:
        raise ApiError(413, f"at most {MAX_DND_CONTACTS} contacts per request")
    with ctx.store.write() as db:
        campaign = load_campaign(db, ctx.tenant, str(body.get("campaignId")))
        task_id = create_task(db, ctx.tenant, "Dnd", campaign["id"], None, contacts)
    ctx.sb.wake_worker()
    return {"taskId": task_id}


async def get_dnd_task_status(ctx: Ctx) -> Any:
    with ctx.store.read() as db:
        return task_response(db, ctx.tenant, ctx.param("taskId"), "Dnd")
