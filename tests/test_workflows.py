"""The bulk workflows without MCP: the task waiter, faults and resume, a property over random loads,
cancellation, and resume handles that refuse tampering."""

from __future__ import annotations

import csv
import gc
import itertools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from settings_factory import sandbox_settings

from lynn_mcp.bulk.checks import RowChecker
from lynn_mcp.bulk.loader import BulkLoad, LoadOptions
from lynn_mcp.bulk.loads import prepare_campaign_data_load
from lynn_mcp.bulk.report import LoadReport
from lynn_mcp.bulk.resume import ChunkState, ResumeState
from lynn_mcp.bulk.sources import open_source
from lynn_mcp.bulk.template import TemplateSpec
from lynn_mcp.bulk.waiter import WaitTimedOut, wait_for_task
from lynn_mcp.config import Settings
from lynn_mcp.errors import InvalidArgument, NotFound, RateLimited, Timeout, UpstreamUnavailable
from lynn_mcp.lynn.client import LynnClient
from lynn_mcp.lynn.models import Task, TaskRecord, TaskRef
from lynn_mcp.lynn.retry import MAX_RETRY_AFTER_S, REQUEST_RETRY, RetryPolicy
from lynn_mcp.sandbox import (
    SEED_CAMPAIGN_ID,
    SEED_TEMPLATE_COLUMNS,
    SEED_TEMPLATE_ID,
    SandboxServer,
)
from lynn_mcp.signing import ConfirmationSigner

pytestmark = pytest.mark.anyio
SIGNER = ConfirmationSigner(b"k" * 32)
DRY = LoadOptions(dry_run=True)
FAULTS = {"errorRate": 0.2, "errorStatuses": [500, 503], "dropRate": 0.05, "latencyMs": 3}


async def no_sleep(_: float) -> None:
    await anyio.lowlevel.checkpoint()


# -- the waiter --------------------------------------------------------------------------------


def task(state: str, processed: int = 0) -> Task:
    return Task(task_id="t1", state=state, total=10, processed=processed)


def scripted(*answers: Task | Exception) -> Callable[[str], Awaitable[Task]]:
    """A status fetch that gives (or raises) each answer in turn."""
    pending = list(answers)

    async def fetch(task_id: str) -> Task:
        answer = pending.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return fetch


class Slept(list[float]):
    """A sleep that only writes down how long it was asked to sleep."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def test_waiter_polls_until_terminal_with_growing_backoff() -> None:
    fetch = scripted(task("Pending"), task("Running", 5), task("Completed", 10))
    slept = Slept()
    done = await wait_for_task(
        fetch, "t1", timeout_s=60, sleep=slept, policy=RetryPolicy(first_s=0.1, factor=2, max_s=2)
    )
    assert done.state == "Completed"
    assert slept == [0.1, 0.2]


async def test_waiter_honours_retry_after_and_survives_transient_errors() -> None:
    fetch = scripted(RateLimited("slow down", retry_after=3), UpstreamUnavailable("503"), task("Failed"))
    slept = Slept()
    assert (await wait_for_task(fetch, "t1", timeout_s=60, sleep=slept)).state == "Failed"
    assert slept[0] == 3


async def test_waiter_deadline_and_hard_errors() -> None:
    now = itertools.count(0, 10)

    async def running(task_id: str) -> Task:
        return task("Running", 3)

    with pytest.raises(WaitTimedOut) as caught:
        await wait_for_task(running, "t1", timeout_s=25, sleep=no_sleep, clock=lambda: float(next(now)))
    assert caught.value.task is not None
    assert caught.value.task.processed == 3

    with pytest.raises(NotFound):
        await wait_for_task(scripted(NotFound("no such task")), "t1", timeout_s=5, sleep=no_sleep)


async def test_failed_polls_back_off_like_requests_and_a_success_restarts_the_count() -> None:
    """The waiter is the one place a poll is retried, so a failing status request waits as a failed
    request would (REQUEST_RETRY), not at the poll pace of a running task (10 ms at first)."""
    fetch = scripted(
        UpstreamUnavailable("503"),
        Timeout("no answer"),
        task("Running", 5),
        UpstreamUnavailable("503"),
        task("Completed", 10),
    )
    slept = Slept()
    pace = RetryPolicy(first_s=0.01, factor=2, max_s=2)
    done = await wait_for_task(
        fetch, "t1", timeout_s=60, sleep=slept, policy=pace, retry=REQUEST_RETRY.without_jitter()
    )
    assert done.state == "Completed"
    assert slept == [0.5, 1.0, 0.04, 0.5]  # third poll answered: the pace's third step


async def test_a_retry_after_beyond_the_cap_ends_the_wait_naming_the_task() -> None:
    """Lynn asked not to be asked for longer than lynn-mcp waits: no early poll, no long sleep; the
    error keeps Lynn's retry_after and says the task goes on."""
    beyond = MAX_RETRY_AFTER_S + 60
    slept = Slept()
    fetch = scripted(RateLimited("GetTaskStatus was rate limited", status=429, retry_after=beyond))
    with pytest.raises(RateLimited) as caught:
        await wait_for_task(fetch, "t1", timeout_s=600, sleep=slept)
    assert slept == []
    assert caught.value.retry_after == beyond
    assert "task t1 goes on at Lynn" in caught.value.for_agent()
    assert "status tool" in caught.value.for_agent()


