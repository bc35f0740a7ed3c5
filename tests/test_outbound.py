"""Secrets never leave: the outbound filter (server middleware), progress messages, and Lynn's
answers scrubbed on arrival by the client. The end-to-end proof through the SDK client, every path
in both eras, is tests/test_security_sentinels.py; these pin each piece on its own."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import httpx2
import pytest
from mcp import MCPError
from mcp.types import CallToolResult, TextContent
from settings_factory import sandbox_settings

from lynn_mcp.errors import NotFound
from lynn_mcp.lynn.client import LynnClient
from lynn_mcp.redaction import REDACTED, register_secret, secret_registry
from lynn_mcp.sandbox import (
    SEED_ACCESS_TOKEN_SECRET,
    SEED_CAMPAIGN_ID,
    SEED_TEMPLATE_ID,
    SandboxServer,
)
from lynn_mcp.server.outbound import FILTERED_METHODS, OutboundRedaction
from lynn_mcp.server.tools.bulk import progress_of

pytestmark = pytest.mark.anyio


class Secret(str):
    """A registered sentinel whose repr hides it (pytest prints arguments and diffs)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<secret withheld>"


@pytest.fixture
def secret() -> Iterator[Secret]:
    secret_registry.clear()
    value = Secret("outbound-sentinel-" + secrets.token_hex(12))
    register_secret(value)
    yield value
    secret_registry.clear()


async def answer(method: str, result: Any) -> Any:
    """What OutboundRedaction passes on when the rest of the chain answers ``method`` with ``result``."""

    async def call_next(_: Any) -> Any:
        return result

    return await OutboundRedaction()(cast(Any, SimpleNamespace(method=method)), call_next)


def tool_answer(text: str) -> dict[str, Any]:
    return {
        "content": [{"type": "text", "text": f"campaign {text}"}],
        "structuredContent": {"campaigns": [{"name": text, "tags": [text]}], text: 1},
        "requestState": "token=kept-as-is",
    }


# --- the middleware -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(FILTERED_METHODS))
async def test_every_string_of_a_filtered_answer_is_redacted(method: str, secret: Secret) -> None:
    redacted = await answer(method, tool_answer(f"Promo {secret}"))
    assert redacted == {
        "content": [{"type": "text", "text": "campaign Promo ***"}],
        "structuredContent": {"campaigns": [{"name": "Promo ***", "tags": ["Promo ***"]}], "Promo ***": 1},
        "requestState": "token=kept-as-is",  # the SDK's sealed round-trip state is opaque
    }


async def test_patterns_apply_to_answers_too(secret: Secret) -> None:
    text = "Lynn said: Authorization: Bearer an-unregistered-token-value-1234"
    redacted = await answer("tools/call", {"content": [{"type": "text", "text": text}]})
    assert redacted["content"][0]["text"] == f"Lynn said: Authorization: Bearer {REDACTED}"


async def test_a_clean_answer_passes_as_the_same_object(secret: Secret) -> None:
    clean = {"content": [{"type": "text", "text": "Winter promo"}], "structuredContent": {"total": 1}}
    assert await answer("tools/call", clean) is clean
    assert await answer("resources/read", None) is None


async def test_a_model_answer_is_redacted_in_its_wire_form(secret: Secret) -> None:
    result = CallToolResult(content=[TextContent(type="text", text=f"x {secret}")], is_error=True)
    redacted = await answer("tools/call", result)
    assert (redacted["content"], redacted["isError"]) == ([{"type": "text", "text": "x ***"}], True)


async def test_a_protocol_error_is_redacted(secret: Secret) -> None:
    async def failing(_: Any) -> Any:
        raise MCPError(
            code=-32602, message=f"not_found: Lynn says {secret}", data={"uri": f"lynn://{secret}"}
        )

    with pytest.raises(MCPError) as raised:
        await OutboundRedaction()(cast(Any, SimpleNamespace(method="resources/read")), failing)
    assert raised.value.error.code == -32602
    assert raised.value.error.message == "not_found: Lynn says ***"
    assert raised.value.error.data == {"uri": "lynn://***"}


async def test_a_clean_protocol_error_is_raised_unchanged(secret: Secret) -> None:
    original = MCPError(code=-32602, message="prompt x needs the argument(s): y")

    async def failing(_: Any) -> Any:
        raise original

    with pytest.raises(MCPError) as raised:
        await OutboundRedaction()(cast(Any, SimpleNamespace(method="prompts/get")), failing)
    assert raised.value is original


# --- progress messages ------------------------------------------------------------------------------


async def test_progress_messages_are_redacted(secret: Secret) -> None:
    sent: list[tuple[float, float | None, str | None]] = []

    async def report_progress(progress: float, total: float | None, message: str | None) -> None:
        sent.append((progress, total, message))

    report = progress_of(cast(Any, SimpleNamespace(report_progress=report_progress)))
    await report(1.0, 2.0, f"chunk of {secret}")
    await report(2.0, 2.0, None)
    assert sent == [(1.0, 2.0, "chunk of ***"), (2.0, 2.0, None)]


# --- Lynn's answers, on arrival ---------------------------------------------------------------------


async def test_lynn_answers_are_scrubbed_of_our_secrets_before_they_are_parsed(
    sandbox: SandboxServer,
) -> None:
    secret_registry.clear()
    httpx2.post(f"{sandbox.base_url}/sandbox/faults", json={"echoSecrets": True}).raise_for_status()
    settings = sandbox_settings(sandbox)
    try:
        async with LynnClient(settings) as client:
            campaign = await client.get_campaign(SEED_CAMPAIGN_ID)  # the echo: bearer, then the secret
            with pytest.raises(NotFound) as missing:
                await client.get_campaign("00000000-0000-4000-8000-000000000000")
            ref = await client.add_campaign_data(SEED_TEMPLATE_ID, None, [{"Phone": "1"}])
            sandbox.wait_for_task(ref.task_id)
            task = await client.get_task(ref.task_id)
        with sqlite3.connect(sandbox.db_path) as db:
            (bearer,) = db.execute("SELECT token FROM tokens").fetchone()
    finally:
        secret_registry.clear()
    assert campaign.name == "*** *** Sandbox demo campaign"
    assert task.records[0].message is not None
    assert task.records[0].message.startswith("*** *** missing template column")
    error_text = missing.value.for_agent()
    assert "*** *** campaign" in error_text
    for text in (campaign.model_dump_json(), task.model_dump_json(), error_text):
        assert bearer not in text
        assert SEED_ACCESS_TOKEN_SECRET not in text
