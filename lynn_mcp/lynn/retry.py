"""THE retry policy: how long every loop in lynn-mcp that waits to try again waits.

Three loops wait, and each asks a `RetryPolicy`, under its own name:

* `REQUEST_RETRY`: `LynnClient` retrying a safe request (see client.py for which ones), and the task
  waiter after a failed status poll (the waiter is the one place a poll is retried; the client makes
  its polls single attempts).
* `CHUNK_RETRY`: the bulk loader sending a chunk again after a 429, a 5xx or a lost answer.
* `TASK_POLL`: the task waiter's pace between status polls of a running task.

One curve: after failed attempt n (1 = the first) the wait is `min(max_s, first_s * factor**(n-1))`,
less a random share of up to `jitter` of it (so clients that failed together do not come back
together). The random source is a field, so tests switch jitter off (`without_jitter()`).

One Retry-After rule, for all three: when Lynn says how long to wait, that wins over the curve, up to
`MAX_RETRY_AFTER_S`. Above it, nothing waits and nothing is sent early: `wait_before_retry` answers
None and the caller gives up with Lynn's error, whose `retry_after` tells the agent (or a resume)
when to come back. Why not clamp to the cap and try anyway (what the loader and the waiter used to
do): Lynn asked not to be asked before then, so an early attempt most likely costs another 429 and
breaks the one promise Retry-After asks for; and waiting longer than a minute inside one tool call
holds the agent's call past what MCP clients tolerate. The curves never exceed the cap either.

Attempt budgets stay with the callers (LYNN_MAX_RETRIES for a request, `LoadOptions.max_attempts`
for a chunk, the deadline for a wait): they are settings of a call, not of the curve.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Final

__all__ = [
    "CHUNK_RETRY",
    "MAX_RETRY_AFTER_S",
    "REQUEST_RETRY",
    "TASK_POLL",
    "RetryPolicy",
    "Sleep",
    "parse_retry_after",
]

MAX_RETRY_AFTER_S: Final = 60.0
"""The longest wait lynn-mcp accepts from Lynn's Retry-After, and the ceiling of every curve."""

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try again: a capped exponential curve with optional jitter, and Retry-After up to the cap."""

    first_s: float
    """The wait after the first failed attempt (before jitter)."""
    factor: float
    """Each further wait is this many times the previous one..."""
    max_s: float
    """...up to this (at most `MAX_RETRY_AFTER_S`)."""
    jitter: float = 0.0
    """The share of each wait drawn at random: a wait falls in `[(1 - jitter) * curve, curve]`."""
    random: Callable[[], float] = field(default=random.random, compare=False, repr=False)
    """Where the jitter comes from: a number in [0, 1)."""

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.max_s <= MAX_RETRY_AFTER_S:
            raise ValueError(f"a retry curve needs 0 < first_s <= max_s <= {MAX_RETRY_AFTER_S:g} s")
        if self.factor < 1:
            raise ValueError("a retry curve's factor must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a share of the wait, between 0 and 1")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (1 = the first), from the curve alone."""
        if attempt < 1:
            raise ValueError("attempts count from 1")
        try:
            curve = min(self.max_s, self.first_s * self.factor ** (attempt - 1))
        except OverflowError:  # a wait retried for hours: the curve reached its cap long ago
            curve = self.max_s
        if not self.jitter:
            return curve
        return curve * (1.0 - self.jitter * (1.0 - self.random()))

    def wait_before_retry(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait after failed attempt `attempt` before the next one, or None: do not retry.

        Lynn's `retry_after` (seconds), when given, wins over the curve; None when it is longer than
        `MAX_RETRY_AFTER_S` (the caller gives up with the error, which carries `retry_after`).
        """
        if retry_after is None:
            return self.backoff(attempt)
        if retry_after > MAX_RETRY_AFTER_S:
            return None
        return max(0.0, retry_after)

    def without_jitter(self) -> RetryPolicy:
        """The same curve with every wait at its full length (tests)."""
        return replace(self, jitter=0.0)


REQUEST_RETRY: Final = RetryPolicy(first_s=0.5, factor=2.0, max_s=8.0, jitter=0.5)
"""A safe request (or a status poll) that failed: about 0.5 s, 1 s, 2 s ... up to 8 s, each 50-100 %
of that, so many clients that failed together spread out."""

CHUNK_RETRY: Final = RetryPolicy(first_s=0.1, factor=2.0, max_s=5.0)
"""A chunk POST that failed: 0.1 s, 0.2 s ... up to 5 s. It starts short because most failures of a
long load are a single dropped answer, and every chunk in flight waits on its own."""

TASK_POLL: Final = RetryPolicy(first_s=0.01, factor=1.3, max_s=2.0)
"""The pace of status polls of a running task: 10 ms, 13 ms ... up to 2 s. Small first steps: a
1,000-row chunk takes Lynn (and the sandbox) tens of milliseconds, and a steep curve would oversleep
each chunk by as much again (measured in bench/bulk_load.py)."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
