"""Real-world input files through the SDK client against the sandbox: spreadsheet numbers in the
phone column, a huge cell deep in a file, text that is not UTF-8, workbooks that open on an
instructions sheet, and a results file that is safe to create and to open in Excel."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import httpx2
import openpyxl
import pytest
from mcp import Client
from server_helpers import request_count

from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SEED_TEMPLATE_COLUMNS, SEED_TEMPLATE_ID, SandboxServer

pytestmark = pytest.mark.anyio

OTHER = ("Tags", "New Date", "Store Name", "Order Number", "Coupon Number", "Coupon Days")
EXPORT_FIX = "format the phone column as Text (or as Number with 0 decimals) in the spreadsheet and export"

# (phone as the spreadsheet wrote it, phone sent to Lynn or None, what the results file shows)
PHONE_CELLS: list[tuple[str, str | None, str]] = [
    ("56912345679.00", "56912345679", "56912345679"),  # not 5691234567900: a stranger
    ("56912345680,0", "56912345680", "56912345680"),
    ("5.6912345681E+10", None, "5.6912345681E+10"),
    ("5,69E+10", None, "5,69E+10"),
    ("56912345682.5", None, "56912345682.5"),  # not 569123456825
    ("+56 9 1234-5683", "56912345683", "56912345683"),
    ("=1+2", None, "'=1+2"),  # shown as text, never run, when the results file is opened in Excel
    ("@SUM(A1:A9)", None, "'@SUM(A1:A9)"),
]


def template_row(written_phone: str, i: int) -> list[str]:
    return [f"Person {i}", written_phone, *(str(i) for _ in OTHER)]


def write_rows(path: Path, phones: list[str], *, delimiter: str = ";") -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(SEED_TEMPLATE_COLUMNS)
        writer.writerows(template_row(written, i) for i, written in enumerate(phones, start=1))
    return path


async def ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    text: str = result.content[0].text  # type: ignore[union-attr]
    return text


def results_lines(path: str) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def stored_phones(sandbox: SandboxServer) -> list[str]:
    body = httpx2.get(f"{sandbox.base_url}/sandbox/records", params={"campaignId": SEED_CAMPAIGN_ID}).json()
    return [record["phone"] for record in body["records"]]


async def forget_requests(client: Client, sandbox: SandboxServer) -> None:
    await ok(client, "list_campaigns")  # the token exchange is not part of what we count
    httpx2.delete(f"{sandbox.base_url}/sandbox/stats").raise_for_status()


async def test_spreadsheet_numbers_reach_lynn_as_the_number_or_not_at_all(
    client: Client, sandbox: SandboxServer, tmp_path: Path
) -> None:
    path = write_rows(tmp_path / "export.csv", [written for written, _, _ in PHONE_CELLS])
    planted = tmp_path / "planted.csv"
    (tmp_path / "export.results.csv").symlink_to(planted)  # dangling: whoever made it wants a write

    report = await ok(client, "load_campaign_data", template_id=SEED_TEMPLATE_ID, file_path=str(path))

    sent = [to_lynn for _, to_lynn, _ in PHONE_CELLS if to_lynn is not None]
    assert sorted(stored_phones(sandbox)) == sorted(sent)
    assert (report["state"], report["accepted"], report["rejected"]) == ("Completed", len(sent), 5)
    assert report["rejected_by_reason"] == {"invalid_phone": 5}
    assert report["results_path"] == str(tmp_path / "export.results.2.csv")
    assert not planted.exists(), "the results file did not follow the symlink"
    assert (tmp_path / "export.results.csv").is_symlink()
    lines = results_lines(report["results_path"])
    assert [line["phone"] for line in lines] == [shown for _, _, shown in PHONE_CELLS]
    by_phone = {line["phone"]: line for line in lines}
    for shown in ("56912345679", "56912345680", "56912345683"):
        assert (by_phone[shown]["outcome"], by_phone[shown]["status"]) == ("accepted", "200")
    for shown in ("5.6912345681E+10", "5,69E+10"):
        assert "scientific notation: the spreadsheet lost digits" in by_phone[shown]["reason"]
        assert EXPORT_FIX in by_phone[shown]["reason"]
    assert "looks like a decimal number" in by_phone["56912345682.5"]["reason"]
    assert EXPORT_FIX in by_phone["56912345682.5"]["reason"]


async def test_a_dry_run_reports_uncertain_phones_and_how_to_fix_the_export(
    client: Client, sandbox: SandboxServer, tmp_path: Path
) -> None:
    path = write_rows(tmp_path / "dry.csv", [written for written, _, _ in PHONE_CELLS])
    await forget_requests(client, sandbox)

    report = await ok(
        client, "load_campaign_data", template_id=SEED_TEMPLATE_ID, file_path=str(path), dry_run=True
    )

    assert request_count(sandbox) == 0
    assert (report["state"], report["unprocessed"], report["rejected"]) == ("DryRun", 3, 5)
    examples = report["examples"]
    assert [example.split(":")[0] for example in examples] == ["row 3", "row 4", "row 5", "row 7", "row 8"]
    assert examples[0].startswith("row 3: invalid_phone the phone cell is in scientific notation")
    assert examples[2].startswith("row 5: invalid_phone the phone cell looks like a decimal number")
    assert EXPORT_FIX in examples[2]


@pytest.mark.parametrize("mode", ["auto"])
async def test_a_huge_cell_deep_in_the_file_rejects_its_row_and_the_load_completes(
    client: Client, sandbox: SandboxServer, tmp_path: Path
) -> None:
    n, long_row = 3000, 2500  # the long cell comes after two chunks of 1,000 rows were sent
    phones = [f"5699{i:07d}" for i in range(1, n + 1)]
    path = tmp_path / "long.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SEED_TEMPLATE_COLUMNS)
        for i, written in enumerate(phones, start=1):
            row = template_row(written, i)
            if i == long_row:
                row[0] = "x" * 200_000  # a pasted blob in the Name column
            writer.writerow(row)

    report = await ok(client, "load_campaign_data", template_id=SEED_TEMPLATE_ID, file_path=str(path))

    assert (report["state"], report["submitted"], report["accepted"]) == ("Completed", n, n - 1)
    assert report["rejected_by_reason"] == {"malformed_row": 1}
    assert len(stored_phones(sandbox)) == n - 1
    line = results_lines(report["results_path"])[long_row - 1]
    assert (line["row"], line["phone"], line["status"]) == (
        str(long_row),
        phones[long_row - 1],
        "malformed_row",
    )
    assert line["reason"] == "column 'Name' has a cell of 200,000 characters; the limit is 10,000"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
async def test_text_that_is_not_utf8_is_refused_naming_its_row_before_anything_is_sent(
    client: Client, sandbox: SandboxServer, tmp_path: Path, suffix: str
) -> None:
    n, bad = 10_000, 5_000
    if suffix == ".csv":
        lines = [f"Person {i},5698{i:07d}\n".encode() for i in range(1, n + 1)]
        lines[bad - 1] = f"Mu\xf1oz,5698{bad:07d}\n".encode("cp1252")
        content = b"Name,Phone\n" + b"".join(lines)
        where = f"data row {bad} (line {bad + 1})"
    else:
        lines = [f'{{"Name": "Person {i}", "Phone": "5698{i:07d}"}}\n'.encode() for i in range(1, n + 1)]
        lines[bad - 1] = f'{{"Name": "Mu\xf1oz", "Phone": "5698{bad:07d}"}}\n'.encode("cp1252")
        content = b"".join(lines)
        where = f"data row {bad} (line {bad})"
    path = tmp_path / f"latin1{suffix}"
    path.write_bytes(content)
    await forget_requests(client, sandbox)

    text = await refused(client, "load_campaign_data", template_id=SEED_TEMPLATE_ID, file_path=str(path))

    assert f"latin1{suffix}: {where} is not UTF-8 text; save the file as UTF-8" in text
    assert request_count(sandbox) == 0


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    book = openpyxl.Workbook()
    assert book.active is not None
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


INSTRUCTIONS = [["How to fill this workbook"], ["Write each customer's phone number with its country code."]]


async def test_a_workbook_opening_on_instructions_loads_its_data_sheet_and_says_so(
    client: Client, sandbox: SandboxServer, tmp_path: Path
) -> None:
    rows = [
        [*template_row(f"5697{i:07d}", i)[:1], 56970000000 + i, *template_row("", i)[2:]]
        for i in range(1, 51)
    ]
    path = workbook(
        tmp_path / "campaign.xlsx",
        {"Instructions": INSTRUCTIONS, "Data": [list(SEED_TEMPLATE_COLUMNS), *rows]},
    )
    blacklist = workbook(
        tmp_path / "optout.xlsx",
        {"Read me": INSTRUCTIONS, "Opt-outs": [["identifier", "do_not_disturb"], ["56970000001", "yes"]]},
    )

    dry = await ok(
        client, "load_campaign_data", template_id=SEED_TEMPLATE_ID, file_path=str(path), dry_run=True
    )
    report = await ok(client, "load_campaign_data", template_id=SEED_TEMPLATE_ID, file_path=str(path))
    dnd = await ok(client, "bulk_set_dnd", campaign_id=SEED_CAMPAIGN_ID, file_path=str(blacklist))

    note = "Read the workbook's sheet 'Data' (other sheets: 'Instructions')."
    assert (dry["state"], dry["unprocessed"]) == ("DryRun", 50)
    assert note in dry["message"]
    assert (report["state"], report["accepted"]) == ("Completed", 50)
    assert note in report["message"]
    assert sorted(stored_phones(sandbox)) == [str(56970000000 + i) for i in range(1, 51)]
    assert dnd["accepted"] == 1
    assert "Read the workbook's sheet 'Opt-outs' (other sheets: 'Read me')." in dnd["message"]


async def test_a_workbook_without_a_data_sheet_is_refused_naming_its_sheets(
    client: Client, sandbox: SandboxServer, tmp_path: Path
) -> None:
    path = workbook(tmp_path / "notes.xlsx", {"Instructions": INSTRUCTIONS, "Empty": []})
    await forget_requests(client, sandbox)

    text = await refused(client, "load_campaign_data", template_id=SEED_TEMPLATE_ID, file_path=str(path))

    assert "notes.xlsx: no sheet starts with a header row naming a phone column" in text
    assert "(sheets: 'Instructions', 'Empty')" in text
    assert request_count(sandbox) == 0
