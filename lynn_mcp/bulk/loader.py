"""The bulk engine: validate rows while streaming them, send chunks with a bounded number in flight,
wait for each chunk's task, and account for every row (accepted, already in the campaign, rejected or
unprocessed).

Rows are read into blocks (`lynn_mcp.bulk.blocks`: one chunk to send and the local rejections around
it) and settled in the load's ledger (`lynn_mcp.bulk.ledger`: the tally, the results file and the
resume state).

Sending one chunk (at most `max_attempts` POSTs, waiting as `chunk_retry` says between them):
- 429: wait `retry_after` and send again; Lynn did not act on it. A Retry-After beyond what lynn-mcp
  waits (lynn/retry.py) stops the load there, with a report and a resume handle.
- no answer after sending (timeout, dropped connection) or a 5xx: the outcome is unknown, so the
  chunk is sent again and its `409` rows count as accepted by the earlier attempt (see `ledger`).
- any other refusal (400, 401, 403, 404): the load stops; nothing more is sent.

Once anything may have reached Lynn, every way a load ends is a report (never a bare error): a
refusal, a file that changed or could not be read further, a timeout, a stop (`LoadOptions.stop`:
the server shutting down; see stopping.py), a cancellation. Rows never sent are `unprocessed` and
the report carries a resume handle. A stop is honoured as the timeout is: its deadline, when
earlier, becomes the load's and that of the chunks already in flight. A file that changes while it
is read stops the load before the next chunk is sent (its size, times and inode are compared per
chunk), and rows never read are reported as `unread`. If the first chunk settled in a call has
every row rejected by Lynn for one and the same reason (a header the template does not have,
typically), the load stops there instead of sending the rest.

Two bounds, because a POST and a task are different costs:
- `max_in_flight` chunks are being POSTed at once; each holds its rows for a possible re-send.
- `max_pending_tasks` chunks are sent and awaiting their Lynn task; each holds only its row numbers
  and phones (a chunk whose POST was answered is never re-sent in this call; an unfinished task is
  re-sent by `resume`, which reads the rows again). Sending goes on while earlier tasks run, so a
  task waiter never holds a POST slot.

Tasks are awaited roughly in the order their chunks were read: a chunk starts polling once the chunk
`max_in_flight` before it is settled, so at most `max_in_flight` tasks are polled at once. Lynn runs
a tenant's tasks one after another, so polling far ahead would only ask about tasks not yet started;
polling one at a time would cost a round trip per chunk in series (with 30 ms to Lynn, 100,000 rows
took 2.8 times as long as the bare POSTs; see bench/bulk_load.py --latency-ms). The results file takes blocks
in any order, so a task that finishes early settles early; the file buffers the few blocks ahead.

Memory is bounded by `max_in_flight + 1` chunks of rows, `max_pending_tasks` chunks of phones, and
the duplicate-phone set of the row checker.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import anyio
import anyio.lowlevel

from lynn_mcp.bulk.blocks import Block as _Block
from lynn_mcp.bulk.blocks import BlockReader, Pause
from lynn_mcp.bulk.checks import CheckedRow
from lynn_mcp.bulk.file_access import USER_FILES, FileAccess
from lynn_mcp.bulk.ledger import Ledger, uniform_rejection
from lynn_mcp.bulk.report import LoadReport, Tally, cap_message
from lynn_mcp.bulk.resume import ChunkState, ResumeState
from lynn_mcp.bulk.sources import LoadSource
from lynn_mcp.bulk.stopping import SHUTDOWN, LoadStop
from lynn_mcp.bulk.waiter import Sleep, WaitTimedOut, wait_for_task
from lynn_mcp.config import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_MAX_PENDING_TASKS,
)
from lynn_mcp.errors import LynnError, RateLimited, Timeout, UpstreamUnavailable
from lynn_mcp.lynn import observe
from lynn_mcp.lynn.models import Task, TaskRef
from lynn_mcp.lynn.retry import CHUNK_RETRY, TASK_POLL, RetryPolicy
from lynn_mcp.signing import ConfirmationSigner

__all__ = ["DEFAULT_OPTIONS", "BulkLoad", "ChunkApi", "LoadOptions", "Progress", "RowChecking"]

Progress = Callable[[float, float | None, str | None], Awaitable[None]]


class ChunkApi(Protocol):
    """How one kind of bulk operation posts a chunk and reads its task."""

    @property
    def operation(self) -> str:
        """The Lynn operation a chunk is POSTed with (telemetry names the load by it)."""

    async def post(self, rows: list[dict[str, str]]) -> TaskRef: ...

    async def fetch(self, task_id: str) -> Task: ...


class RowChecking(Protocol):
    def check(self, row_no: int, row: Mapping[str, str]) -> CheckedRow: ...


@dataclass(frozen=True, slots=True)
class LoadOptions:
    chunk_size: int = DEFAULT_CHUNK_SIZE
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    """Chunks being POSTed at once, and tasks being polled at once."""
    max_pending_tasks: int = DEFAULT_MAX_PENDING_TASKS
    """Chunks sent and awaiting their task (at least `max_in_flight` are allowed whatever this says)."""
    timeout_s: float = 600.0
    dry_run: bool = False
    max_attempts: int = 6
    """POSTs of one chunk at most (a chunk is retried after a 429, a 5xx or a lost answer)."""
    chunk_retry: RetryPolicy = CHUNK_RETRY
    """The waits between a chunk's POSTs."""
    wait_policy: RetryPolicy = TASK_POLL
    """The pace of a task's status polls (failed polls wait as the task waiter says)."""
    sleep: Sleep = anyio.sleep
    results_path: Path | None = None
    """Default: next to the input file, or a temp file for inline rows."""
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    """Larger input files are refused before anything is read."""
    probe_first_chunk: bool = False
    """Send the first chunk alone and wait for its task before sending more: for loads whose header
    could not be checked against the template, so a header Lynn rejects costs one chunk, not many."""
    file_access: FileAccess = USER_FILES
    """Which files may be read (LYNN_FILE_ROOT); the tools pass the server's, this is stdio's default."""
    stop: LoadStop = SHUTDOWN
    """A deadline that ends the load early as `timeout_s` would (default: the server's shutdown)."""


