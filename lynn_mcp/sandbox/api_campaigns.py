"""Campaign operations: list, get, create, update, delete, start and stop."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from lynn_mcp.sandbox import validate as v
from lynn_mcp.sandbox.errors import bad_request, conflict, not_found
from lynn_mcp.sandbox.store import now_iso
from lynn_mcp.sandbox.web import Ctx

MAX_CAMPAIGNS = 15
_COLUMNS = (
    "id, name, division, category, campaign_type, execution_mode, channel, template_id, "
    "start_date, stop_date, valid_until, status, created_at, updated_at"
)
_KEYS = (
    "id", "name", "division", "category", "campaignType", "executionMode", "channel", "templateId",
    "startDate", "stopDate", "validUntil", "status", "createdAt", "updatedAt",
)  # fmt: skip


def changed_at(previous: str | None) -> str:
    """The updatedAt of a change to something last changed at ``previous``: now, or a millisecond
    after ``previous`` if the clock has not moved past it, so every change shows in updatedAt (a
    client may bind an approval to it: start, stop, start again within a millisecond must differ)."""
    now = now_iso()
    if previous is None or now > previous:  # same format and offset: text order is time order
        return now
    later = datetime.fromisoformat(previous) + timedelta(milliseconds=1)
    return later.astimezone(UTC).isoformat(timespec="milliseconds")


def campaign_json(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(_KEYS, row, strict=True))


def load_campaign(db: sqlite3.Connection, tenant: int, campaign_id: str) -> dict[str, Any]:
    """The tenant's campaign as JSON, or 404."""
    row = None
    if v.is_uuid(campaign_id):
        row = db.execute(
            f"SELECT {_COLUMNS} FROM campaigns WHERE id = ? AND tenant = ?",  # noqa: S608 - interpolates module constants or '?' placeholders only
            (campaign_id, tenant),
        ).fetchone()
    if row is None:
        raise not_found(f"campaign {campaign_id!r} not found for tenant {tenant}")
    return campaign_json(row)


def _check(db: sqlite3.Connection, tenant: int, merged: dict[str, Any], body: dict[str, Any]) -> None:
    """Validate ``merged`` (the campaign as it would be stored) in place, normalising dates."""
    merged["name"] = v.string(merged, "name", required=True, max_len=100)
    for key in ("division", "category"):
        merged[key] = v.string(merged, key, max_len=100)
    merged["campaignType"] = v.choice(
        merged, "campaignType", ("SingleMessage", "MultipleMessage"), "SingleMessage"
    )
    merged["executionMode"] = v.choice(merged, "executionMode", ("Manual", "Scheduled", "AlwaysOn"), "Manual")
    merged["channel"] = v.choice(merged, "channel", v.CHANNELS, "WhatsApp")
    if merged["channel"] == "WhatsApp" and merged["campaignType"] == "MultipleMessage":
        raise bad_request("WhatsApp campaigns must be SingleMessage (templates allow a single message)")
    start, stop, until = (
        v.moment(merged, "startDate"),
        v.moment(merged, "stopDate"),
        v.moment(merged, "validUntil"),
    )
    if merged["executionMode"] == "Scheduled":
        if start is None or stop is None:
            raise bad_request("a Scheduled campaign needs startDate and stopDate")
        if start >= stop:
            raise bad_request("startDate must be before stopDate")
    if until is not None:
        if "validUntil" in body and until <= datetime.now(UTC):
            raise bad_request("validUntil must be in the future")
        if stop is not None and until <= stop:
            raise bad_request("validUntil must be later than stopDate")
    merged.update(startDate=v.iso(start), stopDate=v.iso(stop), validUntil=v.iso(until))
    template_id = merged.get("templateId")
    if template_id is not None:
        known = (
            v.is_uuid(template_id)
            and db.execute(
                "SELECT 1 FROM templates WHERE id = ? AND tenant = ?", (template_id, tenant)
            ).fetchone()
        )
        if not known:
            raise bad_request(f"templateId {template_id!r} is not a known template")
    clash = db.execute(
        "SELECT 1 FROM campaigns WHERE tenant = ? AND name = ? AND id != ?",
        (tenant, merged["name"], merged.get("id") or ""),
    ).fetchone()
    if clash:
        raise bad_request(f"a campaign named {merged['name']!r} already exists")


