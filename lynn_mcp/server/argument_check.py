"""Refuse tool arguments the tool does not have, naming the nearest one it does.

The SDK ignores unknown arguments, so `campaignId` (camelCase, as Lynn's wire spells it) instead of
`campaign_id` used to be dropped without a word and the rows went to the template's default
campaign. The check runs at call time in a middleware rather than as `additionalProperties: false`
in every input schema, because every schema token in tools/list is paid in every conversation.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.types import CallToolResult, TextContent

from lynn_mcp.redaction import redact

__all__ = ["UnknownArguments", "nearest_parameter"]


def _loose(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def nearest_parameter(name: str, parameters: frozenset[str]) -> str | None:
    """The parameter `name` most likely meant: same letters ignoring case and separators
    (`campaignId` -> `campaign_id`), else the closest spelling, else None."""
    loose = _loose(name)
    for parameter in sorted(parameters):
        if _loose(parameter) == loose:
            return parameter
    close = difflib.get_close_matches(name, sorted(parameters), n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_argument_text(tool: str, unknown: list[str], parameters: frozenset[str]) -> str:
    """The coded error for arguments `tool` does not take; names are cut, never echoed whole."""
    problems = []
    for name in unknown[:5]:
        shown = repr(name[:40])
        nearest = nearest_parameter(name, parameters)
        problems.append(f"{shown} (did you mean {nearest!r}?)" if nearest else shown)
    more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
    return (
        f"Error executing tool {tool}: invalid_argument: {tool} has no argument "
        f"{', '.join(problems)}{more}; nothing was done. Its arguments are: {', '.join(sorted(parameters))}."
    )


class UnknownArguments:
    """Server middleware: a `tools/call` naming an argument its tool lacks fails before the tool runs.

    `parameters` (tool name -> argument names of its input schema) is filled by `build_server` once
    the tools are registered; tools it does not know (unknown or disabled) pass through to the SDK,
    which words those errors itself.
    """

    def __init__(self) -> None:
        self.parameters: dict[str, frozenset[str]] = {}

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        params = ctx.params or {}
        known = self.parameters.get(str(params.get("name")))
        arguments = params.get("arguments")
        if known is None or not isinstance(arguments, Mapping):
            return await call_next(ctx)
        unknown = [str(name) for name in arguments if name not in known]
        if not unknown:
            return await call_next(ctx)
        text = redact(unknown_argument_text(str(params["name"]), unknown, known))
        return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
