"""Row files: read rows from CSV/.cpg/.xlsx/JSON files in constant memory, write per-row results.

This module is pure file I/O (no HTTP, no MCP). Validation against a template lives in
`lynn_mcp.rows`.

Reading
    `iter_file_rows(path, column_map=...)` returns a `RowSource`: a re-iterable view of the file.
    `source.header` is the header after `column_map` (file header -> template column; unmapped
    headers pass through). Iterating yields `(row_no, row)` where `row_no` is the 1-based number of
    the data row in file order and `row` is a `dict[str, str]`; each iteration re-opens the file, so
    a dry run and the real load can share one source. `count_rows(path)` counts the same rows
    without building them, for progress totals.

    Formats by extension:

    - `.csv`, `.txt`, `.cpg`: UTF-8 with or without BOM; the delimiter (`,` or `;`) is chosen from
      the header line (the one that splits it into more fields; `,` on a tie); quoted fields may
      contain the delimiter, quotes and newlines. Blank lines and rows whose cells are all empty
      are skipped and not numbered (spreadsheet exports end with such rows). Columns whose header
      cell is blank are ignored (a trailing delimiter in the header is common).
    - `.xlsx` (optional extra `lynn-mcp[xlsx]`): first sheet, first non-blank row is the header.
      Cells become text: integral numbers without `.0`, dates and date-times in ISO 8601,
      booleans `true`/`false`. Memory caveat: calamine loads the whole sheet into native memory
      before rows are iterated (there is no streaming xlsx reader in it), so an .xlsx costs memory
      proportional to the sheet; Excel caps a sheet at 1,048,576 rows. Use CSV for huge loads.
    - `.json`: a JSON array of objects, parsed incrementally (one element at a time), so memory is
      constant too; one element may be at most `MAX_JSON_ELEMENT_CHARS` characters.
    - `.jsonl`, `.ndjson`: one JSON object per line; blank lines skipped.

    For JSON formats the header is the key list of the first object (looking ahead past up to
    `_HEADER_LOOKAHEAD` malformed elements). Values become `str`: `None` -> "", booleans
    `true`/`false`, integral numbers without `.0`. JSON array elements are never skipped: row N is
    element N.

Malformed content (decided: per row, not per file)
    A line that cannot be a row (a JSON line that is not valid JSON or not an object, an object with
    a nested list/object value, a CSV row with more non-empty fields than the header) is yielded
    as a `MalformedRow`: a `dict` subclass holding what could be read (so the phone can still be
    shown) plus `.detail`. `RowChecker` in `lynn_mcp.rows` rejects it as `malformed_row`, so one
    bad line does not sink the load. `RowFileError` (a `ValueError`) is raised only when the file
    as a whole is unusable: unknown extension, no header, duplicate column names, undecodable
    text (not UTF-8), broken CSV quoting or a JSON array whose syntax is broken (after which
    elements cannot be told apart), a missing optional dependency.

Results
    `ResultsWriter(path)` writes `row,phone,outcome,status,reason`, one line per input row, in row
    order although outcomes arrive per chunk out of order; `default_results_path()` picks where.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import itertools
import json
import operator
import os
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, NamedTuple, Self

__all__ = [
    "MAX_JSON_ELEMENT_CHARS",
    "SUPPORTED_EXTENSIONS",
    "MalformedRow",
    "Outcome",
    "OutcomeLine",
    "ResultsWriter",
    "RowFileError",
    "RowOutcome",
    "RowSource",
    "cell_to_str",
    "count_rows",
    "default_results_path",
    "inline_rows",
    "iter_file_rows",
]

SUPPORTED_EXTENSIONS: Final = (".csv", ".txt", ".cpg", ".xlsx", ".json", ".jsonl", ".ndjson")
MAX_JSON_ELEMENT_CHARS: Final = 1_000_000
_JSON_READ_CHARS: Final = 1 << 16
_HEADER_LOOKAHEAD: Final = 100
_XLSX_HINT: Final = "reading .xlsx files needs the optional extra: pip install 'lynn-mcp[xlsx]'"

Row = dict[str, str]
RowIter = Iterator[tuple[int, Row]]


class RowFileError(ValueError):
    """The file as a whole cannot be read as rows (the message says why and, if known, where)."""


class MalformedRow(dict[str, str]):
    """A row that could not be read cleanly; holds what could be read plus `detail`.

    It is a `dict` so every row has one type; `lynn_mcp.rows.RowChecker` rejects it as
    `malformed_row` with `detail` as the reason.
    """

    __slots__ = ("detail",)

    def __init__(self, detail: str, partial: Mapping[str, str] | None = None) -> None:
        super().__init__(partial or {})
        self.detail = detail


# --------------------------------------------------------------------------- value conversion


def cell_to_str(value: object) -> str:
    """Text for one spreadsheet or JSON scalar: "" for None, no `.0` on integral numbers, ISO dates."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


