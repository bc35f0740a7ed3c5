"""The retry policy at its edges: the curves the rules allow exactly at their bounds, the refusals as
a developer reads them, and a Retry-After date in the past or read against the clock.

Written for the mutation run (scripts/mutation.sh): each test here failed against a change to
lynn/retry.py that the tables in tests/test_retry.py let through.
"""

from __future__ import annotations

import pytest

from lynn_mcp.lynn.retry import MAX_RETRY_AFTER_S, REQUEST_RETRY, RetryPolicy, parse_retry_after


def test_curves_at_the_bounds_of_the_rules_are_allowed() -> None:
    """A constant wait (first_s == max_s, factor 1) and a curve up to the 60 s cap are valid curves."""
    constant = RetryPolicy(first_s=2.0, factor=1.0, max_s=2.0)
    assert [constant.backoff(attempt) for attempt in (1, 2, 10)] == [2.0, 2.0, 2.0]
    to_the_cap = RetryPolicy(first_s=1.0, factor=2.0, max_s=MAX_RETRY_AFTER_S)
    assert to_the_cap.backoff(10) == MAX_RETRY_AFTER_S
    all_jitter = RetryPolicy(first_s=1.0, factor=1.0, max_s=1.0, jitter=1.0, random=lambda: 0.0)
    assert all_jitter.backoff(1) == 0.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"first_s": 0.5, "factor": 0.5, "max_s": 8.0}, "a retry curve's factor must be at least 1"),
        (
            {"first_s": 0.5, "factor": 2.0, "max_s": 8.0, "jitter": -0.1},
            "jitter is a share of the wait, between 0 and 1",
        ),
        ({"first_s": 0.5, "factor": 2.0, "max_s": 61.0}, "a retry curve needs 0 < first_s <= max_s <= 60 s"),
    ],
)
def test_a_curve_that_breaks_a_rule_is_refused_with_that_rule(
    arguments: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError) as refused:  # noqa: PT011 # the exact message is asserted below
        RetryPolicy(**arguments)
    assert str(refused.value) == message


def test_attempt_zero_is_refused_with_the_rule() -> None:
    with pytest.raises(ValueError) as refused:  # noqa: PT011 # the exact message is asserted below
        REQUEST_RETRY.backoff(0)
    assert str(refused.value) == "attempts count from 1"


def test_a_retry_after_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:00 GMT", now=1767225610.0) == 0.0


def test_a_retry_after_date_is_read_against_the_clock_when_no_time_is_given() -> None:
    """Lynn's answers carry no `now`: the client reads the date against the clock."""
    wait = parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT")
    assert wait is not None
    assert wait > 365 * 24 * 3600  # decades away, whatever today is
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT") == 0.0
