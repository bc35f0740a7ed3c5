"""The sandbox's clock for bearer-token lifetimes: real time plus an offset that a test moves
forward (``SandboxServer.clock.advance``), so a token can expire without the test waiting for it."""

from __future__ import annotations

import threading
import time


class SandboxClock:
    """Seconds since the epoch, like ``time.time()``, that can be moved forward but never back.

    Only tokens read it (issued with ``now() + ttl``, refused once ``now()`` passes that): record
    timestamps stay on the real clock, so advancing it changes nothing else a client sees.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += seconds
