"""A load stopped by the shutdown signal (`LoadStop`) ends as its own timeout would end it: a report
with a resume handle, never an error; resumed, it loses no row and counts none twice.

Lynn is a stand-in whose tasks run only when the test lets them, so the stop always meets chunks
whose tasks are pending. The same with a real process and the sandbox: test_shutdown_process.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from lynn_mcp.bulk.checks import RowChecker
from lynn_mcp.bulk.loader import BulkLoad, LoadOptions
from lynn_mcp.bulk.report import LoadReport
from lynn_mcp.bulk.resume import ResumeState
from lynn_mcp.bulk.sources import open_source
from lynn_mcp.bulk.stopping import LoadStop
from lynn_mcp.bulk.template import TemplateSpec
from lynn_mcp.lynn.models import Task, TaskRecord, TaskRef
from lynn_mcp.sandbox import SEED_TEMPLATE_COLUMNS
from lynn_mcp.signing import ConfirmationSigner

pytestmark = pytest.mark.anyio

SIGNER = ConfirmationSigner(b"s" * 32)
FINGERPRINT = b"shutdown-test-16"
SHUTTING_DOWN = "the server is shutting down"
PHONES = [f"5696{i:07d}" for i in range(40)]


class QueuedLynn:
    """A ChunkApi playing Lynn: a POSTed chunk becomes a task that runs (stores its phones; a phone
    stored before answers 409) only once `run_tasks` is called; until then its status is awaited."""

    operation = "AddCampaingData"

    def __init__(self) -> None:
        self.tasks: dict[str, list[str]] = {}
        self.results: dict[str, Task] = {}
        self.stored: list[str] = []
        self.ran = anyio.Event()
        self.on_post: Callable[[int], None] = lambda posted: None

    async def post(self, rows: list[dict[str, str]]) -> TaskRef:
        task_id = f"t{len(self.tasks)}"
        self.tasks[task_id] = [row["Phone"] for row in rows]
        self.on_post(len(self.tasks))
        return TaskRef(task_id=task_id)

    async def fetch(self, task_id: str) -> Task:
        if task_id not in self.results:
            await self.ran.wait()
        return self.results[task_id]

    def run_tasks(self) -> None:
        for task_id, phones in self.tasks.items():
            if task_id in self.results:
                continue
            records = []
            for row, phone in enumerate(phones, start=1):
                records.append(TaskRecord(row=row, status="409" if phone in self.stored else "200"))
                if phone not in self.stored:
                    self.stored.append(phone)
            size = len(phones)
            self.results[task_id] = Task(
                task_id=task_id, state="Completed", total=size, processed=size, records=records
            )
        self.ran.set()


def row(i: int, phone: str) -> Mapping[str, object]:
    return dict(zip(SEED_TEMPLATE_COLUMNS, [f"N{i}", phone, "t", "d", "s", "o", "c", "3"], strict=True))


async def load_of(
    lynn: QueuedLynn, stop: LoadStop, tmp_path: Path, resume: ResumeState | None = None
) -> BulkLoad:
    source = await open_source(
        file_path=None, rows=[row(i, p) for i, p in enumerate(PHONES)], column_map=None
    )
    return BulkLoad(
        lynn,
        source,
        RowChecker(TemplateSpec.from_columns(SEED_TEMPLATE_COLUMNS)),
        fingerprint=FINGERPRINT,
        signer=SIGNER,
        options=LoadOptions(
            chunk_size=10,
            max_in_flight=2,
            max_pending_tasks=4,
            stop=stop,
            results_path=tmp_path / ("resumed.csv" if resume else "first.csv"),
        ),
        resume=resume,
    )


async def resumed(lynn: QueuedLynn, first: LoadReport, tmp_path: Path) -> LoadReport:
    """`first` resumed, on a server that is not stopping, with Lynn running each task at once."""
    assert first.resume is not None
    lynn.on_post = lambda posted: lynn.run_tasks()
    resume = ResumeState.unseal(SIGNER, first.resume, FINGERPRINT)
    return await (await load_of(lynn, LoadStop(), tmp_path, resume)).run()


async def test_a_stop_cuts_a_load_in_flight_into_a_report_then_resume_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    lynn = QueuedLynn()
    stop = LoadStop()
    # The stop comes while the third chunk's POST is answered, with every task still pending.
    lynn.on_post = lambda posted: stop.stop_in(0, SHUTTING_DOWN) if posted == 3 else None
    with anyio.fail_after(60):  # a load that ignored the stop would wait for its tasks for ever
        first = await (await load_of(lynn, stop, tmp_path)).run()

    assert len(lynn.tasks) == 3, "nothing is sent once the stop's deadline has passed"
    assert (first.state, first.submitted, first.accepted, first.unprocessed) == ("Incomplete", 40, 0, 40)
    assert first.message is not None
    assert f"Stopped: {SHUTTING_DOWN}." in first.message
    assert first.resume is not None

    lynn.run_tasks()  # Lynn runs the three tasks it had queued after all
    assert len(lynn.stored) == 30
    second = await resumed(lynn, first, tmp_path)
    assert (second.state, second.accepted, second.already_in_campaign, second.unprocessed) == (
        "Completed",
        40,
        0,
        0,
    ), "the re-sent rows Lynn already had count as accepted by the earlier attempt, once"
    assert sorted(lynn.stored) == sorted(PHONES), "every row stored, each once"


async def test_a_load_starting_after_the_deadline_sends_nothing_and_can_be_resumed(tmp_path: Path) -> None:
    lynn = QueuedLynn()
    stop = LoadStop()
    stop.stop_in(0, SHUTTING_DOWN)
    first = await (await load_of(lynn, stop, tmp_path)).run()
    assert lynn.tasks == {}
    assert (first.state, first.unprocessed) == ("Incomplete", 40)

    second = await resumed(lynn, first, tmp_path)
    assert (second.state, second.accepted) == ("Completed", 40)


async def test_a_stop_with_a_later_deadline_lets_the_load_finish(tmp_path: Path) -> None:
    lynn = QueuedLynn()
    lynn.on_post = lambda posted: lynn.run_tasks()
    stop = LoadStop()
    stop.stop_in(3600, SHUTTING_DOWN)
    report = await (await load_of(lynn, stop, tmp_path)).run()
    assert (report.state, report.accepted) == ("Completed", 40)


def test_an_earlier_deadline_wins_and_listeners_hear_of_it() -> None:
    stop = LoadStop()
    heard: list[float | None] = []
    stop_listening = stop.listen(lambda: heard.append(stop.deadline))
    stop.stop_by(100.0, "first")
    stop.stop_by(200.0, "later: ignored")
    stop.stop_by(50.0, SHUTTING_DOWN)
    stop_listening()
    stop.stop_by(10.0, "not heard")
    assert heard == [100.0, 50.0]
    assert (stop.deadline, stop.reason) == (10.0, "not heard")
