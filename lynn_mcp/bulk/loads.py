"""The three bulk operations, wired from `LynnClient` calls onto the shared engine and waiter:
campaign data (AddCampaingData), blacklist rows (ManageDnDByCampaign) and .cpg upload
(UploadCampaignDataByTenant).

Each `prepare_*` validates everything that can be validated before a request exists and returns a
`BulkLoad`; `await load.run()` sends. Keeping the two apart lets a caller inspect the load first
(e.g. `blacklist_lifts`) and read `load.report` after a cancellation.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

import anyio.to_thread

from lynn_mcp.bulk.checks import DND_FIELDS, DndRowChecker, RowChecker
from lynn_mcp.bulk.file_access import FileAccess
from lynn_mcp.bulk.loader import DEFAULT_OPTIONS, BulkLoad, LoadOptions, Progress
from lynn_mcp.bulk.readers import RowFileError, iter_file_rows
from lynn_mcp.bulk.report import LoadReport
from lynn_mcp.bulk.resume import ResumeState, fingerprint
from lynn_mcp.bulk.sources import LoadSource, checked_file, open_source, template_target
from lynn_mcp.bulk.template import guess_phone_column
from lynn_mcp.bulk.waiter import WaitTimedOut, wait_for_task
from lynn_mcp.errors import InvalidArgument, LynnError
from lynn_mcp.lynn.client import LynnClient
from lynn_mcp.lynn.models import DndContactRow, Task, TaskRef
from lynn_mcp.signing import ConfirmationSigner

__all__ = [
    "BlacklistLifts",
    "CampaignDataApi",
    "DndApi",
    "blacklist_lifts",
    "prepare_campaign_data_load",
    "prepare_dnd_load",
    "upload_cpg",
]


@dataclass(frozen=True, slots=True)
class CampaignDataApi:
    operation: ClassVar[str] = "AddCampaingData"
    client: LynnClient
    template_id: str
    campaign_id: str | None

    async def post(self, rows: list[dict[str, str]]) -> TaskRef:
        return await self.client.add_campaign_data(self.template_id, self.campaign_id, rows)

    async def fetch(self, task_id: str) -> Task:
        return await self.client.get_task(task_id, retry=False)  # the task waiter retries polls


@dataclass(frozen=True, slots=True)
class DndApi:
    operation: ClassVar[str] = "ManageDnDByCampaign"
    client: LynnClient
    campaign_id: str

    async def post(self, rows: list[dict[str, str]]) -> TaskRef:
        contacts = [
            DndContactRow(
                identifier=row["identifier"],
                do_not_disturb=row["do_not_disturb"] == "true",
                name=row.get("name"),
                channel=row.get("channel"),  # type: ignore[arg-type] # checked by DndRowChecker
            )
            for row in rows
        ]
        return await self.client.manage_dnd(self.campaign_id, contacts)

    async def fetch(self, task_id: str) -> Task:
        return await self.client.get_dnd_task(task_id, retry=False)  # the task waiter retries polls


def _column_map_text(column_map: Mapping[str, str] | None) -> str:
    return json.dumps(dict(sorted((column_map or {}).items())), separators=(",", ":"))


def _resume_state(
    signer: ConfirmationSigner, resume: str | None, load_fingerprint: bytes
) -> ResumeState | None:
    return None if resume is None else ResumeState.unseal(signer, resume, load_fingerprint)


async def _open(
    options: LoadOptions,
    *,
    file_path: str | None,
    rows: Sequence[Mapping[str, object]] | None,
    column_map: Mapping[str, str] | None,
) -> LoadSource:
    """The load's rows, read as the options allow (LYNN_FILE_ROOT, LYNN_MAX_FILE_MB)."""
    return await open_source(
        file_path=file_path,
        rows=rows,
        column_map=column_map,
        access=options.file_access,
        max_bytes=options.max_file_bytes,
    )


async def prepare_campaign_data_load(
    client: LynnClient | None,
    signer: ConfirmationSigner,
    *,
    template_id: str | None = None,
    campaign_id: str | None = None,
    json_request: str | None = None,
    rows: Sequence[Mapping[str, object]] | None = None,
    file_path: str | None = None,
    column_map: Mapping[str, str] | None = None,
    resume: str | None = None,
    options: LoadOptions = DEFAULT_OPTIONS,
    progress: Progress | None = None,
) -> BulkLoad:
    """A validated campaign-data load (raises InvalidArgument for anything wrong before sending)."""
    source = await _open(options, file_path=file_path, rows=rows, column_map=column_map)
    target = template_target(source, template_id, campaign_id, json_request)
    load_fingerprint = fingerprint(
        "campaign-data",
        source.identity,
        target.template_id,
        target.campaign_id or "",
        _column_map_text(column_map),
        "\x00".join(target.spec.columns),
        str(options.chunk_size),
    )
    api = None if client is None else CampaignDataApi(client, target.template_id, target.campaign_id)
    load = BulkLoad(
        api,
        source,
        RowChecker(target.spec),
        fingerprint=load_fingerprint,
        signer=signer,
        options=dataclasses.replace(options, probe_first_chunk=target.header is None),
        resume=_resume_state(signer, resume, load_fingerprint),
        progress=progress,
    )
    if source.rows.sheet_note is not None:
        load.notes.append(source.rows.sheet_note)
    if target.header is not None and target.header.unknown:
        load.notes.append(" ".join(target.header.messages()))
    if target.header is None and options.dry_run:
        load.notes.append(HEADER_NOT_CHECKED)
    if target.campaign_id is None and client is not None:
        load.describe_campaign = functools.partial(_template_campaign_sentence, client)
    return load


