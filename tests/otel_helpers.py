"""OpenTelemetry providers whose spans and metrics stay in memory, for the telemetry tests.

A test module that imports ``otel_fixture`` has the fixture ``otel`` (pytest registers an imported
fixture under its ``name``).

The SDK's tracer (`mcp-python-sdk`) reaches only the global tracer provider, which can be set once
per process: one is set for the session, and its spans pass a gate that only the `otel` fixture
opens, so tests elsewhere in the same worker export nothing. Spans go out as in production, through
the redacting exporter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from lynn_mcp.server.otel_redaction import RedactingSpanExporter


class Gate(SpanProcessor):
    """Passes spans on to `inner` only while open."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner
        self.open = False

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        if self.open:
            self.inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self.open:
            self.inner.on_end(span)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


@dataclass
class Otel:
    """What one test exports: `spans()` as the exporter received them, `metrics` read on demand."""

    exporter: InMemorySpanExporter
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())


_TRACING: tuple[TracerProvider, Gate, InMemorySpanExporter] | None = None


def _tracing() -> tuple[TracerProvider, Gate, InMemorySpanExporter]:
    """The process's tracer provider with a gated in-memory exporter (set up on first use)."""
    global _TRACING  # one per process, as the global tracer provider is
    if _TRACING is not None:
        return _TRACING
    exporter = InMemorySpanExporter()
    gate = Gate(SimpleSpanProcessor(RedactingSpanExporter(exporter)))
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # nobody set one yet in this process
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(gate)
    _TRACING = provider, gate, exporter
    return _TRACING


@pytest.fixture(name="otel")
def otel_fixture() -> Iterator[Otel]:
    provider, gate, exporter = _tracing()
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    exporter.clear()
    gate.open = True
    try:
        yield Otel(exporter, provider, meter_provider, reader)
    finally:
        gate.open = False
        exporter.clear()
        meter_provider.shutdown()
