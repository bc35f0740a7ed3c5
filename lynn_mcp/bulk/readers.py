"""Row files: read rows from CSV/.cpg/.xlsx/JSON files in constant memory, write per-row results.

This module is pure file I/O (no HTTP, no MCP). Validation against a template lives in
`lynn_mcp.bulk.checks`.

Reading
    `iter_file_rows(path, column_map=...)` returns a `RowSource`: a re-iterable view of the file.
    `source.header` is the header after `column_map` (file header -> template column; unmapped
    headers pass through). Iterating yields `(row_no, row)` where `row_no` is the 1-based number of
    the data row in file order and `row` is a `dict[str, str]`; each iteration re-opens the file, so
    a dry run and the real load can share one source. `source.count_rows()` counts the same rows
    without building them, for progress totals.

    Formats by extension:

    - `.csv`, `.txt`, `.cpg`: UTF-8 with or without BOM; the delimiter (`,` or `;`) is chosen from
      the header line (the one that splits it into more fields; `,` on a tie); quoted fields may
      contain the delimiter, quotes and newlines. Blank lines and rows whose cells are all empty
      are skipped and not numbered (spreadsheet exports end with such rows). Columns whose header
      cell is blank are ignored (a trailing delimiter in the header is common).
    - `.xlsx` (optional extra `lynn-mcp[xlsx]`): the first visible sheet whose first non-blank row
      looks like a header with a phone column (after `column_map`, a cell of at most
      `_HEADER_CELL_WORDS` words that `is_phone_column_name`, or `identifier`, the blacklist's
      column); that row is the header. So a workbook that opens on an "Instructions" sheet, or an
      empty one, is read from its data sheet; a workbook with no such sheet is a `RowFileError`
      naming its sheets. `source.sheet_name` and `source.sheet_names` say which sheet was read
      among which (`sheet_note` as a sentence for a report); both are empty for other formats.
      Cells become text: integral numbers without `.0`, dates and date-times in ISO 8601,
      booleans `true`/`false`. Memory caveat: calamine loads the whole sheet into native memory
      before rows are iterated (there is no streaming xlsx reader in it), so an .xlsx costs memory
      proportional to the sheet; Excel caps a sheet at 1,048,576 rows. Use CSV for huge loads.
    - `.json`: a JSON array of objects, parsed incrementally (one element at a time), so memory is
      constant too; one element may be at most `MAX_JSON_ELEMENT_CHARS` characters.
    - `.jsonl`, `.ndjson`: one JSON object per line; blank lines skipped.

    For JSON formats the header is the key list of the first object (looking ahead past up to
    `_HEADER_LOOKAHEAD` malformed elements). Values become `str`: `None` -> "", booleans
    `true`/`false`, integral numbers without `.0`; a number written in exponent form (`5.69E+10`)
    stays as written, because as a float it would print as a plausible integer whose lost digits
    became zeros. JSON array elements are never skipped: row N is element N.

    Numbers (`cell_to_str`): a float that is an integer below 2**53 (exact in a float: every phone)
    becomes its digits; a larger one may have lost digits and keeps its exponent form (`1e+16`), so
    it never reads as a valid-looking number. Values given inline as JSON numbers arrive parsed;
    one that was written in exponent form cannot be told apart, which is why phones belong in text.

Limits, the same for counting and reading
    A cell may hold at most `MAX_CELL_CHARS` (10,000) characters, in every format (CSV, .cpg,
    .xlsx, JSON, JSON lines, inline rows): a row with a longer cell is a `MalformedRow` whose
    detail names the column and the size, so it is rejected as `malformed_row` and the rest loads.
    The csv module's own field limit (131,072 characters by default) is lifted at import, so it
    never raises in the middle of a file the byte counter counted whole; `LYNN_MAX_FILE_MB` bounds
    the memory one cell can take. `count_rows()` and iteration agree on the rows of every file.

Malformed content (decided: per row, not per file)
    A line that cannot be a row (a JSON line that is not valid JSON or not an object, an object with
    a nested list/object value, a CSV row with more non-empty fields than the header, a cell over
    `MAX_CELL_CHARS`) is yielded as a `MalformedRow`: a `dict` subclass holding what could be read
    (so the phone can still be shown; an over-long cell is left out) plus `.detail`. `RowChecker`
    in `lynn_mcp.bulk.checks` rejects it as `malformed_row`, so one bad line does not sink the load.
    `RowFileError` (a `ValueError`) is raised only when the file as a whole is unusable: unknown
    extension, no header, duplicate column names, undecodable text (not UTF-8: the message names
    the data row and file line of the first byte that is not, found on the error path by reading
    the file again, since the text decoder reads ahead), broken CSV quoting or a JSON array whose
    syntax is broken (after which elements cannot be told apart), a workbook without a data sheet,
    a missing optional dependency.

Fingerprint
    `count_rows()` on a file source also sets `source.digest`, the sha256 hex digest of the file's
    bytes (hashed in the pass the byte counter already makes over a plain CSV; one more streaming
    read for other formats), and snapshots the file's size, st_mtime_ns, st_ctime_ns and st_ino as
    it starts. `source.changed()` stats the file again (cheap: once per chunk) and is True when any
    of those differ or the file is gone: the rows being read may no longer be the rows counted.
    Inline rows have no file: `digest` stays None and `changed()` is False, as it is before
    `count_rows()`.

Results
    `ResultsWriter.create(input_path)` picks the name and creates the file in one step: next to
    the input as `<stem>.results.csv`, or `<stem>.results.2.csv`, ... when that name is taken
    (anything there, a dangling symlink included, is left untouched), in a private
    `<tempdir>/lynn-mcp/` when the input's directory is not writable or for inline rows. Each
    candidate is created with `O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0600, so the file is never one it
    did not create and never reached through a symlink; `ResultsWriter(path)` creates exactly `path`
    the same way (`FileExistsError` if anything is there). It writes `row,phone,outcome,status,
    reason`, one line per input row, in row order although outcomes arrive per chunk out of order.
    The file is made for Excel: a phone, status or reason cell that starts with `=`, `+`, `-`, `@`,
    tab or carriage return gets a leading `'` (OWASP's rule against CSV formula injection), so a
    spreadsheet shows it as text instead of running it.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import errno
import hashlib
import io
import itertools
import json
import operator
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final, Literal, NamedTuple

from lynn_mcp.bulk.template import is_phone_column_name

__all__ = [
    "MAX_CELL_CHARS",
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
    "inline_rows",
    "iter_file_rows",
]

SUPPORTED_EXTENSIONS: Final = (".csv", ".txt", ".cpg", ".xlsx", ".json", ".jsonl", ".ndjson")
MAX_CELL_CHARS: Final = 10_000
MAX_JSON_ELEMENT_CHARS: Final = 1_000_000
_JSON_READ_CHARS: Final = 1 << 16
_HEADER_LOOKAHEAD: Final = 100
_XLSX_HINT: Final = "reading .xlsx files needs the optional extra: pip install 'lynn-mcp[xlsx]'"
# A header cell is a column name, not a sentence: "Número de teléfono móvil" is, "Fill in the phone
# column" (the first line of an instructions sheet) is not.
_HEADER_CELL_WORDS: Final = 4
_MAX_RESULTS_NAMES: Final = 1000

# The csv module refuses a field over 131,072 characters with an error raised in the middle of the
# file, after the byte counter counted every row and chunks were sent. Lifted once, for the whole
# process, so that error never happens: a cell over MAX_CELL_CHARS makes its row a MalformedRow, and
# LYNN_MAX_FILE_MB (the largest file a tool reads) bounds the memory one cell can take.
try:
    csv.field_size_limit(sys.maxsize)
except OverflowError:  # where a C long has 32 bits (Windows), files over 2 GiB are not supported anyway
    csv.field_size_limit(2**31 - 1)

Row = dict[str, str]
RowIter = Iterator[tuple[int, Row]]


class RowFileError(ValueError):
    """The file as a whole cannot be read as rows (the message says why and, if known, where)."""


class MalformedRow(dict[str, str]):
    """A row that could not be read cleanly; holds what could be read plus `detail`.

    It is a `dict` so every row has one type; `lynn_mcp.bulk.checks.RowChecker` rejects it as
    `malformed_row` with `detail` as the reason.
    """

    __slots__ = ("detail",)

    def __init__(self, detail: str, partial: Mapping[str, str] | None = None) -> None:
        super().__init__(partial or {})
        self.detail = detail


# --------------------------------------------------------------------------- value conversion

# Floats hold every integer below 2**53 exactly; above it a float's integer digits may be made up.
_EXACT_FLOAT_INTEGERS: Final = 2.0**53


def cell_to_str(value: object) -> str:
    """Text for one spreadsheet or JSON scalar: "" for None, no `.0` on integral numbers, ISO dates.

    A float beyond 2**53 keeps its exponent form (`1e+16`): its digits may not be the ones written,
    and as digits it could pass for a phone.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _EXACT_FLOAT_INTEGERS:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _json_number(literal: str) -> float | str:
    """A JSON number with a fraction or exponent (`json`'s `parse_float`): one in exponent form stays
    as written, since `5.69E+10` as a float prints as 56900000000, a plausible phone."""
    if "e" in literal or "E" in literal:
        return literal
    return float(literal)