# -- loads against the sandbox ------------------------------------------------------------------


def client_settings(sandbox: SandboxServer) -> Settings:
    return sandbox_settings(sandbox, max_retries=4, timeout=5)


def write_rows(path: Path, phones: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SEED_TEMPLATE_COLUMNS)
        for i, phone in enumerate(phones):
            writer.writerow([f"N{i}", phone, "t", "d", "s", "o", "c", "3"])
    return path


def record_phones(sandbox: SandboxServer) -> list[str]:
    body = httpx2.get(f"{sandbox.base_url}/sandbox/records", params={"campaignId": SEED_CAMPAIGN_ID}).json()
    return [record["phone"] for record in body["records"]]


def set_faults(sandbox: SandboxServer, **faults: Any) -> None:
    httpx2.post(f"{sandbox.base_url}/sandbox/faults", json=faults).raise_for_status()


async def load(
    client: LynnClient,
    path: Path,
    *,
    chunk_size: int = 1000,
    resume: str | None = None,
    progress: Callable[[float, float | None, str | None], Awaitable[None]] | None = None,
) -> LoadReport:
    prepared = await prepare_campaign_data_load(
        client,
        SIGNER,
        template_id=SEED_TEMPLATE_ID,
        file_path=str(path),
        resume=resume,
        options=LoadOptions(chunk_size=chunk_size, timeout_s=60, sleep=no_sleep),
        progress=progress,
    )
    return await prepared.run()


