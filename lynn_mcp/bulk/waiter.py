"""THE task waiter: polls one Lynn task until it reaches a terminal state or a deadline passes.

Every tool that follows a task (AddCampaingData, UploadCampaignDataByTenant, ManageDnDByCampaign)
waits through `wait_for_task`; there is no other polling loop in lynn-mcp.

Polls follow the `TASK_POLL` pace (lynn/retry.py): short first steps (sandbox and small tasks
finish in milliseconds), growing to a cap. The waiter is the one place a status poll is retried:
its `fetch` makes a single attempt (`LynnClient.get_task(..., retry=False)`), and a poll answered
429/5xx, timed out or dropped does not end the wait: the waiter waits as `REQUEST_RETRY` says
(Lynn's Retry-After when given) and polls again until the deadline. A Retry-After longer than
`MAX_RETRY_AFTER_S` ends the wait with that `RateLimited` error, naming the task.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Final

import anyio

from lynn_mcp.errors import LynnError, RateLimited, Timeout, UpstreamUnavailable
from lynn_mcp.lynn.models import Task
from lynn_mcp.lynn.retry import MAX_RETRY_AFTER_S, REQUEST_RETRY, TASK_POLL, RetryPolicy, Sleep

__all__ = ["Sleep", "WaitTimedOut", "wait_for_task"]

# Errors of a status poll that are worth another poll (the GET itself is idempotent).
_TRANSIENT: Final = (RateLimited, Timeout, UpstreamUnavailable)

FetchTask = Callable[[str], Awaitable[Task]]


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
    policy: RetryPolicy = TASK_POLL,
    retry: RetryPolicy = REQUEST_RETRY,
    sleep: Sleep = anyio.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_poll: Callable[[Task], Awaitable[None]] | None = None,
) -> Task:
    """Poll `fetch(task_id)` until the task is Completed or Failed; return that last Task.

    `policy` paces the polls of a running task; `retry` sets the waits after failed polls (counted
    from the last answered one). Raises `WaitTimedOut` after `timeout_s`, a `RateLimited` whose
    Retry-After is beyond what lynn-mcp waits, and any non-transient `LynnError` (e.g. not_found)
    at once. `on_poll` sees every non-terminal state (for progress).
    """
    deadline = clock() + timeout_s
    last: Task | None = None
    polls = failures = 0
    while True:
        polls += 1
        try:
            last = await fetch(task_id)
        except _TRANSIENT as exc:
            failures += 1
            wait = retry.wait_before_retry(failures, exc.retry_after)
            if wait is None:
                raise _not_waited_for(exc, task_id) from None
        else:
            if last.is_terminal:
                return last
            failures = 0
            if on_poll is not None:
                await on_poll(last)
            wait = policy.backoff(polls)
        remaining = deadline - clock()
        if remaining <= 0:
            seen = f" (last seen {last.state}, {last.processed} of {last.total} rows)" if last else ""
            raise WaitTimedOut(f"task {task_id} did not finish within {timeout_s:g} s{seen}", last)
        await sleep(min(wait, remaining))


def _not_waited_for(error: RateLimited | Timeout | UpstreamUnavailable, task_id: str) -> RateLimited:
    """Lynn asked for a longer pause than lynn-mcp waits: give up, saying which task goes on."""
    return RateLimited(
        f"{error.message.rstrip('.')}, for longer than lynn-mcp waits ({MAX_RETRY_AFTER_S:g} s); "
        f"task {task_id} goes on at Lynn",
        hint=WaitTimedOut.default_hint,
        status=error.status,
        retry_after=error.retry_after,
    )
