"""A file's bytes as UTF-8 text: blocks of whole lines (for counting and hashing), and, when the
text is not UTF-8, where its first byte that is not is.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from lynn_mcp.bulk.readers.cells import RowFileError

__all__ = ["not_utf8", "whole_lines"]

# A text file is decoded in blocks read ahead of the rows handed out, so when decoding fails the row
# being read is not the row that holds the bad byte. Only then is the file read again, to find it.


def not_utf8(path: Path, rows_through: Callable[[Iterator[str]], int] | None = None) -> RowFileError:
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
        for block in whole_lines(handle):
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


def whole_lines(handle: IO[bytes], hash_update: Callable[[bytes], object] | None = None) -> Iterator[bytes]:
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