def _long_cell(names: Sequence[str], cells: Iterable[str]) -> str | None:
    """The detail for the first cell over `MAX_CELL_CHARS` ("" in `names`: a column without a
    header), or None when there is none."""
    for position, cell in enumerate(cells):
        if len(cell) > MAX_CELL_CHARS:
            name = names[position] if position < len(names) else ""
            column = repr(name) if name else f"{position + 1} (no header)"
            return f"column {column} has a cell of {len(cell):,} characters; the limit is {MAX_CELL_CHARS:,}"
    return None


def _without_long_cells(row: Mapping[str, str]) -> dict[str, str]:
    """What a row with an over-long cell still shows (its phone, say): the other cells."""
    return {key: value for key, value in row.items() if len(value) <= MAX_CELL_CHARS}


# --------------------------------------------------------------------------- format readers
# Each `_open_*` is a context manager giving (raw header, iterator of (row_no, cells or dict)).
# Positional formats give cell lists, keyed by the (mapped) header in `RowSource`; JSON formats give
# dicts already keyed by (mapped) names because their keys live in every element.

_Cells = list[str]


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
            raise _not_utf8(path, _csv_rows_through) from exc
        if not first_line.strip():
            raise RowFileError(f"{path.name}: the file is empty (no header line).")
        reader = csv.reader(itertools.chain([first_line], handle), delimiter=_choose_delimiter(first_line))
        try:
            header = next(reader)  # more lines than the first when a quoted name holds a line break
        except UnicodeDecodeError as exc:
            raise _not_utf8(path, _csv_rows_through) from exc
        except csv.Error as exc:
            raise RowFileError(f"{path.name}: CSV error in the header: {exc}") from exc
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
        raise _not_utf8(path, _csv_rows_through) from exc
    except csv.Error as exc:
        raise RowFileError(f"{path.name}: CSV error near data row {row_no + 1}: {exc}") from exc


