"""Row files at their limits: over-long cells, text that is not UTF-8, workbooks whose first sheet is
not the data, the input fingerprint, and a results file that is safe to create and to open in Excel."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import stat
from pathlib import Path

import openpyxl
import pytest

from lynn_mcp.bulk.checks import RejectReason, RowChecker
from lynn_mcp.bulk.readers import MAX_CELL_CHARS, MalformedRow, RowFileError, inline_rows, iter_file_rows
from lynn_mcp.bulk.results_file import ResultsWriter, RowOutcome, _csv_text
from lynn_mcp.bulk.template import TemplateSpec

SPEC = TemplateSpec(("Name", "Phone"), "Phone")
LONG = "x" * 200_000  # over MAX_CELL_CHARS, and over the csv module's default field limit


def phone(i: int) -> str:
    return f"5691{i:07d}"


def read_results(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


# --------------------------------------------------------------------------- cells over the limit


def long_cell_files(tmp_path: Path, n: int, long_row: int) -> list[Path]:
    """The same n rows in every text format; row `long_row` has a 200,000-character Name."""
    rows = [{"Name": LONG if i == long_row else f"P{i}", "Phone": phone(i)} for i in range(1, n + 1)]
    comma = tmp_path / "long.csv"
    comma.write_text("Name,Phone\n" + "".join(f"{r['Name']},{r['Phone']}\n" for r in rows), encoding="utf-8")
    quoted = tmp_path / "quoted.cpg"  # quotes send counting down the csv module's path
    quoted.write_text(
        "Name;Phone\n" + "".join(f'"{r["Name"]}";{r["Phone"]}\n' for r in rows), encoding="utf-8"
    )
    lines = tmp_path / "long.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    array = tmp_path / "long.json"
    array.write_text(json.dumps(rows), encoding="utf-8")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Name", "Phone"])
    for r in rows:
        sheet.append([r["Name"][:32_767], r["Phone"]])  # Excel's own cell limit is 32,767
    xlsx = tmp_path / "long.xlsx"
    workbook.save(xlsx)
    return [comma, quoted, lines, array, xlsx]


def test_a_long_cell_deep_in_any_file_rejects_its_row_and_the_rest_reads(tmp_path: Path) -> None:
    n, long_row = 3000, 2500
    for path in long_cell_files(tmp_path, n, long_row):
        source = iter_file_rows(path)

        rows = list(source)

        assert source.count_rows() == len(rows) == n, path.name
        bad = rows[long_row - 1][1]
        assert isinstance(bad, MalformedRow), path.name
        assert "column 'Name' has a cell of" in bad.detail
        assert f"the limit is {MAX_CELL_CHARS:,}" in bad.detail
        assert bad == {"Phone": phone(long_row)}, "the long cell is left out, the phone kept"
        checker = RowChecker(SPEC)
        checked = [checker.check(row_no, row) for row_no, row in rows]
        assert [c.row_no for c in checked if c.reason is not None] == [long_row]
        assert checked[long_row - 1].reason is RejectReason.MALFORMED_ROW
        assert checked[long_row - 1].phone == phone(long_row)


def test_cell_size_is_named_for_columns_without_a_header_and_inline_rows(tmp_path: Path) -> None:
    path = tmp_path / "extra.csv"
    path.write_text(f"Name,Phone,\nAna,{phone(1)},{LONG}\nBo,{phone(2)},\n", encoding="utf-8")
    at_limit = "y" * MAX_CELL_CHARS

    (_, unnamed), (_, fine) = list(iter_file_rows(path))
    inline = list(inline_rows([{"Phone": phone(3), "Name": LONG}, {"Phone": phone(4), "Name": at_limit}]))

    assert isinstance(unnamed, MalformedRow)
    assert "column 3 (no header) has a cell of 200,000 characters" in unnamed.detail
    assert type(fine) is dict
    assert isinstance(inline[0][1], MalformedRow)
    assert "column 'Name'" in inline[0][1].detail
    assert inline[1][1] == {"Phone": phone(4), "Name": at_limit}, "a cell at the limit is fine"


def test_many_cells_below_the_limit_make_a_long_row_but_not_a_malformed_one(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    cells = ["z" * (MAX_CELL_CHARS - 1)] * 5
    path.write_text("A,B,C,D,Phone\n" + ",".join([*cells[:4], phone(1)]) + "\n", encoding="utf-8")

    [(_, row)] = list(iter_file_rows(path))

    assert type(row) is dict
    assert row["Phone"] == phone(1)


# --------------------------------------------------------------------------- text that is not UTF-8


def test_the_first_byte_that_is_not_utf8_is_named_by_data_row_and_line(tmp_path: Path) -> None:
    n, bad = 10_000, 5_000
    lines = [f"Name {i},{phone(i)}\n".encode() for i in range(1, n + 1)]
    lines[bad - 1] = f"Mu\xf1oz {bad},{phone(bad)}\n".encode("cp1252")
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"\n\nName,Phone\n" + b"".join(lines))  # two blank lines: file line != row + 1
    jsonl = tmp_path / "latin1.jsonl"
    json_lines = [json.dumps({"Name": f"P{i}", "Phone": phone(i)}).encode() + b"\n" for i in range(1, n + 1)]
    json_lines[bad - 1] = json_lines[bad - 1].replace(b'"P', b'"\xf1')
    jsonl.write_bytes(b"\n".join(json_lines))  # a blank line after each: the file line is 2 * row - 1
    array = tmp_path / "latin1.json"
    array.write_bytes(b"[\n" + b",\n".join(line.rstrip(b"\n") for line in json_lines) + b"\n]\n")

    expected = {
        path: f"latin1.csv: data row {bad} (line {bad + 3}) is not UTF-8 text",
        jsonl: f"latin1.jsonl: data row {bad} (line {2 * bad - 1}) is not UTF-8 text",
        array: f"latin1.json: line {bad + 1} is not UTF-8 text",
    }
    for file, message in expected.items():
        with pytest.raises(RowFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
            list(iter_file_rows(file))
        with pytest.raises(RowFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
            iter_file_rows(file).count_rows()


def test_a_header_that_is_not_utf8_is_named_as_the_header(tmp_path: Path) -> None:
    path = tmp_path / "header.cpg"
    path.write_bytes(b"\r\nNombre;Tel\xe9fono\r\nAna;56966666666\r\n")

    with pytest.raises(RowFileError, match=r"the header \(line 2\) is not UTF-8 text"):
        _ = iter_file_rows(path).header


def test_bytes_that_are_not_utf8_inside_a_quoted_multiline_cell_name_the_row_holding_them(
    tmp_path: Path,
) -> None:
    rows = b"".join(f'P{i},"{phone(i)}"\n'.encode() for i in range(1, 3001))
    path = tmp_path / "multi.csv"
    path.write_bytes(b"Name,Phone\n" + rows + b'"two\nlines \xff here",56900000000\n')

    with pytest.raises(RowFileError, match=r"data row 3001 \(line 3003\)"):
        list(iter_file_rows(path))


# --------------------------------------------------------------------------- workbooks


def workbook(path: Path, sheets: dict[str, list[list[object]]], hidden: tuple[str, ...] = ()) -> Path:
    book = openpyxl.Workbook()
    assert book.active is not None
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        if name in hidden:
            sheet.sheet_state = "hidden"
    book.save(path)
    return path


DATA = [["Name", "Phone"], ["Ana", 56966666666], ["Bo", "56955555555"]]


def test_a_workbook_opening_on_instructions_is_read_from_its_data_sheet(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "book.xlsx",
        {
            "Instructions": [["Put each customer's phone number in column B of the Data sheet."], ["Thanks"]],
            "Empty": [],
            "Old": [["Phone"], ["56911111111"]],
            "Data": DATA,
        },
        hidden=("Old",),
    )

    source = iter_file_rows(path)

    assert source.header == ["Name", "Phone"]
    assert list(source) == [
        (1, {"Name": "Ana", "Phone": "56966666666"}),
        (2, {"Name": "Bo", "Phone": "56955555555"}),
    ]
    assert source.count_rows() == 2
    assert source.sheet_name == "Data"
    assert source.sheet_names == ("Instructions", "Empty", "Old", "Data")
    assert (
        source.sheet_note
        == "Read the workbook's sheet 'Data' (other sheets: 'Instructions', 'Empty', 'Old')."
    )


def test_the_first_sheet_is_read_when_it_holds_the_data(tmp_path: Path) -> None:
    path = workbook(tmp_path / "first.xlsx", {"Contacts": DATA, "Data": [["Phone"], ["56911111111"]]})
    dnd = workbook(tmp_path / "dnd.xlsx", {"Notes": [["read me"]], "Optout": [["identifier"], ["x@y.z"]]})
    mapped = workbook(tmp_path / "mapped.xlsx", {"Notes": [["read me"]], "Lista": [["Numero"], ["569"]]})
    spanish = workbook(
        tmp_path / "es.xlsx",
        {
            "Notas": [["Escriba el teléfono de cada cliente"]],
            "Datos": [["Nombre", "Número de teléfono móvil"]],
        },
    )

    source = iter_file_rows(path)

    assert len(list(source)) == 2
    assert source.sheet_name == "Contacts"
    assert iter_file_rows(dnd).header == ["identifier"], "the blacklist's column counts"
    assert iter_file_rows(mapped, column_map={"Numero": "Phone"}).header == ["Phone"], "after column_map"
    assert iter_file_rows(spanish).header == ["Nombre", "Número de teléfono móvil"], "a name, not a sentence"
    assert iter_file_rows(tmp_path / "x.csv").sheet_note is None


def test_a_workbook_without_a_data_sheet_is_refused_naming_its_sheets(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "nodata.xlsx",
        {"Instructions": [["Fill in the phone column"]], "Blank": [], "Hidden": DATA},
        hidden=("Hidden",),
    )

    with pytest.raises(RowFileError) as refused:
        _ = iter_file_rows(path).header

    message = str(refused.value)
    assert "nodata.xlsx: no sheet starts with a header row naming a phone column" in message
    assert "(sheets: 'Instructions', 'Blank', 'Hidden' (hidden))" in message
    assert "column_map" in message


# --------------------------------------------------------------------------- fingerprint


@pytest.mark.parametrize("name", ["plain.csv", "quoted.csv", "rows.jsonl", "rows.json", "rows.xlsx"])
def test_counting_fingerprints_the_file_and_changed_notices_a_rewrite(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    rows = [{"Name": f"P{i}", "Phone": phone(i)} for i in range(1, 2001)]
    if name == "plain.csv":
        path.write_bytes(
            b"\xef\xbb\xbfName,Phone\n" + "".join(f"P{i},{phone(i)}\n" for i in range(1, 2001)).encode()
        )
    elif name == "quoted.csv":
        path.write_text("Name,Phone\n" + "".join(f'"P{i}",{phone(i)}\n' for i in range(1, 2001)))
    elif name == "rows.jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif name == "rows.json":
        path.write_text(json.dumps(rows))
    else:
        workbook(path, {"Data": [["Name", "Phone"], *([r["Name"], r["Phone"]] for r in rows)]})
    source = iter_file_rows(path)
    assert source.digest is None
    assert not source.changed(), "nothing to compare with before counting"

    assert source.count_rows() == 2000

    assert source.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not source.changed()
    assert not source.changed(), "asking again changes nothing"
    original = path.read_bytes()
    path.write_bytes(original)  # same bytes, written again: a new mtime/ctime
    os.utime(path, ns=(1, 1))
    assert source.changed()


def test_changed_notices_a_replacement_and_a_removal(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("Name,Phone\nAna,56966666666\n")
    source = iter_file_rows(path)
    source.count_rows()
    info = path.stat()
    replacement = tmp_path / "new.csv"
    replacement.write_text("Name,Phone\nAna,56966666666\n")
    os.utime(replacement, ns=(info.st_atime_ns, info.st_mtime_ns))  # same size and mtime, new inode
    os.replace(replacement, path)

    assert source.changed()
    path.unlink()
    assert source.changed()


def test_inline_rows_have_no_digest_and_never_change() -> None:
    source = inline_rows([{"Phone": "56966666666"}])

    assert source.count_rows() == 1
    assert source.digest is None
    assert not source.changed()


# --------------------------------------------------------------------------- results file


def test_a_dangling_symlink_and_an_existing_file_at_the_results_name_are_left_untouched(
    tmp_path: Path,
) -> None:
    source = tmp_path / "contacts.csv"
    target = tmp_path / "elsewhere" / "planted.csv"
    target.parent.mkdir()
    (tmp_path / "contacts.results.csv").symlink_to(target)
    (tmp_path / "contacts.results.2.csv").write_text("the user's own notes", encoding="utf-8")

    with contextlib.closing(ResultsWriter.create(source)) as writer:
        writer.add([RowOutcome(1, "56966666666", "accepted", "200")])

    assert writer.path == tmp_path / "contacts.results.3.csv"
    assert not target.exists(), "the symlink was not followed"
    assert (tmp_path / "contacts.results.csv").is_symlink()
    assert (tmp_path / "contacts.results.2.csv").read_text(encoding="utf-8") == "the user's own notes"
    assert read_results(writer.path)[1] == ["1", "56966666666", "accepted", "200", ""]
    assert stat.S_IMODE(writer.path.stat().st_mode) == 0o600, "phones are personal data"


def test_an_explicit_results_path_is_created_exclusively(tmp_path: Path) -> None:
    taken = tmp_path / "taken.csv"
    taken.write_text("keep", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "missing.csv")

    for path in (taken, link):
        with pytest.raises(FileExistsError):
            ResultsWriter.create(tmp_path / "in.csv", path=path)
    writer = ResultsWriter.create(tmp_path / "in.csv", path=tmp_path / "free.csv")
    writer.close()

    assert taken.read_text(encoding="utf-8") == "keep"
    assert not (tmp_path / "missing.csv").exists()
    assert writer.path == tmp_path / "free.csv"


def test_the_temp_directory_is_private_and_a_planted_one_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    planted = tmp_path / "elsewhere"
    planted.mkdir()
    (tmp_path / "lynn-mcp").symlink_to(planted)

    writer = ResultsWriter.create(None)
    writer.close()

    assert writer.path.parent.parent == tmp_path
    assert writer.path.parent.name.startswith("lynn-mcp-")
    assert list(planted.iterdir()) == []
    (tmp_path / "lynn-mcp").unlink()
    (tmp_path / "lynn-mcp").mkdir(mode=0o755)
    second = ResultsWriter.create(None)
    second.close()
    assert second.path.parent == tmp_path / "lynn-mcp"
    assert stat.S_IMODE((tmp_path / "lynn-mcp").stat().st_mode) == 0o700


def test_formula_cells_are_neutralised_whichever_way_the_block_is_written() -> None:
    plain = [(1, "56966666666", "accepted", "200", ""), (2, "-1", "rejected", "invalid_phone", "")]
    quoted = [*plain, (3, "=1+2", "rejected", "invalid_phone", "a, b")]
    inner = [(1, "569-6666", "rejected", "400", "no +/- @ = at the start")]

    assert _csv_text(plain) == ("1,56966666666,accepted,200,\r\n2,'-1,rejected,invalid_phone,\r\n")
    assert _csv_text(quoted).endswith('3,\'=1+2,rejected,invalid_phone,"a, b"\r\n')
    assert _csv_text(inner) == "1,569-6666,rejected,400,no +/- @ = at the start\r\n", "only a first character"
    assert _csv_text([(1, "@SUM(A1)", "rejected", "\tx", "+cmd|' /C calc'!A0")]) == (
        "1,'@SUM(A1),rejected,'\tx,'+cmd|' /C calc'!A0\r\n"
    )
