"""What the server holds for its lifetime (the MCP lifespan), and how a request reaches it.

Below the tools on purpose: consent, resources and the tools all read the app state, and none of
them has to import another to do so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context

from lynn_mcp.bulk.file_access import FileAccess
from lynn_mcp.config import Settings
from lynn_mcp.lynn.client import LynnClient
from lynn_mcp.signing import ConfirmationSigner

__all__ = ["AppState", "LynnContext", "client_of", "state_of"]


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


def state_of(ctx: LynnContext) -> AppState:
    return ctx.request_context.lifespan_context


def client_of(ctx: LynnContext) -> LynnClient:
    return ctx.request_context.lifespan_context.client
