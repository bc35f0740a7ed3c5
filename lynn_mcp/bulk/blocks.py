"""A load's rows, read once, checked and gathered into blocks: each block is one chunk to send (the
next `chunk_size` rows that pass the local checks) plus the rows rejected locally among them, so a
block covers a contiguous range of input rows, as the results file takes them.

Chunks are numbered over the rows that pass the local checks, so the same source, template and
chunk size always give the same chunks: that is what lets a resume handle name them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from lynn_mcp.bulk.checks import CheckedRow, rejection_outcome
from lynn_mcp.bulk.readers import RowFileError
from lynn_mcp.bulk.results_file import RowOutcome

__all__ = ["PAUSE", "ROWS_BETWEEN_PAUSES", "Block", "BlockReader", "Pause"]

# Reading and checking rows is synchronous; handing the event loop back this often keeps answers to
# POSTs and polls flowing while a chunk is built (1,000 rows take a few milliseconds to check).
ROWS_BETWEEN_PAUSES: Final = 250


@dataclass(slots=True)
class Block:
    """A contiguous range of input rows: one chunk to send plus the local rejections around it."""

    index: int | None  # chunk number; None when the block has nothing to send
    payload: list[dict[str, str]] | None = field(default_factory=list)
    """The rows to POST; dropped once a POST is answered (the chunk is never re-sent after that)."""
    rows: list[tuple[int, str]] = field(default_factory=list)  # (row number, phone) of each sent row
    local: list[RowOutcome] = field(default_factory=list)
    uncertain: bool = False  # an attempt (now or in an earlier call) may have reached Lynn
    settled: bool = False


class Pause:
    """Yielded by `BlockReader.blocks` between rows now and then: a point where the event loop may run."""


PAUSE: Final = Pause()


class BlockReader:
    """Reads a source's rows once into blocks, rejecting the rows the checks refuse (`reject`).

    Reading stops early, calling `unreadable(detail)`, when the file cannot be read further, or
    `file_changed()` when it holds more rows than `total`, the rows counted; `rows_read` is then the
    last row read.
    """

    __slots__ = (
        "_check",
        "_chunk_size",
        "_file_changed",
        "_reject",
        "_rows",
        "_total",
        "_unreadable",
        "rows_read",
    )

    def __init__(
        self,
        rows: Iterable[tuple[int, Mapping[str, str]]],
        check: Callable[[int, Mapping[str, str]], CheckedRow],
        *,
        chunk_size: int,
        total: int,
        reject: Callable[[int, str, str | None], None],
        unreadable: Callable[[str], None],
        file_changed: Callable[[], None],
    ) -> None:
        self._rows = rows
        self._check = check
        self._chunk_size = chunk_size
        self._total = total
        self._reject = reject
        self._unreadable = unreadable
        self._file_changed = file_changed
        self.rows_read = 0

    def blocks(self) -> Generator[Block | Pause, None, None]:
        """Blocks in row order; each (but the last) ends with a full chunk of rows to send.

        `PAUSE` comes between them every `ROWS_BETWEEN_PAUSES` rows (a chance to yield).
        """
        rows = iter(self._rows)
        try:
            yield from self._blocks_of(rows)
        finally:
            close = getattr(rows, "close", None)  # a generator holding the file open
            if close is not None:
                close()

    def _blocks_of(self, rows: Iterator[tuple[int, Mapping[str, str]]]) -> Iterator[Block | Pause]:
        size = self._chunk_size
        index = 0
        payload: list[dict[str, str]] = []
        block = Block(index, payload)
        check = self._check
        reject = self._reject
        until_pause = ROWS_BETWEEN_PAUSES
        total = self._total
        while True:
            try:
                row_no, row = next(rows)
            except StopIteration:
                break
            except RowFileError as exc:
                self._unreadable(str(exc))
                break
            if row_no > total:  # more rows than were counted: the file grew since
                self._file_changed()
                break
            self.rows_read = row_no
            checked = check(row_no, row)
            if checked.reason is None:
                assert checked.data is not None  # an accepted row has its data
                payload.append(checked.data)
                block.rows.append((row_no, checked.phone))
                if len(payload) == size:
                    yield block
                    index += 1
                    payload = []
                    block = Block(index, payload)
            else:
                block.local.append(rejection_outcome(checked))
                reject(row_no, checked.reason.value, checked.detail)
            until_pause -= 1
            if not until_pause:
                until_pause = ROWS_BETWEEN_PAUSES
                yield PAUSE
        if block.rows or block.local:
            if not block.rows:
                block.index = None
            yield block
