"""The audit trail: one JSON line per write tool call, to the log and to ``LYNN_AUDIT_LOG``.

Written once, centrally, by a server middleware around every ``tools/call`` of a write tool
(``read_only_hint`` false), so no tool can forget it and failures the SDK words itself (bad
arguments, a crash) are recorded too. A line looks like::

    {"ts": "2026-01-01T00:00:00Z", "event": "tool_call", "tool": "delete_campaign",
     "arguments": {"campaign_id": "..."}, "outcome": "ok", "lynn_status": null, "consent": "token",
     "subject": "3f2a...", "client_id": "claude"}

``outcome`` is ``ok`` or the error code the agent saw; ``lynn_status`` is Lynn's HTTP status when
Lynn answered a failed call with one; ``consent`` says how a consequential call was approved
(``elicitation``, ``token``, ``operator``) or refused. ``subject`` and ``client_id`` say who called
when OAuth signed the caller in (the access token's ``sub`` and client; nothing else of the token is
written), null over stdio and behind the static bearer. Argument strings are redacted (registered
secrets and secret-looking patterns) and capped, a confirmation token shows as ``***``, long lists
are cut. A 2026-07-28 ``input_required`` round (the human is being asked) is not a call outcome and
writes no line; the round that carries the answer does.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import anyio
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from pydantic import BaseModel

from lynn_mcp.redaction import REDACTED, redact
from lynn_mcp.signing import CONFIRMATION_TOKEN_ARGUMENT

__all__ = ["AUDIT_LOGGER_NAME", "AuditTrail", "audit_arguments", "note_consent", "note_lynn_status"]

AUDIT_LOGGER_NAME: Final = "lynn_mcp.audit"
MAX_STRING_CHARS: Final = 200
MAX_LIST_ITEMS: Final = 20
MAX_DEPTH: Final = 4
MAX_NAME_CHARS: Final = 128

logger = logging.getLogger(AUDIT_LOGGER_NAME)
_OUTCOME_CODE = re.compile(r"^(?:Error executing tool [\w-]+: )?(?P<code>[a-z_]+)\b")


@dataclass
class _CallNotes:
    """What the tool body learns that the middleware cannot see in the result."""

    lynn_status: int | None = None
    consent: str | None = None


@dataclass(frozen=True)
class _Caller:
    """Who called, as the OAuth access token says (both None without one)."""

    subject: str | None = None
    client_id: str | None = None

    @classmethod
    def of_request(cls) -> _Caller:
        token = get_access_token()
        if token is None:
            return cls()
        subject = token.subject[:MAX_NAME_CHARS] if token.subject else None
        return cls(subject=subject, client_id=token.client_id[:MAX_NAME_CHARS])


# The middleware puts a fresh holder here; code under it (the tool, its resolvers) mutates it, which
# stays visible to the middleware even where the SDK runs that code in a copied context.
_current_notes: ContextVar[_CallNotes | None] = ContextVar("lynn_audit_notes", default=None)


def note_lynn_status(status: int | None) -> None:
    """Record Lynn's HTTP status for the audit line of the current call (no-op outside one)."""
    notes = _current_notes.get()
    if notes is not None and status is not None:
        notes.lynn_status = status


def note_consent(via: str) -> None:
    """Record how the current call was approved or refused (no-op outside an audited call)."""
    notes = _current_notes.get()
    if notes is not None:
        notes.consent = via


def _audit_value(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return redact(value)[:MAX_STRING_CHARS]
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= MAX_DEPTH:
        return "..."
    if isinstance(value, Mapping):
        return {str(key)[:64]: _audit_value(item, depth + 1) for key, item in list(value.items())[:50]}
    if isinstance(value, list | tuple):
        items = [_audit_value(item, depth + 1) for item in value[:MAX_LIST_ITEMS]]
        if len(value) > MAX_LIST_ITEMS:
            items.append(f"... {len(value) - MAX_LIST_ITEMS} more")
        return items
    return redact(repr(value))[:MAX_STRING_CHARS]


def audit_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments as the audit line shows them: redacted, capped, the token hidden."""
    shown = _audit_value(arguments, 0)
    if not isinstance(shown, dict):
        return {}
    if shown.get(CONFIRMATION_TOKEN_ARGUMENT) is not None:
        shown[CONFIRMATION_TOKEN_ARGUMENT] = REDACTED
    return shown


def _outcome(result: dict[str, Any]) -> str:
    if not result.get("isError"):
        return "ok"
    for block in result.get("content") or []:
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            match = _OUTCOME_CODE.match(block["text"])
            if match:
                return match.group("code")
    return "internal_error"


class AuditTrail:
    """Server middleware writing the audit line of every write tool call.

    `write_tools` is filled by `build_server` once the tools are registered; calls of other tools
    pass through untouched.
    """

    def __init__(self, path: Path | None) -> None:
        self.write_tools: set[str] = set()
        self._path = path
        self._file_lock = threading.Lock()

    def watch(self, tools: Iterable[str]) -> None:
        self.write_tools.update(tools)

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        params = ctx.params or {}
        tool = params.get("name")
        if ctx.method != "tools/call" or tool not in self.write_tools:
            return await call_next(ctx)
        arguments = params.get("arguments")
        notes = _CallNotes()
        caller = _Caller.of_request()
        token = _current_notes.set(notes)
        try:
            result = await call_next(ctx)
        except BaseException as exc:
            cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
            self._emit(str(tool), arguments, "cancelled" if cancelled else "protocol_error", notes, caller)
            raise
        finally:
            _current_notes.reset(token)
        shape = result.model_dump(by_alias=True, mode="json") if isinstance(result, BaseModel) else result
        if isinstance(shape, dict) and shape.get("resultType") == "input_required":
            return result  # the human is being asked; the answering round writes the line
        outcome = _outcome(shape) if isinstance(shape, dict) else "ok"
        self._emit(str(tool), arguments, outcome, notes, caller)
        return result

    def _emit(self, tool: str, arguments: Any, outcome: str, notes: _CallNotes, caller: _Caller) -> None:
        line = json.dumps(
            {
                "ts": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "event": "tool_call",
                "tool": tool[:64],
                "arguments": audit_arguments(arguments) if isinstance(arguments, Mapping) else {},
                "outcome": outcome,
                "lynn_status": notes.lynn_status,
                "consent": notes.consent,
                "subject": caller.subject,
                "client_id": caller.client_id,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        line = redact(line)  # second pass over the whole line: keys and joined text included
        logger.info("%s", line)
        if self._path is None:
            return
        try:
            with self._file_lock, self._path.open("a", encoding="utf-8") as audit_file:
                audit_file.write(line + "\n")
        except OSError as exc:
            # The call already happened; failing it now would mislead. Say so loudly instead.
            logger.error("could not write the audit log (%s): %s", type(exc).__name__, exc.strerror)
