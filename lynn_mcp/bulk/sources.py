"""Where a load's rows come from: a checked file path or inline rows, and which columns to expect.

Template columns: Lynn has no GetTemplate operation, so for a plain `template_id` the columns are the
file's header (after `column_map`) and Lynn answers 400 for rows that do not fit its template. With a
`json_request` (the body Lynn's template button copies) the exact columns are known: the header is
checked before anything is sent, and missing columns refuse the load.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from lynn_mcp.bulk.file_access import USER_FILES, FileAccess
from lynn_mcp.bulk.readers import RowFileError, RowSource, inline_rows, iter_file_rows
from lynn_mcp.bulk.template import (
    HeaderReport,
    JsonRequestError,
    TemplateSpec,
    check_header,
    parse_json_request,
)
from lynn_mcp.config import DEFAULT_MAX_FILE_BYTES
from lynn_mcp.errors import InvalidArgument

__all__ = ["LoadSource", "TemplateTarget", "checked_file", "open_source", "template_target"]


def checked_file(file_path: str, *, access: FileAccess, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Path:
    """The symlink-resolved absolute path of `file_path`, if `access` lets the file tools read it
    and it names a readable regular file.

    `access` refuses paths outside LYNN_FILE_ROOT (and every path over HTTP without one) with a
    `forbidden` error, before anything is stat'ed. Then this refuses missing files, directories,
    devices, FIFOs and sockets (a read from them could block or never end) and files over
    `max_bytes`, with an `invalid_argument` error. Every error names the absolute path tried.
    """
    tried, path = access.locate(file_path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InvalidArgument(f"file_path {tried} does not exist") from None
    except OSError as exc:
        raise InvalidArgument(f"file_path {tried} cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidArgument(f"file_path {tried} is not a regular file (a directory, device or pipe)")
    if info.st_size > max_bytes:
        raise InvalidArgument(
            f"file_path {tried} is {info.st_size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB",
            hint="Split the file into smaller files and load each, or raise LYNN_MAX_FILE_MB"
            " (a load keeps about 70 bytes per accepted row to find duplicates).",
        )
    if not os.access(path, os.R_OK):
        raise InvalidArgument(f"file_path {tried} is not readable by the server")
    return path


@dataclass(frozen=True, slots=True)
class LoadSource:
    """Rows to load, how many, and an identity a resume handle binds: a digest of the file's bytes
    (taken while counting, before anything is sent) or of the inline rows. A resume handle therefore
    follows the content: a file saved again unchanged still resumes, a changed one does not."""

    rows: RowSource
    total: int
    path: Path | None
    identity: str

    def changed(self) -> bool:
        """True when the file is no longer the one that was counted (one stat call)."""
        return self.rows.changed()


async def open_source(
    *,
    file_path: str | None,
    rows: Sequence[Mapping[str, object]] | None,
    column_map: Mapping[str, str] | None,
    access: FileAccess = USER_FILES,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> LoadSource:
    """Exactly one of `file_path` (read only as `access` allows) or `rows`; counts the rows (one
    streaming pass, off the event loop)."""
    if (file_path is None) == (rows is None):
        raise InvalidArgument("pass either rows or file_path (exactly one)")
    try:
        if rows is not None:
            if not rows:
                raise InvalidArgument("rows is empty")
            canonical = json.dumps(list(rows), sort_keys=True, separators=(",", ":"), default=str)
            identity = "inline:" + hashlib.sha256(canonical.encode()).hexdigest()
            return LoadSource(inline_rows(rows, column_map=column_map), len(rows), None, identity)
        assert file_path is not None
        path = checked_file(file_path, access=access, max_bytes=max_bytes)
        source = iter_file_rows(path, column_map=column_map)
        total = await anyio.to_thread.run_sync(source.count_rows)
        _ = source.header  # reads the header now, so a broken file fails before anything is sent
    except RowFileError as exc:
        raise InvalidArgument(str(exc)) from None
    if total == 0:
        raise InvalidArgument(f"{path.name} has a header but no data rows")
    return LoadSource(source, total, path, f"file:sha256:{source.digest}")


@dataclass(frozen=True, slots=True)
class TemplateTarget:
    """Where rows go and what they must look like."""

    template_id: str
    campaign_id: str | None
    spec: TemplateSpec
    header: HeaderReport | None
    """Set when the template's columns are known (from a json_request)."""


def template_target(
    source: LoadSource, template_id: str | None, campaign_id: str | None, json_request: str | None
) -> TemplateTarget:
    """Template, campaign and spec for a load; refuses a header that lacks template columns."""
    header = source.rows.header
    known_columns: tuple[str, ...] | None = None
    if json_request is not None:
        try:
            request = parse_json_request(json_request)
        except JsonRequestError as exc:
            raise InvalidArgument(f"json_request: {exc}") from None
        if template_id is not None and template_id != request.template_id:
            raise InvalidArgument("template_id differs from the json_request's templateId; pass one of them")
        template_id, known_columns = request.template_id, request.columns
        campaign_id = campaign_id or request.campaign_id
    if template_id is None:
        raise InvalidArgument("pass template_id or json_request")
    try:
        spec = TemplateSpec.from_columns(known_columns or tuple(header))
    except ValueError as exc:
        raise InvalidArgument(
            f"{exc}", hint="Rename the phone column to Phone, or map it with column_map."
        ) from None
    report = None
    if known_columns is not None:
        report = check_header(header, spec)
        if not report.ok:
            raise InvalidArgument(" ".join(report.messages()), hint="Fix the header or pass column_map.")
    return TemplateTarget(template_id, campaign_id, spec, report)
