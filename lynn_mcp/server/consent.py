"""Human consent for consequential calls: ask the human, or fail closed with a preview and a token.

A consequential tool (start a campaign, delete something, lift a do-not-disturb block) takes a
`Resolve` parameter whose resolver :func:`consent_resolver` makes from the tool's consent check; the
SDK runs it before the tool body, on both protocol eras (an `elicitation/create` request on
2025-11-25, an `InputRequiredResult` round trip on 2026-07-28). The body then calls
:func:`ensure_consented`.

What the human approves is a :class:`Subject`, read from Lynn when consent is needed: a preview
(what the call will do) and the state of what it acts on (a campaign's status and last change, a
contact's blocks). The state is shown in the question and bound into a token, so an approval stops
applying once that state changes: a token is refused (``state_changed``), and on 2026-07-28 a
replayed answer meets a re-rendered question whose digest differs, so the SDK asks again.
docs/security.md states the guarantee per tool.

A caller signed in with OAuth needs the lynn:admin scope for any call that needs consent, checked
before everything below (server/oauth/scopes.py); then precedence, first match wins:

1. ``LYNN_CONFIRM=never`` (the operator's setting, never a tool argument): consent is assumed and
   nothing is read.
2. A ``confirmation_token`` argument: honoured only if it confirms exactly this call (tool,
   canonical arguments, tenant, the subject's state read again now, not expired, not spent in this
   process); otherwise the call is refused with ``confirmation_invalid``, and nothing else is
   tried. A valid token counts as consent even when the client could also elicit: it was minted
   with a preview for this exact call.
3. The client declared form elicitation: the human is shown the preview and its state and asked.
4. Otherwise fail closed: a ``confirmation_required`` tool error carrying the preview, its state
   and a fresh token; the call happens only when repeated with it.

A model-supplied flag is never consent: no argument other than a server-minted token counts.
Preview text passes :func:`lynn_mcp.redaction.redact` before it leaves (names come from Lynn).

Wiring a tool: the check names what the human approves; the tool's registered name (read from the
call) and the check's arguments (as the tool validated them) are what a token binds, so no name or
argument is written twice::

    @consent_resolver
    async def confirm_delete_x(ctx: LynnContext, x_id: str) -> Ask:
        async def subject() -> Subject:
            x = await client_of(ctx).get_x(x_id)
            return Subject(f"Delete x {x.name}", state=f"last changed {x.updated_at}")

        return Ask(subject)

    @server.tool(annotations=DESTROY)
    async def delete_x(ctx: LynnContext, x_id: XId,
                       consent: Annotated[ConsentAnswer, Resolve(confirm_delete_x)],
                       confirmation_token: ConfirmationToken = None) -> ...:
        ensure_consented(ctx, consent)
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeAlias

from mcp.server.mcpserver import Elicit, ElicitationResult
from mcp.server.mcpserver.resolve import AcceptedElicitation
from mcp.server.request_state import RequestStateSecurity
from pydantic import BaseModel, Field, Strict

from lynn_mcp.config import Settings
from lynn_mcp.errors import ConfirmationInvalid, ConfirmationRequired, Declined
from lynn_mcp.redaction import redact
from lynn_mcp.server.audit import note_consent
from lynn_mcp.server.oauth.scopes import ADMIN, ensure_granted
from lynn_mcp.server.state import LynnContext, state_of
from lynn_mcp.server.tool_errors import lynn_errors_as_tool_errors
from lynn_mcp.signing import CONFIRMATION_TOKEN_ARGUMENT, DEFAULT_TTL_S

__all__ = [
    "Ask",
    "ConfirmationToken",
    "ConsentAnswer",
    "Subject",
    "consent_resolver",
    "ensure_consented",
    "request_state_security",
]


class Approval(BaseModel):
    """The form the human sees under the preview: one checkbox."""

    # Strict: only a JSON true approves; "yes", 1 or "maybe" do not fit the form (the schema is the same).
    approve: Annotated[bool, Strict()] = Field(description="Carry out the action described above.")


class Granted(Approval):
    """Consent that did not come from the form; `via` says where it came from (for the audit line)."""

    via: Literal["token", "operator", "not_required"]


@dataclass(frozen=True, slots=True)
class Subject:
    """What a consequential call would act on, as Lynn describes it now.

    ``preview`` says what the call will do. ``state`` is the short text an approval is bound to,
    such as ``status Stopped, last changed 2026-11-30T14:05:12.345+00:00``: the human sees it and a token
    binds it, so the approval stops applying when it changes. Empty binds nothing beyond the
    arguments (bulk lifts, see docs/security.md).
    """

    preview: str
    state: str = ""

    def describe(self) -> str:
        """The preview and the state as one redacted paragraph, ending with a full stop."""
        text = self.preview.rstrip(".")
        if self.state:
            text += f". Current state: {self.state}"
        return redact(f"{text}.")


#: Reads the subject from Lynn; awaited only when consent is needed (not under LYNN_CONFIRM=never).
SubjectReader: TypeAlias = Callable[[], Awaitable[Subject]]


@dataclass(frozen=True, slots=True)
class Ask:
    """A consent check's answer when the call needs the human: how to read what it acts on.

    An approval binds the call's arguments as the check received them. ``binds`` replaces them
    where they do not say what is approved: a bulk lift binds which contacts it lifts, not the file
    path or the rows' other fields.
    """

    subject: SubjectReader
    binds: Mapping[str, Any] | None = None


ConsentAnswer: TypeAlias = ElicitationResult[Approval]
ConsentRequest: TypeAlias = Elicit[Approval] | Approval
#: A tool's consent check: takes ``ctx`` and tool arguments by name; None when the call needs no one.
ConsentCheck: TypeAlias = Callable[..., Awaitable[Ask | None]]

# No description: the confirmation_required error that hands out a token says how to use it, and
# every word here is paid in every conversation, six times (once per guarded tool).
ConfirmationToken = Annotated[str | None, Field(max_length=256)]

_REFUSED: dict[str, str] = {"decline": "declined", "cancel": "cancelled"}
_NOT_REQUIRED: Granted = Granted(approve=True, via="not_required")


def request_state_security(settings: Settings) -> RequestStateSecurity:
    """Seal the 2026-07-28 elicitation round trip (``requestState``) with a key derived from
    ``LYNN_SIGNING_KEY``, so a human's answer is honoured by whichever replica receives it.

    Without the setting, a per-process key (fine for one process). Either way a question must be
    answered within the lifetime of a confirmation token (``DEFAULT_TTL_S``), not the SDK's 600 s.
    """
    if settings.signing_key is None:
        return RequestStateSecurity.ephemeral(ttl=DEFAULT_TTL_S)
    root_key = settings.signing_key.get_secret_value().encode()
    state_key = hmac.new(root_key, b"lynn-mcp request state v1", hashlib.sha256).digest()
    return RequestStateSecurity(keys=[state_key], ttl=DEFAULT_TTL_S)


def _client_can_elicit(ctx: LynnContext) -> bool:
    """True when the client declared form elicitation (the SDK's own test: a bare `elicitation: {}`
    counts as form support, a url-only declaration does not)."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def _called_tool(ctx: LynnContext) -> str:
    """The name this call was dispatched to: the tool's registered name, never a copy of it."""
    params = ctx.request_context.params or {}
    name = params.get("name")
    if ctx.request_context.method != "tools/call" or not isinstance(name, str):
        raise RuntimeError("consent is asked only inside a tools/call")
    return name


