"""Rows from files (CSV, .cpg, .xlsx, JSON, JSON lines) or inline records, read in constant memory.

Pure file reading (no HTTP, no MCP). Checking rows against a template is `lynn_mcp.bulk.checks`;
writing each row's outcome is `lynn_mcp.bulk.results_file`.

- `source`: `RowSource`, the one face of every format, and the choice of reader by extension.
- `cells`: what every reader yields: text cells, their limit, `MalformedRow`, `RowFileError`.
- `csv_rows`, `xlsx_rows`, `json_rows`: one module per format (each documents its rules).
- `text`: a file's bytes as UTF-8 text, and where its first byte that is not UTF-8 is.

A new format is a module here whose reader yields (raw header, numbered cells), as `csv_rows` and
`xlsx_rows` do, or numbered JSON-like items, as `json_rows` does; `RowSource` then needs its
extension in `SUPPORTED_EXTENSIONS` and one branch where it opens a file (`_iterate`, `count_rows`).

Reading
    `iter_file_rows(path, column_map=...)` returns a `RowSource`: a re-iterable view of the file.
    `source.header` is the header after `column_map` (file header -> template column; unmapped
    headers pass through). Iterating yields `(row_no, row)` where `row_no` is the 1-based number of
    the data row in file order and `row` is a `dict[str, str]`; each iteration re-opens the file, so
    a dry run and the real load can share one source. `source.count_rows()` counts the same rows
    without building them, for progress totals, and fingerprints the file (`source`).

    Formats by extension:

    - `.csv`, `.txt`, `.cpg`: UTF-8 text, `,` or `;` (`csv_rows`).
    - `.xlsx` (optional extra `lynn-mcp[xlsx]`): the first visible sheet whose first non-blank row
      looks like a header with a phone column (after `column_map`, a cell of at most
      `_HEADER_CELL_WORDS` words that `is_phone_column_name`, or `identifier`, the blacklist's
      column) (`xlsx_rows`). `source.sheet_name` and `source.sheet_names` say which sheet was read
      among which (`sheet_note` as a sentence for a report); both are empty for other formats.
    - `.json`: a JSON array of objects; `.jsonl`, `.ndjson`: one JSON object per line (`json_rows`).
      The header is the key list of the first object (looking ahead past up to `_HEADER_LOOKAHEAD`
      malformed elements).

Limits, the same for counting and reading
    A cell may hold at most `MAX_CELL_CHARS` (10,000) characters, in every format (CSV, .cpg,
    .xlsx, JSON, JSON lines, inline rows): a row with a longer cell is a `MalformedRow` whose
    detail names the column and the size, so it is rejected as `malformed_row` and the rest loads.
    The csv module's own field limit is lifted (`csv_rows`); `LYNN_MAX_FILE_MB` bounds the memory
    one cell can take. `count_rows()` and iteration agree on the rows of every file.

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
"""

from lynn_mcp.bulk.readers.cells import MAX_CELL_CHARS, MalformedRow, RowFileError, cell_to_str
from lynn_mcp.bulk.readers.source import RowSource, inline_rows, iter_file_rows

__all__ = [
    "MAX_CELL_CHARS",
    "MalformedRow",
    "RowFileError",
    "RowSource",
    "cell_to_str",
    "inline_rows",
    "iter_file_rows",
]
