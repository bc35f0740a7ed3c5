"""Where every row of a load ends up: one outcome per input row, counted once in the tally, written
once to the results file, and remembered per chunk in the resume state a later call starts from;
and the report that sums them up.

A sent chunk's rows settle from its Lynn task, record N being the chunk's row N:
- `200`: accepted.
- `409` (a record of the campaign already): `already_in_campaign` (a re-run without resume, rows
  loaded before); but in a chunk that an earlier attempt may have reached (its answer lost, in this
  call or an earlier one) it is that attempt's row, counted as accepted: never lost, never counted
  twice. A pre-existing record in such a chunk is indistinguishable and is counted as accepted too
  (documented limitation).
- any other status: rejected, with Lynn's message.
- no record (a failed task): unprocessed, and the chunk's outcome stays unknown for `resume`.

A chunk not sent in this call is `earlier` when an earlier call confirmed it, otherwise unprocessed
(`pending`, or `unknown` when an attempt may have reached Lynn). Rows never read (the file changed or
broke) are unprocessed, `unread`, phone unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

from lynn_mcp.bulk.blocks import Block
from lynn_mcp.bulk.report import ALREADY_IN_CAMPAIGN, LoadReport, Tally
from lynn_mcp.bulk.results_file import OutcomeLine, ResultsWriter, RowOutcome
from lynn_mcp.bulk.resume import ChunkState, ResumeState
from lynn_mcp.lynn.models import Task, TaskRecord
from lynn_mcp.signing import ConfirmationSigner

__all__ = ["UNIFORM_REJECTION_MIN_ROWS", "Ledger", "uniform_rejection"]

_EARLIER_ATTEMPT: Final = "accepted by an earlier attempt whose answer was lost"
_EARLIER_CALL: Final = "settled by an earlier call; see its results file"
# A chunk at least this large whose every row Lynn rejects for one reason stops the load (the rest of
# the file would be rejected the same way); smaller chunks prove too little.
UNIFORM_REJECTION_MIN_ROWS: Final = 10


class Ledger:
    """The accounting of one load. Not thread-safe; all updates happen on the event loop.

    `tally` holds the running counts (with those of earlier calls of a resumed load), `next_state`
    the per-chunk states and counts a resume handle seals, `results` the results file (None for a
    dry run, which writes none).
    """

    def __init__(self, fingerprint: bytes, previous: ResumeState) -> None:
        self.previous = previous
        self.next_state = ResumeState(
            fingerprint,
            bytearray(previous.chunks),
            previous.earlier_accepted,
            previous.earlier_rejected.copy(),
            previous.earlier_already_in_campaign,
        )
        self.tally = Tally()
        self.tally.accepted = previous.earlier_accepted
        self.tally.already_in_campaign = previous.earlier_already_in_campaign
        self.tally.rejected_by_reason.update(previous.earlier_rejected)
        self.results: ResultsWriter | None = None
        self.settled_chunks = 0
        """Chunks settled from their task in this call."""

    def open_results(self, input_path: Path | None, path: Path | None) -> None:
        """Create the results file (see `ResultsWriter.create`)."""
        self.results = ResultsWriter.create(input_path, path=path)

    def settle_task(self, block: Block, task: Task, resent: bool) -> None:
        """Settle a sent block from its chunk's finished task (`resent`: an earlier attempt may have
        reached Lynn). Rows with a record are settled; rows without stay unprocessed."""
        index = block.index
        assert index is not None
        rows = block.rows
        records = task.records
        # Record N is for the chunk's row N. Lynn lists them in that order, one per row, so they pair
        # up by position (no dict of records by row); anything else takes the general path.
        in_order = len(records) == len(rows) and [record.row for record in records] == list(
            range(1, len(rows) + 1)
        )
        outcomes: list[OutcomeLine] = list(block.local)
        accepted = already = 0
        rejected: dict[str, int] = {}
        missing = 0
        if in_order and all(record.status == "200" for record in records):  # the usual chunk
            outcomes += [(row_no, phone, "accepted", "200", "") for row_no, phone in rows]
            accepted = len(rows)
        else:
            paired: Iterable[tuple[tuple[int, str], TaskRecord | None]]
            if in_order:
                paired = zip(rows, records, strict=True)
            else:
                by_row = {record.row: record for record in records}
                paired = ((row, by_row.get(number)) for number, row in enumerate(rows, start=1))
            append = outcomes.append
            for (row_no, phone), record in paired:
                if record is None:
                    missing += 1
                    append(RowOutcome(row_no, phone, "unprocessed", "unknown", "no record"))
                    continue
                status = record.status
                if status == "200":
                    accepted += 1
                    append((row_no, phone, "accepted", "200", ""))
                elif status == ALREADY_IN_CAMPAIGN and resent:
                    accepted += 1
                    append(RowOutcome(row_no, phone, "accepted", status, _EARLIER_ATTEMPT))
                elif status == ALREADY_IN_CAMPAIGN:
                    already += 1
                    append(RowOutcome(row_no, phone, "already_in_campaign", status, record.message or ""))
                else:
                    rejected[status] = rejected.get(status, 0) + 1
                    self.tally.reject(row_no, status, record.message)
                    append(RowOutcome(row_no, phone, "rejected", status, record.message or ""))
        self.tally.accepted += accepted
        self.tally.already_in_campaign += already
        self.tally.unprocessed += missing
        if self.tally.campaign_id is None:
            self.tally.campaign_id = task.campaign_id
        if missing:
            self.next_state.set(index, ChunkState.UNKNOWN)
        else:
            self.next_state.set(index, ChunkState.CONFIRMED)
            self.next_state.earlier_accepted += accepted
            self.next_state.earlier_already_in_campaign += already
            self.next_state.earlier_rejected.update(rejected)
        self.settled_chunks += 1
        if self.results is not None:
            self.results.add(outcomes)
        block.settled = True

    def settle_unsent(self, block: Block) -> None:
        """Settle a block not sent in this call: confirmed by an earlier call, or unprocessed (a dry
        run, a load that stopped)."""
        outcomes = list(block.local)
        index = block.index
        earlier = index is not None and self.previous.state(index) is ChunkState.CONFIRMED
        if earlier:
            note = _EARLIER_CALL
            outcomes += [RowOutcome(row_no, phone, "earlier", "", note) for row_no, phone in block.rows]
        else:
            status = "unknown" if block.uncertain else "pending"
            outcomes += [RowOutcome(row_no, phone, "unprocessed", status) for row_no, phone in block.rows]
            self.tally.unprocessed += len(block.rows)
            if index is not None:
                self.next_state.set(index, ChunkState.UNKNOWN if block.uncertain else ChunkState.PENDING)
        if self.results is not None:
            self.results.add(outcomes)
        block.settled = True

    def settle_unread(self, unread: range, reason: str) -> None:
        """Rows the load never read (the file changed or broke): unprocessed, phone unknown."""
        self.tally.unprocessed += len(unread)
        if self.results is not None:
            note = f"not read: {reason}"
            self.results.add([RowOutcome(row_no, "", "unprocessed", "unread", note) for row_no in unread])

    def report(
        self,
        total: int,
        *,
        elapsed_s: float,
        signer: ConfirmationSigner | None,
        notes: list[str],
        stop_reason: str | None,
        stop_hint: str | None,
    ) -> LoadReport:
        """Close the results file (checking it holds all `total` rows) and sum the load up. `signer`
        seals a resume handle when rows are unprocessed; None for a dry run, which resumes nothing.
        The message is `notes`, then why the load stopped and what to do next."""
        path: str | None = None
        if self.results is not None:
            self.results.close(expected_rows=total)
            path = str(self.results.path)
        tally = self.tally
        resume = None
        if tally.unprocessed and signer is not None:
            resume = self.next_state.seal(signer)
        sentences = list(notes)
        if signer is None:
            state = "DryRun"
            sentences.append(f"Dry run: {tally.unprocessed} row(s) would be sent; nothing was sent.")
        else:
            state = "Completed" if tally.unprocessed == 0 else "Incomplete"
            if stop_reason is not None:
                sentences.append(f"Stopped: {stop_reason.rstrip('.')}.")
            if stop_hint is not None:
                sentences.append(stop_hint)
            elif tally.unprocessed:
                sentences.append("Call again with the same arguments and resume to finish.")
        message = " ".join(sentences) or None
        return tally.report(
            state, total, elapsed_s=elapsed_s, results_path=path, resume=resume, message=message
        )


def uniform_rejection(records: list[TaskRecord], rows: int) -> str | None:
    """Why a load stops when Lynn rejected every one of the `rows` of the first chunk settled (at
    least `UNIFORM_REJECTION_MIN_ROWS`) with status 400 and one and the same message; else None."""
    if rows < UNIFORM_REJECTION_MIN_ROWS or len(records) != rows:
        return None
    reasons = {(record.status, record.message) for record in records}
    if len(reasons) != 1:
        return None
    status, message = reasons.pop()
    if status != "400":
        return None
    said = f" ({message})" if message else ""
    return (
        f"Lynn rejected all {rows} rows of the first chunk for the same reason{said}; the rest was not sent"
    )
