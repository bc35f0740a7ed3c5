"""Parsing of ``.cpg`` campaign files: UTF-8 text (BOM allowed), a header of template columns,
``;`` or ``,`` as delimiter, one record per line."""

from __future__ import annotations

import csv

from lynn_mcp.sandbox.errors import bad_request

MAX_ROWS = 50_000


def parse_cpg(filename: str, raw: bytes, columns: list[str]) -> list[dict[str, str]]:
    """Rows as dicts keyed by header column; a row with too few or too many fields keeps what it
    has (extra fields under ``#n`` keys) so that it is rejected per row, not per file."""
    if not filename.lower().endswith(".cpg"):
        raise bad_request(f"file {filename!r} must have the .cpg extension")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise bad_request("the .cpg file must be UTF-8 text") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise bad_request("the .cpg file is empty: its first line must be the header of template columns")
    header = _header(lines[0], columns)
    delimiter = header[1]
    rows: list[dict[str, str]] = []
    for fields in csv.reader((line for line in lines[1:] if line.strip()), delimiter=delimiter):
        if len(rows) >= MAX_ROWS:
            raise bad_request(f"a .cpg file may hold at most {MAX_ROWS} rows")
        row = dict(zip(header[0], fields, strict=False))
        row.update({f"#{i + 1}": value for i, value in enumerate(fields) if i >= len(header[0])})
        rows.append(row)
    if not rows:
        raise bad_request("the .cpg file has a header but no data rows")
    return rows


def _header(line: str, columns: list[str]) -> tuple[list[str], str]:
    expected = set(columns)
    for delimiter in (";", ","):
        names = [name.strip() for name in next(csv.reader([line], delimiter=delimiter))]
        if set(names) == expected and len(names) == len(columns):
            return names, delimiter
    raise bad_request(
        f"the .cpg header must be the template columns separated by ';' or ',': {';'.join(columns)}"
        f" (got {line[:200]!r})"
    )
