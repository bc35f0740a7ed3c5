"""The floor `bench/http_scale.py` compares lynn-mcp with: a bare SDK `MCPServer` with one tool,
`get_campaign`, doing the same `httpx2` GET to Lynn (the sandbox) that lynn-mcp's tool does,
served the way `lynn-mcp --http` serves (streamable HTTP at /mcp, stateless, JSON responses,
uvicorn without access log).

    .venv/bin/python bench/http_bare.py --port PORT --base-url http://127.0.0.1:SANDBOX_PORT

No validation of Lynn's answer, no middleware, no redaction, no retries: one token exchange when
the server starts, then one GET per call, Lynn's JSON returned as the tool's structured result.
Serves until interrupted; `/health` answers once it is ready.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lynn_mcp.sandbox import SEED_ACCESS_TOKEN, SEED_ACCESS_TOKEN_SECRET, SEED_TENANT


@dataclass
class Lynn:
    http: httpx2.AsyncClient
    headers: dict[str, str]


def bare_server(base_url: str) -> MCPServer[Lynn]:
    @asynccontextmanager
    async def lifespan(_: MCPServer[Lynn]) -> AsyncIterator[Lynn]:
        credentials = {
            "accessToken": SEED_ACCESS_TOKEN,
            "accessTokenSecret": SEED_ACCESS_TOKEN_SECRET,
            "tenant": SEED_TENANT,
        }
        async with httpx2.AsyncClient(base_url=base_url) as http:
            response = await http.post("/api/LynnService/CreateToken", json=credentials)
            response.raise_for_status()
            yield Lynn(http, {"Authorization": f"bearer {response.json()['token']}"})

    server: MCPServer[Lynn] = MCPServer("bare", lifespan=lifespan, log_level="WARNING")

    @server.tool()
    async def get_campaign(campaign_id: str, ctx: Context[Lynn, Any]) -> dict[str, Any]:
        """Read one campaign."""
        lynn: Lynn = ctx.request_context.lifespan_context
        path = f"/api/LynnService/GetCampaign/{SEED_TENANT}/{campaign_id}"
        response = await lynn.http.get(path, headers=lynn.headers)
        response.raise_for_status()
        campaign: dict[str, Any] = response.json()
        return campaign

    # The SDK's custom_route decorator is untyped; the route itself is a plain Starlette endpoint.
    @server.custom_route("/health", methods=["GET"])  # type: ignore[untyped-decorator]
    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return server


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--base-url", required=True, help="the sandbox's origin")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    app = bare_server(args.base_url).streamable_http_app(
        streamable_http_path="/mcp", stateless_http=True, json_response=True, host="127.0.0.1"
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
