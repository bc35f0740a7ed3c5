"""Spans leave without a secret: the exporter every span of ours and of the SDK goes out through.

Our own attributes carry nothing sensitive by construction (server/telemetry.py), but the SDK's
span of an MCP message takes text from the client and from exceptions (its name holds the tool name
the client sent, its status the error message). So every string of every span, whoever made it, is
passed through `redaction.redact` (the registered secrets, and secret-shaped text) on its way out.

Imports the OpenTelemetry SDK: only telemetry that is switched on loads this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status

from lynn_mcp.redaction import map_strings, redact

__all__ = ["RedactingSpanExporter", "redacted"]


class RedactingSpanExporter(SpanExporter):
    """Hands `inner` copies of the spans with every secret removed from every string: the name,
    attributes, events, links' attributes and the status text."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export([redacted(span) for span in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


def _scrubbed(attributes: Any) -> Any:
    return map_strings(dict(attributes or {}), redact)


def redacted(span: ReadableSpan) -> ReadableSpan:
    """A copy of `span` whose every string went through `redact`."""
    status = span.status
    if status.description:
        status = Status(status.status_code, redact(status.description))
    return ReadableSpan(
        name=redact(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_scrubbed(span.attributes),
        events=[
            Event(redact(event.name), _scrubbed(event.attributes), event.timestamp) for event in span.events
        ],
        links=[Link(link.context, _scrubbed(link.attributes)) for link in span.links],
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
