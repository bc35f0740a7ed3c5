"""Give every failed tool call a stable code, including the failures the SDK words itself.

A `LynnError` raised in a tool body or a consent resolver becomes a tool error in one place,
:func:`lynn_errors_as_tool_errors`, which also notes Lynn's HTTP status for the audit line.

Our tools raise `code: message. Next step.`; the SDK reports bad arguments as a pydantic dump that
echoes the caller's values, an unknown tool as `Unknown tool: x`, an answer to a consent question
that does not fit its form as `Resolver '...' received ...` (both eras), and a crash as a bare
`Error executing tool x`. This middleware rewrites those four so an agent can always branch on the
code, and so no argument value (possibly hostile or secret) is echoed back. An unfitting answer is
`declined`: it is not an approval, and nothing was done. Every error text also
passes the log redactor on its way out: a registered secret that Lynn echoed in its own message
(or that any other path put there) never reaches the model.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ToolError

from lynn_mcp.errors import ERROR_CODES, Declined, LynnError
from lynn_mcp.redaction import redact
from lynn_mcp.server.audit import note_lynn_status

INTERNAL_ERROR = "internal_error"
_CODED = re.compile(r"^(?:" + "|".join([*ERROR_CODES, INTERNAL_ERROR]) + r")\b")
_PREFIX = re.compile(r"^Error executing tool (?P<tool>[\w-]+)(?:: )?(?P<rest>.*)$", re.DOTALL)
_PYDANTIC_MESSAGE = re.compile(r"^\s+(?P<message>.*?)(?: \[type=.*)?$")
# The SDK's words for an elicitation answer it could not use (accepted without content, content off
# the schema, a response of another kind), on 2025-11-25 (`Resolver 'k': Received ...`) and on
# 2026-07-28 (`Resolver 'k' received ...`). Every resolver here asks for consent.
_UNUSABLE_ANSWER = re.compile(r"^Resolver '[^']*':? [Rr]eceived ")
_UNFIT_ANSWER_TEXT = Declined(
    "the answer to the confirmation question did not fit its form (approve must be true or false), "
    "so it is not an approval"
).for_agent()

P = ParamSpec("P")
R = TypeVar("R")


def lynn_errors_as_tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap a tool body or a consent resolver: a `LynnError` becomes a tool error the model can read
    (`code: what happened. Next step.`), and Lynn's status, if Lynn answered, goes on the audit line.

    The only place a `ToolError` is built (tests/server/test_agent_errors.py holds it to that).
    Resolvers run before the tool body, outside its wrapper, so `consent_resolver` wraps them too.
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except LynnError as exc:
            note_lynn_status(exc.status)
            raise ToolError(exc.for_agent()) from None

    return wrapper


def _validation_summary(dump: str) -> str:
    """`field: message` pairs from a pydantic error dump, without the echoed input values."""
    problems: list[str] = []
    lines = dump.splitlines()[1:]
    for field_line, message_line in itertools.pairwise(lines):
        if field_line.startswith(" ") or not message_line.startswith(" "):
            continue
        match = _PYDANTIC_MESSAGE.match(message_line)
        message = match.group("message") if match else "invalid"
        problems.append(f"{field_line.strip()[:60]}: {message[:120]}")
    return "; ".join(problems[:8]) or "the arguments do not match the tool's input schema"


def coded_error_text(text: str, disabled: Mapping[str, str]) -> str:
    """The tool-error text with a stable code at the front."""
    if text.startswith("Unknown tool: "):
        name = text.removeprefix("Unknown tool: ").strip()[:64]
        if name in disabled:
            return f"forbidden: {name} is not available because {disabled[name]}."
        return f"invalid_argument: there is no tool named {name!r}. List the tools to see what exists."
    match = _PREFIX.match(text)
    if match is None:
        return text if _CODED.match(text) else f"{INTERNAL_ERROR}: {text[:300]}"
    tool, rest = match.group("tool"), match.group("rest")
    if _CODED.match(rest):
        return f"Error executing tool {tool}: {rest}"
    if _UNUSABLE_ANSWER.match(rest):
        return f"Error executing tool {tool}: {_UNFIT_ANSWER_TEXT}"
    if re.match(r"^\d+ validation errors? for ", rest):
        return (
            f"Error executing tool {tool}: invalid_argument: {_validation_summary(rest)}. "
            "Fix the arguments and call again."
        )
    return (
        f"Error executing tool {tool}: {INTERNAL_ERROR}: unexpected failure inside lynn-mcp. "
        "The server log has details; try again or report it."
    )


class ToolErrorCodes:
    """Server middleware applying `coded_error_text` to every failed `tools/call`."""

    def __init__(self, disabled: Mapping[str, str]) -> None:
        self._disabled = disabled

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method != "tools/call" or not isinstance(result, dict) or not result.get("isError"):
            return result
        for block in result.get("content") or []:
            if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
                block["text"] = redact(coded_error_text(block["text"], self._disabled))
        return result