def results(report: LoadReport) -> list[dict[str, str]]:
    assert report.results_path is not None
    with open(report.results_path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


async def finish_without_faults(
    sandbox: SandboxServer, client: LynnClient, path: Path, report: LoadReport, chunk_size: int
) -> LoadReport:
    """Resume until nothing is unprocessed (bounded), with faults off."""
    httpx2.delete(f"{sandbox.base_url}/sandbox/faults").raise_for_status()
    for _ in range(3):
        if report.unprocessed == 0:
            break
        assert report.resume is not None
        report = await load(client, path, chunk_size=chunk_size, resume=report.resume)
    assert report.unprocessed == 0
    assert report.resume is None
    return report


class FailingStatusPolls(httpx2.AsyncBaseTransport):
    """The real sandbox, except that the first `failures` task status requests are answered 503."""

    def __init__(self, failures: int) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.failures = failures
        self.status_requests = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if "TaskStatus" in request.url.path:
            self.status_requests += 1
            if self.status_requests <= self.failures:
                return httpx2.Response(503, json={"message": "status store restarting"})
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_load_retries_a_failed_status_poll_in_the_waiter_only(tmp_path: Path) -> None:
    """Two 503s on the task's status: each is one request, and each wait is the loader's (the task
    waiter's), none the client's, whose own retries (max_retries=4) would have doubled them."""
    path = write_rows(tmp_path / "three.csv", ["56911111121", "56911111122", "56911111123"])
    client_sleeps: list[float] = []
    load_sleeps: list[float] = []

    async def client_sleep(seconds: float) -> None:
        client_sleeps.append(seconds)

    async def load_sleep(seconds: float) -> None:
        load_sleeps.append(seconds)
        await anyio.lowlevel.checkpoint()

    transport = FailingStatusPolls(failures=2)
    with SandboxServer(task_delay_ms=0) as sandbox:
        async with LynnClient(client_settings(sandbox), transport=transport, sleep=client_sleep) as client:
            prepared = await prepare_campaign_data_load(
                client,
                SIGNER,
                template_id=SEED_TEMPLATE_ID,
                file_path=str(path),
                options=LoadOptions(timeout_s=60, sleep=load_sleep),
            )
            report = await prepared.run()
    assert (report.state, report.accepted) == ("Completed", 3)
    assert client_sleeps == []
    assert transport.status_requests >= 3
    first, second = load_sleeps[:2]  # REQUEST_RETRY after the first and the second failure
    assert 0.25 <= first <= 0.5
    assert 0.5 <= second <= 1.0


@pytest.mark.slow
async def test_faults_lose_nothing_and_resume_finishes(tmp_path: Path) -> None:
    phones = [f"5692{i:07d}" for i in range(10_000)]
    path = write_rows(tmp_path / "faulty.csv", phones)
    with SandboxServer(task_delay_ms=0) as sandbox:
        before = set(record_phones(sandbox))
        set_faults(sandbox, seed=7, **FAULTS)
        async with LynnClient(client_settings(sandbox)) as client:
            first = await load(client, path)
            assert first.submitted == first.accepted + first.rejected + first.unprocessed == 10_000
            assert first.rejected == 0
            assert len(results(first)) == 10_000
            final = await finish_without_faults(sandbox, client, path, first, 1000)
        stored = [p for p in record_phones(sandbox) if p not in before]
    assert len(stored) == len(set(stored)) == final.accepted == 10_000
    assert set(stored) == set(phones)


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kinds=st.lists(st.sampled_from(["ok", "ok", "ok", "bad", "dup"]), min_size=1, max_size=120),
    chunk_size=st.integers(min_value=1, max_value=40),
    seed=st.integers(min_value=0, max_value=10_000),
)
async def test_property_counts_add_up_and_nothing_is_duplicated(
    shared_sandbox: SandboxServer,
    tmp_path_factory: pytest.TempPathFactory,
    kinds: list[str],
    chunk_size: int,
    seed: int,
) -> None:
    prefix = f"56{seed % 100:02d}{next(_PREFIXES):04d}"
    phones: list[str] = []
    for i, kind in enumerate(kinds):
        if kind == "bad" or (kind == "dup" and not phones):
            phones.append("x1")
        elif kind == "dup":
            phones.append(phones[-1] if phones[-1] != "x1" else f"{prefix}{i:05d}")
        else:
            phones.append(f"{prefix}{i:05d}")
    valid = {p for p in phones if p != "x1"}
    path = write_rows(tmp_path_factory.mktemp("prop") / "rows.csv", phones)
    set_faults(shared_sandbox, seed=seed, **FAULTS)
    async with LynnClient(client_settings(shared_sandbox)) as client:
        report = await load(client, path, chunk_size=chunk_size)
        assert report.submitted == report.accepted + report.rejected + report.unprocessed == len(kinds)
        assert len(results(report)) == len(kinds)
        report = await finish_without_faults(shared_sandbox, client, path, report, chunk_size)
    stored = [p for p in record_phones(shared_sandbox) if p.startswith(prefix)]
    assert len(stored) == len(set(stored)) == report.accepted == len(valid)
    assert report.rejected == len(kinds) - len(valid)


_PREFIXES = itertools.count(1)


@pytest.fixture(scope="module")
def shared_sandbox() -> Any:
    with SandboxServer(task_delay_ms=0) as sandbox:
        yield sandbox


async def test_cancellation_leaves_a_consistent_report_and_resume_finishes(tmp_path: Path) -> None:
    phones = [f"5693{i:07d}" for i in range(6000)]
    path = write_rows(tmp_path / "cancel.csv", phones)
    with SandboxServer(task_delay_ms=1) as sandbox:
        async with LynnClient(client_settings(sandbox)) as client:
            frozen_before = gc.get_freeze_count()
            frozen_during: list[int] = []
            with anyio.CancelScope() as scope:

                async def cancel_after_first_confirmation(
                    progress: float, total: float | None, message: str | None
                ) -> None:
                    frozen_during.append(gc.get_freeze_count())
                    if progress >= 1000:
                        scope.cancel()

                prepared = await prepare_campaign_data_load(
                    client,
                    SIGNER,
                    template_id=SEED_TEMPLATE_ID,
                    file_path=str(path),
                    options=LoadOptions(chunk_size=500, max_in_flight=2, timeout_s=60),
                    progress=cancel_after_first_confirmation,
                )
                await prepared.run()
            assert scope.cancelled_caught
            assert min(frozen_during) > frozen_before, "full collections skip the older heap during a load"
            assert gc.get_freeze_count() == frozen_before, "and nothing stays exempt, even when cancelled"
            report = prepared.report
            assert report is not None
            assert report.state == "Incomplete"
            assert 1000 <= report.accepted < 6000
            assert report.submitted == report.accepted + report.unprocessed == 6000
            assert report.message is not None
            assert "cancelled" in report.message
            assert [line["outcome"] for line in results(report)].count("accepted") == report.accepted
            assert report.resume is not None
            final = await load(client, path, chunk_size=500, resume=report.resume)
        stored = record_phones(sandbox)
    assert final.accepted == 6000
    assert final.unprocessed == 0
    assert set(phones) <= set(stored)
    assert {line["outcome"] for line in results(final)} <= {"accepted", "earlier"}


