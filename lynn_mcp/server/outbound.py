"""The outbound filter: no secret we hold leaves in what the server answers.

One server middleware, outermost of ours, passes every string of every ``tools/call``,
``resources/read``, ``prompts/get`` and ``completion/complete`` answer through
:func:`lynn_mcp.redaction.redact` (every registered secret, in every spelling, and secret-looking
patterns), and so does the message of a protocol error raised on those methods. That covers tool
results and their structured content, tool errors, resources, prompts, completions, and the
2026-07-28 elicitation round (its preview travels inside the ``tools/call`` answer).

Lynn's own text is scrubbed earlier too, when its answer arrives (``LynnClient``), so files and
previews built from it are clean; this filter is the last line for everything the server says.
Progress messages are redacted where they are sent (``tools/bulk.py``).

Cost: a result is serialised once (C) and searched for every spelling and pattern gate; only when
one occurs are its strings walked.
"""

from __future__ import annotations

import json
from typing import Any, Final

from mcp import MCPError
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from pydantic import BaseModel

from lynn_mcp.redaction import map_strings, redact, secret_registry

__all__ = ["FILTERED_METHODS", "OutboundRedaction", "redact_payload"]

#: The requests whose answers carry text from Lynn, from files or from the server's own state.
FILTERED_METHODS: Final = frozenset({"tools/call", "resources/read", "prompts/get", "completion/complete"})

# The SDK's sealed (encrypted) 2026-07-28 round-trip state: opaque, and it must stay byte-exact.
_OPAQUE_KEYS: Final = frozenset({"requestState"})


def redact_payload(payload: Any) -> Any:
    """``payload`` (a JSON-like value) with every string redacted; ``payload`` itself when clean."""
    blob = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
    if not secret_registry.needs_redaction(blob):
        return payload
    return map_strings(payload, redact, keep=_OPAQUE_KEYS)


def _redacted_error(exc: MCPError) -> MCPError | None:
    """A copy of ``exc`` with its message and data redacted; None when there was nothing to hide."""
    error = exc.error
    message, data = redact(error.message), redact_payload(error.data)
    if message == error.message and data is error.data:
        return None
    return MCPError(code=error.code, message=message, data=data)


class OutboundRedaction:
    """Server middleware applying :func:`redact_payload` to the answers of ``FILTERED_METHODS``."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method not in FILTERED_METHODS:
            return await call_next(ctx)
        try:
            result = await call_next(ctx)
        except MCPError as exc:
            redacted = _redacted_error(exc)
            if redacted is None:
                raise
            raise redacted from None
        if isinstance(result, BaseModel):  # what the SDK's runner would send for it
            result = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        return redact_payload(result) if result is not None else None
