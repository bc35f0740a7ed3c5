"""Resources: lynn:// documents read back as JSON in both protocol eras, errors as MCP errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client, MCPError
from settings_factory import make_settings

from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SEED_TEMPLATE_COLUMNS, SEED_TEMPLATE_ID

pytestmark = pytest.mark.anyio

SEED_CONTACT_ID = "5eed0000-0000-4000-8000-0000000c0001"


async def read_json(client: Client, uri: str) -> Any:
    result = await client.read_resource(uri)
    (content,) = result.contents
    assert content.mime_type == "application/json"
    return json.loads(content.text)  # type: ignore[union-attr]


async def test_lists_the_campaigns_resource_and_the_templates(client: Client) -> None:
    assert [str(r.uri) for r in (await client.list_resources()).resources] == ["lynn://campaigns"]
    templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    assert templates == {"lynn://campaigns/{id}", "lynn://contacts/{id}", "lynn://tasks/{task_id}"}


async def test_campaigns_resource_follows_lynn(client: Client) -> None:
    before = await read_json(client, "lynn://campaigns")
    assert [c["id"] for c in before] == [SEED_CAMPAIGN_ID]
    created = await client.call_tool(
        "create_campaign", {"name": "Resource check", "template_id": SEED_TEMPLATE_ID}
    )
    assert not created.is_error, created.content
    after = await read_json(client, "lynn://campaigns")
    assert [c["name"] for c in after] == ["Resource check", "Sandbox demo campaign"]


async def test_one_campaign_and_one_contact(client: Client) -> None:
    campaign = await read_json(client, f"lynn://campaigns/{SEED_CAMPAIGN_ID}")
    assert campaign["id"] == SEED_CAMPAIGN_ID
    assert campaign["template_id"] == SEED_TEMPLATE_ID
    assert campaign["execution_mode"] == "Manual"
    contact = await read_json(client, f"lynn://contacts/{SEED_CONTACT_ID}")
    assert contact == {
        "id": SEED_CONTACT_ID,
        "name": "Maiko",
        "channel": "WhatsApp",
        "identifier": "56966666666",
        "correlation_ids": [],
    }


async def test_tasks_of_both_kinds(client: Client) -> None:
    row = dict.fromkeys(SEED_TEMPLATE_COLUMNS, "x") | {"Phone": "56911112222"}
    data = await client.call_tool("add_campaign_data", {"template_id": SEED_TEMPLATE_ID, "rows": [row, row]})
    assert data.structured_content is not None, data.content
    task_id = data.structured_content["task_ids"][0]
    task = await read_json(client, f"lynn://tasks/{task_id}")
    assert task["task_id"] == task_id
    assert task["total"] == 2
    dnd = await client.call_tool(
        "bulk_set_dnd", {"campaign_id": SEED_CAMPAIGN_ID, "rows": [{"identifier": "56977778888"}]}
    )
    assert dnd.structured_content is not None, dnd.content
    dnd_task_id = dnd.structured_content["task_ids"][0]
    dnd_task = await read_json(client, f"lynn://tasks/{dnd_task_id}")
    assert dnd_task["task_id"] == dnd_task_id
    assert dnd_task["total"] == 1


@pytest.mark.parametrize(
    "uri",
    [
        "lynn://campaigns/5eed0000-0000-4000-8000-00000000ffff",
        "lynn://contacts/5eed0000-0000-4000-8000-00000000ffff",
        "lynn://tasks/no-such-task",
    ],
)
async def test_unknown_ids_are_not_found_errors(client: Client, uri: str) -> None:
    with pytest.raises(MCPError, match="not_found"):
        await client.read_resource(uri)


async def test_a_malformed_id_never_reaches_lynn(client: Client) -> None:
    with pytest.raises(MCPError, match="invalid_argument"):
        await client.read_resource("lynn://campaigns/a%20b")


async def test_unconfigured_server_says_what_to_set(mode: str) -> None:
    from lynn_mcp.server import build_server

    server = build_server(make_settings())
    async with Client(server, mode=mode) as unconfigured:  # type: ignore[arg-type]
        with pytest.raises(MCPError, match=r"config_error: .*LYNN_TENANT"):
            await unconfigured.read_resource("lynn://campaigns")
