"""What the bulk tools (load_campaign_data, upload_campaign_file, bulk_set_dnd) share: argument
types, load options from settings, and MCP progress for a workflow (workflows know nothing of MCP)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

from pydantic import BeforeValidator, Field

from lynn_mcp.redaction import redact
from lynn_mcp.server.state import LynnContext, state_of

if TYPE_CHECKING:
    from lynn_mcp.bulk.loader import LoadOptions, Progress

# The bulk engine (workflows, row readers) is imported on a bulk tool's first call, not at start-up:
# an IDE spawns this server for every session and most sessions never load a file.

# Names that explain themselves carry no description: every word here is paid in every conversation.
TimeoutS = Annotated[int, Field(ge=1, le=3600)]
Resume = Annotated[str | None, Field(max_length=4096)]


def _json_text(value: object) -> object:
    # The SDK turns a string argument that looks like a JSON object into a dict before validation;
    # the text is what we want, so serialise it back.
    return json.dumps(value) if isinstance(value, dict) else value


JsonRequestText = Annotated[
    str | None,
    BeforeValidator(_json_text),
    Field(max_length=20_000, description="Template's Json Request body."),
]
OptionalPath = Annotated[str | None, Field(max_length=4096)]


def progress_of(ctx: LynnContext) -> Progress:
    """Report a workflow's progress as MCP progress notifications (no-ops without a progress token).
    Messages are redacted: a notification passes no result filter (see outbound.py)."""

    async def report(progress: float, total: float | None, message: str | None) -> None:
        await ctx.report_progress(progress, total, redact(message) if message else message)

    return report


def load_options(ctx: LynnContext, *, timeout_s: float = 600.0, dry_run: bool = False) -> LoadOptions:
    """Chunk size, chunks in flight and file limits come from the server's settings (LYNN_CHUNK_SIZE,
    ...), and which files may be read from its file policy (LYNN_FILE_ROOT): every read of a
    `file_path`, the tool's and its consent resolver's, goes through these options."""
    from lynn_mcp.bulk.loader import LoadOptions  # lazily: see the note at the top

    state = state_of(ctx)
    settings = state.settings
    return LoadOptions(
        chunk_size=settings.chunk_size,
        max_in_flight=settings.max_in_flight,
        max_pending_tasks=settings.max_pending_tasks,
        max_file_bytes=settings.max_file_bytes,
        file_access=state.file_access,
        timeout_s=timeout_s,
        dry_run=dry_run,
    )