DEFAULT_OPTIONS: Final = LoadOptions()


class BulkLoad:
    """One load. `run()` returns the report; if the load is cancelled, `report` still holds it."""

    def __init__(
        self,
        api: ChunkApi | None,
        source: LoadSource,
        checker: RowChecking,
        *,
        fingerprint: bytes,
        signer: ConfirmationSigner,
        options: LoadOptions = DEFAULT_OPTIONS,
        resume: ResumeState | None = None,
        progress: Progress | None = None,
    ) -> None:
        if api is None and not options.dry_run:
            raise ValueError("a load that sends needs a ChunkApi")
        self.api = api
        self.source = source
        self.checker = checker
        self.options = options
        self.signer = signer
        self.progress = progress
        self.previous = resume if resume is not None else ResumeState(fingerprint)
        self.ledger = Ledger(fingerprint, self.previous)
        self.tally = self.ledger.tally
        """The ledger's running counts: what progress and the report show."""
        self._reader = BlockReader(
            source.rows,
            checker.check,
            chunk_size=options.chunk_size,
            total=source.total,
            reject=self.tally.reject,
            unreadable=self._stop_unreadable,
            file_changed=self._stop_file_changed,
        )
        self.report: LoadReport | None = None
        self.notes: list[str] = []
        """Sentences added to the report's message (e.g. ignored columns)."""
        self.sent_rows = 0
        self.describe_campaign: Callable[[str], Awaitable[str | None]] | None = None
        """Set to name the campaign in the report (for loads that did not say which one)."""
        self._stop_reason: str | None = None
        self._stop_hint: str | None = None
        self._fatal: LynnError | None = None
        self._reached_lynn = False  # a POST was answered, or may have been received
        self._unread_reason: str | None = None  # why rows after those read were never read
        self._last_progress = -1.0
        self._progress_lock = anyio.Lock()
        self._timeout_at = 0.0  # when timeout_s passes (time.monotonic())
        self._deadline = 0.0  # the earlier of that and the stop's deadline
        self._chunk_scopes: set[anyio.CancelScope] = set()
        self._watch: observe.LoadWatch = observe.NO_OBSERVER.load("", 0)

    # -- public ---------------------------------------------------------------------------------

    async def run(self) -> LoadReport:
        operation = "dry_run" if self.api is None or self.options.dry_run else self.api.operation
        stop_listening = self.options.stop.listen(self._stop_asked)
        with _long_lived_objects_frozen(), observe.current().load(operation, self.source.total) as watch:
            self._watch = watch
            try:
                return await self._run()
            finally:
                stop_listening()
                if self.report is not None:
                    watch.finished(self.report.state, _outcomes(self.report), self._this_run(self.report))

    async def _run(self) -> LoadReport:
        started = time.monotonic()
        self._timeout_at = self._deadline = started + self.options.timeout_s
        self._stop_asked()
        if not self.options.dry_run:
            self.ledger.open_results(self.source.path, self.options.results_path)
        blocks = self._reader.blocks()
        waiting: _Block | None = None
        try:
            async with anyio.create_task_group() as group:
                pending = anyio.Semaphore(max(self.options.max_pending_tasks, self.options.max_in_flight))
                posting = anyio.Semaphore(self.options.max_in_flight)
                # The settled-events of the latest chunks: a chunk polls once the oldest is set.
                earlier_settled: deque[anyio.Event] = deque(maxlen=self.options.max_in_flight)
                for block in blocks:
                    if not isinstance(block, _Block):  # a pause between rows
                        await anyio.lowlevel.checkpoint()
                        continue
                    if block.index is None or self._skip(block):
                        self.ledger.settle_unsent(block)
                        continue
                    if self.source.changed():
                        self._stop_file_changed()
                        self.ledger.settle_unsent(block)
                        continue
                    waiting = block
                    await pending.acquire()
                    await posting.acquire()
                    waiting = None
                    if self._stop_reason is not None:
                        posting.release()
                        pending.release()
                        self.ledger.settle_unsent(block)
                        continue
                    settled = anyio.Event()
                    full = len(earlier_settled) == earlier_settled.maxlen
                    poll_after = earlier_settled[0] if full else None
                    group.start_soon(self._run_chunk, block, _Slots(posting, pending), poll_after, settled)
                    earlier_settled.append(settled)
                    await self._emit_progress()
                    if self.options.probe_first_chunk and self.ledger.settled_chunks == 0:
                        await settled.wait()
        except BaseException:
            # Cancelled (or a bug): account for every row before the error goes on, so `report`
            # and the results file stay consistent. Only synchronous work happens here, and a
            # failure to finish must not hide the original error.
            if waiting is not None:
                self.ledger.settle_unsent(waiting)
            self._stop_reason = self._stop_reason or "the load was cancelled"
            with contextlib.suppress(ValueError):
                self._finish(blocks, started)
            raise
        report = self._finish(blocks, started)
        if self._fatal is not None and not isinstance(self._fatal, _GaveUp) and not self._reached_lynn:
            raise self._fatal  # refused outright, nothing sent (unknown template...): a plain error
        # Stopping (the server shuts down): no time for a lookup that only names the campaign.
        if self.describe_campaign is not None and report.campaign_id is not None and not self._stopping:
            report = self.report = await self._with_campaign_named(report, self.describe_campaign)
        await self._emit_progress()
        return report

    async def _with_campaign_named(
        self, report: LoadReport, describe: Callable[[str], Awaitable[str | None]]
    ) -> LoadReport:
        assert report.campaign_id is not None
        sentence = await describe(report.campaign_id)
        if sentence is None:
            return report
        message = " ".join(part for part in (sentence, report.message) if part)
        return report.model_copy(update={"message": cap_message(message)})

    def _skip(self, block: _Block) -> bool:
        """True when an earlier call confirmed this chunk, or the load is stopping."""
        assert block.index is not None
        if self.previous.state(block.index) is ChunkState.CONFIRMED:
            return True
        if self.options.dry_run:
            return True
        if self._stop_reason is None and time.monotonic() >= self._deadline:
            self._stop_reason = self._deadline_reason()
        return self._stop_reason is not None

    @property
    def _stopping(self) -> bool:
        return self.options.stop.deadline is not None

    def _stop_asked(self) -> None:
        """The stop's deadline, if earlier, becomes the load's and that of every chunk in flight."""
        stop_at = self.options.stop.deadline
        if stop_at is None or stop_at >= self._deadline:
            return
        self._deadline = stop_at
        cut_at = anyio.current_time() + (stop_at - time.monotonic())  # the scopes' clock
        for scope in self._chunk_scopes:
            scope.deadline = min(scope.deadline, cut_at)

    def _deadline_reason(self) -> str:
        if self._deadline < self._timeout_at:
            return self.options.stop.reason
        return f"timeout_s ({self.options.timeout_s:g} s) passed"

    def _this_run(self, report: LoadReport) -> dict[str, int]:
        """The report's rows by outcome, less those earlier runs of a resumed load settled."""
        previous = self.previous
        rows = _outcomes(report)
        rows["accepted"] -= previous.earlier_accepted
        rows["already_in_campaign"] -= previous.earlier_already_in_campaign
        rows["rejected"] -= sum(previous.earlier_rejected.values())
        return rows

    # -- sending --------------------------------------------------------------------------------

    async def _run_chunk(
        self, block: _Block, slots: _Slots, poll_after: anyio.Event | None, settled: anyio.Event
    ) -> None:
        """POST one chunk, then (once `poll_after` is set) wait for its task and settle it."""
        assert block.index is not None
        api = self.api
        assert api is not None
        block.uncertain = self.previous.state(block.index) is ChunkState.UNKNOWN
        # Registered, so that a stop asked for later moves this chunk's deadline too.
        scope = anyio.move_on_after(max(0.0, self._deadline - time.monotonic()))
        self._chunk_scopes.add(scope)
        try:
            with scope:
                task_id, resent = await self._send(block, slots)
                if poll_after is not None:
                    await poll_after.wait()
                task = await wait_for_task(
                    api.fetch,
                    task_id,
                    timeout_s=max(0.001, self._deadline - time.monotonic()),
                    policy=self.options.wait_policy,
                    sleep=self.options.sleep,
                )
                self._settle_from_task(block, task, resent)
            if not block.settled and self._stop_reason is None:
                self._stop_reason = self._deadline_reason()
        except WaitTimedOut:
            self._stop_reason = self._stop_reason or self._deadline_reason()
        except LynnError as exc:
            self._fatal = self._fatal or exc
            self._stop_reason = self._stop_reason or exc.for_agent()
        finally:
            self._chunk_scopes.discard(scope)
            slots.release()
            if not block.settled:
                self.ledger.settle_unsent(block)
            settled.set()
        await self._emit_progress()

    async def _send(self, block: _Block, slots: _Slots) -> tuple[str, bool]:
        """POST the chunk, retrying what is safe; (task id, whether an earlier attempt may have landed).

        Frees the chunk's POST slot and its rows as soon as Lynn answers with a task.
        """
        assert self.api is not None
        payload = block.payload
        assert payload is not None  # only a chunk whose POST was answered has dropped its rows
        options = self.options
        attempt = 0
        while True:
            attempt += 1
            resent = block.uncertain
            try:
                ref = await self.api.post(payload)
            except (RateLimited, Timeout, UpstreamUnavailable) as exc:
                if not isinstance(exc, RateLimited):  # a 429 is the one answer Lynn did not act on
                    # A 5xx had no side effect at the sandbox, but in general its outcome is unknown.
                    block.uncertain = self._reached_lynn = True
                wait = options.chunk_retry.wait_before_retry(attempt, exc.retry_after)
                if wait is None or attempt >= options.max_attempts:
                    raise _GaveUp(exc, attempt) from None
                await options.sleep(wait)
                continue
            except anyio.get_cancelled_exc_class():
                block.uncertain = self._reached_lynn = True  # the request may already be at Lynn
                raise
            # The task exists now: until it finishes, its rows are in doubt.
            block.uncertain = self._reached_lynn = True
            block.payload = None
            slots.release_posting()
            self.sent_rows += len(payload)
            self.tally.task_ids.append(ref.task_id)
            assert block.index is not None
            self._watch.chunk_sent(block.index, len(payload), attempt)
            await self._emit_progress()
            return ref.task_id, resent

    # -- settling and stopping ------------------------------------------------------------------

    def _settle_from_task(self, block: _Block, task: Task, resent: bool) -> None:
        """Settle the block; stop sending when Lynn rejected the first chunk settled in this call for
        one reason: the rest of the file would meet the same fate (typically a header that is not the
        template's columns)."""
        first = self.ledger.settled_chunks == 0
        before = _tally_outcomes(self.tally)
        self.ledger.settle_task(block, task, resent)
        after = _tally_outcomes(self.tally)
        assert block.index is not None
        self._watch.chunk_settled(block.index, {key: after[key] - before[key] for key in after})
        if first and (reason := uniform_rejection(task.records, len(block.rows))) is not None:
            self._stop_reason = self._stop_reason or reason
            self._stop_hint = (
                "If the file's header differs from the template's columns, pass column_map (file header "
                "-> template column) or the template's json_request and start the load again without "
                "resume (no row of it was accepted)."
            )

    def _stop_file_changed(self) -> None:
        self._stop_unread("the file changed while it was being loaded")
        self._stop_hint = (
            "Rows read before the change were sent as they were. The resume handle works only with the "
            "file as it was when the load started; to load the file as it is now, start a new load "
            "(rows the campaign already holds come back as already_in_campaign)."
        )

    def _stop_unreadable(self, detail: str) -> None:
        self._stop_unread(f"the file could not be read after row {self._reader.rows_read}: {detail}")

    def _stop_unread(self, reason: str) -> None:
        self._unread_reason = self._unread_reason or reason
        self._stop_reason = self._stop_reason or reason

    def _finish(self, blocks: Generator[_Block | Pause, None, None], started: float) -> LoadReport:
        """Read the remaining rows as unprocessed (unless the file is no longer the one counted) and
        build the report."""
        if self.report is not None:
            return self.report
        if self._unread_reason is None:
            for block in blocks:
                if isinstance(block, _Block):
                    self.ledger.settle_unsent(block)
        blocks.close()
        if self._unread_reason is not None:
            unread = range(self._reader.rows_read + 1, self.source.total + 1)
            self.ledger.settle_unread(unread, self._unread_reason)
        self.report = self.ledger.report(
            self.source.total,
            elapsed_s=time.monotonic() - started,
            signer=None if self.options.dry_run else self.signer,
            notes=self.notes,
            stop_reason=self._stop_reason,
            stop_hint=self._stop_hint,
        )
        return self.report

    async def _emit_progress(self) -> None:
        """Progress = rows settled so far, of the total; strictly increasing, one sender at a time."""
        if self.progress is None:
            return
        async with self._progress_lock:
            settled = float(self.tally.settled)
            if settled <= self._last_progress:
                return
            self._last_progress = settled
            total = self.source.total
            await self.progress(
                settled, float(total), f"sent {self.sent_rows}, confirmed {int(settled)} of {total} rows"
            )


