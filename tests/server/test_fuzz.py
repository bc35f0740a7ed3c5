"""Fuzzing every tool through the MCP client against a throwaway sandbox.

Arguments are generated from each tool's own input schema (as the client sees it in tools/list):
valid ones, and invalid ones made by breaking one rule (a missing required field, an unknown
field, a wrong type, a value past its bound). Whatever comes in: no crash (`internal_error`), no
traceback in any result, every failure a tool error with a stable code. Side effects are real but
land in the sandbox's temporary database.

Also here: hostile ids over every parameter named `*_id` of every tool, found from the schemas, so
a new tool is covered without editing a table; none may reach the sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.types import CallToolResult, Tool
from server_helpers import request_count, sandbox_settings

from lynn_mcp.errors import ERROR_CODES
from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SEED_TEMPLATE_ID, SandboxServer
from lynn_mcp.server import build_server
from lynn_mcp.server.tool_errors import INTERNAL_ERROR

CODE = re.compile(r"^(?:Error executing tool [\w-]+: )?(?P<code>[a-z_]+): ")
CALL_TIMEOUT_S = 30
# Each example is a real MCP call against a real socket: slower than hypothesis expects, on purpose.
SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]
KNOWN_IDS = [SEED_CAMPAIGN_ID, SEED_TEMPLATE_ID, "00000000-0000-4000-8000-000000000000"]
PLAIN_ID = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
HOSTILE_IDS = [
    "..",
    "%2e%2e",
    "a/b",
    "a?b",
    "a#b",
    "a\r\nb",
    "a\x00b",
    "",
    "x" * 10_000,
    "../../GetCampaigns/2000",
]


def strings(schema: dict[str, Any], name: str) -> st.SearchStrategy[str]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if schema.get("format") == "date-time":
        moments = st.datetimes(timezones=st.timezones() | st.just(None))
        return moments.map(lambda moment: moment.isoformat())
    low, high = schema.get("minLength", 0), schema.get("maxLength", 100)
    text = st.text(min_size=low, max_size=min(high, 120))
    if name.endswith("_id"):
        return st.one_of(st.sampled_from(KNOWN_IDS), PLAIN_ID, text).filter(lambda s: low <= len(s) <= high)
    if name == "file_path":
        return st.one_of(st.sampled_from(["/", ".", "/nonexistent/file.csv"]), text)
    return text


def valid(schema: dict[str, Any], name: str = "") -> st.SearchStrategy[Any]:
    """Values that satisfy `schema` (the subset of JSON schema our compact tool schemas use)."""
    kind = schema.get("type")
    if kind == "string":
        return strings(schema, name)
    if kind == "integer":
        return st.integers(schema.get("minimum", -(10**6)), schema.get("maximum", 10**6))
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        low = schema.get("minItems", 0)
        return st.lists(valid(schema.get("items", {}), name), min_size=low, max_size=max(low, 3))
    if kind == "object":
        properties: dict[str, Any] = schema.get("properties", {})
        if not properties:
            keys = strings({**schema.get("propertyNames", {}), "type": "string"}, "")
            values = valid(schema.get("additionalProperties") or {"type": "string", "maxLength": 20})
            return st.dictionaries(keys, values, max_size=min(schema.get("maxProperties", 4), 4))
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {key: valid(properties[key], key) for key in required},
            optional={key: valid(prop, key) for key, prop in properties.items() if key not in required},
        )
    return st.none()


def broken(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments that break exactly one rule of a tool's input schema."""
    properties: dict[str, Any] = schema.get("properties", {})

    @st.composite
    def one_rule_broken(draw: st.DrawFn) -> dict[str, Any]:
        arguments: dict[str, Any] = draw(valid(schema))
        choices = ["unknown_field", "wrong_type"]
        if schema.get("required"):
            choices.append("missing_required")
        if any("maxLength" in p or "maximum" in p or "maxItems" in p for p in properties.values()):
            choices.append("past_bound")
        rule = draw(st.sampled_from(choices))
        if rule == "missing_required":
            del arguments[draw(st.sampled_from(sorted(schema["required"])))]
        elif rule == "unknown_field":
            arguments["not_a_parameter"] = draw(st.text(max_size=20))
        elif rule == "wrong_type" and properties:
            key = draw(st.sampled_from(sorted(properties)))
            wrong = {"string": 12345, "integer": "twelve", "boolean": "maybe", "array": {"a": 1}}
            arguments[key] = wrong.get(properties[key].get("type"), [["nested"]])
        elif rule == "past_bound":
            key = draw(
                st.sampled_from(
                    sorted(k for k, p in properties.items() if set(p) & {"maxLength", "maximum", "maxItems"})
                )
            )
            prop = properties[key]
            if "maxLength" in prop:
                arguments[key] = "x" * (prop["maxLength"] + 1)
            elif "maximum" in prop:
                arguments[key] = prop["maximum"] + 1
            else:
                arguments[key] = [draw(valid(prop.get("items", {}), key))] * (prop["maxItems"] + 1)
        return arguments

    return one_rule_broken()


