"""Campaign data: AddCampaingData (JSON rows), UploadCampaignDataByTenant (.cpg file) and
GetTaskStatus. Both loaders validate the request up front and queue the rows as a task."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncGenerator
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from lynn_mcp.sandbox import validate as v
from lynn_mcp.sandbox.api_campaigns import load_campaign
from lynn_mcp.sandbox.cpg import parse_cpg
from lynn_mcp.sandbox.errors import ApiError, bad_request
from lynn_mcp.sandbox.tasks import create_task, task_response
from lynn_mcp.sandbox.web import Ctx

MAX_ROWS_PER_REQUEST = 1000


def _template(db: sqlite3.Connection, tenant: int, template_id: Any) -> tuple[list[str], str | None]:
    row = None
    if v.is_uuid(template_id):
        row = db.execute(
            "SELECT columns, campaign_id FROM templates WHERE id = ? AND tenant = ?", (template_id, tenant)
        ).fetchone()
    if row is None:
        raise bad_request(f"templateId {template_id!r} is not a known template of tenant {tenant}")
    return json.loads(row[0]), row[1]


def _campaign_for(
    db: sqlite3.Connection, tenant: int, campaign_id: Any, template_campaign: str | None
) -> str:
    """An empty campaign id means the template's own campaign."""
    if campaign_id is None or campaign_id == "":
        if template_campaign is None:
            raise bad_request("the template is bound to no campaign: pass a campaign id")
        return template_campaign
    if not isinstance(campaign_id, str):
        raise bad_request("the campaign id must be a string")
    return str(load_campaign(db, tenant, campaign_id)["id"])


async def add_campaign_data(ctx: Ctx) -> Any:
    body = await ctx.json_object()
    if "campaignId" in body and "campaingId" not in body:
        raise bad_request("unknown field 'campaignId': this API spells it 'campaingId'")
    kind = body.get("typeOfData", 0)
    if isinstance(kind, bool) or kind != 0:
        raise bad_request("typeOfData must be 0")
    data = body.get("data")
    if not isinstance(data, list) or not data:
        raise bad_request("data must be a non-empty list of rows")
    if len(data) > MAX_ROWS_PER_REQUEST:
        raise ApiError(
            413, f"at most {MAX_ROWS_PER_REQUEST} rows per AddCampaingData request, got {len(data)}"
        )
    template_id = body.get("templateId")
    with ctx.store.write() as db:
        _, template_campaign = _template(db, ctx.tenant, template_id)
        campaign_id = _campaign_for(db, ctx.tenant, body.get("campaingId"), template_campaign)
        task_id = create_task(db, ctx.tenant, "CampaignData", campaign_id, template_id, data, ctx.raw)
        # Inside the transaction: the worker cannot pick the task up before its rows are offered.
        ctx.sb.offer_rows(task_id, data)
    ctx.sb.wake_worker()
    return {"taskId": task_id}


async def upload_campaign_data(ctx: Ctx) -> Any:
    raw = await ctx.body()
    if not ctx.request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise bad_request("send the .cpg file as multipart/form-data (part 'file')")

    async def once() -> AsyncGenerator[bytes, None]:
        yield raw

    try:
        form = await MultiPartParser(ctx.request.headers, once(), max_files=1, max_fields=10).parse()
    except MultiPartException as exc:
        raise bad_request(f"malformed multipart body: {exc.message}") from None
    named = ctx.sb.dialect.wire_name  # a dialect may rename the form's parts too
    upload = form.get(named("CpgUpload", "file"))
    if not isinstance(upload, UploadFile):
        raise bad_request(f"the multipart body needs a file part named {named('CpgUpload', 'file')!r}")
    content = await upload.read()
    template_id = form.get(named("CpgUpload", "templateId"))
    campaign_field = form.get(named("CpgUpload", "campaignId"), "")
    with ctx.store.read() as db:
        columns, template_campaign = _template(db, ctx.tenant, template_id)
    rows = parse_cpg(upload.filename or "", content, columns)
    with ctx.store.write() as db:
        campaign_id = _campaign_for(db, ctx.tenant, campaign_field, template_campaign)
        task_id = create_task(db, ctx.tenant, "CampaignData", campaign_id, str(template_id), rows)
    ctx.sb.wake_worker()
    return {"taskId": task_id}


async def get_task_status(ctx: Ctx) -> Any:
    with ctx.store.read() as db:
        return task_response(db, ctx.tenant, ctx.param("taskId"), "CampaignData")
