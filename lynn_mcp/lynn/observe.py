"""THE hook through which the Lynn side and the bulk engine report what they do, to whoever listens.

lynn-mcp's telemetry (`server/telemetry.py`) installs an `Observer` when OpenTelemetry is configured;
until then `NO_OBSERVER` takes every report and does nothing, so an unobserved request costs one
function call and three no-op method calls. The hook is process-wide, as are the OpenTelemetry
providers it feeds; `install` returns the observer it replaced, so a test can put it back.

Only what can be passed on safely is reported: operation names, HTTP methods and statuses, attempt
numbers, chunk numbers, row counts and outcome names. Never a URL (it carries the tenant and ids), a
header, a body, an id, a phone number or a message from Lynn.

A load's watch is a context manager: an observer that traces makes the load's span current inside
it, so the chunks' requests (sent from tasks started inside it) are its children.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Protocol

__all__ = ["NO_OBSERVER", "LoadWatch", "Observer", "RequestWatch", "current", "install"]


class RequestWatch(Protocol):
    """One attempt of one Lynn request, from just before it is sent."""

    def answered(self, status: int) -> None:
        """Lynn answered with this HTTP status."""

    def failed(self, error_type: str) -> None:
        """No answer came: `error_type` names the transport error (e.g. `ConnectError`)."""

    def end(self) -> None:
        """The attempt is over (called last, always; neither of the above means it was cancelled)."""


class LoadWatch(Protocol):
    """One run of one bulk load (a resumed load is a new run)."""

    def __enter__(self) -> LoadWatch: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def chunk_sent(self, chunk: int, rows: int, attempts: int) -> None:
        """Lynn took chunk number `chunk` (`rows` rows) as a task, after `attempts` POSTs."""

    def chunk_settled(self, chunk: int, outcomes: Mapping[str, int]) -> None:
        """The chunk's task finished: its rows by outcome (`accepted`, `already_in_campaign`, ...)."""

    def finished(self, state: str, rows: Mapping[str, int], this_run: Mapping[str, int]) -> None:
        """The load's report: its state, every row by outcome, and the rows this run settled by outcome
        (a resumed load's report also counts the rows earlier runs settled)."""


class Observer(Protocol):
    def request(self, operation: str, method: str, attempt: int) -> RequestWatch:
        """Attempt `attempt` (1 = the first) of `operation` is about to be sent."""

    def load(self, operation: str, rows: int) -> LoadWatch:
        """A load of `rows` rows starts; its chunks are POSTed with `operation` (`dry_run`: none are)."""


class _Ignored:
    """Every report taken and dropped."""

    __slots__ = ()

    def answered(self, status: int) -> None:
        pass

    def failed(self, error_type: str) -> None:
        pass

    def end(self) -> None:
        pass

    def __enter__(self) -> _Ignored:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass

    def chunk_sent(self, chunk: int, rows: int, attempts: int) -> None:
        pass

    def chunk_settled(self, chunk: int, outcomes: Mapping[str, int]) -> None:
        pass

    def finished(self, state: str, rows: Mapping[str, int], this_run: Mapping[str, int]) -> None:
        pass


_IGNORED = _Ignored()


class _NoObserver:
    __slots__ = ()

    def request(self, operation: str, method: str, attempt: int) -> RequestWatch:
        return _IGNORED

    def load(self, operation: str, rows: int) -> LoadWatch:
        return _IGNORED


NO_OBSERVER: Observer = _NoObserver()
_observer: Observer = NO_OBSERVER


def current() -> Observer:
    """The installed observer (`NO_OBSERVER` unless telemetry installed one)."""
    return _observer


def install(observer: Observer) -> Observer:
    """Make `observer` the one every later report goes to; returns the one it replaces."""
    global _observer  # the process-wide hook, like OpenTelemetry's global providers
    previous, _observer = _observer, observer
    return previous