# --------------------------------------------------------------------------- text that is not UTF-8
# A text file is decoded in blocks read ahead of the rows handed out, so when decoding fails the row
# being read is not the row that holds the bad byte. Only then is the file read again, to find it.


def _not_utf8(path: Path, rows_through: Callable[[Iterator[str]], int] | None = None) -> RowFileError:
    """The error for a file that is not UTF-8, naming the file line of its first byte that is not
    and, given `rows_through`, its data row. `rows_through(lines)` counts the data rows in `lines`,
    the file's text up to that byte with U+FFFD in its place: the last row it counts is the one
    holding the byte (0: the header)."""
    where: list[int] = []
    data_row: int | None = None
    try:
        lines = _text_until_not_utf8(path, where)
        if rows_through is None:
            for _ in lines:
                pass
        else:
            data_row = rows_through(lines)
    except (csv.Error, OSError):
        where = []
    fix = "save the file as UTF-8 (in Excel: 'CSV UTF-8')."
    if not where:
        return RowFileError(f"{path.name}: the file is not UTF-8 text; {fix}")
    line = where[0]
    if data_row is None:
        place = f"line {line}"
    elif data_row:
        place = f"data row {data_row} (line {line})"
    else:
        place = f"the header (line {line})"
    return RowFileError(f"{path.name}: {place} is not UTF-8 text; {fix}")


