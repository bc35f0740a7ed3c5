"""THE way to end running loads early: a deadline they honour exactly as their own `timeout_s`.

A load that reaches it sends no further chunk, cuts the chunks in flight (their rows become
unprocessed, in doubt if a POST may have reached Lynn) and returns its report with a resume handle:
nothing lost (every row has an outcome or is unprocessed), nothing counted twice (a resumed chunk's
`409` rows count as accepted by the earlier attempt; see ledger.py).

The HTTP server's graceful shutdown (server/http.py) sets the process-wide `SHUTDOWN` a little
before its grace period ends, so that every cut load's report still reaches its caller. A caller
that wants its own (a test) passes another `LoadStop` in `LoadOptions.stop`.

Set it from the event loop the loads run on: listeners move their cancel scopes' deadlines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

__all__ = ["SHUTDOWN", "LoadStop"]


class LoadStop:
    """A deadline (`time.monotonic()`) and why, for loads running now and loads starting later."""

    def __init__(self) -> None:
        self._deadline: float | None = None
        self._reason = ""
        self._listeners: set[Callable[[], None]] = set()

    @property
    def deadline(self) -> float | None:
        """When loads must have stopped, or None while no stop was asked for."""
        return self._deadline

    @property
    def reason(self) -> str:
        """Why, in the words a report's message uses ("the server is shutting down")."""
        return self._reason

    def stop_by(self, deadline: float, reason: str) -> None:
        """Loads end by `deadline`; an earlier deadline asked for before stays."""
        if self._deadline is not None and self._deadline <= deadline:
            return
        self._deadline, self._reason = deadline, reason
        for listener in list(self._listeners):
            listener()

    def stop_in(self, seconds: float, reason: str) -> None:
        """`stop_by`, `seconds` from now."""
        self.stop_by(time.monotonic() + max(0.0, seconds), reason)

    def listen(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` whenever the deadline moves earlier; returns what stops listening."""
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)


SHUTDOWN: Final = LoadStop()
"""The process's own: set when the server shuts down, honoured by every load by default."""
