"""Telemetry, exported to memory: the span tree of a tool call with its Lynn requests under it, a
failing call, a bulk load, the metrics, and nothing sensitive in any of it.

The server runs against the sandbox over a real socket and is driven by the SDK's own `Client` in
both protocol eras; spans leave through the same redacting exporter as in production (conftest.py).
The OTLP/HTTP export of a real process is tests/ops/test_telemetry_otlp.py.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from otel_helpers import Otel
from otel_helpers import otel_fixture as otel_fixture
from security_helpers import MISSING_CAMPAIGN, Sentinels, set_faults
from security_helpers import sentinels_fixture as sentinels_fixture
from settings_factory import make_settings, sandbox_settings

from lynn_mcp.config import Settings
from lynn_mcp.lynn.client import LynnClient
from lynn_mcp.redaction import REDACTED, register_secret
from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SEED_TEMPLATE_ID, SEED_TENANT, SandboxServer
from lynn_mcp.server import build_server
from lynn_mcp.server.telemetry import OTHER_TOOL, TelemetryPlan, instrument, start_telemetry

pytestmark = pytest.mark.anyio

OTHER_COLUMNS = ("Tags", "New Date", "Store Name", "Order Number", "Coupon Number", "Coupon Days")


@asynccontextmanager
async def instrumented_client(settings: Settings, otel: Otel, mode: str) -> AsyncIterator[Client]:
    server = build_server(settings)
    installed = instrument(server, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    try:
        async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
            yield client
    finally:
        installed.remove()


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = named(spans, name)
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


def is_child(span: ReadableSpan, parent: ReadableSpan) -> bool:
    assert span.parent is not None
    assert span.context is not None
    assert parent.context is not None
    return span.parent.span_id == parent.context.span_id and span.context.trace_id == parent.context.trace_id


def strings_of(spans: Sequence[ReadableSpan]) -> Iterator[str]:
    """Every string a span exports in its name, attributes and events (values of any type, as text)."""
    for span in spans:
        yield span.name
        for attributes in (span.attributes, *(event.attributes for event in span.events)):
            for key, value in (attributes or {}).items():
                yield key
                yield str(value)


def points(otel: Otel, name: str) -> list[tuple[dict[str, Any], Any]]:
    """(attributes, data point) of metric `name`."""
    data = otel.reader.get_metrics_data()
    assert data is not None
    return [
        (dict(point.attributes or {}), point)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def template_row(phone: str, i: int) -> dict[str, str]:
    return {"Name": f"Person {i}", "Phone": phone} | dict.fromkeys(OTHER_COLUMNS, str(i))


async def test_a_tool_call_is_a_span_with_its_lynn_requests_under_it(
    sandbox: SandboxServer, mode: str, otel: Otel
) -> None:
    async with instrumented_client(sandbox_settings(sandbox), otel, mode) as client:
        result = await client.call_tool("get_campaign", {"campaign_id": SEED_CAMPAIGN_ID})
        assert not result.is_error, result.content

    spans = otel.spans()
    call = one(spans, "tools/call get_campaign")
    assert call.instrumentation_scope is not None
    assert call.instrumentation_scope.name == "mcp-python-sdk"
    assert call.kind is SpanKind.SERVER
    assert call.status.status_code is StatusCode.UNSET
    lynn = [span for span in spans if span.name.startswith("lynn ")]
    # The first call exchanges the credentials for a token, inside the call that needed it.
    assert [span.name for span in lynn] == ["lynn CreateToken", "lynn GetCampaign"]
    assert all(is_child(span, call) and span.kind is SpanKind.CLIENT for span in lynn)
    get = lynn[1]
    assert dict(get.attributes or {}) == {
        "lynn.operation": "GetCampaign",
        "http.request.method": "GET",
        "lynn.attempt": 1,
        "http.response.status_code": 200,
    }
    assert get.status.status_code is StatusCode.UNSET
    exported = list(strings_of(spans))
    assert not [text for text in exported if SEED_CAMPAIGN_ID in text or str(SEED_TENANT) in text]


async def test_a_failing_call_and_its_lynn_request_say_so(
    sandbox: SandboxServer, mode: str, otel: Otel
) -> None:
    async with instrumented_client(sandbox_settings(sandbox), otel, mode) as client:
        assert not (await client.call_tool("list_campaigns", {})).is_error
        result = await client.call_tool("get_campaign", {"campaign_id": MISSING_CAMPAIGN})
        assert result.is_error

    spans = otel.spans()
    call = one(spans, "tools/call get_campaign")
    assert call.status.status_code is StatusCode.ERROR
    assert (call.attributes or {})["error.type"] == "tool_error"
    refused = one(spans, "lynn GetCampaign")
    assert is_child(refused, call)
    assert refused.status.status_code is StatusCode.ERROR
    assert refused.status.description is None  # Lynn's message (it names the id) stays out
    attributes = dict(refused.attributes or {})
    assert (attributes["http.response.status_code"], attributes["error.type"]) == (404, "404")
    assert not [text for text in strings_of(spans) if MISSING_CAMPAIGN in text]

    durations = {
        (a["lynn.operation"], a.get("http.response.status_code"), a.get("error.type")): point.count
        for a, point in points(otel, "lynn.request.duration")
    }
    assert durations[("GetCampaign", 404, "404")] == 1
    assert durations[("GetCampaigns", 200, None)] == 1
    operations = {
        (a["mcp.method.name"], a.get("gen_ai.tool.name"), a.get("error.type")): point.count
        for a, point in points(otel, "mcp.server.operation.duration")
    }
    assert operations[("tools/call", "get_campaign", "tool_error")] == 1
    assert operations[("tools/call", "list_campaigns", None)] == 1


async def test_a_bulk_load_is_a_span_with_its_chunks_and_rows_by_outcome(
    sandbox: SandboxServer, mode: str, otel: Otel
) -> None:
    phones = [f"5697{mode == 'auto':d}{i:06d}" for i in range(25)]
    rows = [template_row(phone, i) for i, phone in enumerate(phones)]
    rows.append(template_row("12-34", 99))  # refused before sending: rejected locally
    async with instrumented_client(sandbox_settings(sandbox, chunk_size=10), otel, mode) as client:
        result = await client.call_tool("load_campaign_data", {"template_id": SEED_TEMPLATE_ID, "rows": rows})
        assert not result.is_error, result.content

    spans = otel.spans()
    call = one(spans, "tools/call load_campaign_data")
    load = one(spans, "lynn bulk load")
    assert is_child(load, call)
    posts = named(spans, "lynn AddCampaingData")
    polls = named(spans, "lynn GetTaskStatus")
    assert len(posts) == 3
    assert polls
    assert all(is_child(span, load) for span in [*posts, *polls])
    assert dict(load.attributes or {}) == {
        "lynn.operation": "AddCampaingData",
        "lynn.load.rows": 26,
        "lynn.load.state": "Completed",
        "lynn.load.rows.accepted": 25,
        "lynn.load.rows.already_in_campaign": 0,
        "lynn.load.rows.rejected": 1,
        "lynn.load.rows.unprocessed": 0,
    }
    events = [(event.name, dict(event.attributes or {})) for event in load.events]
    assert [attributes["lynn.chunk.rows"] for name, attributes in events if name == "chunk sent"] == [
        10,
        10,
        5,
    ]
    settled = [attributes for name, attributes in events if name == "chunk settled"]
    assert sorted(attributes["lynn.chunk"] for attributes in settled) == [0, 1, 2]
    assert sum(attributes["lynn.chunk.rows.accepted"] for attributes in settled) == 25
    rows_metric = {a["lynn.row.outcome"]: point.value for a, point in points(otel, "lynn.bulk.rows")}
    assert rows_metric == {"accepted": 25, "rejected": 1}
    exported = list(strings_of(spans))
    assert not [text for text in exported for phone in phones if phone in text]


async def test_each_attempt_of_a_retried_request_is_a_span(otel: Otel) -> None:
    answers = iter([httpx2.ConnectError("refused"), 503, 200])

    def lynn(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/CreateToken"):
            return httpx2.Response(200, json={"token": "issued-token-value"})
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return httpx2.Response(answer, json={"id": SEED_CAMPAIGN_ID, "name": "Spring"})

    async def no_sleep(_: float) -> None:
        await anyio.lowlevel.checkpoint()

    settings = make_settings(
        base_url="http://127.0.0.1:9", tenant=1000, access_token="id", access_token_secret="s" * 20
    )
    server = build_server(settings)
    installed = instrument(server, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    try:
        async with LynnClient(settings, transport=httpx2.MockTransport(lynn), sleep=no_sleep) as client:
            await client.get_campaign(SEED_CAMPAIGN_ID)
    finally:
        installed.remove()

    attempts = [dict(span.attributes or {}) for span in named(otel.spans(), "lynn GetCampaign")]
    assert [(a["lynn.attempt"], a.get("http.request.resend_count")) for a in attempts] == [
        (1, None),
        (2, 1),
        (3, 2),
    ]
    assert [a.get("error.type") for a in attempts] == ["ConnectError", "503", None]
    assert [a.get("http.response.status_code") for a in attempts] == [None, 503, 200]


async def test_no_secret_reaches_a_span_or_a_metric(
    sandbox: SandboxServer, sentinels: Sentinels, otel: Otel
) -> None:
    """Lynn echoes our secrets in every text it returns, and a client sends one as a tool name (the
    SDK's span names the tool it was asked for): no exported span or metric holds any of them."""
    sentinels.grant(sandbox)
    settings = sentinels.settings(sandbox, chunk_size=5)
    for secret in settings.secret_values():  # as the CLI does before serving
        register_secret(secret)
    set_faults(sandbox, echoSecrets=True)
    http_token = sentinels.values["LYNN_HTTP_TOKEN"]
    async with instrumented_client(settings, otel, "auto") as client:
        assert not (await client.call_tool("list_campaigns", {})).is_error
        assert (await client.call_tool("get_campaign", {"campaign_id": MISSING_CAMPAIGN})).is_error
        assert (await client.call_tool(f"tool-{http_token}", {})).is_error
        rows = [template_row(f"569555{i:05d}", i) for i in range(12)]
        loaded = await client.call_tool("load_campaign_data", {"template_id": SEED_TEMPLATE_ID, "rows": rows})
        assert not loaded.is_error

    spans = otel.spans()
    assert named(spans, f"tools/call tool-{REDACTED}")  # the path existed: the name was scrubbed
    assert named(spans, "lynn CreateToken")
    assert named(spans, "lynn AddCampaingData")
    exported = json.dumps([json.loads(span.to_json()) for span in spans])
    assert sentinels.leaked(exported) == []
    data = otel.reader.get_metrics_data()
    assert data is not None
    assert sentinels.leaked(data.to_json()) == []
    tools = {a.get("gen_ai.tool.name") for a, _ in points(otel, "mcp.server.operation.duration")}
    assert OTHER_TOOL in tools  # a name the server does not have is no metric attribute


@pytest.mark.parametrize(
    ("environ", "traces", "metrics"),
    [
        ({}, False, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_METRICS_EXPORTER": "none"}, True, False),
        ({"OTEL_METRICS_EXPORTER": "otlp"}, False, True),  # the SDK's default endpoint
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False, False),
        ({"OTEL_SERVICE_NAME": "lynn", "OTEL_RESOURCE_ATTRIBUTES": "team=ops"}, False, False),
    ],
)
def test_telemetry_is_off_unless_an_exporter_is_configured(
    environ: dict[str, str], traces: bool, metrics: bool
) -> None:
    plan = TelemetryPlan.from_environ(environ)
    assert (plan.traces, plan.metrics, plan.problems) == (traces, metrics, ())


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
    ],
)
def test_what_lynn_mcp_cannot_export_is_said_and_left_off(environ: dict[str, str]) -> None:
    plan = TelemetryPlan.from_environ(environ)
    assert not plan.wanted
    assert plan.problems


def test_unconfigured_telemetry_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in __import__("os").environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    server = build_server(make_settings())
    middleware = list(server.middleware)
    assert start_telemetry(server) is None
    assert server.middleware == middleware


def test_configured_telemetry_without_the_otel_extra_warns_and_runs_without(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    # As if the extra were not installed: importing the exporter fails.
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    server = build_server(make_settings())
    with caplog.at_level(logging.WARNING, logger="lynn_mcp.server.telemetry"):
        assert start_telemetry(server) is None
    assert "install lynn-mcp[otel]" in caplog.text
