"""The bulk loader's accounting, one failure at a time, with a scripted Lynn (a `ChunkApi` that answers
each POST as told): which failures make a chunk's 409s its own rows, when a load gives up and what
it then reports, why it stops, and what the rows it never sent become.

The sandbox loads in tests/test_workflows.py and tests/test_load_interruptions.py show that a
report always adds up; these pin down which way each row goes, which a mutation run
(scripts/mutation.sh) showed they did not: a 429 treated like a lost answer, a give-up counted in
the wrong unit, a stop reason dropped all went unnoticed there.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from lynn_mcp.bulk.checks import RowChecker
from lynn_mcp.bulk.loader import BulkLoad, LoadOptions
from lynn_mcp.bulk.readers import RowFileError
from lynn_mcp.bulk.report import LoadReport
from lynn_mcp.bulk.resume import ChunkState, ResumeState
from lynn_mcp.bulk.sources import LoadSource, open_source
from lynn_mcp.bulk.template import TemplateSpec
from lynn_mcp.errors import InvalidArgument, LynnError, RateLimited, Timeout, UpstreamUnavailable
from lynn_mcp.lynn import observe
from lynn_mcp.lynn.models import Task, TaskRecord, TaskRef
from lynn_mcp.signing import ConfirmationSigner

pytestmark = pytest.mark.anyio

SIGNER = ConfirmationSigner(b"l" * 32)
FINGERPRINT = b"f" * 16
SPEC = TemplateSpec(("Name", "Phone"), "Phone")
EARLIER_ATTEMPT = "accepted by an earlier attempt whose answer was lost"

# What one POST does: raise the error, or be answered with a task whose records have these statuses
# (None: every row 200).
Answer = LynnError | list[str] | None


class ScriptedLynn:
    """A `ChunkApi`: the n-th POST is answered as `answers[n]` says (a task when it runs out)."""

    operation = "AddCampaingData"

    def __init__(self, *answers: Answer, hold_tasks: bool = False) -> None:
        self.answers = list(answers)
        self.posts: list[int] = []  # rows per POST
        self.tasks: dict[str, Task] = {}
        self.hold_tasks = hold_tasks

    async def post(self, rows: list[dict[str, str]]) -> TaskRef:
        self.posts.append(len(rows))
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, LynnError):
            raise answer
        statuses = answer or ["200"] * len(rows)
        task_id = f"task-{len(self.tasks) + 1}"
        records = [TaskRecord(row=n, Status=status) for n, status in enumerate(statuses, start=1)]
        self.tasks[task_id] = Task(task_id=task_id, state="Completed", total=len(rows), records=records)
        return TaskRef(task_id=task_id)

    async def fetch(self, task_id: str) -> Task:
        if self.hold_tasks:
            await anyio.sleep_forever()
        return self.tasks[task_id]


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await anyio.lowlevel.checkpoint()


def write_rows(path: Path, count: int, *, bad: frozenset[int] = frozenset()) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Name", "Phone"])
        for n in range(1, count + 1):
            writer.writerow([f"N{n}", "12" if n in bad else f"5697{n:07d}"])
    return path


def lines(report: LoadReport) -> list[tuple[str, str, str]]:
    assert report.results_path is not None
    with open(report.results_path, encoding="utf-8-sig", newline="") as handle:
        return [(line["outcome"], line["status"], line["reason"]) for line in csv.DictReader(handle)]


async def run_load(
    path: Path,
    api: ScriptedLynn | None,
    *,
    resume: ResumeState | None = None,
    progress: Callable[[float, float | None, str | None], object] | None = None,
    **options: object,
) -> BulkLoad:
    source = await open_source(file_path=str(path), rows=None, column_map=None)
    load = BulkLoad(
        api,
        source,
        RowChecker(SPEC),
        fingerprint=FINGERPRINT,
        signer=SIGNER,
        options=LoadOptions(**{"chunk_size": 2, "max_in_flight": 1, "sleep": Sleeps(), **options}),  # type: ignore[arg-type]
        resume=resume,
        progress=progress,  # type: ignore[arg-type]
    )
    await load.run()
    return load


async def test_a_chunk_lynn_rate_limited_was_not_acted_on_so_its_409s_are_not_ours(tmp_path: Path) -> None:
    api = ScriptedLynn(RateLimited("slow down", retry_after=2.0), ["409", "200"])
    sleeps = Sleeps()
    started = time.monotonic()
    load = await run_load(write_rows(tmp_path / "a.csv", 2), api, sleep=sleeps)
    took = time.monotonic() - started
    report = load.report
    assert report is not None
    assert (report.accepted, report.already_in_campaign, report.unprocessed) == (1, 1, 0)
    assert (
        0 <= report.elapsed_s <= round(took, 3) + 0.001
    )  # the load's own time (to the ms), not a clock reading
    assert sleeps.waits == [2.0]  # Lynn's Retry-After, not the curve
    assert api.posts == [2, 2]
    assert lines(report)[0] == ("already_in_campaign", "409", "")


@pytest.mark.parametrize(
    "failure",
    [
        Timeout("no answer", maybe_processed=True),
        UpstreamUnavailable("lost", maybe_processed=True),
        UpstreamUnavailable("502"),
    ],
)
async def test_a_chunk_whose_answer_was_lost_owns_its_409s(tmp_path: Path, failure: LynnError) -> None:
    """Sent again after a timeout, a dropped answer or a 5xx: an earlier attempt may have stored the
    rows, so their 409 means accepted, never already there and never rejected."""
    api = ScriptedLynn(failure, ["409", "200"])
    sleeps = Sleeps()
    load = await run_load(write_rows(tmp_path / "a.csv", 2), api, sleep=sleeps)
    report = load.report
    assert report is not None
    assert (report.accepted, report.already_in_campaign, report.rejected) == (2, 0, 0)
    assert sleeps.waits == [0.1]  # the chunk curve's first wait
    assert lines(report)[0] == ("accepted", "409", EARLIER_ATTEMPT)
    assert report.task_ids == ["task-1"]


async def test_a_chunk_failing_every_attempt_stops_the_load_with_its_rows_in_doubt(tmp_path: Path) -> None:
    failures = [UpstreamUnavailable(f"attempt {n}", maybe_processed=True) for n in range(1, 4)]
    api = ScriptedLynn(None, *failures)
    sleeps = Sleeps()
    load = await run_load(write_rows(tmp_path / "a.csv", 6), api, sleep=sleeps, max_attempts=3)
    report = load.report
    assert report is not None
    assert api.posts == [2, 2, 2, 2]  # the first chunk, then the second three times; the third never
    assert sleeps.waits == [0.1, 0.2]
    assert (report.state, report.accepted, report.unprocessed) == ("Incomplete", 2, 4)
    assert report.message == (
        "Stopped: upstream_unavailable: a chunk failed 3 times; last: attempt 3. Try again later. "
        "Call again with the same arguments and resume to finish."
    )
    assert [line[:2] for line in lines(report)] == [
        ("accepted", "200"),
        ("accepted", "200"),
        ("unprocessed", "unknown"),  # may have reached Lynn: resume sends it again
        ("unprocessed", "unknown"),
        ("unprocessed", "pending"),  # never sent
        ("unprocessed", "pending"),
    ]
    assert report.resume is not None
    state = ResumeState.unseal(SIGNER, report.resume, FINGERPRINT)
    assert [state.state(index) for index in range(3)] == [
        ChunkState.CONFIRMED,
        ChunkState.UNKNOWN,
        ChunkState.PENDING,
    ]


async def test_a_retry_after_beyond_the_cap_gives_up_at_once_and_says_when(tmp_path: Path) -> None:
    api = ScriptedLynn(None, RateLimited("come back later", retry_after=120.0))
    load = await run_load(write_rows(tmp_path / "a.csv", 4), api)
    report = load.report
    assert report is not None
    assert api.posts == [2, 2]
    assert report.message is not None
    assert report.message.startswith(
        "Stopped: upstream_unavailable (retry_after=120s): a chunk failed once; last: come back later."
    )
    assert [line[:2] for line in lines(report)][2:] == [("unprocessed", "pending")] * 2  # 429: not acted on


async def test_a_refusal_before_anything_reached_lynn_is_a_plain_error(tmp_path: Path) -> None:
    api = ScriptedLynn(InvalidArgument("unknown template"))
    with pytest.raises(InvalidArgument, match="unknown template"):
        await run_load(write_rows(tmp_path / "a.csv", 4), api)
    assert api.posts == [2]


async def test_a_refusal_after_a_chunk_reached_lynn_is_a_report(tmp_path: Path) -> None:
    api = ScriptedLynn(None, InvalidArgument("bad rows"))
    load = await run_load(write_rows(tmp_path / "a.csv", 4), api)
    report = load.report
    assert report is not None
    assert (report.state, report.accepted, report.unprocessed) == ("Incomplete", 2, 2)
    assert report.message == (
        "Stopped: invalid_argument: bad rows. Fix the argument and call again. "
        "Call again with the same arguments and resume to finish."
    )


async def test_a_first_chunk_rejected_whole_for_one_reason_stops_the_load(tmp_path: Path) -> None:
    api = ScriptedLynn(["400"] * 10)
    load = await run_load(write_rows(tmp_path / "a.csv", 30), api, chunk_size=10)
    report = load.report
    assert report is not None
    assert api.posts == [10]
    assert (report.rejected, report.unprocessed) == (10, 20)
    assert report.message == (
        "Stopped: Lynn rejected all 10 rows of the first chunk for the same reason; the rest was not sent. "
        "If the file's header differs from the template's columns, pass column_map (file header -> "
        "template column) or the template's json_request and start the load again without resume "
        "(no row of it was accepted)."
    )


async def test_a_later_chunk_rejected_whole_does_not_stop_the_load(tmp_path: Path) -> None:
    api = ScriptedLynn(None, ["400"] * 10)
    load = await run_load(write_rows(tmp_path / "a.csv", 30), api, chunk_size=10)
    report = load.report
    assert report is not None
    assert api.posts == [10, 10, 10]
    assert (report.state, report.accepted, report.rejected, report.unprocessed) == ("Completed", 20, 10, 0)


async def test_a_resumed_chunk_that_may_have_landed_owns_its_409s(tmp_path: Path) -> None:
    previous = ResumeState(FINGERPRINT, bytearray([ChunkState.CONFIRMED, ChunkState.UNKNOWN]), 2)
    api = ScriptedLynn(["409", "409"])
    load = await run_load(write_rows(tmp_path / "a.csv", 4), api, resume=previous)
    report = load.report
    assert report is not None
    assert api.posts == [2]  # the confirmed chunk is not sent again
    assert (report.accepted, report.already_in_campaign, report.unprocessed) == (4, 0, 0)
    assert [line[0] for line in lines(report)] == ["earlier", "earlier", "accepted", "accepted"]


async def test_a_dry_run_sends_nothing_and_counts_what_it_would(tmp_path: Path) -> None:
    load = await run_load(write_rows(tmp_path / "a.csv", 5, bad=frozenset({3})), None, dry_run=True)
    report = load.report
    assert report is not None
    assert (report.state, report.rejected, report.unprocessed, report.resume) == ("DryRun", 1, 4, None)
    assert report.message == "Dry run: 4 row(s) would be sent; nothing was sent."


async def test_a_load_whose_tasks_do_not_finish_in_time_stops_there(tmp_path: Path) -> None:
    api = ScriptedLynn(hold_tasks=True)
    load = await run_load(write_rows(tmp_path / "a.csv", 4), api, timeout_s=0.2)
    report = load.report
    assert report is not None
    assert (report.state, report.unprocessed) == ("Incomplete", 4)
    assert report.message == (
        "Stopped: timeout_s (0.2 s) passed. Call again with the same arguments and resume to finish."
    )
    assert [line[:2] for line in lines(report)][:2] == [("unprocessed", "unknown")] * 2  # its task exists


async def test_a_chunk_stopped_while_its_post_is_on_the_wire_may_have_landed(tmp_path: Path) -> None:
    class NeverAnswers(ScriptedLynn):
        async def post(self, rows: list[dict[str, str]]) -> TaskRef:
            self.posts.append(len(rows))
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

    api = NeverAnswers()
    load = await run_load(write_rows(tmp_path / "a.csv", 2), api, timeout_s=0.2)
    report = load.report
    assert report is not None
    assert api.posts == [2]
    assert (report.state, report.unprocessed) == ("Incomplete", 2)
    # Lynn may have the rows: unknown (a resume reads their 409s as accepted), not pending.
    assert [line[:2] for line in lines(report)] == [("unprocessed", "unknown")] * 2
    assert load.ledger.next_state.state(0) is ChunkState.UNKNOWN


async def test_progress_counts_rows_sent_and_settled(tmp_path: Path) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total, message))

    await run_load(write_rows(tmp_path / "a.csv", 4, bad=frozenset({2})), ScriptedLynn(), progress=progress)
    assert seen[-1] == (4.0, 4.0, "sent 3, confirmed 4 of 4 rows")
    assert [done for done, _, _ in seen] == sorted({done for done, _, _ in seen})


async def test_a_file_that_changes_while_loading_stops_before_the_next_chunk_read(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "a.csv", 6)

    class ChangesTheFile(ScriptedLynn):
        async def post(self, rows: list[dict[str, str]]) -> TaskRef:
            ref = await super().post(rows)
            with path.open("a", encoding="utf-8") as handle:
                handle.write("N7,56970000007\r\n")
            return ref

    load = await run_load(path, ChangesTheFile())
    report = load.report
    assert report is not None
    # The second chunk was read (and checked) before the change; the third is checked after it.
    assert (report.accepted, report.unprocessed) == (4, 2)
    assert [line[:2] for line in lines(report)][4:] == [("unprocessed", "pending")] * 2
    assert report.message == (
        "Stopped: the file changed while it was being loaded. Rows read before the change were sent as "
        "they were. The resume handle works only with the file as it was when the load started; to load "
        "the file as it is now, start a new load (rows the campaign already holds come back as "
        "already_in_campaign)."
    )


class BreaksAfterRow3:
    """Rows whose reading fails after the third (a disk or share that went away mid-load)."""

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        for n in range(1, 4):
            yield n, {"Name": f"N{n}", "Phone": f"5697{n:07d}"}
        raise RowFileError("the disk went away")

    def changed(self) -> bool:
        return False


async def test_rows_that_can_no_longer_be_read_are_unprocessed_with_the_reason(tmp_path: Path) -> None:
    source = LoadSource(BreaksAfterRow3(), 6, None, "rows")  # type: ignore[arg-type]
    options = LoadOptions(chunk_size=2, max_in_flight=1, sleep=Sleeps(), results_path=tmp_path / "r.csv")
    load = BulkLoad(
        ScriptedLynn(), source, RowChecker(SPEC), fingerprint=FINGERPRINT, signer=SIGNER, options=options
    )
    report = await load.run()
    assert (report.state, report.accepted, report.unprocessed) == ("Incomplete", 2, 4)
    reason = "the file could not be read after row 3: the disk went away"
    assert report.message == f"Stopped: {reason}. Call again with the same arguments and resume to finish."
    assert lines(report) == [
        ("accepted", "200", ""),
        ("accepted", "200", ""),
        ("unprocessed", "pending", ""),  # read, never sent
        *[("unprocessed", "unread", f"not read: {reason}")] * 3,
    ]


class ChunkWatch:
    """An observer (lynn_mcp.lynn.observe) that keeps what a load tells telemetry about its chunks."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, int, int]] = []

    def request(self, operation: str, method: str, attempt: int) -> observe.RequestWatch:
        return observe.NO_OBSERVER.request(operation, method, attempt)

    def load(self, operation: str, rows: int) -> ChunkWatch:
        return self

    def __enter__(self) -> ChunkWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def chunk_sent(self, chunk: int, rows: int, attempts: int) -> None:
        self.sent.append((chunk, rows, attempts))

    def chunk_settled(self, chunk: int, outcomes: object) -> None:
        pass

    def finished(self, state: str, rows: object, this_run: object) -> None:
        pass


async def test_telemetry_hears_each_chunk_with_its_number_rows_and_attempts(tmp_path: Path) -> None:
    watch = ChunkWatch()
    previous = observe.install(watch)
    try:
        api = ScriptedLynn(None, UpstreamUnavailable("lost", maybe_processed=True))
        await run_load(write_rows(tmp_path / "a.csv", 5), api)
    finally:
        observe.install(previous)
    assert watch.sent == [(0, 2, 1), (1, 2, 2), (2, 1, 1)]
