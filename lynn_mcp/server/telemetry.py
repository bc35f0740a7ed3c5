"""OpenTelemetry: traces and metrics of what the server does and of what Lynn answers.

Off unless the standard variables ask for it: an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`, or
the per-signal `..._TRACES_ENDPOINT` / `..._METRICS_ENDPOINT`) or `OTEL_TRACES_EXPORTER=otlp` /
`OTEL_METRICS_EXPORTER=otlp`; `=none` turns a signal off, `OTEL_SDK_DISABLED=true` both. The rest
is the OpenTelemetry SDK's own reading of `OTEL_*` (`OTEL_SERVICE_NAME`, default `lynn-mcp`;
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`,
`OTEL_METRIC_EXPORT_INTERVAL`...). Export is OTLP over HTTP (protobuf), from the `otel` extra
(`pip install 'lynn-mcp[otel]'`); without it a configured server warns once and runs untraced.
Nothing here imports the SDK until the variables ask for it: start-up stays as it was.

What is emitted, under the SDK's own span per MCP message (tracer `mcp-python-sdk`: `tools/call
<tool>`, `mcp.method.name`, `gen_ai.tool.name`, `error.type`):

- a CLIENT span per Lynn request attempt, `lynn <Operation>`: `lynn.operation`,
  `http.request.method`, `http.response.status_code`, `lynn.attempt` (1 = the first;
  `http.request.resend_count` from the second), `error.type` (the status from 400 on, or the
  transport error, or `cancelled`), status ERROR when it failed;
- a span per bulk load, `lynn bulk load`: `lynn.operation`, `lynn.load.rows`, `lynn.load.state` and
  its rows by outcome (`lynn.load.rows.accepted`, `..already_in_campaign`, `..rejected`,
  `..unprocessed`), an event per chunk sent (`lynn.chunk`, `lynn.chunk.rows`, `lynn.chunk.attempts`)
  and per chunk settled (its rows by outcome); the chunks' requests are its children;
- metrics: `lynn.request.duration` (s, by `lynn.operation`, `http.request.method`,
  `http.response.status_code`, `error.type`), `lynn.bulk.rows` (rows a load run settled or left,
  by `lynn.operation` and `lynn.row.outcome`; a row resumed later counts once as `unprocessed` per
  run that left it, and once in its final outcome), `mcp.server.operation.duration` (s, by
  `mcp.method.name`, `gen_ai.tool.name` (tools we have; `_OTHER` for any other name), `error.type`,
  `mcp.protocol.version`).

Nothing sensitive: our attributes are names, methods, statuses and counts, never a URL, an id, a
phone number or a message (lynn/observe.py says what the hooks pass). And every span is exported
through `otel_redaction.RedactingSpanExporter`, which removes every registered secret (and
secret-shaped text) from every string of it, the SDK's spans included: a status text can echo what
a client sent.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import anyio
from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import ValidationError

from lynn_mcp import __version__
from lynn_mcp.lynn import observe

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from opentelemetry.metrics import Meter, MeterProvider
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

__all__ = [
    "DEFAULT_SERVICE_NAME",
    "Instrumentation",
    "Telemetry",
    "TelemetryPlan",
    "instrument",
    "start_telemetry",
]

logger = logging.getLogger(__name__)

DEFAULT_SERVICE_NAME: Final = "lynn-mcp"
SCOPE: Final = "lynn-mcp"
OTHER_TOOL: Final = "_OTHER"
"""`gen_ai.tool.name` of a call to a tool this server does not have: a client's free text never
becomes a metric attribute."""

# Bucket boundaries the semantic conventions advise: HTTP client durations, MCP operation durations.
HTTP_DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
MCP_DURATION_BUCKETS: Final = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
OUTCOMES: Final = ("accepted", "already_in_campaign", "rejected", "unprocessed")
_SIGNALS: Final = ("TRACES", "METRICS")


# -- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TelemetryPlan:
    """Which signals the `OTEL_*` variables ask for, and what in them lynn-mcp cannot honour."""

    traces: bool = False
    metrics: bool = False
    problems: tuple[str, ...] = ()

    @property
    def wanted(self) -> bool:
        return self.traces or self.metrics

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TelemetryPlan:
        def value(name: str) -> str:
            return environ.get(name, "").strip()

        if value("OTEL_SDK_DISABLED").lower() == "true":
            return cls()
        problems: list[str] = []

        def signal_on(signal: str) -> bool:
            exporter = value(f"OTEL_{signal}_EXPORTER").lower()
            if exporter == "none":
                return False
            if exporter not in ("", "otlp"):
                problems.append(
                    f"OTEL_{signal}_EXPORTER={exporter}: lynn-mcp exports OTLP only (otlp or none)"
                )
                return False
            if not exporter and not (
                value("OTEL_EXPORTER_OTLP_ENDPOINT") or value(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
            ):
                return False
            protocol = value(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or value("OTEL_EXPORTER_OTLP_PROTOCOL")
            if protocol not in ("", "http/protobuf"):
                problems.append(f"OTLP protocol {protocol}: lynn-mcp exports http/protobuf only")
                return False
            return True

        traces, metrics = (signal_on(signal) for signal in _SIGNALS)
        return cls(traces=traces, metrics=metrics, problems=tuple(problems))


class Telemetry:
    """Telemetry running in this process: `shutdown()` exports what is still buffered."""

    def __init__(
        self,
        instrumentation: Instrumentation,
        tracer_provider: SdkTracerProvider | None,
        meter_provider: SdkMeterProvider | None,
    ) -> None:
        self.instrumentation = instrumentation
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider

    def shutdown(self) -> None:
        self.instrumentation.remove()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def start_telemetry(server: MCPServer[Any]) -> Telemetry | None:
    """Export traces and metrics as the `OTEL_*` variables say; None (and nothing imported) when
    they ask for none, or when the `otel` extra is missing (a warning says so)."""
    plan = TelemetryPlan.from_environ(os.environ)
    for problem in plan.problems:
        logger.warning("telemetry: %s", problem)
    if not plan.wanted:
        return None
    try:
        from opentelemetry import metrics
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from lynn_mcp.server.otel_redaction import RedactingSpanExporter
    except ImportError:
        logger.warning(
            "telemetry: the OTEL_* variables ask for it, but the OpenTelemetry SDK is not installed; "
            "install lynn-mcp[otel] (the SDK and its OTLP/HTTP exporter). Running without telemetry."
        )
        return None
    resource = service_resource()
    tracer_provider = meter_provider = None
    # Our shutdown() flushes; the providers' own exit hooks would run a second shutdown.
    if plan.traces:
        tracer_provider = SdkTracerProvider(resource=resource, shutdown_on_exit=False)
        tracer_provider.add_span_processor(BatchSpanProcessor(RedactingSpanExporter(OTLPSpanExporter())))
        trace.set_tracer_provider(tracer_provider)  # the SDK's spans (tracer `mcp-python-sdk`) too
    if plan.metrics:
        reader = PeriodicExportingMetricReader(OTLPMetricExporter())
        meter_provider = SdkMeterProvider(resource=resource, metric_readers=[reader], shutdown_on_exit=False)
        metrics.set_meter_provider(meter_provider)
    instrumentation = instrument(
        server,
        tracer_provider=tracer_provider or trace.NoOpTracerProvider(),
        meter_provider=meter_provider or metrics.NoOpMeterProvider(),
    )
    logger.info(
        "telemetry: exporting %s over OTLP/HTTP",
        " and ".join(name for name, on in (("traces", plan.traces), ("metrics", plan.metrics)) if on),
    )
    return Telemetry(instrumentation, tracer_provider, meter_provider)


def service_resource() -> Resource:
    """The SDK's resource from `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`, named
    `lynn-mcp` (with our version) where they leave the name unset."""
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource

    detected = Resource.create()
    defaults: dict[str, str] = {}
    name = detected.attributes.get(SERVICE_NAME)
    if not isinstance(name, str) or name.startswith("unknown_service"):
        defaults[SERVICE_NAME] = DEFAULT_SERVICE_NAME
    if SERVICE_VERSION not in detected.attributes:
        defaults[SERVICE_VERSION] = __version__
    return detected.merge(Resource(defaults))


# -- instrumentation ------------------------------------------------------------------------------


class Instrumentation:
    """What `instrument` installed: the Lynn/bulk observer and the operation-duration middleware."""

    def __init__(self, server: MCPServer[Any], middleware: OperationDuration, previous: observe.Observer):
        self._server = server
        self._middleware = middleware
        self._previous = previous

    def remove(self) -> None:
        """Put back the observer that was installed before, and take the middleware out."""
        observe.install(self._previous)
        if self._middleware in self._server.middleware:
            self._server.middleware.remove(self._middleware)


def instrument(
    server: MCPServer[Any], *, tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> Instrumentation:
    """Trace and measure Lynn requests and bulk loads (the process-wide observer of lynn/observe.py)
    and measure every MCP message `server` handles, with these providers."""
    tracer = tracer_provider.get_tracer(SCOPE, __version__)
    meter = meter_provider.get_meter(SCOPE, __version__)
    previous = observe.install(OtelObserver(tracer, meter))
    # The SDK has no public, synchronous view of registered tools; its tool manager is the one.
    tools = frozenset(tool.name for tool in server._tool_manager.list_tools())
    middleware = OperationDuration(meter, tools)
    chain = server.middleware
    # Right inside the SDK's span middleware: the duration measures what the span covers.
    at = next((i + 1 for i, item in enumerate(chain) if isinstance(item, OpenTelemetryMiddleware)), 0)
    chain.insert(at, middleware)
    return Instrumentation(server, middleware, previous)


class OperationDuration:
    """`mcp.server.operation.duration` of every MCP message (the SDK emits spans, no metrics)."""

    def __init__(self, meter: Meter, tools: frozenset[str]) -> None:
        self._tools = tools
        self._histogram = meter.create_histogram(
            "mcp.server.operation.duration",
            unit="s",
            description="Duration of MCP requests and notifications handled by the server.",
            explicit_bucket_boundaries_advisory=MCP_DURATION_BUCKETS,
        )

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        attributes: dict[str, str] = {"mcp.method.name": ctx.method}
        if ctx.protocol_version:
            attributes["mcp.protocol.version"] = ctx.protocol_version
        if ctx.method == "tools/call":
            name = ctx.params.get("name") if ctx.params else None
            attributes["gen_ai.tool.name"] = (
                name if isinstance(name, str) and name in self._tools else OTHER_TOOL
            )
        started = time.perf_counter()
        try:
            result = await call_next(ctx)
        except MCPError as exc:
            attributes["error.type"] = str(exc.error.code)
            raise
        except ValidationError:
            attributes["error.type"] = "invalid_params"
            raise
        except BaseException as exc:
            attributes["error.type"] = _error_type(exc)
            raise
        else:
            match result:
                case CallToolResult(is_error=True) | {"isError": True}:
                    attributes["error.type"] = "tool_error"
                case _:
                    pass
            return result
        finally:
            self._histogram.record(time.perf_counter() - started, attributes)


def _error_type(exc: BaseException) -> str:
    return "cancelled" if isinstance(exc, anyio.get_cancelled_exc_class()) else type(exc).__qualname__


class OtelObserver:
    """The lynn/observe.py hook, as spans and metrics."""

    def __init__(self, tracer: Tracer, meter: Meter) -> None:
        self.tracer = tracer
        self.request_duration = meter.create_histogram(
            "lynn.request.duration",
            unit="s",
            description="Duration of Lynn API requests (each attempt), by operation and status.",
            explicit_bucket_boundaries_advisory=HTTP_DURATION_BUCKETS,
        )
        self.rows = meter.create_counter(
            "lynn.bulk.rows", unit="{row}", description="Rows of bulk load runs, by outcome."
        )

    def request(self, operation: str, method: str, attempt: int) -> observe.RequestWatch:
        return _RequestSpan(self, operation, method, attempt)

    def load(self, operation: str, rows: int) -> observe.LoadWatch:
        return _LoadSpan(self, operation, rows)


class _RequestSpan:
    __slots__ = ("_answered_ns", "_metric", "_observer", "_span", "_started")

    def __init__(self, observer: OtelObserver, operation: str, method: str, attempt: int) -> None:
        self._observer = observer
        self._metric: dict[str, str | int] = {"lynn.operation": operation, "http.request.method": method}
        attributes: dict[str, str | int] = {**self._metric, "lynn.attempt": attempt}
        if attempt > 1:
            attributes["http.request.resend_count"] = attempt - 1
        self._span = observer.tracer.start_span(
            f"lynn {operation}", kind=SpanKind.CLIENT, attributes=attributes
        )
        self._started = time.perf_counter()
        self._answered_ns: int | None = None

    def answered(self, status: int) -> None:
        self._answered_ns = time.time_ns()
        self._metric["http.response.status_code"] = status
        self._span.set_attribute("http.response.status_code", status)
        if status >= 400:
            self._failed(str(status))

    def failed(self, error_type: str) -> None:
        self._answered_ns = time.time_ns()
        self._failed(error_type)

    def _failed(self, error_type: str) -> None:
        self._metric["error.type"] = error_type
        self._span.set_attribute("error.type", error_type)
        self._span.set_status(StatusCode.ERROR)

    def end(self) -> None:
        if self._answered_ns is None:  # neither answered nor failed: cut off while it ran
            self._failed("cancelled")
        self._observer.request_duration.record(time.perf_counter() - self._started, self._metric)
        self._span.end(end_time=self._answered_ns)


class _LoadSpan:
    def __init__(self, observer: OtelObserver, operation: str, rows: int) -> None:
        self._observer = observer
        self._operation = operation
        self._span: Span = observer.tracer.start_span(
            "lynn bulk load", attributes={"lynn.operation": operation, "lynn.load.rows": rows}
        )
        self._token: object = None

    def __enter__(self) -> _LoadSpan:
        # Current, so the chunks' requests (tasks started inside the load) are the load's children.
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self._span.set_attribute("error.type", _error_type(exc))
            self._span.set_status(StatusCode.ERROR)
        otel_context.detach(self._token)  # type: ignore[arg-type] # the token attach() returned
        self._span.end()

    def chunk_sent(self, chunk: int, rows: int, attempts: int) -> None:
        self._span.add_event(
            "chunk sent", {"lynn.chunk": chunk, "lynn.chunk.rows": rows, "lynn.chunk.attempts": attempts}
        )

    def chunk_settled(self, chunk: int, outcomes: Mapping[str, int]) -> None:
        self._span.add_event(
            "chunk settled", {"lynn.chunk": chunk, **{f"lynn.chunk.rows.{k}": v for k, v in outcomes.items()}}
        )

    def finished(self, state: str, rows: Mapping[str, int], this_run: Mapping[str, int]) -> None:
        self._span.set_attributes(
            {"lynn.load.state": state, **{f"lynn.load.rows.{k}": v for k, v in rows.items()}}
        )
        if state == "DryRun":
            return  # validated only: no row was loaded, or left
        for outcome in OUTCOMES:
            count = this_run.get(outcome, 0)
            if count > 0:
                self._observer.rows.add(
                    count, {"lynn.operation": self._operation, "lynn.row.outcome": outcome}
                )
