"""A real `lynn-mcp --http` configured only by standard OTEL_* variables exports its traces and
metrics over OTLP/HTTP to a receiver on loopback, flushes them when it shuts down, and exports no
secret. Without the variables nothing is exported (and the SDK is not even imported: that is
tests/test_startup_imports.py)."""

from __future__ import annotations

import secrets
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio.to_thread
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from ops_helpers import LynnProcess, lynn_env

from lynn_mcp.sandbox import SandboxServer

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

MISSING_CAMPAIGN = "00000000-0000-4000-8000-000000000000"


class Receiver:
    """An OTLP/HTTP receiver on 127.0.0.1: keeps every POST body by path, answers 200."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = {}
        self.content_types: set[str] = set()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.bodies.setdefault(self.path, []).append(body)
                received.content_types.add(self.headers.get("Content-Type", ""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


def attribute(attributes: object, key: str) -> object:
    for item in attributes:  # type: ignore[attr-defined] # a protobuf repeated KeyValue
        if item.key == key:
            value = item.value
            return getattr(value, value.WhichOneof("value"))
    return None


async def call_tools(url: str, unknown_tool: str) -> None:
    async with (
        httpx2.AsyncClient(timeout=30) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,  # type: ignore[arg-type]
    ):
        assert not (await client.call_tool("list_campaigns", {})).is_error
        assert (await client.call_tool("get_campaign", {"campaign_id": MISSING_CAMPAIGN})).is_error
        assert (await client.call_tool(unknown_tool, {})).is_error


async def test_a_real_process_exports_over_otlp_http_and_flushes_on_shutdown(
    sandbox: SandboxServer, receiver: Receiver, tmp_path: Path
) -> None:
    sentinel = "sentinel-subscription-" + secrets.token_hex(12)
    env = lynn_env(
        sandbox.base_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_SERVICE_NAME="lynn-ops-test",
        OTEL_METRIC_EXPORT_INTERVAL="600000",  # nothing before shutdown: the flush is what is tested
        OTEL_BSP_SCHEDULE_DELAY="600000",
        LYNN_SUBSCRIPTION_KEY=sentinel,  # a header of every Lynn request: a secret the server holds
    )
    with LynnProcess(env, tmp_path) as served:
        await call_tools(served.url, f"tool-{sentinel}")
        served.signal(signal.SIGTERM)
        assert await anyio.to_thread.run_sync(served.wait, 60) == 0, served.stderr()

    assert set(receiver.bodies) == {"/v1/traces", "/v1/metrics"}
    assert receiver.content_types == {"application/x-protobuf"}
    raw = b"".join(body for bodies in receiver.bodies.values() for body in bodies)
    assert sentinel.encode() not in raw

    spans = {}
    for body in receiver.bodies["/v1/traces"]:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            assert attribute(resource_spans.resource.attributes, "service.name") == "lynn-ops-test"
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans[span.name] = (scope_spans.scope.name, span)
    scope, call = spans["tools/call list_campaigns"]
    assert scope == "mcp-python-sdk"
    scope, request_span = spans["lynn GetCampaigns"]
    assert scope == "lynn-mcp"
    assert (request_span.trace_id, request_span.parent_span_id) == (call.trace_id, call.span_id)
    assert attribute(request_span.attributes, "http.response.status_code") == 200
    _, refused = spans["lynn GetCampaign"]
    assert attribute(refused.attributes, "error.type") == "404"

    metric_names = set()
    for body in receiver.bodies["/v1/metrics"]:
        for resource_metrics in ExportMetricsServiceRequest.FromString(body).resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                metric_names.update(metric.name for metric in scope_metrics.metrics)
    assert {"lynn.request.duration", "mcp.server.operation.duration"} <= metric_names


async def test_without_otel_variables_nothing_is_exported(
    sandbox: SandboxServer, receiver: Receiver, tmp_path: Path
) -> None:
    # The receiver listens where the SDK's default endpoint would not find it: only an explicit
    # OTEL_* variable could send anything there, and none is set.
    with LynnProcess(lynn_env(sandbox.base_url), tmp_path) as served:
        await call_tools(served.url, "no-such-tool")
        served.signal(signal.SIGTERM)
        assert await anyio.to_thread.run_sync(served.wait, 60) == 0
        assert "telemetry" not in served.stderr()
    assert receiver.bodies == {}
