"""The real `lynn-mcp` entry point as an IDE runs it: a stdio subprocess, every tool once."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from lynn_mcp.sandbox import (
    SEED_ACCESS_TOKEN,
    SEED_ACCESS_TOKEN_SECRET,
    SEED_CAMPAIGN_ID,
    SEED_TEMPLATE_COLUMNS,
    SEED_TEMPLATE_ID,
    SEED_TENANT,
    SandboxServer,
)

pytestmark = pytest.mark.anyio


def entry_point() -> tuple[str, list[str]]:
    """The installed console script when present (what IDE configs run), else `python -m lynn_mcp`."""
    script = Path(sys.executable).with_name("lynn-mcp")
    if script.exists():
        return str(script), []
    found = shutil.which("lynn-mcp")
    return (found, []) if found else (sys.executable, ["-m", "lynn_mcp"])


def stdio_params(sandbox: SandboxServer, **extra_env: str) -> StdioServerParameters:
    command, args = entry_point()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LYNN_")}
    env.update(
        LYNN_BASE_URL=sandbox.base_url,
        LYNN_TENANT=str(SEED_TENANT),
        LYNN_ACCESS_TOKEN=SEED_ACCESS_TOKEN,
        LYNN_ACCESS_TOKEN_SECRET=SEED_ACCESS_TOKEN_SECRET,
        LYNN_CONFIRM="never",
        **extra_env,
    )
    return StdioServerParameters(command=command, args=args, env=env)


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, (tool, result.content)
    assert result.structured_content is not None
    return result.structured_content


async def finished(sandbox: SandboxServer, client: Client, tool: str, task: dict[str, Any]) -> dict[str, Any]:
    """The status tool's answer once the sandbox says the task settled (no polling)."""
    sandbox.wait_for_task(task["task_ids"][0])
    return await call(client, tool, task_id=task["task_ids"][0])


@pytest.mark.slow
async def test_every_tool_over_stdio_legacy(sandbox: SandboxServer, tmp_path: Path) -> None:
    called: set[str] = set()

    async with Client(stdio_params(sandbox), mode="legacy") as client:
        listed = {tool.name for tool in (await client.list_tools()).tools}

        async def run(tool: str, **arguments: Any) -> dict[str, Any]:
            called.add(tool)
            return await call(client, tool, **arguments)

        assert SEED_CAMPAIGN_ID in {c["id"] for c in (await run("list_campaigns"))["campaigns"]}
        campaign = await run("create_campaign", name="Stdio", valid_until="2099-01-01T00:00:00+00:00")
        assert (await run("get_campaign", campaign_id=campaign["id"]))["name"] == "Stdio"
        assert (await run("update_campaign", campaign_id=campaign["id"], category="Ops"))["category"] == "Ops"
        assert (await run("start_campaign", campaign_id=campaign["id"]))["status"] == "Started"
        assert (await run("stop_campaign", campaign_id=campaign["id"]))["status"] == "Stopped"

        contact = await run("create_contact", name="Stdio Person", identifier="56912340000")
        assert (await run("get_contact", contact_id=contact["id"]))["identifier"] == "56912340000"
        assert (await run("list_contacts", name_contains="stdio"))["total"] == 1
        assert (await run("update_contact", contact_id=contact["id"], name="Renamed"))["name"] == "Renamed"

        dnd = await run("set_dnd_for_campaign", contact_id=contact["id"], campaign_id=SEED_CAMPAIGN_ID)
        assert dnd["entries"][0]["do_not_disturb"] is True
        assert await run("set_dnd_for_category", contact_id=contact["id"], category="Ops")
        assert (await run("get_contact_dnd", contact_id=contact["id"]))["entries"]
        bulk = await run("bulk_set_dnd", campaign_id=SEED_CAMPAIGN_ID, rows=[{"identifier": "56912340001"}])
        called.add("get_dnd_task_status")
        assert (await finished(sandbox, client, "get_dnd_task_status", bulk))["state"] == "Completed"

        row = dict.fromkeys(SEED_TEMPLATE_COLUMNS, "v") | {"Phone": "56912340002"}
        added = await run("add_campaign_data", template_id=SEED_TEMPLATE_ID, rows=[row])
        called.add("get_task_status")
        assert (await finished(sandbox, client, "get_task_status", added))["accepted"] == 1
        cpg = tmp_path / "stdio.cpg"
        cpg.write_text(
            ",".join(SEED_TEMPLATE_COLUMNS) + "\n" + ",".join(row.values()).replace("0002", "0003") + "\n"
        )
        uploaded = await run(
            "upload_campaign_file",
            file_path=str(cpg),
            campaign_id=SEED_CAMPAIGN_ID,
            template_id=SEED_TEMPLATE_ID,
        )
        assert (await finished(sandbox, client, "get_task_status", uploaded))["accepted"] == 1

        assert (await run("delete_contact", contact_id=contact["id"]))["deleted"] is True
        assert (await run("delete_campaign", campaign_id=campaign["id"]))["deleted"] is True

    one_to_one = {name for name in listed if name != "load_campaign_data"}
    assert called == one_to_one


async def test_stdio_modern_era_and_config_error(sandbox: SandboxServer) -> None:
    params = stdio_params(sandbox)
    params.env = {k: v for k, v in (params.env or {}).items() if k != "LYNN_TENANT"}
    async with Client(params) as client:
        tools = (await client.list_tools()).tools
        assert "list_campaigns" in {tool.name for tool in tools}
        result = await client.call_tool("list_campaigns", {})
    assert result.is_error
    assert result.content[0].text.startswith("Error executing tool list_campaigns: config_error")  # type: ignore[union-attr]
    assert "LYNN_TENANT" in result.content[0].text  # type: ignore[union-attr]


async def test_embedded_sandbox_flag_needs_no_account() -> None:
    command, args = entry_point()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LYNN_")}
    params = StdioServerParameters(command=command, args=[*args, "--sandbox"], env=env)
    async with Client(params, mode="legacy") as client:
        listed = await call(client, "list_campaigns")
    assert SEED_CAMPAIGN_ID in {c["id"] for c in listed["campaigns"]}
