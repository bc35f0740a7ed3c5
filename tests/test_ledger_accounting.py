"""The ledger's accounting, row by row: what each task record makes of a row (in the results file, the
counts and the resume state), what a chunk never sent or never read becomes, and the report's
message and state. Real results files in tmp_path, read back.

The loads in tests/server/test_bulk_outcomes.py show the same rules through the SDK client; these
pin down each rule on its own, which a mutation run (scripts/mutation.sh) showed they did not:
a re-sent chunk's 409s counted as rejections, a chunk missing a record confirmed anyway, a
resumed load forgetting an earlier call's counts all went unnoticed there.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from lynn_mcp.bulk.blocks import Block
from lynn_mcp.bulk.ledger import UNIFORM_REJECTION_MIN_ROWS, Ledger, uniform_rejection
from lynn_mcp.bulk.results_file import RowOutcome
from lynn_mcp.bulk.resume import ChunkState, ResumeState
from lynn_mcp.lynn.models import Task, TaskRecord
from lynn_mcp.signing import ConfirmationSigner

FINGERPRINT = b"f" * 16
SIGNER = ConfirmationSigner("k" * 32)
EARLIER_ATTEMPT = "accepted by an earlier attempt whose answer was lost"


def record(row: int, status: str, message: str | None = None) -> TaskRecord:
    return TaskRecord(row=row, Status=status, message=message)


def task(*records: TaskRecord, campaign_id: str | None = "campaign-1") -> Task:
    return Task(task_id="t", state="Completed", records=list(records), campaign_id=campaign_id)


def block(index: int | None, first_row: int, phones: list[str], *, local: Sequence[RowOutcome] = ()) -> Block:
    rows = [(first_row + offset, phone) for offset, phone in enumerate(phones)]
    return Block(index=index, rows=rows, local=list(local))


def lines(path: Path) -> list[tuple[str, ...]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [tuple(line) for line in csv.reader(handle)][1:]


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    ledger = Ledger(FINGERPRINT, ResumeState(FINGERPRINT))
    ledger.open_results(None, tmp_path / "results.csv")
    return ledger


def test_a_chunk_lynn_accepted_whole(ledger: Ledger, tmp_path: Path) -> None:
    sent = block(0, 1, ["56900000001", "56900000002"])
    ledger.settle_task(sent, task(record(1, "200"), record(2, "200")), resent=False)

    assert sent.settled
    assert (ledger.tally.accepted, ledger.tally.unprocessed, ledger.settled_chunks) == (2, 0, 1)
    assert ledger.tally.campaign_id == "campaign-1"
    assert ledger.next_state.state(0) is ChunkState.CONFIRMED
    assert ledger.next_state.earlier_accepted == 2
    report = ledger.report(2, elapsed_s=0.5, signer=SIGNER, notes=[], stop_reason=None, stop_hint=None)
    assert (report.state, report.accepted, report.resume, report.message) == ("Completed", 2, None, None)
    assert report.results_path == str(tmp_path / "results.csv")
    assert lines(tmp_path / "results.csv") == [
        ("1", "56900000001", "accepted", "200", ""),
        ("2", "56900000002", "accepted", "200", ""),
    ]


@pytest.mark.parametrize("in_order", [True, False])
def test_each_record_status_settles_its_own_row(ledger: Ledger, tmp_path: Path, in_order: bool) -> None:
    """200 accepted, 409 already in the campaign, anything else rejected with Lynn's message; the
    same whether Lynn lists the records in row order or not."""
    records = [
        record(1, "200"),
        record(2, "409", "already there"),
        record(3, "400", "bad date"),
        record(4, "403", "blacklisted"),
        record(5, "200"),
        record(6, "409"),
        record(7, "400"),  # a second rejection of one kind, without a message
    ]
    sent = block(0, 1, [f"5690000000{n}" for n in range(1, 8)])
    ledger.settle_task(sent, task(*(records if in_order else reversed(records))), resent=False)

    tally = ledger.tally
    assert (tally.accepted, tally.already_in_campaign, tally.rejected, tally.unprocessed) == (2, 2, 3, 0)
    assert tally.rejected_by_reason == Counter({"400": 2, "403": 1})
    assert [text for _, text in tally.examples][:2] == ["row 3: 400 bad date", "row 4: 403 blacklisted"]
    state = ledger.next_state
    assert state.state(0) is ChunkState.CONFIRMED
    assert (state.earlier_accepted, state.earlier_already_in_campaign) == (2, 2)
    assert state.earlier_rejected == Counter({"400": 2, "403": 1})
    ledger.report(7, elapsed_s=0.0, signer=SIGNER, notes=[], stop_reason=None, stop_hint=None)
    assert lines(tmp_path / "results.csv") == [
        ("1", "56900000001", "accepted", "200", ""),
        ("2", "56900000002", "already_in_campaign", "409", "already there"),
        ("3", "56900000003", "rejected", "400", "bad date"),
        ("4", "56900000004", "rejected", "403", "blacklisted"),
        ("5", "56900000005", "accepted", "200", ""),
        ("6", "56900000006", "already_in_campaign", "409", ""),
        ("7", "56900000007", "rejected", "400", ""),
    ]


def test_a_resent_chunks_409s_are_its_own_rows_accepted(ledger: Ledger, tmp_path: Path) -> None:
    """An earlier attempt whose answer was lost stored these rows: their 409 is that attempt's."""
    sent = block(0, 1, ["56900000001", "56900000002", "56900000003"])
    records = (record(1, "409", "exists"), record(2, "200"), record(3, "400", "bad"))
    ledger.settle_task(sent, task(*records), resent=True)

    tally = ledger.tally
    assert (tally.accepted, tally.already_in_campaign, tally.rejected) == (2, 0, 1)
    assert ledger.next_state.earlier_accepted == 2
    assert ledger.next_state.earlier_already_in_campaign == 0
    ledger.report(3, elapsed_s=0.0, signer=SIGNER, notes=[], stop_reason=None, stop_hint=None)
    assert lines(tmp_path / "results.csv") == [
        ("1", "56900000001", "accepted", "409", EARLIER_ATTEMPT),
        ("2", "56900000002", "accepted", "200", ""),
        ("3", "56900000003", "rejected", "400", "bad"),
    ]


