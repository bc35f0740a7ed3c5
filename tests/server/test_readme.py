"""The README's tool table is generated from the server, so it cannot drift from the real tools."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from mcp import Client
from mcp.types import Tool
from settings_factory import make_settings

from lynn_mcp.server import build_server
from lynn_mcp.server.build import TOOL_GROUPS

pytestmark = pytest.mark.anyio

README = Path(__file__).resolve().parents[2] / "README.md"
TABLE = re.compile(r"(<!-- tools:start -->\n)(.*?)(<!-- tools:end -->)", re.DOTALL)


def kind(tool: Tool) -> str:
    hints = tool.annotations
    assert hints is not None
    if hints.read_only_hint:
        return "read"
    return "destructive" if hints.destructive_hint else "write"


def first_sentence(text: str) -> str:
    sentence = text.split(". ")[0].rstrip(".")
    return sentence.replace("|", "\\|") + "."


async def render_table() -> str:
    settings = make_settings()
    group_of: dict[str, str] = {}
    for group in TOOL_GROUPS:
        grouped = build_server(make_settings(toolsets=group))
        async with Client(grouped) as client:
            group_of.update({tool.name: group for tool in (await client.list_tools()).tools})
    async with Client(build_server(settings)) as client:
        tools = (await client.list_tools()).tools
    lines = ["| tool | group | kind | what it does |", "|---|---|---|---|"]
    for tool in sorted(tools, key=lambda t: (list(TOOL_GROUPS).index(group_of[t.name]), t.name)):
        what = first_sentence(tool.description or "")
        lines.append(f"| `{tool.name}` | {group_of[tool.name]} | {kind(tool)} | {what} |")
    return "\n".join(lines) + "\n"


async def test_readme_tool_table_matches_the_server() -> None:
    table = await render_table()
    text = README.read_text(encoding="utf-8")
    match = TABLE.search(text)
    assert match, "README.md lost its <!-- tools:start --> / <!-- tools:end --> markers"
    if os.environ.get("UPDATE_README") == "1":
        README.write_text(text[: match.start(2)] + table + text[match.end(2) :], encoding="utf-8")
        return
    assert match.group(2) == table, (
        "README tool table is stale: run "
        "UPDATE_README=1 .venv/bin/python -m pytest tests/server/test_readme.py"
    )


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```\n(.*?)```", text, re.DOTALL)
    demo, tests = blocks[0].strip().splitlines()
    assert demo.endswith("lynn-mcp demo")
    assert tests.endswith("python -m pytest")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert tests.split("&& ")[-1] in ci
