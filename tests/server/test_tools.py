"""Every tool, through the SDK's own Client in both protocol eras, against a real sandbox socket."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.types import CallToolResult
from pydantic import BaseModel
from server_helpers import sandbox_settings, set_faults

from lynn_mcp.sandbox import (
    SEED_ACCESS_TOKEN,
    SEED_ACCESS_TOKEN_SECRET,
    SEED_CAMPAIGN_ID,
    SEED_TEMPLATE_COLUMNS,
    SEED_TEMPLATE_ID,
    SEED_TENANT,
    SandboxServer,
)
from lynn_mcp.server import build_server

pytestmark = pytest.mark.anyio

ALL_TOOLS = {
    "list_campaigns", "get_campaign", "create_campaign", "update_campaign", "delete_campaign",
    "start_campaign", "stop_campaign", "list_contacts", "get_contact", "create_contact", "update_contact",
    "delete_contact", "get_contact_dnd", "set_dnd_for_campaign", "set_dnd_for_category", "bulk_set_dnd",
    "get_dnd_task_status", "upload_campaign_file", "add_campaign_data", "get_task_status",
    "load_campaign_data",
}  # fmt: skip
CODE = re.compile(r"^(?:Error executing tool [\w-]+: )?(?P<code>[a-z_]+)\b")


async def ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    # The text block mirrors the structured content for clients that only read text.
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    return result.structured_content


def error_code(result: CallToolResult) -> str:
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    match = CODE.match(text)
    assert match, text
    return match.group("code")


VALUE_KEYWORDS = frozenset({"default", "examples", "enum", "const"})  # hold data, not schemas


def keyword_paths(schema: Any, keyword: str, path: str = "") -> list[str]:
    """Where `keyword` is used as a JSON Schema keyword; a property that is merely named so is not."""
    if isinstance(schema, list):
        return [hit for i, item in enumerate(schema) for hit in keyword_paths(item, keyword, f"{path}/{i}")]
    if not isinstance(schema, dict):
        return []
    found = [f"{path}/{keyword}"] if keyword in schema else []
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            for name, child in value.items():
                found += keyword_paths(child, keyword, f"{path}/properties/{name}")
        elif key not in VALUE_KEYWORDS:
            found += keyword_paths(value, keyword, f"{path}/{key}")
    return found


def test_keyword_paths_tells_a_title_from_a_property_named_title() -> None:
    class Note(BaseModel):
        title: str

    assert keyword_paths(Note.model_json_schema(), "title") == ["/title", "/properties/title/title"]


async def test_lists_every_tool_with_annotations_and_schemas(client: Client) -> None:
    tools = (await client.list_tools()).tools
    assert {tool.name for tool in tools} == ALL_TOOLS
    for tool in tools:
        assert tool.description
        assert tool.output_schema is not None, tool.name
        hints = tool.annotations
        assert hints is not None
        assert None not in (
            hints.read_only_hint,
            hints.destructive_hint,
            hints.idempotent_hint,
            hints.open_world_hint,
        ), tool.name
        # Generated titles only repeat the property names; schema compaction drops them.
        assert keyword_paths(tool.input_schema, "title") == [], tool.name
        assert keyword_paths(tool.output_schema, "title") == [], tool.name


async def test_campaign_lifecycle(client: Client) -> None:
    listed = await ok(client, "list_campaigns")
    assert SEED_CAMPAIGN_ID in {c["id"] for c in listed["campaigns"]}
    created = await ok(
        client,
        "create_campaign",
        name="Spring sale",
        category="Promotions",
        template_id=SEED_TEMPLATE_ID,
        valid_until="2099-01-01T00:00:00+00:00",
    )
    campaign_id = created["id"]
    assert created["name"] == "Spring sale"
    assert created["execution_mode"] == "Manual"
    detail = await ok(client, "get_campaign", campaign_id=campaign_id)
    assert detail["template_id"] == SEED_TEMPLATE_ID
    assert detail["channel"] == "WhatsApp"
    updated = await ok(client, "update_campaign", campaign_id=campaign_id, name="Spring sale 2")
    assert updated["name"] == "Spring sale 2"
    assert (await ok(client, "start_campaign", campaign_id=campaign_id))["status"] == "Started"
    assert (await ok(client, "stop_campaign", campaign_id=campaign_id))["status"] == "Stopped"
    filtered = await ok(client, "list_campaigns", name_contains="spring S", status="stopped")
    assert [c["id"] for c in filtered["campaigns"]] == [campaign_id]
    assert await ok(client, "delete_campaign", campaign_id=campaign_id) == {
        "id": campaign_id,
        "deleted": True,
    }
    assert error_code(await client.call_tool("get_campaign", {"campaign_id": campaign_id})) == "not_found"


async def test_list_paging(client: Client) -> None:
    for n in range(3):
        await ok(client, "create_campaign", name=f"Paged {n}", valid_until="2099-01-01T00:00:00+00:00")
    first = await ok(client, "list_campaigns", name_contains="paged", limit=2)
    assert (len(first["campaigns"]), first["total"]) == (2, 3)
    second = await ok(client, "list_campaigns", name_contains="paged", limit=2, cursor=first["next_cursor"])
    assert len(second["campaigns"]) == 1
    assert "next_cursor" not in second  # empty optional fields are left out
    names = [c["name"] for c in first["campaigns"] + second["campaigns"]]
    assert names == ["Paged 0", "Paged 1", "Paged 2"]
    assert error_code(await client.call_tool("list_campaigns", {"cursor": "zz"})) == "invalid_argument"


async def test_contact_lifecycle(client: Client) -> None:
    created = await ok(
        client, "create_contact", name="Ana Lopez", identifier="56911112222", correlation_ids=["X1"]
    )
    contact_id = created["id"]
    assert created["correlation_ids"] == ["X1"]
    assert (await ok(client, "get_contact", contact_id=contact_id))["identifier"] == "56911112222"
    found = await ok(client, "list_contacts", identifier_contains="1111222")
    assert [c["id"] for c in found["contacts"]] == [contact_id]
    assert (await ok(client, "update_contact", contact_id=contact_id, name="Ana L."))["name"] == "Ana L."
    duplicate = await client.call_tool("create_contact", {"name": "Again", "identifier": "56911112222"})
    assert error_code(duplicate) == "conflict"
    bad_phone = await client.call_tool("create_contact", {"name": "Bad", "identifier": "12ab"})
    assert error_code(bad_phone) == "invalid_argument"
    assert (await ok(client, "delete_contact", contact_id=contact_id))["deleted"] is True
    assert error_code(await client.call_tool("get_contact", {"contact_id": contact_id})) == "not_found"


async def test_dnd_tools(client: Client) -> None:
    contact_id = (await ok(client, "list_contacts", name_contains="Maiko"))["contacts"][0]["id"]
    assert (await ok(client, "get_contact_dnd", contact_id=contact_id))["entries"] == []
    by_campaign = await ok(
        client, "set_dnd_for_campaign", contact_id=contact_id, campaign_id=SEED_CAMPAIGN_ID
    )
    assert [(e["campaign_id"], e["do_not_disturb"]) for e in by_campaign["entries"]] == [
        (SEED_CAMPAIGN_ID, True)
    ]
    state = await ok(client, "get_contact_dnd", contact_id=contact_id)
    assert [e["campaign_id"] for e in state["entries"]] == [SEED_CAMPAIGN_ID]
    by_category = await ok(client, "set_dnd_for_category", contact_id=contact_id, category="Promotions")
    assert all(e["category"] == "Promotions" for e in by_category["entries"])
    assert by_category["entries"]


async def test_bulk_dnd_task(client: Client) -> None:
    rows = [
        {"identifier": "56977770001"},
        {"identifier": "56977770002", "name": "New", "do_not_disturb": True},
    ]
    done = await ok(client, "bulk_set_dnd", campaign_id=SEED_CAMPAIGN_ID, rows=rows)
    assert (done["state"], done["submitted"], done["accepted"]) == ("Completed", 2, 2)
    final = await ok(client, "get_dnd_task_status", task_id=done["task_ids"][0])
    assert (final["state"], final["submitted"], final["accepted"]) == ("Completed", 2, 2)


async def wait_task(sandbox: SandboxServer, client: Client, task: dict[str, Any]) -> dict[str, Any]:
    """get_task_status's answer once the sandbox says the task settled (no polling)."""
    sandbox.wait_for_task(task["task_ids"][0])
    return await ok(client, "get_task_status", task_id=task["task_ids"][0])


