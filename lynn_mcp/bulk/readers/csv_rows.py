"""CSV, .txt and .cpg files: rows of cells, and a count of them made on the bytes.

UTF-8 with or without BOM; the delimiter (`,` or `;`) is chosen from the header line (the one that
splits it into more fields; `,` on a tie); quoted fields may contain the delimiter, quotes and
newlines. Blank lines and rows whose cells are all empty are skipped and not numbered (spreadsheet
exports end with such rows). Columns whose header cell is blank are ignored (a trailing delimiter in
the header is common).
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from lynn_mcp.bulk.readers.cells import Cells, RowFileError
from lynn_mcp.bulk.readers.text import not_utf8, whole_lines

__all__ = ["count_plain_csv_rows", "open_csv"]

# The csv module refuses a field over 131,072 characters with an error raised in the middle of the
# file, after the byte counter counted every row and chunks were sent. Lifted once, for the whole
# process, so that error never happens: a cell over MAX_CELL_CHARS makes its row a MalformedRow, and
# LYNN_MAX_FILE_MB (the largest file a tool reads) bounds the memory one cell can take.
try:
    csv.field_size_limit(sys.maxsize)
except OverflowError:  # where a C long has 32 bits (Windows), files over 2 GiB are not supported anyway
    csv.field_size_limit(2**31 - 1)


def _choose_delimiter(header_line: str) -> str:
    def width(delimiter: str) -> int:
        return len(next(csv.reader([header_line], delimiter=delimiter), []))

    return ";" if width(";") > width(",") else ","


@contextlib.contextmanager
def open_csv(path: Path) -> Iterator[tuple[list[str], Iterator[tuple[int, Cells]]]]:
    """(the header's cells, the data rows' cells numbered from 1) of a CSV file, open while in use."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        first_line = ""
        try:
            for first_line in handle:
                if first_line.strip():
                    break
        except UnicodeDecodeError as exc:
            raise not_utf8(path, _csv_rows_through) from exc
        if not first_line.strip():
            raise RowFileError(f"{path.name}: the file is empty (no header line).")
        reader = csv.reader(itertools.chain([first_line], handle), delimiter=_choose_delimiter(first_line))
        try:
            header = next(reader)  # more lines than the first when a quoted name holds a line break
        except UnicodeDecodeError as exc:
            raise not_utf8(path, _csv_rows_through) from exc
        except csv.Error as exc:
            raise RowFileError(f"{path.name}: CSV error in the header: {exc}") from exc
        yield header, _csv_rows(reader, path)


def _csv_rows(reader: Any, path: Path) -> Iterator[tuple[int, Cells]]:
    # `reader` is a csv reader (its type is private to the csv module).
    row_no = 0
    try:
        for cells in reader:
            if any(cells):
                row_no += 1
                yield row_no, cells
    except UnicodeDecodeError as exc:
        raise not_utf8(path, _csv_rows_through) from exc
    except csv.Error as exc:
        raise RowFileError(f"{path.name}: CSV error near data row {row_no + 1}: {exc}") from exc


def _csv_rows_through(lines: Iterator[str]) -> int:
    """The data rows `open_csv` would yield from `lines` (0 when they end in the header)."""
    for first_line in lines:
        if first_line.strip():
            break
    else:
        return 0
    reader = csv.reader(itertools.chain([first_line], lines), delimiter=_choose_delimiter(first_line))
    next(reader, None)
    return sum(1 for cells in reader if any(cells))


def count_plain_csv_rows(
    handle: IO[bytes], hash_update: Callable[[bytes], object] | None = None
) -> int | None:
    """The data rows `open_csv` yields, counted on the bytes of `handle` (a third of the time of
    parsing them), or None when only the csv module can tell rows apart: a quote (a quoted field may
    hold a newline), a lone carriage return (a line break to it), a NUL, or text that is not UTF-8
    (the reader words that error). A row is a line with something besides delimiters, as
    `any(cells)` decides. Every byte read goes to `hash_update` first; after None the rest of the
    file is unread."""
    filler = b""  # set once the header is found: the delimiter and \r, which alone do not make a row
    rows = 0
    for text in whole_lines(handle, hash_update):
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