HEADER_NOT_CHECKED: Final = (
    "Header not checked: without json_request the template's columns are unknown, so only phones and "
    "duplicates were checked, and Lynn may still reject every row whose columns differ from its "
    "template. Pass the template's Json Request as json_request to check the header before sending."
)


async def _template_campaign_sentence(client: LynnClient, campaign_id: str) -> str:
    """Where rows sent without a campaign_id went: the template's own campaign, named."""
    try:
        name = f'"{(await client.get_campaign(campaign_id)).name}" '
    except LynnError:  # the load is done; a failed lookup only makes the sentence shorter
        name = ""
    return f"No campaign_id was given: the rows went to the template's own campaign {name}({campaign_id})."


def _dnd_identifier_column(source: LoadSource) -> str:
    header = source.rows.header
    if "identifier" in header:
        return "identifier"
    guessed = guess_phone_column(header)
    if guessed is None:
        raise InvalidArgument(
            f"no identifier column among {header[:10]}",
            hint="Name the column identifier (or phone), or map it with column_map.",
        )
    return guessed


async def prepare_dnd_load(
    client: LynnClient | None,
    signer: ConfirmationSigner,
    *,
    campaign_id: str,
    rows: Sequence[Mapping[str, object]] | None = None,
    file_path: str | None = None,
    column_map: Mapping[str, str] | None = None,
    resume: str | None = None,
    options: LoadOptions = DEFAULT_OPTIONS,
    progress: Progress | None = None,
) -> BulkLoad:
    """A validated blacklist load: rows of identifier, do_not_disturb, name, channel."""
    source = await _open(options, file_path=file_path, rows=rows, column_map=column_map)
    identifier_column = _dnd_identifier_column(source)
    load_fingerprint = fingerprint(
        "dnd", source.identity, campaign_id, _column_map_text(column_map), str(options.chunk_size)
    )
    load = BulkLoad(
        None if client is None else DndApi(client, campaign_id),
        source,
        DndRowChecker(identifier_column),
        fingerprint=load_fingerprint,
        signer=signer,
        options=options,
        resume=_resume_state(signer, resume, load_fingerprint),
        progress=progress,
    )
    if source.rows.sheet_note is not None:
        load.notes.append(source.rows.sheet_note)
    unknown = [name for name in source.rows.header if name not in DND_FIELDS and name != identifier_column]
    if unknown:
        load.notes.append(f"Column(s) ignored: {', '.join(unknown[:10])}.")
    return load


@dataclass(frozen=True)
class BlacklistLifts:
    """The rows of a DnD load that set do_not_disturb=false: how many, and a digest of which."""

    count: int
    digest: str


async def blacklist_lifts(load: BulkLoad) -> BlacklistLifts:
    """Which rows of a DnD load would let messages through again; sends nothing.

    The digest covers the lifted identifiers in order, so a confirmation bound to it approves
    exactly these contacts, whether they came inline or from a file. One pass, off the event loop.
    """
    checker = load.checker
    assert isinstance(checker, DndRowChecker)
    column = checker.identifier_column

    def scan() -> BlacklistLifts:
        fresh = DndRowChecker(column)
        digest = hashlib.sha256()
        count = 0
        for row_no, row in load.source.rows:
            checked = fresh.check(row_no, row)
            if checked.data is not None and checked.data["do_not_disturb"] == "false":
                count += 1
                digest.update(checked.phone.encode() + b"\n")
        return BlacklistLifts(count, digest.hexdigest()[:32])

    return await anyio.to_thread.run_sync(scan)


async def upload_cpg(
    client: LynnClient,
    *,
    file_path: str,
    template_id: str | None,
    campaign_id: str | None,
    json_request: str | None = None,
    wait: bool = True,
    timeout_s: float = DEFAULT_OPTIONS.timeout_s,
    progress: Progress | None = None,
    max_bytes: int = DEFAULT_OPTIONS.max_file_bytes,
    file_access: FileAccess,
) -> LoadReport:
    """UploadCampaignDataByTenant for a .cpg file: header checked first, file streamed, task awaited."""
    started = time.monotonic()
    path = checked_file(file_path, access=file_access, max_bytes=max_bytes)
    if path.suffix.lower() != ".cpg":
        raise InvalidArgument(
            "file_path must name a .cpg file (for CSV, Excel or JSON use load_campaign_data)"
        )
    try:
        source = LoadSource(iter_file_rows(path), 0, path, "")
        target = template_target(source, template_id, campaign_id, json_request)
    except RowFileError as exc:
        raise InvalidArgument(str(exc)) from None
    ref = await client.upload_campaign_file(
        path, campaign_id=target.campaign_id or "", template_id=target.template_id
    )

    async def on_poll(task: Task) -> None:
        if progress is not None and task.processed:
            await progress(float(task.processed), float(task.total), f"{task.processed} of {task.total} rows")

    if not wait:
        return LoadReport.of_task(
            await client.get_task(ref.task_id), elapsed_s=round(time.monotonic() - started, 3)
        )
    try:
        poll = functools.partial(client.get_task, retry=False)  # the task waiter retries polls
        task = await wait_for_task(poll, ref.task_id, timeout_s=timeout_s, on_poll=on_poll)
    except WaitTimedOut as exc:
        if exc.task is None:
            raise
        return LoadReport.of_task(
            exc.task, elapsed_s=round(time.monotonic() - started, 3), message=exc.message
        )
    return LoadReport.of_task(task, elapsed_s=round(time.monotonic() - started, 3))