def check(result: CallToolResult, tool: str) -> str:
    """The outcome code, after asserting the result is well-formed and carries no traceback."""
    texts = [getattr(block, "text", "") for block in result.content]
    assert not any("Traceback" in text or 'File "' in text for text in texts), tool
    if not result.is_error:
        assert result.structured_content is not None, tool
        return "ok"
    match = CODE.match(texts[0])
    assert match, (tool, texts[0][:200])
    code = match.group("code")
    assert code in ERROR_CODES, (tool, code)
    assert code != INTERNAL_ERROR, (tool, texts[0][:300])
    return code


class Fuzzer:
    """One sandbox and one MCP client for the module, driven from sync hypothesis tests via a portal."""

    def __init__(
        self, portal: BlockingPortal, client: Client, sandbox: SandboxServer, tools: list[Tool]
    ) -> None:
        self.portal, self.client, self.sandbox, self.tools = portal, client, sandbox, tools

    def call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        async def bounded() -> CallToolResult:
            with anyio.fail_after(CALL_TIMEOUT_S):
                return await self.client.call_tool(tool, arguments)

        return self.portal.call(bounded)


@pytest.fixture(scope="module")
def fuzzer() -> Iterator[Fuzzer]:
    with SandboxServer(task_delay_ms=1) as sandbox, start_blocking_portal() as portal:
        server = build_server(sandbox_settings(sandbox, timeout=10))
        with portal.wrap_async_context_manager(Client(server)) as client:  # type: ignore[arg-type]
            tools = portal.call(client.list_tools).tools
            yield Fuzzer(portal, client, sandbox, tools)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_IS_FINE)
@given(data=st.data())
def test_fuzz_valid_arguments_from_each_schema(fuzzer: Fuzzer, data: st.DataObject) -> None:
    tool = data.draw(st.sampled_from(fuzzer.tools), label="tool")
    arguments = data.draw(valid(tool.input_schema), label="arguments")
    # Schema-valid arguments can still be refused (id syntax, unknown ids, files, consent), but only
    # as a coded tool error: `check` asserts that.
    check(fuzzer.call(tool.name, arguments), tool.name)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=SLOW_IS_FINE)
@given(data=st.data())
def test_fuzz_invalid_arguments_are_coded_errors(fuzzer: Fuzzer, data: st.DataObject) -> None:
    tool = data.draw(st.sampled_from(fuzzer.tools), label="tool")
    arguments = data.draw(broken(tool.input_schema), label="arguments")
    result = fuzzer.call(tool.name, arguments)
    code = check(result, tool.name)
    assert code != "ok" or "not_a_parameter" in arguments, (tool.name, arguments)


def minimal(schema: dict[str, Any], name: str = "") -> Any:
    """The smallest schema-valid value (ids are well-formed; the id under test is replaced)."""
    kind = schema.get("type")
    if kind == "string":
        if "enum" in schema:
            return schema["enum"][0]
        return SEED_CAMPAIGN_ID if name.endswith("_id") else "x" * max(schema.get("minLength", 1), 1)
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return [minimal(schema.get("items", {}), name)] * max(schema.get("minItems", 1), 1)
    if kind == "object":
        properties = schema.get("properties", {})
        return {key: minimal(properties[key], key) for key in schema.get("required", [])}
    return None


def id_parameters(tool: Tool) -> list[str]:
    return [name for name in tool.input_schema.get("properties", {}) if name.endswith("_id")]


def test_hostile_ids_over_every_id_parameter_of_every_tool(fuzzer: Fuzzer) -> None:
    covered = 0
    fuzzer.call("list_campaigns", {})  # the token exchange happens now, not during the count
    httpx2.delete(f"{fuzzer.sandbox.base_url}/sandbox/stats").raise_for_status()
    for tool in fuzzer.tools:
        base = minimal(tool.input_schema)
        for parameter in id_parameters(tool):
            for hostile in HOSTILE_IDS:
                result = fuzzer.call(tool.name, {**base, parameter: hostile})
                assert check(result, tool.name) == "invalid_argument", (tool.name, parameter, hostile[:20])
                covered += 1
    assert covered >= 20 * len(HOSTILE_IDS)
    assert request_count(fuzzer.sandbox) == 0