def consent_resolver(check: ConsentCheck) -> Callable[..., Awaitable[ConsentRequest]]:
    """The `Resolve(...)` resolver of a guarded tool, made from its consent check.

    ``check(ctx, **arguments)`` takes ``ctx`` first and then tool arguments by name (validated, as
    the tool body gets them); it returns None when this call needs no one (setting a block), else
    an :class:`Ask`. The resolver takes the same parameters plus ``confirmation_token`` and decides
    how consent is given (see the module docstring): under ``LYNN_CONFIRM=never`` the subject is not
    read. A :class:`LynnError` from the check or the subject becomes a coded tool error (resolvers
    run before the tool body, outside its wrapper).
    """
    signature = inspect.signature(check)
    parameters = list(signature.parameters.values())
    if not parameters or parameters[0].name != "ctx":
        raise TypeError(f"{check.__qualname__} must take the request context first, as ctx")

    @functools.wraps(check)
    async def resolve(ctx: LynnContext, **arguments: Any) -> ConsentRequest:
        token = arguments.pop(CONFIRMATION_TOKEN_ARGUMENT, None)
        ask = await check(ctx, **arguments)
        if ask is None:
            return _NOT_REQUIRED
        # Before any way of consenting (LYNN_CONFIRM=never included): an OAuth caller needs lynn:admin.
        ensure_granted(ADMIN, f"this {_called_tool(ctx)} call, which needs a human's approval,")
        bound = arguments if ask.binds is None else ask.binds
        return await _request_consent(ctx, bound, token, ask.subject)

    token_parameter = inspect.Parameter(
        CONFIRMATION_TOKEN_ARGUMENT, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=str | None
    )
    guarded = lynn_errors_as_tool_errors(resolve)
    # The SDK passes a resolver the tool arguments its signature names (and reads their annotations):
    # the check's, plus the token. The wire key of a 2026-07-28 question stays the check's name.
    guarded.__signature__ = signature.replace(  # type: ignore[attr-defined] # a function attribute inspect reads
        parameters=[*parameters, token_parameter], return_annotation=ConsentRequest
    )
    guarded.__annotations__ = {
        **check.__annotations__,
        CONFIRMATION_TOKEN_ARGUMENT: str | None,
        "return": ConsentRequest,
    }
    return guarded


