"""Sandbox-only endpoints (no bearer, never faulted): templates, stored records, faults, stats
and health. They exist for tests and demos; the real Lynn has none of them."""

from __future__ import annotations

import json
import uuid
from typing import Any

from lynn_mcp.sandbox import validate as v
from lynn_mcp.sandbox.errors import bad_request, not_found
from lynn_mcp.sandbox.faults import Faults
from lynn_mcp.sandbox.seed import SEED_TENANT
from lynn_mcp.sandbox.store import now_iso
from lynn_mcp.sandbox.web import Ctx


async def post_template(ctx: Ctx) -> Any:
    body = await ctx.json_object()
    name = v.string(body, "name", required=True, max_len=100)
    columns = body.get("columns")
    if (
        not isinstance(columns, list)
        or not columns
        or not all(isinstance(c, str) and c.strip() for c in columns)
        or len(set(columns)) != len(columns)
    ):
        raise bad_request("columns must be a non-empty list of distinct non-empty strings")
    phone_column = body.get("phoneColumn")
    if phone_column not in columns:
        raise bad_request("phoneColumn must be one of the columns")
    campaign_id = body.get("campaignId")
    tenant = body.get("tenant", SEED_TENANT)
    if isinstance(tenant, bool) or not isinstance(tenant, int):
        raise bad_request("tenant must be an integer")
    with ctx.store.write() as db:
        if campaign_id is not None:
            row = db.execute(
                "SELECT tenant FROM campaigns WHERE id = ?", (campaign_id if v.is_uuid(campaign_id) else "",)
            ).fetchone()
            if row is None:
                raise not_found(f"campaign {campaign_id!r} not found")
            tenant = row[0]
        elif not db.execute("SELECT 1 FROM tenants WHERE id = ?", (tenant,)).fetchone():
            raise not_found(f"tenant {tenant} not found")
        template_id = str(uuid.uuid4())
        db.execute(
            "INSERT INTO templates VALUES (?, ?, ?, ?, ?, ?, ?)",
            (template_id, tenant, name, json.dumps(columns), phone_column, campaign_id, now_iso()),
        )
    return {
        "id": template_id, "name": name, "columns": columns, "phoneColumn": phone_column,
        "campaignId": campaign_id, "tenant": tenant,
    }  # fmt: skip


async def get_records(ctx: Ctx) -> Any:
    campaign_id = ctx.request.query_params.get("campaignId", "")
    with ctx.store.read() as db:
        if not db.execute("SELECT 1 FROM campaigns WHERE id = ?", (campaign_id,)).fetchone():
            raise not_found(f"campaign {campaign_id!r} not found")
        rows = db.execute(
            "SELECT phone, data, task_id, created_at FROM records WHERE campaign_id = ?"
            " ORDER BY created_at, phone",
            (campaign_id,),
        ).fetchall()
    records = [{"phone": p, "data": json.loads(d), "taskId": t, "createdAt": c} for p, d, t, c in rows]
    return {"campaignId": campaign_id, "count": len(records), "records": records}


async def post_faults(ctx: Ctx) -> Any:
    faults = Faults.from_json(await ctx.json())
    ctx.sb.faults.configure(faults)
    return faults.to_json()


async def get_faults(ctx: Ctx) -> Any:
    return ctx.sb.faults.faults.to_json()


async def delete_faults(ctx: Ctx) -> Any:
    ctx.sb.faults.configure(Faults())
    return Faults().to_json()


async def get_stats(ctx: Ctx) -> Any:
    return ctx.sb.stats.snapshot()


async def delete_stats(ctx: Ctx) -> Any:
    ctx.sb.stats.reset()
    return ctx.sb.stats.snapshot()


async def health(ctx: Ctx) -> Any:
    with ctx.store.read() as db:
        db.execute("SELECT 1").fetchone()
    return {"status": "ok"}
