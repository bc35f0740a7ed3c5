"""Tool selection (toolsets, allowlist, read-only), the operations override, token refresh, list size."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from settings_factory import make_settings, sandbox_settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from lynn_mcp.config import Settings
from lynn_mcp.errors import ConfigError
from lynn_mcp.sandbox import (
    SEED_ACCESS_TOKEN,
    SEED_ACCESS_TOKEN_SECRET,
    SEED_TENANT,
    SandboxServer,
    create_app,
)
from lynn_mcp.server import build_server

pytestmark = pytest.mark.anyio

READ_ONLY_TOOLS = {
    "list_campaigns", "get_campaign", "list_contacts", "get_contact", "get_contact_dnd",
    "get_dnd_task_status", "get_task_status",
}  # fmt: skip


def offline(**values: object) -> Settings:
    return make_settings(base_url="http://127.0.0.1:9", **values)


async def tool_names(settings: Settings) -> set[str]:
    async with Client(build_server(settings)) as client:
        return {tool.name for tool in (await client.list_tools()).tools}


async def test_read_only_lists_only_read_tools_and_refuses_writes(mode: str) -> None:
    server = build_server(offline(read_only=True, tools="list_campaigns,create_campaign"))
    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        assert {tool.name for tool in (await client.list_tools()).tools} == {"list_campaigns"}
        refused = await client.call_tool("create_campaign", {"name": "x"})
    assert refused.is_error
    assert refused.content[0].text.startswith("forbidden: create_campaign is not available")  # type: ignore[union-attr]
    assert "read-only" in refused.content[0].text  # type: ignore[union-attr]


async def test_read_only_alone() -> None:
    assert await tool_names(offline(read_only=True)) == READ_ONLY_TOOLS


async def test_toolsets_and_allowlist() -> None:
    assert await tool_names(offline(toolsets="dnd")) == {
        "get_contact_dnd", "set_dnd_for_campaign", "set_dnd_for_category", "bulk_set_dnd",
        "get_dnd_task_status",
    }  # fmt: skip
    assert await tool_names(offline(toolsets="campaigns,contacts", tools="get_campaign,get_contact_dnd")) == {
        "get_campaign"
    }


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"toolsets": "campaigns,blacklist"}, "unknown toolset(s) blacklist"),
        ({"tools": "get_campain"}, "get_campain"),
    ],
)
def test_unknown_names_fail_start_up(values: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError, match="valid:") as caught:
        build_server(offline(**values))
    assert complaint in str(caught.value)


async def test_missing_config_still_lists_tools() -> None:
    names = await tool_names(make_settings())
    assert "list_campaigns" in names


async def test_tools_list_is_sorted_deterministic_and_small() -> None:
    async def listing() -> str:
        async with Client(build_server(offline())) as client:
            tools = (await client.list_tools()).tools
        return json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools])

    first, second = await listing(), await listing()
    assert first == second
    names = [tool["name"] for tool in json.loads(first)]
    assert names == sorted(names)
    print(f"\ntools/list JSON: {len(first)} characters for {len(names)} tools")
    assert len(first) < 22_000


async def test_operations_file_moves_an_operation(tmp_path: Path) -> None:
    """GetCampaigns moved to POST /custom/...; a test route serves it, the sandbox serves the rest."""
    seen: list[str] = []

    async def moved_get_campaigns(request: Request) -> JSONResponse:
        seen.append(f"{request.method} {request.url.path} {request.headers['authorization'].split()[0]}")
        return JSONResponse([{"id": "moved-1", "name": "Served by the moved route", "status": "Stopped"}])

    sandbox_app = create_app(task_delay_ms=1)
    app = Starlette(
        routes=[
            Route("/custom/campaigns/{tenant}/list", moved_get_campaigns, methods=["POST"]),
            Mount("/", app=sandbox_app),
        ]
    )
    override = tmp_path / "operations.toml"
    override.write_text('[GetCampaigns]\nmethod = "POST"\npath = "/custom/campaigns/{tenant}/list"\n')
    settings = make_settings(
        base_url="http://127.0.0.1:8040",
        tenant=SEED_TENANT,
        access_token=SEED_ACCESS_TOKEN,
        access_token_secret=SEED_ACCESS_TOKEN_SECRET,
        operations_file=override,
    )
    try:
        server = build_server(settings, transport=httpx2.ASGITransport(app=app))
        async with Client(server) as client:
            listed = await client.call_tool("list_campaigns", {})
    finally:
        sandbox_app.state.close()
    assert not listed.is_error, listed.content
    assert listed.structured_content is not None
    assert [c["id"] for c in listed.structured_content["campaigns"]] == ["moved-1"]
    assert seen == [f"POST /custom/campaigns/{SEED_TENANT}/list bearer"]


async def test_expired_token_is_renewed_exactly_once(sandbox: SandboxServer, mode: str) -> None:
    server = build_server(sandbox_settings(sandbox))
    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        assert not (await client.call_tool("list_campaigns", {})).is_error
        stats_before = httpx2.get(f"{sandbox.base_url}/sandbox/stats").json()["operations"]
        sandbox.clock.advance(sandbox.token_ttl_s)  # the bearer's lifetime is over: Lynn refuses it
        after_expiry = await client.call_tool("list_campaigns", {})
        stats_after = httpx2.get(f"{sandbox.base_url}/sandbox/stats").json()["operations"]
    assert not after_expiry.is_error
    assert stats_after.get("CreateToken", 0) - stats_before.get("CreateToken", 0) == 1
    assert stats_after["GetCampaigns"] - stats_before["GetCampaigns"] == 2  # the 401, then the retry
