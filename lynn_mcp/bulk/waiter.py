"""THE task waiter: polls one Lynn task until it reaches a terminal state or a deadline passes.

Every tool that follows a task (AddCampaingData, UploadCampaignDataByTenant, ManageDnDByCampaign)
waits through `wait_for_task`; there is no other polling loop in lynn-mcp.

Backoff starts short (sandbox and small tasks finish in milliseconds) and grows to a cap. A status
request answered 429/5xx after the client's own GET retries does not end the wait: the waiter honours
the error's `retry_after` (Lynn's Retry-After) or backs off, and polls again until the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Literal, get_args

import anyio

from lynn_mcp.errors import LynnError, RateLimited, Timeout, UpstreamUnavailable
from lynn_mcp.lynn.models import Task

__all__ = ["TerminalState", "WaitPolicy", "WaitTimedOut", "is_terminal", "wait_for_task"]

TerminalState = Literal["Completed", "Failed"]
_TERMINAL: Final = frozenset(get_args(TerminalState))
# Errors of a status poll that are worth another poll (the GET itself is idempotent).
_TRANSIENT: Final = (RateLimited, Timeout, UpstreamUnavailable)

FetchTask = Callable[[str], Awaitable[Task]]
Sleep = Callable[[float], Awaitable[None]]


def is_terminal(state: str) -> bool:
    """True for Lynn's terminal task states (Completed, Failed)."""
    return state in _TERMINAL


@dataclass(frozen=True, slots=True)
class WaitPolicy:
    """How often to poll: first after `first_s`, then times `factor`, never more than `max_s` apart."""

    # Small first steps: a 1,000-row chunk takes Lynn (and the sandbox) tens of milliseconds, and a
    # steep curve would oversleep each chunk by as much again (measured in bench/bulk_load.py).
    first_s: float = 0.01
    factor: float = 1.3
    max_s: float = 2.0
    max_retry_after_s: float = 60.0

    def delays(self) -> Callable[[], float]:
        delay = self.first_s

        def following() -> float:
            nonlocal delay
            current, delay = delay, min(self.max_s, delay * self.factor)
            return current

        return following


class WaitTimedOut(LynnError):
    """The deadline passed before the task finished; `task` is the last state seen (if any)."""

    code = "timeout"
    default_hint = "The task goes on at Lynn; follow it with its status tool, or resume the load."

    def __init__(self, message: str, task: Task | None) -> None:
        super().__init__(message)
        self.task = task


async def wait_for_task(
    fetch: FetchTask,
    task_id: str,
    *,
    timeout_s: float,
    policy: WaitPolicy = WaitPolicy(),
    sleep: Sleep = anyio.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_poll: Callable[[Task], Awaitable[None]] | None = None,
) -> Task:
    """Poll `fetch(task_id)` until the task is Completed or Failed; return that last Task.

    Raises `WaitTimedOut` after `timeout_s`, and any non-transient `LynnError` (e.g. not_found)
    at once. `on_poll` sees every non-terminal state (for progress).
    """
    deadline = clock() + timeout_s
    next_delay = policy.delays()
    last: Task | None = None
    while True:
        wait = next_delay()
        try:
            last = await fetch(task_id)
        except _TRANSIENT as exc:
            if exc.retry_after is not None:
                wait = min(exc.retry_after, policy.max_retry_after_s)
        else:
            if is_terminal(last.state):
                return last
            if on_poll is not None:
                await on_poll(last)
        remaining = deadline - clock()
        if remaining <= 0:
            seen = f" (last seen {last.state}, {last.processed} of {last.total} rows)" if last else ""
            raise WaitTimedOut(f"task {task_id} did not finish within {timeout_s:g} s{seen}", last)
        await sleep(min(wait, remaining))
