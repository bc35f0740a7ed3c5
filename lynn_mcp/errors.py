"""Every failure lynn-mcp reports, and the one place where HTTP statuses become errors.

The tree: every `LynnError` subclass in lynn-mcp (a test holds this list to the code). Each class
states its own stable `code`, which agents and tests rely on; a subclass that does not is refused
when it is defined, so none can inherit a wrong one. Every code is in `ERROR_CODES`.

* LynnError                      base; `code`, `message`, `hint`, `status`, `retry_after`
  + ConfigError                  config_error          settings missing or unusable
  + InvalidArgument              invalid_argument      rejected before sending, or Lynn 400/413/422
  + NotFound                     not_found             Lynn 404
  + Conflict                     conflict              Lynn 409
  + RateLimited                  rate_limited          Lynn 429 (`retry_after` seconds)
  + Unauthorized                 unauthorized          Lynn 401 (bad or expired credentials)
  + Forbidden                    forbidden             Lynn 403 (other tenant, no permission)
  + UpstreamUnavailable          upstream_unavailable  5xx, refused or dropped connections
  + Timeout                      timeout               no answer in time
  + ConfirmationRequired         confirmation_required a consequential call needs the human's approval
  + ConfirmationInvalid          confirmation_invalid  the confirmation token does not confirm this call
  + Declined                     declined              the human declined (or cancelled) the call
  + WaitTimedOut                 timeout               bulk/waiter.py: a task did not finish before the
                                                       deadline; `task` is the last state seen
  + _GaveUp                      upstream_unavailable  bulk/loader.py: a chunk failed as often as it may
                                                       be sent; ends a load with a report, never raised
                                                       out of it

The last two live with the code that raises them: `WaitTimedOut` carries a Lynn `Task`, and this
module, imported by every layer, imports no other part of lynn-mcp.

`maybe_processed` tells callers of non-idempotent operations whether Lynn may have acted on the
request although no answer arrived (a timeout after sending, a dropped connection): the bulk loader
re-sends such chunks and reconciles duplicates instead of guessing.

Messages never carry URLs, headers, bodies or tokens: only the operation name, Lynn's own
`message` (already cleaned and capped by the caller) and a next step.
"""

from __future__ import annotations

from typing import ClassVar


class LynnError(Exception):
    """A failure an agent can act on: a stable code, what happened, and what to do next."""

    code: ClassVar[str] = "upstream_unavailable"
    default_hint: ClassVar[str] = "Try again later."

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in vars(cls):
            raise TypeError(f"{cls.__qualname__} must state its own `code` (one of ERROR_CODES)")

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        maybe_processed: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.status = status
        self.retry_after = retry_after
        self.maybe_processed = maybe_processed

    def for_agent(self) -> str:
        """One line for the model: `code: what happened. What to do next.`"""
        head = self.code
        if self.retry_after is not None:
            head += f" (retry_after={self.retry_after:g}s)"
        text = f"{head}: {self.message.rstrip('.')}."
        if self.hint:
            text += f" {self.hint}"
        return text

    def __str__(self) -> str:
        return self.for_agent()


class ConfigError(LynnError):
    code = "config_error"
    default_hint = "Set the variable named above in the server's environment and restart it."


class InvalidArgument(LynnError):
    code = "invalid_argument"
    default_hint = "Fix the argument and call again."


class NotFound(LynnError):
    code = "not_found"
    default_hint = "Check the id; the list tools show the ids that exist."


class Conflict(LynnError):
    code = "conflict"
    default_hint = "The object's current state does not allow this; read it again before retrying."


class RateLimited(LynnError):
    code = "rate_limited"
    default_hint = "Wait for retry_after seconds, then call again."


class Unauthorized(LynnError):
    code = "unauthorized"
    default_hint = (
        "Check LYNN_ACCESS_TOKEN and LYNN_ACCESS_TOKEN_SECRET (or LYNN_TOKEN) and LYNN_TENANT; "
        "run `lynn-mcp doctor` to test them."
    )


class Forbidden(LynnError):
    code = "forbidden"
    default_hint = "The credentials do not give access to this tenant or object; check LYNN_TENANT."


class UpstreamUnavailable(LynnError):
    code = "upstream_unavailable"
    default_hint = "Lynn is not answering properly; try again in a minute."


class Timeout(LynnError):
    code = "timeout"
    default_hint = "Lynn did not answer in time; try again, or raise LYNN_TIMEOUT."


class ConfirmationRequired(LynnError):
    """Nothing was done: the message carries a preview and a confirmation token to repeat the call with."""

    code = "confirmation_required"
    default_hint = ""


class ConfirmationInvalid(LynnError):
    code = "confirmation_invalid"
    default_hint = "Call again without confirmation_token to get a new preview and token."


class Declined(LynnError):
    code = "declined"
    default_hint = "Nothing was done. Do not retry unless the user asks again."


ERROR_CODES: tuple[str, ...] = tuple(
    cls.code
    for cls in (
        InvalidArgument,
        NotFound,
        Conflict,
        RateLimited,
        Unauthorized,
        Forbidden,
        UpstreamUnavailable,
        Timeout,
        ConfigError,
        ConfirmationRequired,
        ConfirmationInvalid,
        Declined,
    )
)


def error_for_status(
    status: int, operation: str, lynn_message: str | None, *, retry_after: float | None = None
) -> LynnError:
    """Map one non-2xx answer from Lynn to its error. The only status table in the code base."""
    said = f": Lynn says {lynn_message!r}" if lynn_message else ""
    if status == 401:
        return Unauthorized(f"{operation} was refused as unauthorized", status=status)
    if status == 403:
        return Forbidden(f"{operation} was forbidden{said}", status=status)
    if status == 404:
        return NotFound(f"{operation} found nothing{said}", status=status)
    if status == 409:
        return Conflict(f"{operation} conflicts with the current state{said}", status=status)
    if status == 429:
        return RateLimited(f"{operation} was rate limited{said}", status=status, retry_after=retry_after)
    if status in (408, 504):
        return Timeout(f"{operation} timed out at Lynn (HTTP {status})", status=status)
    if status in (400, 413, 422):
        return InvalidArgument(f"{operation} was rejected{said}", status=status)
    if status >= 500:
        return UpstreamUnavailable(f"{operation} failed at Lynn (HTTP {status}){said}", status=status)
    return InvalidArgument(f"{operation} was answered with HTTP {status}{said}", status=status)