def _save(db: sqlite3.Connection, tenant: int, c: dict[str, Any]) -> None:
    db.execute(
        f"INSERT OR REPLACE INTO campaigns (tenant, {_COLUMNS}) VALUES (?{', ?' * len(_KEYS)})",  # noqa: S608 - interpolates module constants or '?' placeholders only
        (tenant, *(c[k] for k in _KEYS)),
    )


async def get_campaigns(ctx: Ctx) -> Any:
    with ctx.store.read() as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM campaigns WHERE tenant = ? ORDER BY created_at, id",  # noqa: S608 - interpolates module constants or '?' placeholders only
            (ctx.tenant,),
        ).fetchall()
    return [campaign_json(r) for r in rows]


async def get_campaign(ctx: Ctx) -> Any:
    with ctx.store.read() as db:
        return load_campaign(db, ctx.tenant, ctx.param("campaignId"))


async def post_campaign(ctx: Ctx) -> Any:
    body = await ctx.json_object()
    now = now_iso()
    merged = {k: body.get(k) for k in _KEYS}
    merged.update(id=str(uuid.uuid4()), status="Stopped", createdAt=now, updatedAt=now)
    with ctx.store.write() as db:
        (count,) = db.execute("SELECT count(*) FROM campaigns WHERE tenant = ?", (ctx.tenant,)).fetchone()
        if count >= MAX_CAMPAIGNS:
            raise bad_request(f"a tenant may have at most {MAX_CAMPAIGNS} campaigns")
        _check(db, ctx.tenant, merged, body)
        _save(db, ctx.tenant, merged)
    return merged


async def put_campaign(ctx: Ctx) -> Any:
    body = await ctx.json_object()
    with ctx.store.write() as db:
        merged = load_campaign(db, ctx.tenant, ctx.param("campaignId"))
        for key in _KEYS[1:11]:  # writable fields only: not id, status or record dates
            if key in body:
                merged[key] = body[key]
        _check(db, ctx.tenant, merged, body)
        merged["updatedAt"] = changed_at(merged["updatedAt"])
        _save(db, ctx.tenant, merged)
    return merged


async def delete_campaign(ctx: Ctx) -> Any:
    with ctx.store.write() as db:
        campaign = load_campaign(db, ctx.tenant, ctx.param("campaignId"))
        cid = campaign["id"]
        db.execute("DELETE FROM campaigns WHERE id = ?", (cid,))
        db.execute("DELETE FROM records WHERE campaign_id = ?", (cid,))
        db.execute("DELETE FROM dnd WHERE campaign_id = ?", (cid,))
        db.execute("UPDATE templates SET campaign_id = NULL WHERE campaign_id = ?", (cid,))
    return {"deleted": True}


async def _set_status(ctx: Ctx, status: str) -> dict[str, Any]:
    with ctx.store.write() as db:
        campaign = load_campaign(db, ctx.tenant, ctx.param("campaignId"))
        if campaign["executionMode"] != "Manual":
            raise conflict(
                f"only Manual campaigns can be started or stopped; this one is {campaign['executionMode']}"
            )
        if campaign["status"] != status:
            campaign.update(status=status, updatedAt=changed_at(campaign["updatedAt"]))
            _save(db, ctx.tenant, campaign)
    return campaign


async def start_campaign(ctx: Ctx) -> Any:
    return await _set_status(ctx, "Started")


async def stop_campaign(ctx: Ctx) -> Any:
    return await _set_status(ctx, "Stopped")
