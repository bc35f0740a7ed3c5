"""The results file of a load: one line per input row, in row order, safe to open in Excel.

`ResultsWriter.create(input_path)` picks the name and creates the file in one step: next to the input
as `<stem>.results.csv`, or `<stem>.results.2.csv`, ... when that name is taken (anything there, a
dangling symlink included, is left untouched), in a private `<tempdir>/lynn-mcp/` when the input's
directory is not writable or for inline rows. Each candidate is created with
`O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0600, so the file is never one it did not create and never reached
through a symlink; `ResultsWriter(path)` creates exactly `path` the same way (`FileExistsError` if
anything is there). It writes `row,phone,outcome,status,reason`, one line per input row, in row
order although outcomes arrive per chunk out of order. The file is made for Excel: a phone, status
or reason cell that starts with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`
(OWASP's rule against CSV formula injection), so a spreadsheet shows it as text instead of running
it.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import operator
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Final, Literal, NamedTuple

__all__ = ["Outcome", "OutcomeLine", "ResultsWriter", "RowOutcome"]

_MAX_RESULTS_NAMES: Final = 1000

Outcome = Literal["accepted", "already_in_campaign", "rejected", "unprocessed", "earlier"]
RESULTS_HEADER: Final = ("row", "phone", "outcome", "status", "reason")


class RowOutcome(NamedTuple):
    """The final word on one input row, as written to the results file (treat as read-only).

    `status` is Lynn's record status ("200", "400", "403", "409") or a local reason code such as
    `invalid_phone` for rows never sent; `reason` is a human sentence (may be empty). Outcome
    `earlier` marks a row settled by an earlier call of a resumed load (see that call's results file).
    """

    row: int
    phone: str
    outcome: Outcome
    status: str
    reason: str = ""


OutcomeLine = tuple[int, str, str, str, str]
"""A `RowOutcome`, or a plain tuple of its five fields: what a load builds for each accepted row,
because a NamedTuple's constructor is Python code and a tuple display is not."""

_ROW_OF: Final = operator.itemgetter(0)  # RowOutcome.row


class ResultsWriter:
    """Writes the per-row results CSV in row order while outcomes arrive out of order.

    Hand it outcomes with `add(block)` where a block covers a contiguous range of row numbers
    (any order inside), e.g. one chunk's rows together with the locally rejected rows that sit
    between them in the file. Blocks may arrive in any order; a block is written as soon as every
    row before it is written, so memory holds only blocks waiting for an earlier one (as CSV text).
    The caller bounds that by limiting how far sending runs ahead of the oldest unfinished chunk.
    Rows are numbered from 1 with no gaps; `rows_written` counts those written so far.

    `close()` raises `ValueError` if rows are missing (after writing every buffered block in order,
    so no outcome is lost).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Create the file at exactly `path` (mode 0600), never through a symlink and never over
        anything already there: `FileExistsError` then (see `create` to pick a free name)."""
        self.path = Path(path)
        descriptor = os.open(self.path, _CREATE_NEW, 0o600)
        # Excel, where users open this, needs the BOM to read accents correctly. It is written by
        # hand: the utf-8-sig codec encodes every row in Python, plain utf-8 does it in C.
        self._handle: io.TextIOWrapper | None = os.fdopen(descriptor, "w", encoding="utf-8", newline="")
        self._handle.write("\ufeff")
        csv.writer(self._handle).writerow(RESULTS_HEADER)
        self._next_row = 1
        self._pending: dict[int, tuple[int, str]] = {}  # first row -> (rows, their CSV text)
        self.rows_written = 0

    @classmethod
    def create(
        cls, input_path: str | os.PathLike[str] | None = None, *, path: str | os.PathLike[str] | None = None
    ) -> ResultsWriter:
        """The results file of a load, named and created in one step (see the module docstring).

        `path`, when given, is created exactly (`FileExistsError` if taken). Otherwise the first
        free name of `<stem>.results.csv`, `<stem>.results.2.csv`, ... next to `input_path`, or in
        a private temp directory when that directory is not writable or `input_path` is None
        (inline rows, named by the time). A name is free when nothing is there, not even a
        dangling symlink: taking a name and creating the file are one `open`, so nothing can slip
        in between.
        """
        if path is not None:
            return cls(path)
        if input_path is None:
            return cls._first_free(_private_temp_dir(), time.strftime("inline-%Y%m%d-%H%M%S"))
        source = Path(input_path)
        if os.access(source.parent, os.W_OK):
            with contextlib.suppress(PermissionError):  # e.g. a read-only mount os.access missed
                return cls._first_free(source.parent, source.stem)
        return cls._first_free(_private_temp_dir(), source.stem)

    @classmethod
    def _first_free(cls, directory: Path, stem: str) -> ResultsWriter:
        for number in range(1, _MAX_RESULTS_NAMES + 1):
            name = f"{stem}.results.csv" if number == 1 else f"{stem}.results.{number}.csv"
            try:
                return cls(directory / name)
            except OSError as exc:
                # EEXIST: the name is taken (a symlink too); O_NOFOLLOW says ELOOP (Linux, macOS) or
                # EMLINK (FreeBSD) where a symlink is met before O_EXCL is.
                if exc.errno not in (errno.EEXIST, errno.ELOOP, errno.EMLINK):
                    raise
        raise FileExistsError(
            f"{directory}: {stem}.results.csv and {_MAX_RESULTS_NAMES - 1} numbered results files "
            "exist already; move old ones away."
        )

    def add(self, outcomes: Iterable[OutcomeLine]) -> None:
        """Accept the outcomes of one contiguous block of rows; write what is now in order."""
        if self._handle is None:
            raise ValueError("ResultsWriter is closed")
        block = list(outcomes)
        if not block:
            return
        rows = list(map(_ROW_OF, block))
        first, last = min(rows), max(rows)
        # Spanning exactly len(block) numbers and distinct means contiguous. Checked in C, as this
        # runs for every row of a load; a block that arrives in row order (the usual) is not sorted.
        if last - first + 1 != len(block) or len(set(rows)) != len(block):
            raise ValueError(
                f"outcomes for rows {first}..{last} are not one contiguous block of distinct rows"
            )
        if first < self._next_row or any(
            start <= last and first < start + pending[0] for start, pending in self._pending.items()
        ):
            raise ValueError(f"rows {first}..{last} overlap rows already reported")
        if rows != sorted(rows):
            block.sort(key=_ROW_OF)
        self._pending[first] = (len(block), _csv_text(block))
        self._flush_ready()

    def _flush_ready(self) -> None:
        while (block := self._pending.pop(self._next_row, None)) is not None:
            self._write(*block)

    def _write(self, rows: int, text: str) -> None:
        assert self._handle is not None
        self._handle.write(text)
        self._next_row += rows
        self.rows_written += rows

    def close(self, *, expected_rows: int | None = None) -> None:
        """Write any buffered blocks (in row order) and close; raise if rows are missing.

        `expected_rows`, when given, also checks that exactly that many rows were reported.
        """
        if self._handle is None:
            return
        missing: list[str] = []
        for start in sorted(self._pending):
            if start != self._next_row:
                missing.append(f"{self._next_row}..{start - 1}")
                self._next_row = start
            self._write(*self._pending.pop(start))
        self._handle.close()
        self._handle = None
        if expected_rows is not None and self._next_row - 1 < expected_rows:
            missing.append(f"{self._next_row}..{expected_rows}")
        if missing:
            raise ValueError(f"results file {self.path.name} lacks rows {', '.join(missing)}")
        if expected_rows is not None and self.rows_written != expected_rows:
            raise ValueError(f"results file has {self.rows_written} rows, expected {expected_rows}")


def _csv_text(lines: list[OutcomeLine]) -> str:
    """The lines as the csv module writes them, with cells that Excel would run as a formula
    neutralised (`_neutral`). Joined by hand when no field needs quoting (no comma, quote or line
    break: phones and status codes never do) nor neutralising, which takes a third of the time."""
    text = "".join(
        [f"{row},{phone},{outcome},{status},{reason}\r\n" for row, phone, outcome, status, reason in lines]
    )
    n = len(lines)
    if (
        text.count(",") == 4 * n
        and text.count("\n") == n
        and text.count("\r") == n
        and '"' not in text
        and not _may_start_a_formula(text)
    ):
        return text
    buffer = io.StringIO()
    csv.writer(buffer).writerows(
        [
            (row, _neutral(phone), outcome, _neutral(status), _neutral(reason))
            for row, phone, outcome, status, reason in lines
        ]
    )
    return buffer.getvalue()


# Excel and its kin run a cell that starts with one of these as a formula (tab and CR are OWASP's:
# some readers drop them and then see the next character).
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
# In text whose only commas separate fields (`_csv_text`'s plain case), a cell starts after a comma
# (a line starts with the row number); a cell starting with \r would add a \r, which that case
# excludes by count.
_FORMULA_AFTER_COMMA: Final = re.compile(",[=+\\-@\t]")


def _may_start_a_formula(text: str) -> bool:
    """Whether a cell of plain-joined results text starts like a formula. One memchr per character
    first (microseconds for a chunk): the usual text, digits and words, holds none of them."""
    if "=" in text or "+" in text or "-" in text or "@" in text or "\t" in text:
        return _FORMULA_AFTER_COMMA.search(text) is not None
    return False


def _neutral(cell: str) -> str:
    """The cell with a leading `'` when it starts like a formula (OWASP: shown as text, not run)."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


# Create, write only, and fail rather than reuse whatever is at the name: a file (EEXIST) or a
# symlink, dangling or not (O_EXCL never follows one; O_NOFOLLOW says so twice).
_CREATE_NEW: Final = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
)


def _private_temp_dir() -> Path:
    """`<tempdir>/lynn-mcp`, for results files with nowhere better to go, made 0700 and checked to
    be this user's own directory (not a symlink): in a shared temp directory another user could
    have made it first, to read or replace what lands there. If it is not ours, a fresh private
    directory (`mkdtemp`) instead."""
    directory = Path(tempfile.gettempdir()) / "lynn-mcp"
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700)
    info = os.lstat(directory)
    ours = stat.S_ISDIR(info.st_mode) and (not hasattr(os, "getuid") or info.st_uid == os.getuid())
    if not ours:
        return Path(tempfile.mkdtemp(prefix="lynn-mcp-"))
    if info.st_mode & 0o077:
        os.chmod(directory, 0o700)  # made by an earlier version with the default mode
    return directory