def _text_until_not_utf8(path: Path, where: list[int]) -> Iterator[str]:
    """The file's lines (split as text files split them, BOM dropped) up to its first byte that is
    not UTF-8, which becomes U+FFFD and ends the text; that byte's 1-based file line is appended to
    `where`. One block in memory at a time."""
    line_breaks = 0
    with path.open("rb") as handle:
        for block in _whole_lines(handle):
            try:
                text = block.decode("utf-8")
            except UnicodeDecodeError as exc:
                before = block[: exc.start]
                where.append(line_breaks + _line_breaks(before) + 1)
                yield from io.StringIO(before.decode("utf-8") + "\ufffd", newline="")
                return
            line_breaks += _line_breaks(block)
            yield from io.StringIO(text, newline="")


def _line_breaks(data: bytes) -> int:
    """Line breaks as text files count them: \n, \r\n and a lone \r."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _csv_rows_through(lines: Iterator[str]) -> int:
    """The data rows `_open_csv` would yield from `lines` (0 when they end in the header)."""
    for first_line in lines:
        if first_line.strip():
            break
    else:
        return 0
    reader = csv.reader(itertools.chain([first_line], lines), delimiter=_choose_delimiter(first_line))
    next(reader, None)
    return sum(1 for cells in reader if any(cells))


def _nonblank_lines_through(lines: Iterator[str]) -> int:
    """The data rows of JSON lines in `lines`."""
    return sum(1 for line in lines if line.strip())


# --------------------------------------------------------------------------- counting plain CSV


def _count_plain_csv_rows(
    handle: IO[bytes], hash_update: Callable[[bytes], object] | None = None
) -> int | None:
    """The data rows `_open_csv` yields, counted on the bytes of `handle` (a third of the time of
    parsing them), or None when only the csv module can tell rows apart: a quote (a quoted field may
    hold a newline), a lone carriage return (a line break to it), a NUL, or text that is not UTF-8
    (the reader words that error). A row is a line with something besides delimiters, as
    `any(cells)` decides. Every byte read goes to `hash_update` first; after None the rest of the
    file is unread."""
    filler = b""  # set once the header is found: the delimiter and \r, which alone do not make a row
    rows = 0
    for text in _whole_lines(handle, hash_update):
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


def _whole_lines(handle: IO[bytes], hash_update: Callable[[bytes], object] | None = None) -> Iterator[bytes]:
    """The file in blocks of about 1 MiB that end at a line break (the last one may not), BOM
    dropped; each block as read goes to `hash_update` first."""
    carry = b""
    first = True
    while block := handle.read(1 << 20):
        if hash_update is not None:
            hash_update(block)
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


class _Sheet(NamedTuple):
    """The sheet of a workbook that was read, and the workbook's sheet names in order."""

    name: str
    names: tuple[str, ...]


