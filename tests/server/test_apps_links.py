"""The views' links and resources, through the SDK's Client in both eras: an MCP Apps host sees them,
a plain host sees the listings it saw before the views existed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.types import TextResourceContents
from server_helpers import sandbox_settings

from lynn_mcp.sandbox import SandboxServer
from lynn_mcp.server import build_server
from lynn_mcp.server.apps.views import VIEWS, view_html

pytestmark = pytest.mark.anyio

LOAD_REPORT_TOOLS = {
    "load_campaign_data", "upload_campaign_file", "bulk_set_dnd", "get_task_status", "get_dnd_task_status",
}  # fmt: skip
CAMPAIGNS_TOOLS = {"list_campaigns", "get_campaign"}
APPS_HOST = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})


def listing(tools: list[Any]) -> list[dict[str, Any]]:
    return [tool.model_dump(by_alias=True, mode="json", exclude_none=True) for tool in tools]


async def test_an_apps_host_gets_each_named_tool_linked_to_its_view(
    sandbox: SandboxServer, mode: str
) -> None:
    server = build_server(sandbox_settings(sandbox))
    async with Client(server, mode=mode, extensions=[APPS_HOST]) as client:  # type: ignore[arg-type]
        tools = (await client.list_tools()).tools
        resources = [resource.uri for resource in (await client.list_resources()).resources]
    links = {tool.name: tool.meta for tool in tools if tool.meta}
    expected = dict.fromkeys(LOAD_REPORT_TOOLS, "ui://lynn/load-report.html")
    expected |= dict.fromkeys(CAMPAIGNS_TOOLS, "ui://lynn/campaigns.html")
    assert links == {
        name: {"ui": {"resourceUri": uri}, "ui/resourceUri": uri} for name, uri in expected.items()
    }
    assert {"ui://lynn/load-report.html", "ui://lynn/campaigns.html"} <= set(resources)


async def test_a_plain_host_sees_no_link_and_no_view(sandbox: SandboxServer, mode: str) -> None:
    """No `_meta` on any tool (before the views, no tool had one) and no `ui://` resource; the apps
    host's listing differs from it by the links only."""
    async with Client(build_server(sandbox_settings(sandbox)), mode=mode) as client:  # type: ignore[arg-type]
        plain = listing((await client.list_tools()).tools)
        plain_resources = [resource.uri for resource in (await client.list_resources()).resources]
    async with Client(build_server(sandbox_settings(sandbox)), mode=mode, extensions=[APPS_HOST]) as client:  # type: ignore[arg-type]
        linked = listing((await client.list_tools()).tools)
    assert all("_meta" not in tool for tool in plain)
    assert plain_resources == ["lynn://campaigns"]
    assert [{k: v for k, v in tool.items() if k != "_meta"} for tool in linked] == plain


async def test_a_host_that_names_apps_without_the_app_mime_type_is_a_plain_host(
    sandbox: SandboxServer, mode: str
) -> None:
    other_ui = advertise(EXTENSION_ID, {"mimeTypes": ["text/html"]})
    server = build_server(sandbox_settings(sandbox))
    async with Client(server, mode=mode, extensions=[other_ui]) as client:  # type: ignore[arg-type]
        assert all(tool.meta is None for tool in (await client.list_tools()).tools)


@pytest.mark.parametrize("view", VIEWS, ids=lambda view: view.uri)
async def test_each_view_is_an_app_resource_that_reaches_nothing_outside(
    sandbox: SandboxServer, mode: str, view: Any
) -> None:
    server = build_server(sandbox_settings(sandbox))
    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        read = await client.read_resource(view.uri)
    (content,) = read.contents
    assert isinstance(content, TextResourceContents)
    assert content.mime_type == APP_MIME_TYPE
    assert content.meta == {
        "ui": {
            "csp": {"connectDomains": [], "resourceDomains": [], "frameDomains": [], "baseUriDomains": []},
            "prefersBorder": True,
        }
    }
    html = content.text
    assert html == view_html(view)  # served whole: the outbound filter found nothing to change
    assert html.startswith("<!doctype html>")
    assert "@@" not in html
    # Nothing is loaded from anywhere: no URL, no external script or style, no font, no fetch.
    assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}/|\bsrc=|<link|@import|@font-face|\burl\(", html)
    network_or_markup = r"\bfetch\(|XMLHttpRequest|WebSocket|EventSource|innerHTML|outerHTML|insertAdjacent"
    assert not re.search(network_or_markup, html)
