"""Human consent for consequential calls: ask the human, or fail closed with a preview and a token.

A consequential tool (start a campaign, delete something, lift a do-not-disturb block) takes a
`Resolve` parameter whose resolver calls :func:`request_consent`; the SDK runs it before the tool
body, on both protocol eras (an `elicitation/create` request on 2025-11-25, an
`InputRequiredResult` round trip on 2026-07-28). The body then calls :func:`ensure_consented`.

Precedence, first match wins:

1. ``LYNN_CONFIRM=never`` (the operator's setting, never a tool argument): consent is assumed.
2. A ``confirmation_token`` argument: honoured only if it confirms exactly this call (tool,
   canonical arguments, tenant, not expired, not spent in this process); otherwise the call is
   refused with ``confirmation_invalid``, and nothing else is tried. A valid token counts as consent
   even when the client could also elicit: it was minted with a preview for this exact call.
3. The client declared form elicitation: the human is shown the preview and asked.
4. Otherwise fail closed: a ``confirmation_required`` tool error carrying the preview and a fresh
   token; the call happens only when repeated with it.

A model-supplied flag is never consent: no argument other than a server-minted token counts.

Wiring a tool (the resolver receives tool arguments by name, validated)::

    async def confirm_x(ctx: LynnContext, x_id: str, confirmation_token: str | None) -> ConsentRequest:
        return await request_consent(
            ctx, "x", {"x_id": x_id, "confirmation_token": confirmation_token}, preview="Delete x"
        )

    async def x(ctx, x_id, confirmation_token: ConfirmationToken = None,
                consent: Annotated[ConsentAnswer, Resolve(confirm_x)] = ...) -> ...:
        ensure_consented(consent, "x")
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Literal, TypeAlias

from mcp.server.mcpserver import Elicit, ElicitationResult
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import AcceptedElicitation
from mcp.server.request_state import RequestStateSecurity
from pydantic import BaseModel, Field

from lynn_mcp.audit import note_consent, note_lynn_status
from lynn_mcp.config import Settings
from lynn_mcp.confirmation import CONFIRMATION_TOKEN_ARGUMENT, DEFAULT_TTL_S
from lynn_mcp.errors import ConfirmationInvalid, ConfirmationRequired, Declined, LynnError
from lynn_mcp.tools.base import LynnContext, state_of

__all__ = [
    "NOT_REQUIRED",
    "Approval",
    "ConfirmationToken",
    "ConsentAnswer",
    "ConsentRequest",
    "Granted",
    "Preview",
    "client_can_elicit",
    "ensure_consented",
    "request_consent",
    "request_state_security",
]


class Approval(BaseModel):
    """The form the human sees under the preview: one checkbox."""

    approve: bool = Field(description="Carry out the action described above.")


class Granted(Approval):
    """Consent that did not come from the form; `via` says where it came from (for the audit line)."""

    via: Literal["token", "operator", "not_required"]


ConsentAnswer: TypeAlias = ElicitationResult[Approval]
ConsentRequest: TypeAlias = Elicit[Approval] | Approval
#: The preview text, or a coroutine function producing it (only awaited when a preview is shown).
Preview: TypeAlias = str | Callable[[], Awaitable[str]]

# One short shared description: every tool's schema is paid for in every conversation.
ConfirmationToken = Annotated[
    str | None,
    Field(max_length=256, description="From a confirmation_required error, once the user approved."),
]

_REFUSED: dict[str, str] = {"decline": "declined", "cancel": "cancelled"}
NOT_REQUIRED: Granted = Granted(approve=True, via="not_required")


def request_state_security(settings: Settings) -> RequestStateSecurity | None:
    """Seal the 2026-07-28 elicitation round trip (``requestState``) with a key derived from
    ``LYNN_SIGNING_KEY``, so a human's answer is honoured by whichever replica receives it.

    None without the setting: the SDK then draws a per-process key (fine for one process).
    """
    if settings.signing_key is None:
        return None
    root_key = settings.signing_key.get_secret_value().encode()
    state_key = hmac.new(root_key, b"lynn-mcp request state v1", hashlib.sha256).digest()
    return RequestStateSecurity(keys=[state_key])


def client_can_elicit(ctx: LynnContext) -> bool:
    """True when the client declared form elicitation (the SDK's own test: a bare `elicitation: {}`
    counts as form support, a url-only declaration does not)."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


async def request_consent(
    ctx: LynnContext, tool: str, arguments: Mapping[str, Any], preview: Preview
) -> ConsentRequest:
    """Decide how this call gets consent (see the module docstring); use as a resolver's result.

    `arguments` are the call's arguments as the tool received them, including
    ``confirmation_token`` (it is never part of what a token binds). Returns a granted
    :class:`Approval` or an :class:`Elicit` for the SDK to ask; raises a coded tool error for a
    refused token, for fail-closed previews, and for Lynn errors while building the preview.
    """
    try:
        return await _request_consent(ctx, tool, arguments, preview)
    except LynnError as exc:  # resolvers run outside the tool body's LynnError translation
        note_lynn_status(exc.status)
        raise ToolError(exc.for_agent()) from None


async def _request_consent(
    ctx: LynnContext, tool: str, arguments: Mapping[str, Any], preview: Preview
) -> ConsentRequest:
    state = state_of(ctx)
    if state.settings.confirm == "never":
        return Granted(approve=True, via="operator")
    tenant = state.client.tenant
    token = arguments.get(CONFIRMATION_TOKEN_ARGUMENT)
    if token is not None:
        check = state.signer.verify(str(token), tool, arguments, tenant)
        if not check.ok:
            raise ConfirmationInvalid(check.message, hint="")
        return Granted(approve=True, via="token")
    text = (preview if isinstance(preview, str) else await preview()).rstrip(".")
    if client_can_elicit(ctx):
        return Elicit(f"{text}.\nApprove this?", Approval)
    token = state.signer.mint(tool, arguments, tenant)
    minutes = DEFAULT_TTL_S // 60
    raise ConfirmationRequired(
        f"{text}. Nothing was done. Show this to the user; only if they approve, call {tool} again "
        f'with the same arguments plus this confirmation_token (valid {minutes} minutes, once): "{token}"'
    )


def ensure_consented(answer: ConsentAnswer, tool: str) -> None:
    """In the tool body: return if consent was given, else raise :class:`Declined` (nothing done)."""
    if isinstance(answer, AcceptedElicitation) and answer.data.approve:
        via = answer.data.via if isinstance(answer.data, Granted) else "elicitation"
        if via != "not_required":
            note_consent(via)
        return
    outcome = "did not approve" if isinstance(answer, AcceptedElicitation) else _REFUSED[answer.action]
    note_consent(f"user {outcome}")
    raise Declined(f"the user {outcome} {tool}")
