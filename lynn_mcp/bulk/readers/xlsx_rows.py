"""Excel workbooks (.xlsx, optional extra `lynn-mcp[xlsx]`): the rows of the workbook's data sheet.

The data sheet is the first visible worksheet whose first non-blank row is a header (`RowSource`
decides: one naming a phone column after `column_map`); that row is the header. So a workbook that
opens on an "Instructions" sheet, or an empty one, is read from its data sheet; a workbook with no
such sheet is a `RowFileError` naming its sheets. Cells become text (`cell_to_str`): integral
numbers without `.0`, dates and date-times in ISO 8601, booleans `true`/`false`.

Memory caveat: calamine loads the whole sheet into native memory before rows are iterated (there is
no streaming xlsx reader in it), so an .xlsx costs memory proportional to the sheet; Excel caps a
sheet at 1,048,576 rows. Use CSV for huge loads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final, NamedTuple

from lynn_mcp.bulk.readers.cells import Cells, RowFileError, cell_to_str

__all__ = ["Sheet", "open_xlsx"]

_XLSX_HINT: Final = "reading .xlsx files needs the optional extra: pip install 'lynn-mcp[xlsx]'"


class Sheet(NamedTuple):
    """The sheet of a workbook that was read, and the workbook's sheet names in order."""

    name: str
    names: tuple[str, ...]


@contextlib.contextmanager
def open_xlsx(
    path: Path, is_data_header: Callable[[Cells], bool]
) -> Iterator[tuple[Sheet, Cells, Iterator[tuple[int, Cells]]]]:
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
                yield Sheet(metadata.name, names), header, _numbered_nonblank(rows)
                return
        listed = ", ".join(repr(name) + (" (hidden)" if name in hidden else "") for name in names)
        raise RowFileError(
            f"{path.name}: no sheet starts with a header row naming a phone column (sheets: {listed}); "
            "put the rows on a sheet whose first row holds the column names, such as Name and Phone, "
            "or map the phone column with column_map."
        )


def _numbered_nonblank(rows: Iterator[Cells]) -> Iterator[tuple[int, Cells]]:
    row_no = 0
    for cells in rows:
        if any(cells):
            row_no += 1
            yield row_no, cells
