"""Arguments a tool does not have are refused on every tool, before anything reaches Lynn, naming
the argument meant; tools/list stays as it was (the check runs at call time)."""

from __future__ import annotations

import pytest
from mcp import Client
from server_helpers import request_count

from lynn_mcp.sandbox import SEED_TEMPLATE_ID, SandboxServer
from lynn_mcp.server.argument_check import nearest_parameter

pytestmark = pytest.mark.anyio


def error_text(result: object) -> str:
    assert getattr(result, "is_error", False)
    return str(result.content[0].text)  # type: ignore[attr-defined]


async def test_every_tool_refuses_an_argument_it_does_not_have(
    client: Client, sandbox: SandboxServer
) -> None:
    tools = (await client.list_tools()).tools
    assert len(tools) == 21
    before = request_count(sandbox)
    for tool in tools:
        text = error_text(await client.call_tool(tool.name, {"dryRun": True}))
        assert text.startswith(f"Error executing tool {tool.name}: invalid_argument: "), text
        assert "has no argument 'dryRun'" in text
        assert "nothing was done" in text
        for name in tool.input_schema.get("properties", {}):
            assert name in text, "the error lists the arguments the tool has"
        assert "additionalProperties" not in tool.input_schema, "the schema does not grow"
    assert request_count(sandbox) == before, "refused before any request"


async def test_camel_case_campaign_id_is_refused_naming_campaign_id(
    client: Client, sandbox: SandboxServer
) -> None:
    """`campaignId` used to be ignored and the rows went to the template's default campaign."""
    before = request_count(sandbox)
    result = await client.call_tool(
        "load_campaign_data",
        {
            "template_id": SEED_TEMPLATE_ID,
            "campaignId": "5eed0000-0000-4000-8000-00000000c002",
            "rows": [{"Name": "A", "Phone": "56971200001"}],
        },
    )
    text = error_text(result)
    assert "has no argument 'campaignId' (did you mean 'campaign_id'?)" in text
    assert request_count(sandbox) == before


def test_the_nearest_parameter_ignores_case_and_separators_then_spelling() -> None:
    parameters = frozenset({"campaign_id", "template_id", "file_path", "column_map"})
    assert nearest_parameter("campaignId", parameters) == "campaign_id"
    assert nearest_parameter("FILE-PATH", parameters) == "file_path"
    assert nearest_parameter("columnmaps", parameters) == "column_map"
    assert nearest_parameter("template", parameters) == "template_id"
    assert nearest_parameter("zzz", parameters) is None
