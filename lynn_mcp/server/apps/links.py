"""Views only for hosts that render them: the listings a plain host gets stay as they were.

`tools/list` is paid for in every conversation (at most 4,000 cl100k tokens for all tools,
bench/context_tokens.py); the links to the views cost about 20 tokens a tool and mean nothing to a
host that cannot render a view. A host that renders MCP Apps says so: it advertises the
`io.modelcontextprotocol/ui` extension with the app MIME type, in the `initialize` capabilities on
2025-11-25 and in every request's envelope on 2026-07-28, and `client_supports_apps` reads both.
Such a host gets the links in `tools/list` and the `ui://` resources in `resources/list`; any other
gets the listings without them. A `ui://` resource can still be read by anyone: it holds no data.
Over stateless HTTP (`lynn-mcp --http`) a 2025-11-25 client's `initialize` is not remembered, so
there only 2026-07-28 clients, which declare their capabilities in every request, get the views.
"""

from __future__ import annotations

from typing import Any, Final

from mcp.server.apps import client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from pydantic import BaseModel

from lynn_mcp.server.apps.views import LEGACY_LINK_KEY

__all__ = ["ViewsForAppHosts"]

_LINK_KEYS: Final = frozenset({"ui", LEGACY_LINK_KEY})


def _unlinked(tool: Any) -> Any:
    meta = tool.get("_meta") if isinstance(tool, dict) else None
    if not isinstance(meta, dict) or _LINK_KEYS.isdisjoint(meta):
        return tool
    rest = {key: value for key, value in meta.items() if key not in _LINK_KEYS}
    tool = {key: value for key, value in tool.items() if key != "_meta"}
    return {**tool, "_meta": rest} if rest else tool


def _is_view(resource: Any) -> bool:
    return isinstance(resource, dict) and str(resource.get("uri", "")).startswith("ui://")


class ViewsForAppHosts:
    """Server middleware: the view links and `ui://` resources are listed only to an MCP Apps host."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method not in ("tools/list", "resources/list"):
            return await call_next(ctx)
        result = await call_next(ctx)
        if client_supports_apps(ctx) or result is None:
            return result
        if isinstance(result, BaseModel):  # what the SDK's runner would send for it
            result = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        if isinstance(result.get("tools"), list):
            return {**result, "tools": [_unlinked(tool) for tool in result["tools"]]}
        if isinstance(result.get("resources"), list):
            return {**result, "resources": [r for r in result["resources"] if not _is_view(r)]}
        return result
