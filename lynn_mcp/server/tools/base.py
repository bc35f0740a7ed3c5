"""What every tool group shares: annotations, argument types, client-side paging.

Tools stay thin: validate arguments (pydantic, from the signature), call one `LynnClient` method,
shape a concise result. The app state is in `server/state.py`; a `LynnError` becomes a tool error
whose text starts with its stable code through `tool_errors.lynn_errors_as_tool_errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, TypeVar

from mcp.types import ToolAnnotations
from pydantic import AfterValidator, Field

from lynn_mcp.errors import InvalidArgument
from lynn_mcp.lynn.operations import check_id

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