# --------------------------------------------------------------------------- format readers
# Each `_open_*` is a context manager giving (raw header, iterator of (row_no, cells or dict)).
# Positional formats give cell lists, keyed by the (mapped) header in `RowSource`; JSON formats give
# dicts already keyed by (mapped) names because their keys live in every element.

_Cells = list[str]
_Opener = Callable[[Path], contextlib.AbstractContextManager[tuple[list[str], Iterator[tuple[int, _Cells]]]]]


def _choose_delimiter(header_line: str) -> str:
    def width(delimiter: str) -> int:
        return len(next(csv.reader([header_line], delimiter=delimiter), []))

    return ";" if width(";") > width(",") else ","


@contextlib.contextmanager
def _open_csv(path: Path) -> Iterator[tuple[list[str], Iterator[tuple[int, _Cells]]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        first_line = ""
        try:
            for first_line in handle:
                if first_line.strip():
                    break
        except UnicodeDecodeError as exc:
            raise RowFileError(
                f"{path.name}: the start of the file is not UTF-8 text; save the file as 'CSV UTF-8'."
            ) from exc
        if not first_line.strip():
            raise RowFileError(f"{path.name}: the file is empty (no header line).")
        reader = csv.reader(itertools.chain([first_line], handle), delimiter=_choose_delimiter(first_line))
        header = next(reader)
        yield header, _csv_rows(reader, path)


def _csv_rows(reader: Any, path: Path) -> Iterator[tuple[int, _Cells]]:
    # `reader` is a csv reader (its type is private to the csv module).
    row_no = 0
    try:
        for cells in reader:
            if any(cells):
                row_no += 1
                yield row_no, cells
    except UnicodeDecodeError as exc:
        raise RowFileError(
            f"{path.name}: the text after data row {row_no} is not UTF-8; save the file as 'CSV UTF-8'."
        ) from exc
    except csv.Error as exc:
        raise RowFileError(f"{path.name}: CSV error near data row {row_no + 1}: {exc}") from exc


def _count_plain_csv_rows(path: Path) -> int | None:
    """The data rows `_open_csv` yields, counted on bytes (a third of the time of parsing them), or
    None when only the csv module can tell rows apart: a quote (a quoted field may hold a newline),
    a lone carriage return (a line break to it), a NUL, or text that is not UTF-8 (the reader words
    that error). A row is a line with something besides delimiters, as `any(cells)` decides."""
    filler = b""  # set once the header is found: the delimiter and \r, which alone do not make a row
    rows = 0
    with path.open("rb") as handle:
        for text in _whole_lines(handle):
            lone_cr = b"\r" in text and text.count(b"\r") != text.count(b"\r\n")
            if b'"' in text or b"\0" in text or lone_cr:
                return None
            try:
                text.decode("utf-8")
            except UnicodeDecodeError:
                return None
            if not filler:
                text, filler = _after_header(text)
            if filler:
                rows += _count_row_lines(text, filler)
    return rows


def _after_header(text: bytes) -> tuple[bytes, bytes]:
    """The text after the header line, and the filler bytes of its data lines (the delimiter the
    header uses, and \r); (b"", b"") when `text` holds only blank lines."""
    position = 0
    while position < len(text):
        end = text.find(b"\n", position)
        end = len(text) if end < 0 else end + 1
        line = text[position:end].decode("utf-8")
        position = end
        if line.strip():
            return text[position:], b"\r" + _choose_delimiter(line).encode()
    return b"", b""


def _count_row_lines(text: bytes, filler: bytes) -> int:
    lines = text.translate(None, filler).split(b"\n")  # a line of nothing but filler becomes empty
    if text.endswith(b"\n"):
        lines.pop()  # the empty text after the last line break
    return len(lines) - lines.count(b"")


def _whole_lines(handle: io.BufferedReader) -> Iterator[bytes]:
    """The file in blocks of about 1 MiB that end at a line break (the last one may not), BOM dropped."""
    carry = b""
    first = True
    while block := handle.read(1 << 20):
        if first and block.startswith(codecs.BOM_UTF8):
            block = block[len(codecs.BOM_UTF8) :]
        first = False
        block = carry + block
        cut = block.rfind(b"\n") + 1
        carry = block[cut:]
        if cut:
            yield block[:cut]
    if carry:
        yield carry


@contextlib.contextmanager
def _open_xlsx(path: Path) -> Iterator[tuple[list[str], Iterator[tuple[int, _Cells]]]]:
    try:
        # Imported here, not at module top: python-calamine is an optional extra needed only for .xlsx.
        import python_calamine
    except ImportError as exc:
        raise RowFileError(_XLSX_HINT) from exc
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.CalamineError as exc:
        raise RowFileError(f"{path.name}: not a readable .xlsx workbook ({exc}).") from exc
    with workbook:
        sheet = workbook.get_sheet_by_index(0)
        rows = (list(map(cell_to_str, cells)) for cells in sheet.iter_rows())
        header = next((cells for cells in rows if any(cells)), None)
        if header is None:
            raise RowFileError(f"{path.name}: the first sheet is empty (no header row).")
        yield header, _numbered_nonblank(rows)


def _numbered_nonblank(rows: Iterator[_Cells]) -> Iterator[tuple[int, _Cells]]:
    row_no = 0
    for cells in rows:
        if any(cells):
            row_no += 1
            yield row_no, cells


def _json_item_to_row(item: object, key_for: Callable[[str], str]) -> Row:
    """A JSON element as a row; anything but an object of scalars becomes a `MalformedRow`."""
    if not isinstance(item, dict):
        return MalformedRow(f"expected a JSON object, found {type(item).__name__}")
    row: Row = {}
    nested: list[str] = []
    for key, value in item.items():
        if isinstance(value, dict | list):
            nested.append(key)
            continue
        row[key_for(key)] = cell_to_str(value)
    if nested:
        return MalformedRow(f"nested value in {', '.join(nested)}", row)
    return row


def _jsonl_items(path: Path) -> Generator[tuple[int, object], None, None]:
    with path.open(encoding="utf-8-sig") as handle:
        row_no = 0
        try:
            for line in handle:
                if not line.strip():
                    continue
                row_no += 1
                try:
                    yield row_no, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield row_no, _BadJson(f"not valid JSON: {exc.msg} at column {exc.colno}")
        except UnicodeDecodeError as exc:
            raise RowFileError(f"{path.name}: data row {row_no + 1} is not UTF-8 text.") from exc


class _BadJson:
    """Marker for a JSON line that failed to parse (kept apart from a valid non-object value)."""

    __slots__ = ("detail",)

    def __init__(self, detail: str) -> None:
        self.detail = detail


def _json_array_items(path: Path) -> Generator[tuple[int, object], None, None]:
    """Elements of a top-level JSON array, decoded one at a time from a bounded text buffer."""
    decoder = json.JSONDecoder()
    with path.open(encoding="utf-8-sig") as handle:
        buffer = ""
        at_eof = False
        position = 0

        def fill() -> bool:
            nonlocal buffer, position, at_eof
            if at_eof:
                return False
            try:
                more = handle.read(_JSON_READ_CHARS)
            except UnicodeDecodeError as exc:
                raise RowFileError(f"{path.name}: the file is not UTF-8 text.") from exc
            buffer = buffer[position:] + more
            position = 0
            at_eof = not more
            return bool(more)

        def next_significant() -> str:
            nonlocal position
            while True:
                while position < len(buffer) and buffer[position] in " \t\r\n":
                    position += 1
                if position < len(buffer):
                    return buffer[position]
                if not fill():
                    return ""

        if next_significant() != "[":
            raise RowFileError(
                f"{path.name}: expected a JSON array of objects (the file must start with '[')."
            )
        position += 1
        index = 0
        if next_significant() == "]":
            return
        while True:
            next_significant()
            while True:
                try:
                    item, end = decoder.raw_decode(buffer, position)
                except json.JSONDecodeError as exc:
                    if len(buffer) - position > MAX_JSON_ELEMENT_CHARS:
                        raise RowFileError(
                            f"{path.name}: element {index + 1} is longer than "
                            f"{MAX_JSON_ELEMENT_CHARS} characters."
                        ) from exc
                    if not fill():
                        raise RowFileError(
                            f"{path.name}: invalid JSON in element {index + 1}: {exc.msg}"
                            " (after a syntax error the remaining elements cannot be found)."
                        ) from exc
                    continue
                if end == len(buffer) and fill():
                    continue  # a number at the buffer's end may continue in the next read
                break
            index += 1
            position = end
            yield index, item
            separator = next_significant()
            if separator == "]":
                return
            if separator != ",":
                raise RowFileError(
                    f"{path.name}: after element {index} expected ',' or ']', "
                    f"found {separator or 'end of file'!r}."
                )
            position += 1
            if next_significant() == "]":
                raise RowFileError(f"{path.name}: trailing comma after element {index} (not valid JSON).")


# --------------------------------------------------------------------------- the row source


class RowSource:
    """A re-iterable view of the rows of one file (or of inline records).

    `header` is the column list after `column_map`; iterating yields `(row_no, row)` with 1-based
    data-row numbers in file order. Each iteration opens the file afresh and holds one row at a
    time; close an abandoned iteration with `contextlib.closing(iter(source))` if it matters when
    the file handle is released.
    """

    def __init__(
        self,
        path: Path | None,
        column_map: Mapping[str, str] | None,
        records: Sequence[Mapping[str, object]] | None = None,
    ) -> None:
        self.path = path
        self.column_map: dict[str, str] = {key.strip(): value for key, value in (column_map or {}).items()}
        self._records = records
        self._header: list[str] | None = None
        self._raw_header: list[str] | None = None
        suffix = path.suffix.lower() if path is not None else ""
        self.format: str = suffix.lstrip(".") if path is not None else "inline"
        if path is not None and suffix not in SUPPORTED_EXTENSIONS:
            raise RowFileError(
                f"{path.name}: unsupported file type {suffix or '(none)'!r}; "
                f"supported: {', '.join(SUPPORTED_EXTENSIONS)}."
            )

    # -- public

    @property
    def header(self) -> list[str]:
        """Column names after `column_map` (file order; blank header cells dropped)."""
        if self._header is None:
            for _ in self._iterate(header_only=True):  # yields nothing; running it reads the header
                pass
        assert self._header is not None
        return list(self._header)

    @property
    def unused_map_keys(self) -> list[str]:
        """`column_map` keys that match no header in the file (likely typos)."""
        raw = set(self._raw_header_names())
        return [key for key in self.column_map if key not in raw]

    def __iter__(self) -> RowIter:
        return self._iterate(header_only=False)

    def count_rows(self) -> int:
        """How many rows iteration yields; reads the file once without building rows."""
        if self._records is not None:
            return len(self._records)
        assert self.path is not None
        if self.format in ("json", "jsonl", "ndjson"):
            items = _json_array_items(self.path) if self.format == "json" else _jsonl_items(self.path)
            return sum(1 for _ in items)
        if self.format != "xlsx" and (plain := _count_plain_csv_rows(self.path)) is not None:
            return plain
        with self._positional_opener()(self.path) as (_, cells):
            return sum(1 for _ in cells)

    # -- internals

    def _raw_header_names(self) -> list[str]:
        if self._raw_header is None:
            self.header  # noqa: B018 - reading the header fills _raw_header
        assert self._raw_header is not None
        return self._raw_header

    def _target(self, name: str) -> str:
        name = name.strip()
        return self.column_map.get(name, name)

    def _set_header(self, raw: list[str]) -> list[str]:
        """Record the header; return the key for each position ("" = ignored column)."""
        stripped = [name.strip() for name in raw]
        keys = [self.column_map.get(name, name) if name else "" for name in stripped]
        named = [key for key in keys if key]
        duplicates = sorted({key for key in named if named.count(key) > 1})
        if duplicates:
            where = self.path.name if self.path is not None else "rows"
            raise RowFileError(
                f"{where}: column(s) {', '.join(map(repr, duplicates))} appear more than once "
                "(in the header, or after column_map)."
            )
        self._raw_header = [name for name in stripped if name]
        self._header = named
        return keys

    def _positional_opener(self) -> _Opener:
        return _open_xlsx if self.format == "xlsx" else _open_csv

    def _iterate(self, *, header_only: bool) -> RowIter:
        if self._records is not None:
            yield from self._iterate_records(self._records, header_only=header_only)
        elif self.format in ("json", "jsonl", "ndjson"):
            assert self.path is not None
            items = _json_array_items(self.path) if self.format == "json" else _jsonl_items(self.path)
            yield from self._iterate_json(items, header_only=header_only)
        else:
            assert self.path is not None
            with self._positional_opener()(self.path) as (raw_header, cells_iter):
                keys = self._set_header(raw_header)
                if not header_only:
                    yield from _key_cells(cells_iter, keys)

    def _iterate_json(
        self, items: Generator[tuple[int, object], None, None], *, header_only: bool
    ) -> RowIter:
        with contextlib.closing(items):
            lookahead: list[tuple[int, object]] = []
            for numbered in items:
                lookahead.append(numbered)
                if isinstance(numbered[1], dict) or len(lookahead) >= _HEADER_LOOKAHEAD:
                    break
            first = lookahead[-1][1] if lookahead else None
            self._set_header([str(key) for key in first] if isinstance(first, dict) else [])
            if header_only:
                return
            cache: dict[str, str] = {}

            def key_for(key: str) -> str:
                target = cache.get(key)
                if target is None:
                    target = cache[key] = self._target(key)
                return target

            for row_no, item in itertools.chain(lookahead, items):
                if isinstance(item, _BadJson):
                    yield row_no, MalformedRow(item.detail)
                else:
                    yield row_no, _json_item_to_row(item, key_for)

    def _iterate_records(self, records: Sequence[Mapping[str, object]], *, header_only: bool) -> RowIter:
        first = records[0] if records else {}
        self._set_header([str(key) for key in first])
        if header_only:
            return
        for row_no, record in enumerate(records, start=1):
            yield row_no, _json_item_to_row(dict(record), self._target)


def _key_cells(cells_iter: Iterator[tuple[int, _Cells]], keys: list[str]) -> RowIter:
    """Key positional cells by header; extra non-empty cells make a `MalformedRow`."""
    width = len(keys)
    has_ignored = "" in keys
    for row_no, cells in cells_iter:
        # B905 off: a short row is cut on purpose (the checker names its missing columns), and
        # zip(strict=False) costs 40% more per row on this hot path.
        row = dict(zip(keys, cells))  # noqa: B905
        if has_ignored:
            row.pop("", None)
        if len(cells) > width and any(cells[width:]):
            yield row_no, MalformedRow(f"row has {len(cells)} fields but the header has {width}", row)
        else:
            yield row_no, row


def iter_file_rows(path: str | os.PathLike[str], *, column_map: Mapping[str, str] | None = None) -> RowSource:
    """Open `path` as a `RowSource` (format from the extension; see the module docstring).

    Raises `RowFileError` at once for an unsupported extension; other file-level problems surface
    when the header is read or iteration starts. `column_map` maps file header -> template column.
    """
    return RowSource(Path(path), column_map)


def inline_rows(
    records: Sequence[Mapping[str, object]], *, column_map: Mapping[str, str] | None = None
) -> RowSource:
    """A `RowSource` over records given in memory (a tool's inline `rows`); same value rules as JSON.

    The header is the key list of the first record.
    """
    return RowSource(None, column_map, records)


def count_rows(path: str | os.PathLike[str]) -> int:
    """How many data rows `iter_file_rows(path)` yields (one streaming pass, no row dicts kept)."""
    return iter_file_rows(path).count_rows()


# --------------------------------------------------------------------------- results file

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
    The caller bounds that by limiting how far sending runs ahead of the oldest unfinished chunk
    (`pending_rows` tells how much is buffered). Rows are numbered from 1 with no gaps.

    Use as a context manager; `close()` raises `ValueError` if rows are missing (after writing
    every buffered block in order, so no outcome is lost).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        # Excel, where users open this, needs the BOM to read accents correctly. It is written by
        # hand: the utf-8-sig codec encodes every row in Python, plain utf-8 does it in C.
        self._handle: io.TextIOWrapper | None = self.path.open("w", encoding="utf-8", newline="")
        self._handle.write("\ufeff")
        csv.writer(self._handle).writerow(RESULTS_HEADER)
        self._next_row = 1
        self._pending: dict[int, tuple[int, str]] = {}  # first row -> (rows, their CSV text)
        self.rows_written = 0

    @property
    def pending_rows(self) -> int:
        """Rows buffered because an earlier block has not arrived yet."""
        return sum(rows for rows, _ in self._pending.values())

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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:  # keep what we have without masking the original error
            with contextlib.suppress(ValueError):
                self.close()


def _csv_text(lines: list[OutcomeLine]) -> str:
    """The lines as the csv module writes them. Joined by hand when no field needs quoting (no
    comma, quote or line break: phones and status codes never do), which takes a third of the time."""
    text = "".join(
        [f"{row},{phone},{outcome},{status},{reason}\r\n" for row, phone, outcome, status, reason in lines]
    )
    n = len(lines)
    if text.count(",") == 4 * n and text.count("\n") == n and text.count("\r") == n and '"' not in text:
        return text
    buffer = io.StringIO()
    csv.writer(buffer).writerows(lines)
    return buffer.getvalue()


def default_results_path(input_path: str | os.PathLike[str] | None = None) -> Path:
    """Where the results of a load go; never overwrites an earlier results file.

    Next to the input as `<stem>.results.csv` (then `<stem>.results.2.csv`, ...) when its directory
    is writable, otherwise in `<tempdir>/lynn-mcp/`; inline rows (`None`) get a fresh file in that
    temp directory.
    """
    temp_dir = Path(tempfile.gettempdir()) / "lynn-mcp"
    if input_path is None:
        temp_dir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix="inline-", suffix=".results.csv", dir=temp_dir)
        os.close(handle)
        return Path(name)
    source = Path(input_path)
    directory = source.parent if os.access(source.parent, os.W_OK) else temp_dir
    directory.mkdir(parents=True, exist_ok=True)
    candidate = directory / f"{source.stem}.results.csv"
    counter = 2
    while candidate.exists():
        candidate = directory / f"{source.stem}.results.{counter}.csv"
        counter += 1
    return candidate
