"""Hostile input cannot steer requests, and every tool argument is bounded.

* Every URL the client builds, for every operation and every path parameter (tenant included),
  stays under the operation's own path: the final URL httpx2 sends, not just our formatted path.
  Complements tests/test_operations.py, whose property covers two parameters with random text
  (mostly refused); here half the draws are ids that pass, mixed with traversal fragments.
* Every string in every tool's input schema has maxLength and every array maxItems (keys of free-form
  objects included): nothing a model sends is unbounded.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import Client
from settings_factory import make_settings

from lynn_mcp.errors import InvalidArgument
from lynn_mcp.lynn.operations import DEFAULT_OPERATIONS, load_operations
from lynn_mcp.server import build_server

BASE_URL = "https://lynn.example"
FRAGMENTS = ["..", ".", "/", "\\", "?", "#", "%2e%2e", "%2F", "%00", "\r\n", "\x00", "@", ":", ";", " ", "é"]
PLAIN_ID = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
HOSTILE = st.lists(st.one_of(PLAIN_ID, st.sampled_from(FRAGMENTS), st.text(max_size=10)), max_size=6).map(
    "".join
)
ID_VALUES = st.one_of(PLAIN_ID, st.uuids().map(str), HOSTILE, st.text(max_size=80))
TENANTS = st.one_of(st.integers(min_value=0, max_value=10**10).map(str), HOSTILE)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    operation=st.sampled_from([op for op in DEFAULT_OPERATIONS if op.parameters]),
    values=st.dictionaries(st.sampled_from(["tenant", "campaignId", "contactId", "taskId"]), ID_VALUES),
    tenant=TENANTS,
)
def test_every_url_the_client_builds_stays_under_its_operation(
    operation: Any, values: dict[str, str], tenant: str
) -> None:
    params = {name: values.get(name, "abc-123") for name in operation.parameters}
    params["tenant"] = tenant
    try:
        path = load_operations().build_path(operation.name, params)
    except InvalidArgument:
        return
    with httpx2.Client(base_url=BASE_URL) as http:
        url = http.build_request(operation.method, path).url
    assert str(url).startswith(BASE_URL + "/")
    assert (url.query, url.fragment) == (b"", "")
    template_segments = operation.path.split("/")
    sent_segments = url.raw_path.decode().split("/")
    assert len(sent_segments) == len(template_segments)
    for template, sent in zip(template_segments, sent_segments, strict=True):
        if template.startswith("{"):
            assert unquote(sent) == params[template.strip("{}")]
            assert unquote(sent) not in ("", ".", "..")
        else:
            assert sent == template


def unbounded(schema: Any, where: str = "") -> list[str]:
    """Every place in a JSON schema where a string or an array has no size bound."""
    problems: list[str] = []
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            problems += unbounded(item, f"{where}[{index}]")
        return problems
    if not isinstance(schema, dict):
        return problems
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "string" in kinds and "maxLength" not in schema and "enum" not in schema and "format" not in schema:
        problems.append(f"{where}: string without maxLength")
    if "array" in kinds and "maxItems" not in schema:
        problems.append(f"{where}: array without maxItems")
    for key, child in schema.items():
        if key == "properties" and isinstance(child, dict):
            for name, prop in child.items():
                problems += unbounded(prop, f"{where}.{name}")
        elif key in (
            "items",
            "anyOf",
            "oneOf",
            "allOf",
            "additionalProperties",
            "prefixItems",
            "propertyNames",
        ):
            problems += unbounded(child, f"{where}/{key}")
    return problems


@pytest.mark.anyio
async def test_every_tool_argument_is_bounded() -> None:
    async with Client(build_server(make_settings())) as client:  # type: ignore[arg-type]
        tools = (await client.list_tools()).tools
    problems = [f"{tool.name}{problem}" for tool in tools for problem in unbounded(tool.input_schema)]
    assert problems == [], json.dumps(problems, indent=1)


def test_the_schema_walk_finds_unbounded_fields() -> None:
    schema = {
        "type": "object",
        "properties": {
            "ok": {"type": "string", "maxLength": 3},
            "text": {"type": "string"},
            "list": {"type": "array", "items": {"type": "string", "maxLength": 2}},
            "nested": {
                "type": "array",
                "maxItems": 2,
                "items": {"type": "object", "propertyNames": {"type": "string"}},
            },
            "choice": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
    }
    assert unbounded(schema) == [
        ".text: string without maxLength",
        ".list: array without maxItems",
        ".nested/items/propertyNames: string without maxLength",
        ".choice/anyOf[0]: string without maxLength",
    ]
