"""The report every bulk tool returns (bulk/report.py): the accounting check that refuses a report whose
counts do not add up, a Lynn task in that shape (a running one has rows unprocessed), and what keeps
a report small (examples, task ids, message).

Written for the mutation run (scripts/mutation.sh): the loads in the other tests build reports
whose counts add up anyway, so a report check removed or a running task's rows reported as settled
went unnoticed there.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lynn_mcp.bulk.report import (
    EXAMPLES_SHOWN,
    LoadReport,
    Tally,
    TaskReport,
    cap_message,
    example,
)
from lynn_mcp.lynn.models import Task, TaskRecord


def records(*statuses: str) -> list[TaskRecord]:
    return [TaskRecord(row=n, Status=status, message=f"m{n}") for n, status in enumerate(statuses, start=1)]


@pytest.mark.parametrize(
    "counts",
    [
        {"submitted": 5, "accepted": 2, "rejected": 0, "unprocessed": 2},
        {"submitted": 5, "accepted": 2, "already_in_campaign": 2, "rejected": 0, "unprocessed": 2},
        {"submitted": 3, "accepted": 4, "rejected": 0, "unprocessed": 0},
    ],
)
def test_a_report_whose_counts_do_not_add_up_is_refused(counts: dict[str, int]) -> None:
    with pytest.raises(ValidationError, match="accounting error: submitted"):
        LoadReport(state="Completed", **counts)


def test_rejections_must_add_up_to_their_reasons() -> None:
    with pytest.raises(ValidationError, match="rejected_by_reason does not sum to rejected"):
        TaskReport(
            state="Completed",
            submitted=2,
            accepted=0,
            rejected=2,
            unprocessed=0,
            rejected_by_reason={"400": 1},
        )
    fine = TaskReport(
        state="Completed", submitted=3, accepted=0, already_in_campaign=1, rejected=2, unprocessed=0,
        rejected_by_reason={"400": 1, "403": 1},
    )  # fmt: skip
    assert fine.rejected == 2


def test_a_running_task_has_its_rows_without_a_record_unprocessed() -> None:
    running = Task(
        task_id="t-9",
        state="Running",
        total=10,
        records=records("200", "409", "400"),
        campaign_id="c",
        message="m",
    )
    report = TaskReport.of_task(running)
    assert (report.state, report.submitted, report.accepted, report.already_in_campaign) == (
        "Running",
        10,
        1,
        1,
    )
    assert (report.rejected, report.unprocessed, report.rejected_by_reason) == (1, 7, {"400": 1})
    assert (report.examples, report.task_ids, report.campaign_id, report.message) == (
        ["row 3: 400 m3"],
        ["t-9"],
        "c",
        "m",
    )


def test_a_task_with_more_records_than_its_total_counts_every_record() -> None:
    report = TaskReport.of_task(Task(task_id="t", state="Completed", total=1, records=records("200", "200")))
    assert (report.submitted, report.accepted, report.unprocessed) == (2, 2, 0)


def test_a_task_becomes_a_load_report_with_extra_fields() -> None:
    report = LoadReport.of_task(
        Task(task_id="t", state="Completed", total=1, records=records("200")), elapsed_s=1.5
    )
    assert isinstance(report, LoadReport)
    assert report.elapsed_s == 1.5


def test_empty_fields_are_left_out_of_what_a_tool_returns() -> None:
    plain = Tally().report("Completed", 0).model_dump()
    assert "already_in_campaign" not in plain
    assert {"task_count", "campaign_id", "message", "elapsed_s", "results_path", "resume"}.isdisjoint(plain)
    tally = Tally()
    tally.already_in_campaign = 1
    tally.campaign_id = "c"
    full = tally.report(
        "Completed", 1, elapsed_s=0.25, results_path="r.csv", resume="h", message="m"
    ).model_dump()
    assert {
        key: full[key] for key in ("already_in_campaign", "campaign_id", "elapsed_s", "results_path")
    } == {
        "already_in_campaign": 1,
        "campaign_id": "c",
        "elapsed_s": 0.25,
        "results_path": "r.csv",
    }
    assert (full["resume"], full["message"]) == ("h", "m")


def test_examples_are_capped_and_shown_in_row_order() -> None:
    tally = Tally()
    for row in range(EXAMPLES_SHOWN + 5, 0, -1):  # rows arrive out of order, as chunks finish
        tally.reject(row, "400" if row % 2 else "invalid_phone", None if row % 3 else "why")
    report = tally.report("Completed", EXAMPLES_SHOWN + 5)
    assert report.rejected == EXAMPLES_SHOWN + 5
    assert len(report.examples) == EXAMPLES_SHOWN
    rows = [int(text.split(":")[0].removeprefix("row ")) for text in report.examples]
    assert rows == sorted(rows)
    assert rows[-1] == EXAMPLES_SHOWN + 5  # the first 20 rejected, not the first 20 rows
    assert list(report.rejected_by_reason) == ["400", "invalid_phone"]  # sorted


def test_task_ids_show_the_first_and_last_ten_and_how_many() -> None:
    few = Tally()
    few.task_ids.extend(f"t{n}" for n in range(20))
    shown = few.report("Completed", 0)
    assert (shown.task_ids, shown.task_count) == ([f"t{n}" for n in range(20)], None)
    many = Tally()
    many.task_ids.extend(f"t{n}" for n in range(25))
    report = many.report("Completed", 0)
    assert report.task_ids == [*(f"t{n}" for n in range(10)), *(f"t{n}" for n in range(15, 25))]
    assert report.task_count == 25


def test_a_long_message_is_cut_to_a_thousand_characters() -> None:
    assert cap_message("x" * 1000) == "x" * 1000
    # Cut at 999 characters, the spaces before the cut dropped, then the ellipsis.
    assert cap_message("x" * 997 + "  " + "y" * 10) == "x" * 997 + "…"
    assert cap_message("y" * 1001) == "y" * 999 + "…"
    assert Tally().report("Completed", 0, message="z" * 2000).message == "z" * 999 + "…"


def test_an_example_names_the_row_the_status_and_the_message() -> None:
    assert example(12, "403", "on the blacklist") == "row 12: 403 on the blacklist"
    assert example(3, "invalid_phone", None) == "row 3: invalid_phone"
    assert example(4, "400", "") == "row 4: 400"
