"""The one retry policy (lynn/retry.py): its curve, the Retry-After rule and cap, jitter, and the
Retry-After header parser, as tables."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lynn_mcp.bulk.loader import LoadOptions
from lynn_mcp.lynn.retry import (
    CHUNK_RETRY,
    MAX_RETRY_AFTER_S,
    REQUEST_RETRY,
    TASK_POLL,
    RetryPolicy,
    parse_retry_after,
)


def never_drawn() -> float:
    raise AssertionError("a policy without jitter drew a random number")


@pytest.mark.parametrize(
    ("policy", "attempt", "wait"),
    [
        (REQUEST_RETRY, 1, 0.5),
        (REQUEST_RETRY, 2, 1.0),
        (REQUEST_RETRY, 3, 2.0),
        (REQUEST_RETRY, 4, 4.0),
        (REQUEST_RETRY, 5, 8.0),
        (REQUEST_RETRY, 6, 8.0),
        (CHUNK_RETRY, 1, 0.1),
        (CHUNK_RETRY, 2, 0.2),
        (CHUNK_RETRY, 6, 3.2),
        (CHUNK_RETRY, 7, 5.0),
        (TASK_POLL, 1, 0.01),
        (TASK_POLL, 2, 0.013),
        (TASK_POLL, 3, 0.0169),
        (TASK_POLL, 20, 1.4619203),
        (TASK_POLL, 21, 1.9004964),
        (TASK_POLL, 22, 2.0),
    ],
)
def test_the_curve_without_jitter(policy: RetryPolicy, attempt: int, wait: float) -> None:
    plain = policy.without_jitter()
    assert plain.backoff(attempt) == pytest.approx(wait)
    assert plain.wait_before_retry(attempt, None) == pytest.approx(wait)


@pytest.mark.parametrize("policy", [REQUEST_RETRY, CHUNK_RETRY, TASK_POLL])
def test_a_wait_retried_for_hours_stays_at_the_cap(policy: RetryPolicy) -> None:
    # 1.3 ** 100_000 overflows a float: the curve must not.
    assert policy.without_jitter().backoff(100_000) == policy.max_s


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        (0.0, 0.0),
        (3.0, 3.0),
        (59.5, 59.5),
        (MAX_RETRY_AFTER_S, MAX_RETRY_AFTER_S),
        (MAX_RETRY_AFTER_S + 0.001, None),
        (120.0, None),
        (float("inf"), None),
    ],
)
@pytest.mark.parametrize("policy", [REQUEST_RETRY, CHUNK_RETRY, TASK_POLL])
def test_retry_after_wins_over_the_curve_up_to_the_cap_and_is_never_jittered(
    policy: RetryPolicy, retry_after: float, wait: float | None
) -> None:
    drawing = RetryPolicy(policy.first_s, policy.factor, policy.max_s, jitter=1.0, random=never_drawn)
    for attempt in (1, 2, 9):
        assert drawing.wait_before_retry(attempt, retry_after) == wait


def test_jitter_takes_at_most_its_share_off_the_curve() -> None:
    lowest = RetryPolicy(first_s=0.5, factor=2.0, max_s=8.0, jitter=0.5, random=lambda: 0.0)
    highest = RetryPolicy(first_s=0.5, factor=2.0, max_s=8.0, jitter=0.5, random=lambda: 1.0)
    assert [lowest.backoff(attempt) for attempt in (1, 2, 5, 6)] == [0.25, 0.5, 4.0, 4.0]
    assert [highest.backoff(attempt) for attempt in (1, 2, 5, 6)] == [0.5, 1.0, 8.0, 8.0]


@given(draw=st.floats(min_value=0.0, max_value=1.0, exclude_max=True), attempt=st.integers(1, 50))
def test_jittered_waits_stay_within_their_bounds(draw: float, attempt: int) -> None:
    policy = RetryPolicy(first_s=0.5, factor=2.0, max_s=8.0, jitter=0.5, random=lambda: draw)
    curve = policy.without_jitter().backoff(attempt)
    assert 0.5 * curve <= policy.backoff(attempt) <= curve


def test_without_jitter_draws_nothing_and_keeps_the_curve() -> None:
    plain = RetryPolicy(first_s=0.5, factor=2.0, max_s=8.0, jitter=0.5, random=never_drawn).without_jitter()
    assert (plain.first_s, plain.factor, plain.max_s, plain.jitter) == (0.5, 2.0, 8.0, 0.0)
    assert plain.backoff(3) == 2.0


def test_only_requests_are_jittered() -> None:
    """Many clients retrying a request together spread out; a load's chunk waits and poll pace are
    its own and stay exact (as before the policy was one)."""
    assert (REQUEST_RETRY.jitter, CHUNK_RETRY.jitter, TASK_POLL.jitter) == (0.5, 0.0, 0.0)


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({"first_s": 0.5, "factor": 2.0, "max_s": MAX_RETRY_AFTER_S + 1}, "max_s <= 60 s"),
        ({"first_s": 0.0, "factor": 2.0, "max_s": 1.0}, "0 < first_s"),
        ({"first_s": 2.0, "factor": 2.0, "max_s": 1.0}, "first_s <= max_s"),
        ({"first_s": 0.5, "factor": 0.5, "max_s": 8.0}, "factor must be at least 1"),
        ({"first_s": 0.5, "factor": 2.0, "max_s": 8.0, "jitter": 1.5}, "between 0 and 1"),
    ],
)
def test_a_curve_that_breaks_the_rules_is_refused(arguments: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        RetryPolicy(**arguments)


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        REQUEST_RETRY.backoff(0)


def test_the_loader_uses_the_named_policies_by_default() -> None:
    options = LoadOptions()
    assert options.chunk_retry is CHUNK_RETRY
    assert options.wait_policy is TASK_POLL


@pytest.mark.parametrize(
    ("header", "expected"),
    [("2", 2.0), ("0", 0.0), ("1.5", 1.5), ("", None), (None, None), ("soon", None), ("-3", 0.0)],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:10 GMT", now=1767225600.0) == 10.0