def test_a_row_without_a_record_stays_unprocessed_and_its_chunk_unknown(
    ledger: Ledger, tmp_path: Path
) -> None:
    sent = block(3, 1, ["56900000001", "56900000002", "56900000003"])
    ledger.settle_task(sent, task(record(3, "200"), record(1, "400", "bad")), resent=False)

    tally = ledger.tally
    assert (tally.accepted, tally.rejected, tally.unprocessed) == (1, 1, 1)
    state = ledger.next_state
    assert state.state(3) is ChunkState.UNKNOWN  # resume sends it again
    # Nothing of an unsettled chunk is remembered as settled: the resume counts it when it settles.
    assert (state.earlier_accepted, state.earlier_rejected) == (0, Counter())
    report = ledger.report(3, elapsed_s=0.0, signer=SIGNER, notes=[], stop_reason=None, stop_hint=None)
    assert report.state == "Incomplete"
    assert report.resume is not None
    assert ResumeState.unseal(SIGNER, report.resume, FINGERPRINT).state(3) is ChunkState.UNKNOWN
    assert report.message == "Call again with the same arguments and resume to finish."
    assert lines(tmp_path / "results.csv") == [
        ("1", "56900000001", "rejected", "400", "bad"),
        ("2", "56900000002", "unprocessed", "unknown", "no record"),
        ("3", "56900000003", "accepted", "200", ""),
    ]


def test_a_missing_record_is_noticed_when_every_other_row_was_accepted(
    ledger: Ledger, tmp_path: Path
) -> None:
    sent = block(0, 1, ["56900000001", "56900000002", "56900000003"])
    ledger.settle_task(sent, task(record(1, "200"), record(3, "200")), resent=False)
    assert (ledger.tally.accepted, ledger.tally.unprocessed) == (2, 1)
    assert ledger.next_state.state(0) is ChunkState.UNKNOWN
    ledger.report(3, elapsed_s=0.0, signer=SIGNER, notes=[], stop_reason=None, stop_hint=None)
    assert [line[2] for line in lines(tmp_path / "results.csv")] == ["accepted", "unprocessed", "accepted"]


def test_every_row_without_a_record_is_counted(ledger: Ledger) -> None:
    sent = block(0, 1, ["56900000001", "56900000002", "56900000003", "56900000004"])
    ledger.settle_task(sent, task(record(2, "200")), resent=False)
    assert (ledger.tally.accepted, ledger.tally.unprocessed) == (1, 3)