def template_row(name: str, phone: str) -> dict[str, str]:
    row = dict.fromkeys(SEED_TEMPLATE_COLUMNS, "x")
    row.update({"Name": name, "Phone": phone})
    return row


async def test_add_campaign_data_reports_failed_rows(sandbox: SandboxServer, client: Client) -> None:
    rows = [template_row("A", "56900000001"), template_row("B", "bad"), template_row("C", "56900000001")]
    task = await wait_task(
        sandbox, client, await ok(client, "add_campaign_data", template_id=SEED_TEMPLATE_ID, rows=rows)
    )
    assert (task["submitted"], task["accepted"], task["rejected"]) == (3, 1, 1)
    assert task["already_in_campaign"] == 1, "row 3 repeats row 1's phone, which the campaign now holds"
    assert task["rejected_by_reason"] == {"400": 1}
    assert [e.split(":")[0] for e in task["examples"]] == ["row 2"]


async def test_upload_campaign_file(client: Client, tmp_path: Path) -> None:
    cpg = tmp_path / "contacts.cpg"
    lines = [";".join(SEED_TEMPLATE_COLUMNS)] + [
        ";".join(template_row(f"P{i}", f"5698800000{i}").values()) for i in range(5)
    ]
    cpg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    task = await ok(
        client,
        "upload_campaign_file",
        file_path=str(cpg),
        campaign_id=SEED_CAMPAIGN_ID,
        template_id=SEED_TEMPLATE_ID,
    )
    assert (task["state"], task["submitted"], task["accepted"]) == ("Completed", 5, 5)
    wrong = await client.call_tool(
        "upload_campaign_file",
        {
            "file_path": str(tmp_path / "x.csv"),
            "campaign_id": SEED_CAMPAIGN_ID,
            "template_id": SEED_TEMPLATE_ID,
        },
    )
    assert error_code(wrong) == "invalid_argument"