@contextlib.contextmanager
def _open_xlsx(
    path: Path, is_data_header: Callable[[_Cells], bool]
) -> Iterator[tuple[_Sheet, _Cells, Iterator[tuple[int, _Cells]]]]:
    """The first visible worksheet whose first non-blank row `is_data_header`: (that sheet, the row,
    its numbered data rows). Sheets before it are loaded only up to that row's answer."""
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
        names = tuple(workbook.sheet_names)
        hidden: list[str] = []
        for index, metadata in enumerate(workbook.sheets_metadata):
            if metadata.visible != python_calamine.SheetVisibleEnum.Visible:
                hidden.append(metadata.name)
                continue
            if metadata.typ != python_calamine.SheetTypeEnum.WorkSheet:
                continue  # a chart or dialog sheet holds no rows
            rows = (list(map(cell_to_str, cells)) for cells in workbook.get_sheet_by_index(index).iter_rows())
            header = next((cells for cells in rows if any(cells)), None)
            if header is not None and is_data_header(header):
                yield _Sheet(metadata.name, names), header, _numbered_nonblank(rows)
                return
        listed = ", ".join(repr(name) + (" (hidden)" if name in hidden else "") for name in names)
        raise RowFileError(
            f"{path.name}: no sheet starts with a header row naming a phone column (sheets: {listed}); "
            "put the rows on a sheet whose first row holds the column names, such as Name and Phone, "
            "or map the phone column with column_map."
        )


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
    # One C-level join per row; only a row long enough to hold a long cell is looked at cell by cell.
    long = _long_cell(list(row), row.values()) if len("".join(row.values())) > MAX_CELL_CHARS else None
    if long is None and not nested:
        return row
    return MalformedRow(long or f"nested value in {', '.join(nested)}", _without_long_cells(row))


def _jsonl_items(path: Path) -> Generator[tuple[int, object], None, None]:
    with path.open(encoding="utf-8-sig") as handle:
        row_no = 0
        try:
            for line in handle:
                if not line.strip():
                    continue
                row_no += 1
                try:
                    yield row_no, json.loads(line, parse_float=_json_number)
                except json.JSONDecodeError as exc:
                    yield row_no, _BadJson(f"not valid JSON: {exc.msg} at column {exc.colno}")
        except UnicodeDecodeError as exc:
            raise _not_utf8(path, _nonblank_lines_through) from exc


class _BadJson:
    """Marker for a JSON line that failed to parse (kept apart from a valid non-object value)."""

    __slots__ = ("detail",)

    def __init__(self, detail: str) -> None:
        self.detail = detail


def _json_array_items(path: Path) -> Generator[tuple[int, object], None, None]:
    """Elements of a top-level JSON array, decoded one at a time from a bounded text buffer."""
    decoder = json.JSONDecoder(parse_float=_json_number)
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
                raise _not_utf8(path) from exc
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