async def test_resume_handles_refuse_tampering_and_other_loads(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "a.csv", ["56911111111", "56911111112"])
    other = write_rows(tmp_path / "b.csv", ["56911111113"])

    async def prepare(file: Path, resume: str) -> None:
        await prepare_campaign_data_load(
            None, SIGNER, template_id=SEED_TEMPLATE_ID, file_path=str(file), resume=resume, options=DRY
        )

    probe = await prepare_campaign_data_load(
        None, SIGNER, template_id=SEED_TEMPLATE_ID, file_path=str(path), options=DRY
    )
    state = ResumeState(probe.ledger.next_state.fingerprint)
    state.set(0, ChunkState.UNKNOWN)
    handle = state.seal(SIGNER)
    assert len(handle) < 120
    await prepare(path, handle)  # accepted
    tampered = handle[:-2] + ("AA" if handle[-2:] != "AA" else "BB")
    for bad, file in ((tampered, path), (handle, other), (state.seal(ConfirmationSigner(b"x" * 32)), path)):
        with pytest.raises(InvalidArgument):
            await prepare(file, bad)


# -- sending while tasks run -------------------------------------------------------------------


class HeldTasks:
    """A ChunkApi whose tasks finish only when the test releases them; it records concurrent POSTs
    and which tasks were polled."""

    operation = "AddCampaingData"

    def __init__(self) -> None:
        self.posting = 0
        self.most_posting = 0
        self.sizes: dict[str, int] = {}
        self.released: dict[str, anyio.Event] = {}
        self.polled: list[str] = []

    async def post(self, rows: list[dict[str, str]]) -> TaskRef:
        self.posting += 1
        self.most_posting = max(self.most_posting, self.posting)
        for _ in range(3):  # let other chunks' POSTs start meanwhile, if the loader allowed them
            await anyio.lowlevel.checkpoint()
        self.posting -= 1
        task_id = f"t{len(self.sizes)}"
        self.sizes[task_id] = len(rows)
        self.released[task_id] = anyio.Event()
        return TaskRef(task_id=task_id)

    async def fetch(self, task_id: str) -> Task:
        self.polled.append(task_id)
        await self.released[task_id].wait()
        size = self.sizes[task_id]
        records = [TaskRecord(row=row, status="200") for row in range(1, size + 1)]
        return Task(task_id=task_id, state="Completed", total=size, processed=size, records=records)


async def test_sending_goes_on_while_tasks_run_within_both_bounds(tmp_path: Path) -> None:
    """POST slots (max_in_flight) free when Lynn answers; chunks awaiting their task are bounded
    separately (max_pending_tasks); at most max_in_flight tasks are polled at once, the oldest
    first, and a task that finishes early settles early without disordering the results file."""
    path = write_rows(tmp_path / "held.csv", [f"5694{i:07d}" for i in range(100)])
    api = HeldTasks()
    source = await open_source(file_path=str(path), rows=None, column_map=None)
    load = BulkLoad(
        api,
        source,
        RowChecker(TemplateSpec.from_columns(SEED_TEMPLATE_COLUMNS)),
        fingerprint=b"f" * 16,
        signer=SIGNER,
        options=LoadOptions(chunk_size=10, max_in_flight=2, max_pending_tasks=3, sleep=no_sleep),
    )
    async with anyio.create_task_group() as group:
        group.start_soon(load.run)
        await anyio.wait_all_tasks_blocked()
        # Three chunks sent although none is confirmed; the two oldest tasks are being polled.
        assert list(api.sizes) == ["t0", "t1", "t2"]
        assert api.polled == ["t0", "t1"]
        api.released["t1"].set()  # the second task finishes first
        await anyio.wait_all_tasks_blocked()
        assert list(api.sizes) == ["t0", "t1", "t2", "t3"], "its settling freed a pending slot"
        assert api.polled == ["t0", "t1", "t3"], "t3 polls after t1 settled; t2 still waits for t0"
        api.released["t0"].set()
        await anyio.wait_all_tasks_blocked()
        assert api.polled == ["t0", "t1", "t3", "t2"]
        for index in range(2, 10):
            await anyio.wait_all_tasks_blocked()
            api.released[f"t{index}"].set()
    assert api.most_posting == 2
    assert sorted(api.polled, key=lambda task_id: int(task_id[1:])) == [f"t{index}" for index in range(10)]
    report = load.report
    assert report is not None
    assert (report.state, report.accepted, report.unprocessed) == ("Completed", 100, 0)
    assert [int(line["row"]) for line in results(report)] == list(range(1, 101))
