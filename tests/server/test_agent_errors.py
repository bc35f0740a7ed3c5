"""Errors and displays an agent can act on: padded ids work, look-alike names do not look alike, and
a LynnError reaches the agent through one path."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

import lynn_mcp.server
from lynn_mcp.sandbox import SEED_CAMPAIGN_ID

pytestmark = pytest.mark.anyio


async def ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def test_ids_are_trimmed_like_resume_handles(client: Client) -> None:
    """An id pasted with a newline or spaces around it (from a table, a chat) is the same id."""
    campaign = await ok(client, "get_campaign", campaign_id=f"  {SEED_CAMPAIGN_ID}\n")
    assert campaign["id"] == SEED_CAMPAIGN_ID
    task = await ok(
        client, "bulk_set_dnd", campaign_id=f"\t{SEED_CAMPAIGN_ID} ", rows=[{"identifier": "56971300001"}]
    )
    status = await ok(client, "get_dnd_task_status", task_id=f" {task['task_ids'][0]}\r\n")
    assert status["accepted"] == 1
    inside = await client.call_tool("get_campaign", {"campaign_id": "5eed0000 0000"})
    assert inside.is_error, "whitespace inside an id is still refused"


async def test_names_that_differ_only_by_invisible_characters_do_not_display_alike(client: Client) -> None:
    for name in ("Promo", "Pro\u200bmo"):
        await ok(client, "create_campaign", name=name)
    listed = await ok(client, "list_campaigns", name_contains="Pro")
    names = sorted(campaign["name"] for campaign in listed["campaigns"])
    assert names == sorted(["Promo", "Pro\ufffdmo"])


def test_a_lynn_error_becomes_a_tool_error_in_one_place() -> None:
    """Tool bodies and consent resolvers share `tool_errors.lynn_errors_as_tool_errors`, which also
    notes Lynn's status for the audit line; a second spot that builds a ToolError would be a copy
    of it that can forget that (test_audit.py checks the status through a resolver)."""
    server_dir = Path(lynn_mcp.server.__file__).parent
    builders: set[str] = set()
    for path in server_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "ToolError":
                builders.add(path.relative_to(server_dir).as_posix())
    assert builders == {"tool_errors.py"}
