"""CreateToken: exchange an access token and secret for a bearer token bound to one tenant."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from lynn_mcp.sandbox.errors import ApiError, bad_request
from lynn_mcp.sandbox.web import Ctx


async def create_token(ctx: Ctx) -> Any:
    body = await ctx.json_object()
    access, secret, tenant = body.get("accessToken"), body.get("accessTokenSecret"), body.get("tenant")
    if not isinstance(access, str) or not isinstance(secret, str):
        raise bad_request("accessToken and accessTokenSecret must be strings")
    if isinstance(tenant, str) and tenant.isdigit():
        tenant = int(tenant)  # form-style clients send the tenant as text; the intent is clear
    if isinstance(tenant, bool) or not isinstance(tenant, int):
        raise bad_request("tenant must be an integer")
    now = ctx.sb.clock.now()
    with ctx.store.write() as db:
        row = db.execute(
            "SELECT secret, tenant FROM credentials WHERE access_token = ?", (access,)
        ).fetchone()
        if row is None or not hmac.compare_digest(row[0], secret) or row[1] != tenant:
            raise ApiError(401, "bad credentials")
        token = secrets.token_urlsafe(32)
        db.execute("DELETE FROM tokens WHERE expires_at <= ?", (now,))
        db.execute("INSERT INTO tokens VALUES (?, ?, ?)", (token, tenant, now + ctx.sb.token_ttl_s))
    return {"token": token}