async def _request_consent(
    ctx: LynnContext, arguments: Mapping[str, Any], token: str | None, read_subject: SubjectReader
) -> ConsentRequest:
    """A granted :class:`Approval` or an :class:`Elicit` for the SDK to ask; raises a coded error for
    a refused token and for a fail-closed preview."""
    state = state_of(ctx)
    if state.settings.confirm == "never":
        return Granted(approve=True, via="operator")
    tool = _called_tool(ctx)
    tenant = state.client.tenant
    # Read on every round of a 2026-07-28 round trip: the question is re-rendered from what Lynn says
    # now, and the SDK honours a recorded answer only for an identical question.
    subject = await read_subject()
    if token is not None:
        check = state.signer.verify(token, tool, arguments, tenant, state=subject.state)
        if not check.ok:
            raise ConfirmationInvalid(check.message, hint="")
        return Granted(approve=True, via="token")
    text = subject.describe()
    if _client_can_elicit(ctx):
        return Elicit(f"{text}\nApprove this?", Approval)
    token = state.signer.mint(tool, arguments, tenant, state=subject.state)
    minutes = DEFAULT_TTL_S // 60
    raise ConfirmationRequired(
        f"{text} Nothing was done. Show this to the user; only if they approve, call {tool} again "
        f'with the same arguments plus this confirmation_token (valid {minutes} minutes, once): "{token}". '
        "It stops applying if the current state above changes"
    )


def ensure_consented(ctx: LynnContext, answer: ConsentAnswer) -> None:
    """In the tool body: return if consent was given, else raise :class:`Declined` (nothing done)."""
    if isinstance(answer, AcceptedElicitation) and answer.data.approve:
        via = answer.data.via if isinstance(answer.data, Granted) else "elicitation"
        if via != "not_required":
            note_consent(via)
        return
    outcome = "did not approve" if isinstance(answer, AcceptedElicitation) else _REFUSED[answer.action]
    note_consent(f"user {outcome}")
    raise Declined(f"the user {outcome} {_called_tool(ctx)}")