def test_rows_rejected_before_sending_are_written_with_their_chunk(ledger: Ledger, tmp_path: Path) -> None:
    local = [RowOutcome(1, "12", "rejected", "invalid_phone", "too short")]
    ledger.tally.reject(1, "invalid_phone", "too short")  # as the block reader counts it
    sent = block(0, 2, ["56900000002"], local=local)
    ledger.settle_task(sent, task(record(1, "200")), resent=False)
    ledger.report(2, elapsed_s=0.0, signer=SIGNER, notes=[], stop_reason=None, stop_hint=None)
    assert lines(tmp_path / "results.csv") == [
        ("1", "12", "rejected", "invalid_phone", "too short"),
        ("2", "56900000002", "accepted", "200", ""),
    ]


def test_the_first_campaign_named_is_the_reports(ledger: Ledger) -> None:
    ledger.settle_task(block(0, 1, ["56900000001"]), task(record(1, "200"), campaign_id=None), resent=False)
    assert ledger.tally.campaign_id is None
    ledger.settle_task(block(1, 2, ["56900000002"]), task(record(1, "200"), campaign_id="c-1"), resent=False)
    ledger.settle_task(block(2, 3, ["56900000003"]), task(record(1, "200"), campaign_id="c-2"), resent=False)
    assert ledger.tally.campaign_id == "c-1"
    assert ledger.settled_chunks == 3


def test_a_resumed_load_starts_from_the_earlier_calls_counts(tmp_path: Path) -> None:
    """Chunk 0 (rows 1-3) was settled by an earlier call; chunk 1 (rows 4-5) may have reached Lynn."""
    previous = ResumeState(FINGERPRINT, bytearray([ChunkState.CONFIRMED, ChunkState.UNKNOWN]), 1)
    previous.earlier_rejected.update({"400": 1})
    previous.earlier_already_in_campaign = 1
    ledger = Ledger(FINGERPRINT, previous)
    ledger.open_results(None, tmp_path / "results.csv")

    tally = ledger.tally
    assert (tally.accepted, tally.already_in_campaign, tally.rejected_by_reason) == (
        1,
        1,
        Counter({"400": 1}),
    )
    ledger.settle_unsent(block(0, 1, ["56900000001", "56900000002", "56900000003"]))
    again = block(1, 4, ["56900000004", "56900000005"])
    ledger.settle_task(again, task(record(1, "409"), record(2, "400", "no")), resent=True)

    assert previous.earlier_rejected == Counter({"400": 1})  # the handle it came from is not changed
    assert ledger.next_state.earlier_rejected == Counter({"400": 2})
    assert (ledger.next_state.earlier_accepted, ledger.next_state.earlier_already_in_campaign) == (2, 1)
    report = ledger.report(5, elapsed_s=0.0, signer=SIGNER, notes=[], stop_reason=None, stop_hint=None)
    assert (report.submitted, report.accepted, report.already_in_campaign, report.rejected) == (5, 2, 1, 2)
    assert (report.state, report.unprocessed) == ("Completed", 0)
    earlier = "settled by an earlier call; see its results file"
    assert lines(tmp_path / "results.csv") == [
        ("1", "56900000001", "earlier", "", earlier),
        ("2", "56900000002", "earlier", "", earlier),
        ("3", "56900000003", "earlier", "", earlier),
        ("4", "56900000004", "accepted", "409", EARLIER_ATTEMPT),
        ("5", "56900000005", "rejected", "400", "no"),
    ]


def test_a_chunk_settled_earlier_keeps_the_rows_rejected_around_it(tmp_path: Path) -> None:
    ledger = Ledger(FINGERPRINT, ResumeState(FINGERPRINT, bytearray([ChunkState.CONFIRMED]), 2))
    ledger.open_results(None, tmp_path / "results.csv")
    ledger.tally.reject(1, "invalid_phone", "too short")  # checked again by this call's reader
    local = [RowOutcome(1, "12", "rejected", "invalid_phone", "too short")]
    ledger.settle_unsent(block(0, 2, ["56900000002", "56900000003"], local=local))
    report = ledger.report(3, elapsed_s=0.0, signer=SIGNER, notes=[], stop_reason=None, stop_hint=None)
    assert (report.accepted, report.rejected, report.unprocessed) == (2, 1, 0)
    assert [line[2] for line in lines(tmp_path / "results.csv")] == ["rejected", "earlier", "earlier"]