class _FileState(NamedTuple):
    """What `RowSource.changed` compares: any write, rename over or replacement changes one."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int

    @classmethod
    def of(cls, info: os.stat_result) -> _FileState:
        return cls(info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


class RowSource:
    """A re-iterable view of the rows of one file (or of inline records).

    `header` is the column list after `column_map`; iterating yields `(row_no, row)` with 1-based
    data-row numbers in file order. Each iteration opens the file afresh and holds one row at a
    time; close an abandoned iteration with `contextlib.closing(iter(source))` if it matters when
    the file handle is released. For a workbook, `sheet_name` is the sheet read and `sheet_names`
    the workbook's sheets (set once the header is read). `digest` and `changed()` fingerprint the
    file read by `count_rows()` (see the module docstring).
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
        suffix = path.suffix.lower() if path is not None else ""
        self.format: str = suffix.lstrip(".") if path is not None else "inline"
        if path is not None and suffix not in SUPPORTED_EXTENSIONS:
            raise RowFileError(
                f"{path.name}: unsupported file type {suffix or '(none)'!r}; "
                f"supported: {', '.join(SUPPORTED_EXTENSIONS)}."
            )
        self.sheet_name: str | None = None
        """The workbook sheet the rows come from; None for other formats."""
        self.sheet_names: tuple[str, ...] = ()
        """The workbook's sheets, in order; empty for other formats."""
        self.digest: str | None = None
        """sha256 hex digest of the file's bytes, set by `count_rows()`; None for inline rows."""
        self._counted_state: _FileState | None = None

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
    def sheet_note(self) -> str | None:
        """For a workbook, a sentence for the load report naming the sheet read; None otherwise."""
        if self.sheet_name is None:
            return None
        others = [repr(name) for name in self.sheet_names if name != self.sheet_name]
        besides = f" (other sheets: {', '.join(others)})" if others else ""
        return f"Read the workbook's sheet {self.sheet_name!r}{besides}."

    def __iter__(self) -> RowIter:
        return self._iterate(header_only=False)

    def count_rows(self) -> int:
        """How many rows iteration yields; reads the file without building rows, and fingerprints
        it: `digest` is set and `changed()` compares with the file as counting started."""
        if self._records is not None:
            return len(self._records)
        assert self.path is not None
        plain: int | None = None
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            self._counted_state = _FileState.of(os.fstat(handle.fileno()))
            if self.format in ("csv", "txt", "cpg"):
                plain = _count_plain_csv_rows(handle, digest.update)
            while block := handle.read(1 << 20):  # what the byte counter did not read
                digest.update(block)
        self.digest = digest.hexdigest()
        if plain is not None:
            return plain
        if self.format in ("json", "jsonl", "ndjson"):
            items = _json_array_items(self.path) if self.format == "json" else _jsonl_items(self.path)
            return sum(1 for _ in items)
        with self._open_positional() as (_, cells):
            return sum(1 for _ in cells)

    def changed(self) -> bool:
        """True when the file is not the one `count_rows()` started reading: its size, mtime, ctime
        or inode differ, or it is gone. False for inline rows and before `count_rows()`."""
        if self._counted_state is None or self.path is None:
            return False
        try:
            return _FileState.of(os.stat(self.path)) != self._counted_state
        except OSError:
            return True

    # -- internals

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
        self._header = named
        return keys

    def _is_data_header(self, cells: _Cells) -> bool:
        """Whether a workbook sheet's first row names a phone column (after `column_map`); the
        blacklist's `identifier` counts too, as `bulk_set_dnd` reads it."""
        for cell in cells:
            name = self._target(cell)
            if name == "identifier":
                return True
            if is_phone_column_name(name) and len(name.split()) <= _HEADER_CELL_WORDS:
                return True
        return False

    @contextlib.contextmanager
    def _open_positional(self) -> Iterator[tuple[_Cells, Iterator[tuple[int, _Cells]]]]:
        assert self.path is not None
        if self.format != "xlsx":
            with _open_csv(self.path) as opened:
                yield opened
            return
        with _open_xlsx(self.path, self._is_data_header) as (sheet, header, cells):
            self.sheet_name, self.sheet_names = sheet
            yield header, cells

    def _iterate(self, *, header_only: bool) -> RowIter:
        if self._records is not None:
            yield from self._iterate_records(self._records, header_only=header_only)
        elif self.format in ("json", "jsonl", "ndjson"):
            assert self.path is not None
            items = _json_array_items(self.path) if self.format == "json" else _jsonl_items(self.path)
            yield from self._iterate_json(items, header_only=header_only)
        else:
            with self._open_positional() as (raw_header, cells_iter):
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
        # One C-level join per row; only a row long enough to hold a long cell is looked at cell by cell.
        if len("".join(cells)) > MAX_CELL_CHARS and (long := _long_cell(keys, cells)) is not None:
            yield row_no, MalformedRow(long, _without_long_cells(row))
        elif len(cells) > width and any(cells[width:]):
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