async def test_error_codes_from_lynn_failures(sandbox: SandboxServer, mode: str) -> None:
    async def call(settings_overrides: dict[str, Any], tool: str, **arguments: Any) -> str:
        server = build_server(sandbox_settings(sandbox, **settings_overrides))
        async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
            return error_code(await client.call_tool(tool, arguments))

    assert await call({"tenant": None}, "list_campaigns") == "config_error"
    assert await call({"access_token_secret": "wrong"}, "list_campaigns") == "unauthorized"
    token = httpx2.post(
        f"{sandbox.base_url}/api/LynnService/CreateToken",
        json={
            "accessToken": SEED_ACCESS_TOKEN,
            "accessTokenSecret": SEED_ACCESS_TOKEN_SECRET,
            "tenant": SEED_TENANT,
        },
    ).json()["token"]
    other_tenant = {"tenant": 2000, "token": token, "access_token": None, "access_token_secret": None}
    assert await call(other_tenant, "list_campaigns") == "forbidden"
    set_faults(sandbox, errorRate=1.0, errorStatuses=[503])
    assert await call({}, "list_campaigns") == "upstream_unavailable"
    set_faults(sandbox, errorRate=1.0, errorStatuses=[429])
    assert await call({}, "list_campaigns") == "rate_limited"
    set_faults(sandbox, latencyMs=1500)
    assert await call({"timeout": 0.3}, "list_campaigns") == "timeout"
    httpx2.delete(f"{sandbox.base_url}/sandbox/faults").raise_for_status()
    assert (
        await call({}, "start_campaign", campaign_id="0" * 8 + "-0000-4000-8000-" + "0" * 12) == "not_found"
    )


async def test_schema_violations_are_invalid_argument_without_echo(client: Client) -> None:
    secret_like = "SENTINEL-VALUE-" + "z" * 200
    result = await client.call_tool("create_campaign", {"name": secret_like, "execution_mode": "Sometimes"})
    assert error_code(result) == "invalid_argument"
    text = result.content[0].text  # type: ignore[union-attr]
    assert "SENTINEL-VALUE" not in text
    assert "name" in text
    assert "execution_mode" in text
    unknown = await client.call_tool("no_such_tool", {})
    assert error_code(unknown) == "invalid_argument"
