"""`RowSource`: the rows of one file, whatever its format (chosen by extension), or of inline records.

Each format's reader is a context manager giving (raw header, iterator of (row_no, cells or dict)).
Positional formats (`csv_rows`, `xlsx_rows`) give cell lists, keyed by the (mapped) header here; JSON
formats (`json_rows`) give dicts already keyed by (mapped) names because their keys live in every
element.

Fingerprint
    `count_rows()` on a file source also sets `source.digest`, the sha256 hex digest of the file's
    bytes (hashed in the pass the byte counter already makes over a plain CSV; one more streaming
    read for other formats), and snapshots the file's size, st_mtime_ns, st_ctime_ns and st_ino as
    it starts. `source.changed()` stats the file again (cheap: once per chunk) and is True when any
    of those differ or the file is gone: the rows being read may no longer be the rows counted.
    Inline rows have no file: `digest` stays None and `changed()` is False, as it is before
    `count_rows()`.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
from collections.abc import Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final, NamedTuple

from lynn_mcp.bulk.readers.cells import (
    MAX_CELL_CHARS,
    Cells,
    MalformedRow,
    RowFileError,
    RowIter,
    long_cell,
    without_long_cells,
)
from lynn_mcp.bulk.readers.csv_rows import count_plain_csv_rows, open_csv
from lynn_mcp.bulk.readers.json_rows import BadJson, json_array_items, json_item_to_row, jsonl_items
from lynn_mcp.bulk.readers.xlsx_rows import open_xlsx
from lynn_mcp.bulk.template import is_phone_column_name

__all__ = ["SUPPORTED_EXTENSIONS", "RowSource", "inline_rows", "iter_file_rows"]

SUPPORTED_EXTENSIONS: Final = (".csv", ".txt", ".cpg", ".xlsx", ".json", ".jsonl", ".ndjson")

_HEADER_LOOKAHEAD: Final = 100

# A header cell is a column name, not a sentence: "Número de teléfono móvil" is, "Fill in the phone
# column" (the first line of an instructions sheet) is not.
_HEADER_CELL_WORDS: Final = 4


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
                plain = count_plain_csv_rows(handle, digest.update)
            while block := handle.read(1 << 20):  # what the byte counter did not read
                digest.update(block)
        self.digest = digest.hexdigest()
        if plain is not None:
            return plain
        if self.format in ("json", "jsonl", "ndjson"):
            items = json_array_items(self.path) if self.format == "json" else jsonl_items(self.path)
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

    def _is_data_header(self, cells: Cells) -> bool:
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
    def _open_positional(self) -> Iterator[tuple[Cells, Iterator[tuple[int, Cells]]]]:
        assert self.path is not None
        if self.format != "xlsx":
            with open_csv(self.path) as opened:
                yield opened
            return
        with open_xlsx(self.path, self._is_data_header) as (sheet, header, cells):
            self.sheet_name, self.sheet_names = sheet
            yield header, cells

    def _iterate(self, *, header_only: bool) -> RowIter:
        if self._records is not None:
            yield from self._iterate_records(self._records, header_only=header_only)
        elif self.format in ("json", "jsonl", "ndjson"):
            assert self.path is not None
            items = json_array_items(self.path) if self.format == "json" else jsonl_items(self.path)
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
                if isinstance(item, BadJson):
                    yield row_no, MalformedRow(item.detail)
                else:
                    yield row_no, json_item_to_row(item, key_for)

    def _iterate_records(self, records: Sequence[Mapping[str, object]], *, header_only: bool) -> RowIter:
        first = records[0] if records else {}
        self._set_header([str(key) for key in first])
        if header_only:
            return
        for row_no, record in enumerate(records, start=1):
            yield row_no, json_item_to_row(dict(record), self._target)


def _key_cells(cells_iter: Iterator[tuple[int, Cells]], keys: list[str]) -> RowIter:
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
        if len("".join(cells)) > MAX_CELL_CHARS and (long := long_cell(keys, cells)) is not None:
            yield row_no, MalformedRow(long, without_long_cells(row))
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