def test_chunks_not_sent_are_pending_or_unknown(ledger: Ledger, tmp_path: Path) -> None:
    never = block(0, 1, ["56900000001"])
    maybe = block(1, 2, ["56900000002", "56900000003"])
    maybe.uncertain = True
    nothing_to_send = block(None, 4, [], local=[RowOutcome(4, "x", "rejected", "invalid_phone", "")])
    ledger.tally.reject(4, "invalid_phone", None)  # as the block reader counts it
    for unsent in (never, maybe, nothing_to_send):
        ledger.settle_unsent(unsent)
        assert unsent.settled

    assert ledger.tally.unprocessed == 3
    assert (ledger.next_state.state(0), ledger.next_state.state(1)) == (
        ChunkState.PENDING,
        ChunkState.UNKNOWN,
    )
    assert len(ledger.next_state.chunks) == 2
    report = ledger.report(
        4,
        elapsed_s=1.23456,
        signer=SIGNER,
        notes=["A note."],
        stop_reason="Lynn refused FAX.",
        stop_hint=None,
    )
    assert report.elapsed_s == 1.235
    # Lynn's reason whole, its own last period not doubled.
    assert (
        report.message
        == "A note. Stopped: Lynn refused FAX. Call again with the same arguments and resume to finish."
    )
    assert lines(tmp_path / "results.csv") == [
        ("1", "56900000001", "unprocessed", "pending", ""),
        ("2", "56900000002", "unprocessed", "unknown", ""),
        ("3", "56900000003", "unprocessed", "unknown", ""),
        ("4", "x", "rejected", "invalid_phone", ""),
    ]


def test_rows_never_read_are_unprocessed_with_the_reason(ledger: Ledger, tmp_path: Path) -> None:
    ledger.settle_task(block(0, 1, ["56900000001"]), task(record(1, "200")), resent=False)
    ledger.settle_unread(range(2, 5), "the file changed")
    assert ledger.tally.unprocessed == 3
    report = ledger.report(
        4, elapsed_s=0.0, signer=SIGNER, notes=[], stop_reason="the file changed", stop_hint="Start anew."
    )
    assert report.message == "Stopped: the file changed. Start anew."
    assert report.resume is not None
    assert lines(tmp_path / "results.csv")[1:] == [
        (str(row), "", "unprocessed", "unread", "not read: the file changed") for row in (2, 3, 4)
    ]


def test_a_results_file_missing_rows_fails_the_report(ledger: Ledger) -> None:
    ledger.settle_task(block(0, 1, ["56900000001"]), task(record(1, "200")), resent=False)
    with pytest.raises(ValueError, match=r"lacks rows 2\.\.3"):
        ledger.report(3, elapsed_s=0.0, signer=SIGNER, notes=[], stop_reason=None, stop_hint=None)


def test_a_dry_run_reports_what_would_be_sent_and_seals_nothing() -> None:
    ledger = Ledger(FINGERPRINT, ResumeState(FINGERPRINT))  # a dry run writes no results file
    ledger.settle_unsent(block(0, 1, ["56900000001", "56900000002"]))
    report = ledger.report(
        2, elapsed_s=0.0, signer=None, notes=[], stop_reason="ignored", stop_hint="ignored"
    )
    assert (report.state, report.unprocessed, report.resume, report.results_path) == ("DryRun", 2, None, None)
    assert report.message == "Dry run: 2 row(s) would be sent; nothing was sent."


def test_a_whole_first_chunk_rejected_for_one_reason_stops_the_load() -> None:
    rows = UNIFORM_REJECTION_MIN_ROWS
    same = [record(n, "400", "unknown column X") for n in range(1, rows + 1)]
    assert uniform_rejection(same, rows) == (
        f"Lynn rejected all {rows} rows of the first chunk for the same reason (unknown column X); "
        "the rest was not sent"
    )
    silent = [record(n, "400") for n in range(1, rows + 1)]
    assert uniform_rejection(silent, rows) == (
        f"Lynn rejected all {rows} rows of the first chunk for the same reason; the rest was not sent"
    )
    assert uniform_rejection(same[:-1], rows - 1) is None  # too few rows to tell
    assert uniform_rejection(same[:-1], rows) is None  # a row without a record
    assert uniform_rejection([*same[:-1], record(rows, "400", "other")], rows) is None
    assert uniform_rejection([record(n, "403", "blacklisted") for n in range(1, rows + 1)], rows) is None
