"""load_campaign_data, bulk_set_dnd and upload_campaign_file through the SDK client against a real
sandbox: exact counts, row-by-row results files, every input format, progress order, dry runs."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import openpyxl
import pytest
from mcp import Client
from server_helpers import request_count, sandbox_settings

from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SEED_TEMPLATE_COLUMNS, SEED_TEMPLATE_ID, SandboxServer
from lynn_mcp.server import build_server

pytestmark = pytest.mark.anyio

OTHER = ("Tags", "New Date", "Store Name", "Order Number", "Coupon Number", "Coupon Days")


def category(i: int) -> str:
    """What row i (1-based) is, so that every expected outcome is known in advance."""
    if i % 97 == 5:
        return "invalid"
    if i % 89 == 7 and (i - 1) % 97 != 5:
        return "duplicate"
    if i % 83 == 11:
        return "blacklisted"
    if i % 79 == 13:
        return "existing"
    return "normal"


EXPECTED = {  # category -> (outcome, status) in the results file
    "normal": ("accepted", "200"),
    "invalid": ("rejected", "invalid_phone"),
    "duplicate": ("rejected", "duplicate_in_file"),
    "blacklisted": ("rejected", "403"),
    "existing": ("already_in_campaign", "409"),
}


def phone(prefix: str, i: int) -> str:
    return f"{prefix}{i:07d}"


def dataset(prefix: str, n: int) -> Iterator[tuple[int, str, str]]:
    """(row, category, phone as written) for rows 1..n; phones are written with readable punctuation."""
    for i in range(1, n + 1):
        kind = category(i)
        if kind == "invalid":
            written = "12-34"
        elif kind == "duplicate":
            written = phone(prefix, i - 1)
        else:
            raw = phone(prefix, i)
            written = f"+{raw[:2]} {raw[2:5]}-{raw[5:]}" if i % 2 else raw
        yield i, kind, written


def template_row(written_phone: str, i: int) -> dict[str, str]:
    return {"Name": f"Person {i}", "Phone": written_phone} | dict.fromkeys(OTHER, str(i))


async def ok(client: Client, tool: str, progress: Any = None, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments, progress_callback=progress)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def prepare_campaign(client: Client, prefix: str, n: int) -> None:
    """Blacklist the 'blacklisted' phones and pre-load the 'existing' ones into the seed campaign."""
    rows = list(dataset(prefix, n))
    blacklist = [{"identifier": phone(prefix, i)} for i, kind, _ in rows if kind == "blacklisted"]
    existing = [template_row(phone(prefix, i), i) for i, kind, _ in rows if kind == "existing"]
    for start in range(0, len(blacklist), 1000):
        done = await ok(
            client, "bulk_set_dnd", campaign_id=SEED_CAMPAIGN_ID, rows=blacklist[start : start + 1000]
        )
        assert done["accepted"] == len(blacklist[start : start + 1000])
    for start in range(0, len(existing), 500):
        done = await ok(
            client, "load_campaign_data", template_id=SEED_TEMPLATE_ID, rows=existing[start : start + 500]
        )
        assert done["accepted"] == len(existing[start : start + 500])


def expected_counts(prefix: str, n: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, kind, _ in dataset(prefix, n):
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def check_report(report: dict[str, Any], prefix: str, n: int) -> None:
    counts = expected_counts(prefix, n)
    assert report["state"] == "Completed"
    assert (report["submitted"], report["accepted"], report["unprocessed"]) == (n, counts["normal"], 0)
    assert report["already_in_campaign"] == counts["existing"], "rows the campaign holds are not rejections"
    assert report["rejected"] == n - counts["normal"] - counts["existing"]
    assert report["rejected_by_reason"] == {
        "403": counts["blacklisted"],
        "duplicate_in_file": counts["duplicate"],
        "invalid_phone": counts["invalid"],
    }
    assert "resume" not in report
    with open(report["results_path"], encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert len(lines) == n
    for line, (i, kind, _) in zip(lines, dataset(prefix, n), strict=True):
        assert int(line["row"]) == i
        assert (line["outcome"], line["status"]) == EXPECTED[kind], (i, kind, line)
        if kind in ("normal", "blacklisted", "existing"):
            assert line["phone"] == phone(prefix, i)


def write_csv(
    path: Path, prefix: str, n: int, delimiter: str = ",", header: tuple[str, ...] = SEED_TEMPLATE_COLUMNS
) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        for i, _, written in dataset(prefix, n):
            writer.writerow(template_row(written, i).values())
    return path


@pytest.mark.parametrize("mode", ["auto"])
async def test_20000_row_csv_exact_counts_and_results_file(client: Client, tmp_path: Path) -> None:
    n, prefix = 20_000, "5691"
    await prepare_campaign(client, prefix, n)
    report = await ok(
        client,
        "load_campaign_data",
        template_id=SEED_TEMPLATE_ID,
        file_path=str(write_csv(tmp_path / "big.csv", prefix, n)),
    )
    check_report(report, prefix, n)
    assert len(report["task_ids"]) == -(
        -sum(1 for _, k, _ in dataset(prefix, n) if k not in ("invalid", "duplicate")) // 1000
    )
    assert len(report["examples"]) == 20


def write_variant(path: Path, prefix: str, n: int) -> Path:
    rows = [template_row(written, i) for i, _, written in dataset(prefix, n)]
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    elif path.suffix == ".xlsx":
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        assert sheet is not None
        sheet.append(list(SEED_TEMPLATE_COLUMNS))
        for row in rows:
            sheet.append(list(row.values()))
        workbook.save(path)
    else:
        write_csv(path, prefix, n, delimiter=";")
    return path


@pytest.mark.parametrize("mode", ["legacy"])
@pytest.mark.parametrize(
    ("name", "prefix"),
    [("semi.csv", "5692"), ("rows.cpg", "5693"), ("rows.xlsx", "5694"), ("rows.jsonl", "5695")],
)
async def test_formats(client: Client, tmp_path: Path, name: str, prefix: str) -> None:
    n = 500
    await prepare_campaign(client, prefix, n)
    path = write_variant(tmp_path / name, prefix, n)
    report = await ok(client, "load_campaign_data", template_id=SEED_TEMPLATE_ID, file_path=str(path))
    check_report(report, prefix, n)
    assert Path(report["results_path"]).parent == tmp_path


async def test_column_map_and_json_request(client: Client, tmp_path: Path) -> None:
    n, prefix = 300, "5696"
    await prepare_campaign(client, prefix, n)
    header = tuple({"Name": "Nombre", "Phone": "Telefono"}.get(c, c) for c in SEED_TEMPLATE_COLUMNS)
    path = write_csv(tmp_path / "mapped.csv", prefix, n, header=header)
    body = json.dumps(
        {
            "campaingId": "",
            "templateId": SEED_TEMPLATE_ID,
            "typeOfData": 0,
            "data": [dict.fromkeys(SEED_TEMPLATE_COLUMNS, "")],
        }
    )
    refused = await client.call_tool("load_campaign_data", {"json_request": body, "file_path": str(path)})
    assert refused.is_error
    assert "Missing template column(s): Name, Phone" in refused.content[0].text  # type: ignore[union-attr]
    report = await ok(
        client,
        "load_campaign_data",
        json_request=body[1:-1],
        file_path=str(path),
        column_map={"Nombre": "Name", "Telefono": "Phone"},
    )
    check_report(report, prefix, n)


async def test_dry_run_sends_nothing(client: Client, sandbox: SandboxServer, tmp_path: Path) -> None:
    n, prefix = 400, "5697"
    path = write_csv(tmp_path / "dry.csv", prefix, n)
    await ok(client, "list_campaigns")  # the token exchange is not part of what we count
    httpx2.delete(f"{sandbox.base_url}/sandbox/stats").raise_for_status()
    report = await ok(
        client, "load_campaign_data", template_id=SEED_TEMPLATE_ID, file_path=str(path), dry_run=True
    )
    assert request_count(sandbox) == 0
    counts = expected_counts(prefix, n)
    sendable = n - counts["invalid"] - counts["duplicate"]
    assert (report["state"], report["accepted"], report["unprocessed"]) == ("DryRun", 0, sendable)
    assert report["rejected_by_reason"] == {
        "duplicate_in_file": counts["duplicate"],
        "invalid_phone": counts["invalid"],
    }
    assert "results_path" not in report
    assert "resume" not in report
    assert report["task_ids"] == []


async def test_progress_arrives_in_order(client: Client, tmp_path: Path) -> None:
    n, prefix = 3000, "5698"
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    path = write_csv(tmp_path / "progress.csv", prefix, n)
    report = await ok(
        client, "load_campaign_data", on_progress, template_id=SEED_TEMPLATE_ID, file_path=str(path)
    )
    assert report["unprocessed"] == 0
    values = [p for p, _, _ in seen]
    assert len(values) >= 3
    assert values == sorted(values)
    assert len(set(values)) == len(values)
    assert {total for _, total, _ in seen} == {float(n)}
    assert values[-1] == float(n)
    assert seen[-1][2] is not None
    assert f"confirmed {n} of {n}" in seen[-1][2]


async def test_bulk_set_dnd_from_a_file_and_bad_paths(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "dnd.csv"
    path.write_text(
        "phone,do_not_disturb,name\n+56 9 7000-0001,yes,A\n56970000002,no,B\nbad,true,C\n56970000001,true,D\n"
    )
    report = await ok(client, "bulk_set_dnd", campaign_id=SEED_CAMPAIGN_ID, file_path=str(path))
    assert (report["submitted"], report["accepted"], report["rejected"]) == (4, 2, 2)
    assert report["rejected_by_reason"] == {"duplicate_in_file": 1, "invalid_phone": 1}
    for bad in (str(tmp_path), "/dev/null", str(tmp_path / "missing.csv")):
        refused = await client.call_tool("bulk_set_dnd", {"campaign_id": SEED_CAMPAIGN_ID, "file_path": bad})
        assert refused.is_error
        assert "invalid_argument: file_path" in refused.content[0].text  # type: ignore[union-attr]


def results_lines(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def stored_phones(sandbox: SandboxServer, prefix: str) -> list[str]:
    body = httpx2.get(f"{sandbox.base_url}/sandbox/records", params={"campaignId": SEED_CAMPAIGN_ID}).json()
    return [record["phone"] for record in body["records"] if record["phone"].startswith(prefix)]


@pytest.mark.slow
async def test_cancelling_the_call_mid_load_leaves_the_sandbox_consistent(mode: str, tmp_path: Path) -> None:
    """The client gives up on load_campaign_data once some chunks are confirmed. The server writes
    the cancelled load's results file; what the sandbox holds then is every row confirmed accepted
    plus at most rows whose chunk was in doubt, never a row not yet sent; a re-run stores the rest,
    each phone once. (A cancelled call returns nothing, so there is no resume handle to pass.)"""
    n, prefix = 4000, "5690"
    phones = [phone(prefix, i) for i in range(1, n + 1)]
    path = tmp_path / "cancel.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SEED_TEMPLATE_COLUMNS)
        writer.writerows(template_row(p, i).values() for i, p in enumerate(phones, start=1))
    results_path = tmp_path / "cancel.results.csv"
    # 16 chunks of 250 rows, each task about 100 ms at the sandbox: the load lasts well over a
    # second, and with at most 2 + 4 chunks ahead of the confirmed ones, cancelling after 1,000
    # confirmed rows leaves rows never sent.
    with SandboxServer(task_delay_ms=20) as sandbox:
        settings = sandbox_settings(sandbox, chunk_size=250, max_in_flight=2, max_pending_tasks=4)
        server = build_server(settings)
        async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
            with anyio.CancelScope() as scope:

                async def cancel_once_rows_are_confirmed(
                    progress: float, total: float | None, message: str | None
                ) -> None:
                    if progress >= 1000:
                        scope.cancel()

                await client.call_tool(
                    "load_campaign_data",
                    {"template_id": SEED_TEMPLATE_ID, "file_path": str(path)},
                    progress_callback=cancel_once_rows_are_confirmed,
                )
            assert scope.cancelled_caught
            # The server notices the cancellation on its own schedule (at once in-process, after the
            # notifications/cancelled in the legacy era); the results file is complete when it has.
            lines: list[dict[str, str]] = []
            with anyio.fail_after(30):
                while len(lines) < n:
                    await anyio.sleep(0.05)
                    lines = results_lines(results_path) if results_path.exists() else []
            assert [int(line["row"]) for line in lines] == list(range(1, n + 1))
            by_outcome: dict[str, set[str]] = {}
            for line in lines:
                by_outcome.setdefault(f"{line['outcome']}/{line['status']}", set()).add(line["phone"])
            accepted = by_outcome.get("accepted/200", set())
            in_doubt = by_outcome.get("unprocessed/unknown", set())
            never_sent = by_outcome.get("unprocessed/pending", set())
            assert set(by_outcome) <= {"accepted/200", "unprocessed/unknown", "unprocessed/pending"}
            assert 1000 <= len(accepted) < n
            assert never_sent  # cancelled before the whole file was sent
            stored = stored_phones(sandbox, prefix)
            assert len(stored) == len(set(stored))
            assert accepted <= set(stored) <= accepted | in_doubt

            rerun = await ok(client, "load_campaign_data", template_id=SEED_TEMPLATE_ID, file_path=str(path))
            # The in-doubt tasks ran before the re-run's (Lynn runs a tenant's tasks in order), so
            # what was stored by then comes back 409: already a record of the campaign, not a rejection.
            assert rerun["state"] == "Completed"
            assert rerun["unprocessed"] == rerun["rejected"] == 0
            assert rerun["accepted"] + rerun["already_in_campaign"] == n
            assert rerun["already_in_campaign"] >= len(accepted)
            final = stored_phones(sandbox, prefix)
    assert len(final) == len(set(final)) == n
    assert set(final) == set(phones)


async def test_upload_campaign_file_checks_the_header_against_a_json_request(
    client: Client, sandbox: SandboxServer, tmp_path: Path
) -> None:
    body = json.dumps(
        {
            "campaingId": SEED_CAMPAIGN_ID,
            "templateId": SEED_TEMPLATE_ID,
            "typeOfData": 0,
            "data": [dict.fromkeys(SEED_TEMPLATE_COLUMNS, "")],
        }
    )
    short = SEED_TEMPLATE_COLUMNS[:-1]
    lacking = tmp_path / "lacking.cpg"
    lacking.write_text(
        ";".join(short) + "\n" + ";".join(template_row("56977700001", 1)[c] for c in short) + "\n",
        encoding="utf-8",
    )
    await ok(client, "list_campaigns")  # the token exchange is not part of what we count
    httpx2.delete(f"{sandbox.base_url}/sandbox/stats").raise_for_status()
    arguments = {"file_path": str(lacking), "json_request": body}
    refused = await client.call_tool("upload_campaign_file", arguments)
    assert refused.is_error
    text = refused.content[0].text  # type: ignore[union-attr]
    assert f"Missing template column(s): {SEED_TEMPLATE_COLUMNS[-1]}" in text
    assert request_count(sandbox) == 0  # refused before the upload

    complete = tmp_path / "complete.cpg"
    rows = [template_row(phone("5697771", i), i) for i in range(1, 4)]
    complete.write_text(
        "\n".join([";".join(SEED_TEMPLATE_COLUMNS), *(";".join(row.values()) for row in rows)]) + "\n",
        encoding="utf-8",
    )
    report = await ok(client, "upload_campaign_file", file_path=str(complete), json_request=body)
    assert (report["state"], report["submitted"], report["accepted"]) == ("Completed", 3, 3)


async def test_files_over_lynn_max_file_mb_are_refused_before_anything_is_read(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    big = write_csv(tmp_path / "big.csv", "5697880", 20_000)
    assert 1_000_000 < big.stat().st_size < 2_000_000
    cpg = big.with_suffix(".cpg")
    cpg.write_bytes(big.read_bytes())
    calls = {
        "load_campaign_data": {"template_id": SEED_TEMPLATE_ID, "file_path": str(big)},
        "bulk_set_dnd": {"campaign_id": SEED_CAMPAIGN_ID, "file_path": str(big)},
        "upload_campaign_file": {"template_id": SEED_TEMPLATE_ID, "file_path": str(cpg)},
    }
    async with Client(build_server(sandbox_settings(sandbox, max_file_mb=1))) as client:
        await ok(client, "list_campaigns")  # the token exchange is not part of what we count
        httpx2.delete(f"{sandbox.base_url}/sandbox/stats").raise_for_status()
        for tool, arguments in calls.items():
            refused = await client.call_tool(tool, arguments)
            assert refused.is_error, tool
            text = refused.content[0].text  # type: ignore[union-attr]
            assert "invalid_argument: file_path" in text, text
            assert "the limit is 1 MB" in text, text
            assert "LYNN_MAX_FILE_MB" in text, text
        assert request_count(sandbox) == 0
    async with Client(build_server(sandbox_settings(sandbox, max_file_mb=2))) as client:
        report = await ok(
            client, "load_campaign_data", template_id=SEED_TEMPLATE_ID, file_path=str(big), dry_run=True
        )
        assert report["submitted"] == 20_000
