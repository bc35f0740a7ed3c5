"""Scopes per kind of tool: what an OAuth caller's access token lets it see and call.

    lynn:read    the read tools, the resources and the prompts (with their completions)
    lynn:write   the tools that change something: create, update, load rows, set a DnD block
    lynn:admin   what needs a human's approval: start a campaign, delete, lift a DnD block

A scope grants its kind and nothing else; none includes another (a campaign manager is given all
three). A tool's kind is read from its annotations: read-only is read, destructive (a start, a
delete) is admin, anything else is write. Some write tools need a human's approval only for some
calls (a DnD tool lifting a block rather than setting one); such a call needs lynn:admin as well,
checked where that need is decided (`consent.consent_resolver`, through `ensure_granted`).

The confirmation of consequential calls stays on top: a caller holding lynn:admin is still asked
(or handed a confirmation token), exactly as without OAuth.

Enforced only when the server signs callers in with OAuth (`--http` with LYNN_OAUTH_ISSUER). Over
stdio or behind the static LYNN_HTTP_TOKEN the caller is the single user, who may use every tool the
server offers. The caller's scopes come from the SDK's authentication context (`get_access_token`),
which the HTTP layer (oauth/resource.py) fills for every request it lets through.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final, Protocol

from mcp import MCPError
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.types import INVALID_REQUEST, CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel

from lynn_mcp.errors import Forbidden

__all__ = ["ADMIN", "READ", "SCOPES", "WRITE", "ScopeGate", "ensure_granted", "scope_of"]

READ: Final = "lynn:read"
WRITE: Final = "lynn:write"
ADMIN: Final = "lynn:admin"
SCOPES: Final = (READ, WRITE, ADMIN)
"""Every scope this server knows, as its Protected Resource Metadata lists them."""

ASK_FOR_SCOPE: Final = "Ask whoever runs sign-in for lynn-mcp to grant it, then sign in again."

# The list answers a caller without lynn:read gets empty, and the requests it is refused.
_READ_LISTS: Final = {
    "resources/list": "resources",
    "resources/templates/list": "resourceTemplates",
    "prompts/list": "prompts",
}
_READ_REQUESTS: Final = frozenset(
    {"resources/read", "resources/subscribe", "resources/unsubscribe", "prompts/get", "completion/complete"}
)

# The scopes of the call being handled; None where nothing is enforced. Set by ScopeGate around the
# whole request, so the tool body and its consent resolver (in copied contexts) see it too.
_granted: ContextVar[frozenset[str] | None] = ContextVar("lynn_granted_scopes", default=None)


def scope_of(annotations: ToolAnnotations | None) -> str:
    """The scope a tool needs, from its annotations (see the module docstring)."""
    if annotations is not None and annotations.read_only_hint:
        return READ
    if annotations is not None and annotations.destructive_hint:
        return ADMIN
    return WRITE


def _refusal(what: str, scope: str, granted: frozenset[str]) -> Forbidden:
    held = ", ".join(name for name in SCOPES if name in granted) or "none of " + ", ".join(SCOPES)
    return Forbidden(f"{what} needs the {scope} scope; this sign-in carries {held}", hint=ASK_FOR_SCOPE)


def ensure_granted(scope: str, action: str) -> None:
    """Raise `Forbidden` when OAuth is enforced and the caller's token lacks `scope` for `action`
    (words that complete "... needs the <scope> scope", such as "lifting a do-not-disturb block")."""
    granted = _granted.get()
    if granted is not None and scope not in granted:
        raise _refusal(action, scope, granted)


def _caller_scopes() -> frozenset[str]:
    """The lynn scopes of the request's access token; none without one (fail closed)."""
    token = get_access_token()
    return frozenset(token.scopes).intersection(SCOPES) if token is not None else frozenset()


class RegisteredTool(Protocol):
    """What the gate reads of a registered tool."""

    @property
    def annotations(self) -> ToolAnnotations | None: ...


def _as_dict(result: HandlerResult) -> dict[str, Any] | None:
    if isinstance(result, BaseModel):  # what the SDK's runner would send for it
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return result


class ScopeGate:
    """Server middleware: a caller sees in `tools/list` only the tools its scopes allow, a call beyond
    them is a `forbidden` tool error (nothing runs), and resources and prompts need lynn:read.

    `enforced` is False over stdio and with the static bearer: then everything passes untouched.
    `build_server` tells it how to find a registered tool (`watch`), whose annotations say the scope
    it needs at the moment it is listed or called: no list of tools to keep in step.
    """

    def __init__(self, *, enforced: bool) -> None:
        self.enforced = enforced
        self._find_tool: Callable[[str], RegisteredTool | None] = lambda _: None

    def watch(self, find_tool: Callable[[str], RegisteredTool | None]) -> None:
        self._find_tool = find_tool

    def scope_needed(self, tool: str) -> str | None:
        """The scope a call of `tool` needs; None for a name that is no registered tool."""
        registered = self._find_tool(tool)
        return None if registered is None else scope_of(registered.annotations)

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if not self.enforced:
            return await call_next(ctx)
        granted = _caller_scopes()
        token = _granted.set(granted)
        try:
            return await self._gate(ctx, call_next, granted)
        finally:
            _granted.reset(token)

    async def _gate(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext, granted: frozenset[str]
    ) -> HandlerResult:
        method = ctx.method
        if method == "tools/call":
            tool = str((ctx.params or {}).get("name"))
            needed = self.scope_needed(tool)
            if needed is not None and needed not in granted:
                text = _refusal(tool, needed, granted).for_agent()
                return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
            return await call_next(ctx)
        if method == "tools/list":
            listed = _as_dict(await call_next(ctx))
            if listed is None or not isinstance(listed.get("tools"), list):
                return listed
            shown = [tool for tool in listed["tools"] if self.scope_needed(str(tool.get("name"))) in granted]
            return {**listed, "tools": shown}
        if READ in granted:
            return await call_next(ctx)
        if method in _READ_REQUESTS:
            raise MCPError(INVALID_REQUEST, _refusal(method, READ, granted).for_agent())
        if method in _READ_LISTS:
            listed = _as_dict(await call_next(ctx))
            key = _READ_LISTS[method]
            if listed is not None and isinstance(listed.get(key), list):
                return {**listed, key: []}
            return listed
        return await call_next(ctx)
