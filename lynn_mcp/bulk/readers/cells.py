"""What every reader yields: rows of text cells, at most `MAX_CELL_CHARS` characters each; a row
that could not be read cleanly is a `MalformedRow`, a file that cannot be read at all a `RowFileError`.

Numbers (`cell_to_str`): a float that is an integer below 2**53 (exact in a float: every phone)
becomes its digits; a larger one may have lost digits and keeps its exponent form (`1e+16`), so it
never reads as a valid-looking number. Values given inline as JSON numbers arrive parsed; one that
was written in exponent form cannot be told apart, which is why phones belong in text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Final

__all__ = [
    "MAX_CELL_CHARS",
    "Cells",
    "MalformedRow",
    "Row",
    "RowFileError",
    "RowIter",
    "cell_to_str",
    "long_cell",
    "without_long_cells",
]

MAX_CELL_CHARS: Final = 10_000

Row = dict[str, str]
RowIter = Iterator[tuple[int, Row]]

Cells = list[str]
"""A positional format's cells (CSV, a worksheet row), keyed by the header in `RowSource`."""


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


def long_cell(names: Sequence[str], cells: Iterable[str]) -> str | None:
    """The detail for the first cell over `MAX_CELL_CHARS` ("" in `names`: a column without a
    header), or None when there is none."""
    for position, cell in enumerate(cells):
        if len(cell) > MAX_CELL_CHARS:
            name = names[position] if position < len(names) else ""
            column = repr(name) if name else f"{position + 1} (no header)"
            return f"column {column} has a cell of {len(cell):,} characters; the limit is {MAX_CELL_CHARS:,}"
    return None


def without_long_cells(row: Mapping[str, str]) -> dict[str, str]:
    """What a row with an over-long cell still shows (its phone, say): the other cells."""
    return {key: value for key, value in row.items() if len(value) <= MAX_CELL_CHARS}
