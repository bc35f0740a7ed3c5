"""What every tool group shares: the app state, error translation, annotations, argument types.

Tools stay thin: validate arguments (pydantic, from the signature), call one `LynnClient` method,
shape a concise result. A `LynnError` becomes a tool error whose text starts with its stable code.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ParamSpec, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import AfterValidator, Field

from lynn_mcp.bulk.file_access import FileAccess
from lynn_mcp.config import Settings
from lynn_mcp.errors import InvalidArgument, LynnError
from lynn_mcp.lynn.client import LynnClient
from lynn_mcp.lynn.operations import check_id
from lynn_mcp.server.audit import note_lynn_status
from lynn_mcp.signing import ConfirmationSigner


@dataclass
class AppState:
    """Lives for the server process (the MCP lifespan): the one shared Lynn client, and the signer
    of confirmation tokens and resume handles (HMAC; replicas share LYNN_SIGNING_KEY)."""

    client: LynnClient
    signer: ConfirmationSigner
    settings: Settings
    file_access: FileAccess
    """Which files the file tools read (LYNN_FILE_ROOT, and whether the server serves HTTP)."""


LynnContext = Context[AppState, Any]

P = ParamSpec("P")
R = TypeVar("R")


def lynn_tool(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn LynnError into a tool error the model can read: `code: what happened. Next step.`"""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except LynnError as exc:
            note_lynn_status(exc.status)
            raise ToolError(exc.for_agent()) from None

    return wrapper


def state_of(ctx: LynnContext) -> AppState:
    return ctx.request_context.lifespan_context


def client_of(ctx: LynnContext) -> LynnClient:
    return ctx.request_context.lifespan_context.client


READ = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
CREATE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
UPDATE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
DESTROY = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
)
# Starting a campaign messages real people: treated as destructive (cannot be taken back).
SEND = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
)


def _well_formed_id(value: str) -> str:
    """The operation table's id rule, applied when arguments are validated: ids that travel in a
    request body (DnD changes, bulk loads) never reach the path builder's check. Whitespace around
    an id (pasted from a table or a chat) is dropped, as for resume handles. The message does not
    repeat the value (it may be hostile)."""
    try:
        return check_id(value.strip())
    except InvalidArgument:
        raise ValueError("not an id; use one that a list or get tool returned") from None


# Ids carry only a length bound in the schema (a pattern would cost every conversation tokens); the
# validator checks them strictly before any request exists.
WellFormedId = AfterValidator(_well_formed_id)
CampaignId = Annotated[str, Field(max_length=64), WellFormedId]
ContactId = Annotated[str, Field(max_length=64), WellFormedId]
TaskId = Annotated[str, Field(max_length=64), WellFormedId]
TemplateId = Annotated[str, Field(max_length=64, description="WhatsApp template id."), WellFormedId]
Limit = Annotated[int, Field(ge=1, le=100, description="Page size.")]
Cursor = Annotated[str | None, Field(max_length=16, description="next_cursor of the previous page.")]
Contains = Annotated[str | None, Field(max_length=100, description="Case-insensitive substring filter.")]

T = TypeVar("T")


def page(items: Sequence[T], limit: int, cursor: str | None) -> tuple[list[T], int, str | None]:
    """Client-side paging over a whole list (Lynn has no paging): (page, total, next_cursor)."""
    try:
        start = int(cursor) if cursor else 0
    except ValueError:
        raise InvalidArgument(
            "cursor is not one this server returned", hint="Omit it to start over."
        ) from None
    if start < 0 or start > len(items):
        raise InvalidArgument("cursor is out of range", hint="Omit it to start over.")
    end = start + limit
    return list(items[start:end]), len(items), str(end) if end < len(items) else None


def contains(value: str | None, needle: str | None) -> bool:
    return needle is None or (value is not None and needle.casefold() in value.casefold())
