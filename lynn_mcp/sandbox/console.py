"""The sandbox's read-only web console at `/`: what the agent did, as a Lynn user checks it.

Campaigns; one campaign's records with their `Status` (and the rows Lynn refused, with its
message); the blacklist; tasks with their progress. The page is static (`static/console.html`,
`console.js`, and `look.css` and `dom.js`, shared with the MCP Apps views) and reads two JSON
documents from `/console/api/`; nothing changes anything. Every string from the store reaches the
page as JSON and becomes text (`dom.js`), never HTML; the page's CSP allows this origin only.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynn_mcp.sandbox.store import Store
from lynn_mcp.sandbox.web import json_response

__all__ = ["CONSOLE_CSP", "console_routes"]

STATIC: Final = Path(__file__).parent / "static"
ASSETS: Final = {"look.css": "text/css", "dom.js": "text/javascript", "console.js": "text/javascript"}
ROWS_SHOWN: Final = 200
"""Records, refused rows and blacklist entries listed at most (the counts are whole)."""
TASKS_SHOWN: Final = 50
CONSOLE_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS: Final = {
    "content-security-policy": CONSOLE_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _rows(
    db: sqlite3.Connection, sql: str, params: tuple[Any, ...], keys: tuple[str, ...]
) -> list[dict[str, Any]]:
    return [dict(zip(keys, row, strict=True)) for row in db.execute(sql, params)]


def _tenant(db: sqlite3.Connection, request: Request) -> int | None:
    wanted = request.query_params.get("tenant", "")
    if wanted:
        row = db.execute(
            "SELECT id FROM tenants WHERE id = ?", (wanted if wanted.isdigit() else -1,)
        ).fetchone()
    else:
        row = db.execute("SELECT MIN(id) FROM tenants").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def overview(db: sqlite3.Connection, tenant: int) -> dict[str, Any]:
    """The tenant's campaigns (with their record counts), tasks (newest first) and blacklist."""
    tenants = _rows(db, "SELECT id, name FROM tenants ORDER BY id", (), ("id", "name"))
    campaigns = _rows(
        db,
        "SELECT c.id, c.name, c.status, c.execution_mode, c.category, c.template_id, c.start_date,"
        " c.stop_date, c.valid_until, (SELECT COUNT(*) FROM records r WHERE r.campaign_id = c.id)"
        " FROM campaigns c WHERE c.tenant = ? ORDER BY c.name COLLATE NOCASE",
        (tenant,),
        ("id", "name", "status", "executionMode", "category", "templateId", "startDate", "stopDate",
         "validUntil", "records"),
    )  # fmt: skip
    tasks = _rows(
        db,
        "SELECT t.id, t.kind, t.state, t.total, t.processed, t.succeeded, t.failed, t.message, c.name,"
        " t.created_at, t.updated_at FROM tasks t LEFT JOIN campaigns c ON c.id = t.campaign_id"
        " WHERE t.tenant = ? ORDER BY t.seq DESC LIMIT ?",
        (tenant, TASKS_SHOWN),
        ("id", "kind", "state", "total", "processed", "succeeded", "failed", "message", "campaignName",
         "createdAt", "updatedAt"),
    )  # fmt: skip
    blacklist = _rows(
        db,
        "SELECT ct.name, ct.identifier, ct.channel, c.name, c.category, d.do_not_disturb, d.updated_at"
        " FROM dnd d JOIN contacts ct ON ct.id = d.contact_id JOIN campaigns c ON c.id = d.campaign_id"
        " WHERE c.tenant = ? ORDER BY d.updated_at DESC LIMIT ?",
        (tenant, ROWS_SHOWN),
        ("contactName", "identifier", "channel", "campaignName", "category", "doNotDisturb", "updatedAt"),
    )
    for entry in blacklist:
        entry["doNotDisturb"] = bool(entry["doNotDisturb"])
    return {
        "tenant": tenant,
        "tenants": tenants,
        "campaigns": campaigns,
        "tasks": tasks,
        "blacklist": blacklist,
    }


def campaign_records(db: sqlite3.Connection, tenant: int, campaign_id: str) -> dict[str, Any] | None:
    """One campaign's records (each stored row is Status 200) and the rows Lynn refused, with its
    Status and message, newest task first."""
    found = db.execute(
        "SELECT c.id, c.name, c.status, t.columns, t.phone_column FROM campaigns c"
        " LEFT JOIN templates t ON t.id = c.template_id WHERE c.id = ? AND c.tenant = ?",
        (campaign_id, tenant),
    ).fetchone()
    if found is None:
        return None
    columns = [column for column in json.loads(found[3] or "[]") if column != found[4]]
    records = [
        {"phone": phone, "data": json.loads(data), "status": "200", "taskId": task_id, "createdAt": created}
        for phone, data, task_id, created in db.execute(
            "SELECT phone, data, task_id, created_at FROM records WHERE campaign_id = ?"
            " ORDER BY created_at, phone LIMIT ?",
            (campaign_id, ROWS_SHOWN),
        )
    ]
    refused = _rows(
        db,
        "SELECT t.id, r.row, r.status, r.message FROM task_results r JOIN tasks t ON t.seq = r.task_seq"
        " WHERE t.campaign_id = ? AND t.kind = 'CampaignData' AND r.status != '200'"
        " ORDER BY t.seq DESC, r.row LIMIT ?",
        (campaign_id, ROWS_SHOWN),
        ("taskId", "row", "status", "message"),
    )
    (record_count,) = db.execute(
        "SELECT COUNT(*) FROM records WHERE campaign_id = ?", (campaign_id,)
    ).fetchone()
    (refused_count,) = db.execute(
        "SELECT COUNT(*) FROM task_results r JOIN tasks t ON t.seq = r.task_seq"
        " WHERE t.campaign_id = ? AND t.kind = 'CampaignData' AND r.status != '200'",
        (campaign_id,),
    ).fetchone()
    return {
        "id": found[0], "name": found[1], "status": found[2], "columns": columns[:4],
        "recordCount": record_count, "records": records, "refusedCount": refused_count, "refused": refused,
    }  # fmt: skip


def _not_found(message: str) -> Response:
    return json_response({"message": message}, 404, headers=_HEADERS)


def console_routes(store: Store) -> list[Route]:
    """The console's routes: the page at `/`, its files under `/console/`, its JSON under `/console/api/`."""
    page = (STATIC / "console.html").read_bytes()

    async def console_page(request: Request) -> Response:
        return Response(page, media_type="text/html", headers=_HEADERS)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return _not_found(f"no console file {name!r}")
        return Response((STATIC / name).read_bytes(), media_type=ASSETS[name], headers=_HEADERS)

    async def tenant_overview(request: Request) -> Response:
        with store.read() as db:
            tenant = _tenant(db, request)
            if tenant is None:
                return _not_found("no such tenant")
            return json_response(overview(db, tenant), headers=_HEADERS)

    async def one_campaign(request: Request) -> Response:
        with store.read() as db:
            tenant = _tenant(db, request)
            found = (
                None if tenant is None else campaign_records(db, tenant, request.path_params["campaign_id"])
            )
        if found is None:
            return _not_found("no such campaign for this tenant")
        return json_response(found, headers=_HEADERS)

    return [
        Route("/", console_page, methods=["GET"]),
        Route("/console/api/overview", tenant_overview, methods=["GET"]),
        Route("/console/api/campaigns/{campaign_id}", one_campaign, methods=["GET"]),
        Route("/console/{name}", asset, methods=["GET"]),
    ]