def _outcomes(report: LoadReport) -> dict[str, int]:
    return {
        "accepted": report.accepted,
        "already_in_campaign": report.already_in_campaign,
        "rejected": report.rejected,
        "unprocessed": report.unprocessed,
    }


def _tally_outcomes(tally: Tally) -> dict[str, int]:
    return {
        "accepted": tally.accepted,
        "already_in_campaign": tally.already_in_campaign,
        "rejected": tally.rejected,
        "unprocessed": tally.unprocessed,
    }


@contextlib.contextmanager
def _long_lived_objects_frozen() -> Iterator[None]:
    """Keep what exists before a load (modules, schemas, the server) out of the garbage collector's
    full collections while the load runs: a load allocates per row, and each full collection would
    walk that whole heap again (measured: 0.12 s of 1.1 s CPU for 100,000 rows). Unfreezing puts it
    all back, so nothing is exempt from collection for good; an overlapping load only loses the
    saving early."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _Slots:
    """A chunk's two slots: POSTing (freed when Lynn answers) and awaiting its task (freed when settled)."""

    __slots__ = ("_pending", "_posting")

    def __init__(self, posting: anyio.Semaphore, pending: anyio.Semaphore) -> None:
        self._posting: anyio.Semaphore | None = posting
        self._pending: anyio.Semaphore | None = pending

    def release_posting(self) -> None:
        if self._posting is not None:
            self._posting.release()
            self._posting = None

    def release(self) -> None:
        self.release_posting()
        if self._pending is not None:
            self._pending.release()
            self._pending = None


class _GaveUp(LynnError):
    """A chunk that failed in a retryable way as often as it may be sent, or whose 429 asked for a
    longer wait than lynn-mcp accepts; the load stops with a report, nothing is lost."""

    code = "upstream_unavailable"

    def __init__(self, last: LynnError, attempts: int) -> None:
        times = f"{attempts} times" if attempts > 1 else "once"
        super().__init__(f"a chunk failed {times}; last: {last.message}", retry_after=last.retry_after)
