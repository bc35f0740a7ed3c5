"""The tool tests of test_tools.py again, through a client that advertises MCP Apps: a host that
renders the views gets the same tools, results and errors as a plain one (test_tools.py itself
runs them with a plain client). Pytest collects the imported tests here with this module's
`client` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.client.session import ClientRequestContext
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.types import ElicitRequestParams, ElicitResult
from server_helpers import sandbox_settings
from test_tools import (
    test_add_campaign_data_reports_failed_rows,
    test_bulk_dnd_task,
    test_campaign_lifecycle,
    test_contact_lifecycle,
    test_dnd_tools,
    test_list_paging,
    test_lists_every_tool_with_annotations_and_schemas,
    test_schema_violations_are_invalid_argument_without_echo,
    test_upload_campaign_file,
)

from lynn_mcp.sandbox import SandboxServer
from lynn_mcp.server import build_server

__all__ = [
    "test_add_campaign_data_reports_failed_rows",
    "test_bulk_dnd_task",
    "test_campaign_lifecycle",
    "test_contact_lifecycle",
    "test_dnd_tools",
    "test_list_paging",
    "test_lists_every_tool_with_annotations_and_schemas",
    "test_schema_violations_are_invalid_argument_without_echo",
    "test_upload_campaign_file",
]

pytestmark = pytest.mark.anyio


async def approving_human(_: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
    """The user of tests/server/conftest.py, who approves every confirmation."""
    return ElicitResult(action="accept", content={"approve": True})


@pytest.fixture
async def client(sandbox: SandboxServer, mode: str) -> AsyncIterator[Client]:
    server = build_server(sandbox_settings(sandbox))
    apps = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})
    async with Client(
        server,
        mode=mode,  # type: ignore[arg-type]
        elicitation_callback=approving_human,
        extensions=[apps],
    ) as mcp_client:
        tools = (await mcp_client.list_tools()).tools
        assert any(tool.meta for tool in tools), "the client is not seen as an MCP Apps host"
        yield mcp_client
