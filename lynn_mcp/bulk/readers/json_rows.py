"""JSON files: `.json` (an array of objects, parsed one element at a time, so memory stays constant;
one element may be at most `MAX_JSON_ELEMENT_CHARS` characters) and `.jsonl` / `.ndjson` (one object
per line; blank lines skipped). Inline rows follow the same value rules (`json_item_to_row`).

Values become `str`: `None` -> "", booleans `true`/`false`, integral numbers without `.0`; a number
written in exponent form (`5.69E+10`) stays as written, because as a float it would print as a
plausible integer whose lost digits became zeros. JSON array elements are never skipped: row N is
element N.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Final

from lynn_mcp.bulk.readers.cells import (
    MAX_CELL_CHARS,
    MalformedRow,
    Row,
    RowFileError,
    cell_to_str,
    long_cell,
    without_long_cells,
)
from lynn_mcp.bulk.readers.text import not_utf8

__all__ = ["MAX_JSON_ELEMENT_CHARS", "BadJson", "json_array_items", "json_item_to_row", "jsonl_items"]

MAX_JSON_ELEMENT_CHARS: Final = 1_000_000
_JSON_READ_CHARS: Final = 1 << 16


def _json_number(literal: str) -> float | str:
    """A JSON number with a fraction or exponent (`json`'s `parse_float`): one in exponent form stays
    as written, since `5.69E+10` as a float prints as 56900000000, a plausible phone."""
    if "e" in literal or "E" in literal:
        return literal
    return float(literal)


def _nonblank_lines_through(lines: Iterator[str]) -> int:
    """The data rows of JSON lines in `lines`."""
    return sum(1 for line in lines if line.strip())


def json_item_to_row(item: object, key_for: Callable[[str], str]) -> Row:
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
    long = long_cell(list(row), row.values()) if len("".join(row.values())) > MAX_CELL_CHARS else None
    if long is None and not nested:
        return row
    return MalformedRow(long or f"nested value in {', '.join(nested)}", without_long_cells(row))


def jsonl_items(path: Path) -> Generator[tuple[int, object], None, None]:
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
                    yield row_no, BadJson(f"not valid JSON: {exc.msg} at column {exc.colno}")
        except UnicodeDecodeError as exc:
            raise not_utf8(path, _nonblank_lines_through) from exc


class BadJson:
    """Marker for a JSON line that failed to parse (kept apart from a valid non-object value)."""

    __slots__ = ("detail",)

    def __init__(self, detail: str) -> None:
        self.detail = detail


def json_array_items(path: Path) -> Generator[tuple[int, object], None, None]:
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
                raise not_utf8(path) from exc
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
