"""What a load reports when it does not simply succeed, through the SDK client against a sandbox:
rows the campaign already holds, where rows went without a campaign_id, what a dry run could not
check, a header Lynn rejects as a whole, failures after something was sent, and report size."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from server_helpers import request_count, sandbox_settings, set_faults

from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SEED_TEMPLATE_COLUMNS, SEED_TEMPLATE_ID, SandboxServer
from lynn_mcp.server import build_server

pytestmark = pytest.mark.anyio

JSON_REQUEST = (
    '{"campaingId": "", "templateId": "'
    + SEED_TEMPLATE_ID
    + '", "typeOfData": 0, "data": [{'
    + ", ".join(f'"{column}": ""' for column in SEED_TEMPLATE_COLUMNS)
    + "}]}"
)


def write_rows(path: Path, phones: list[str], header: tuple[str, ...] = SEED_TEMPLATE_COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i, phone in enumerate(phones):
            cells = {column: f"{column} {i}" for column in header} | {"Phone": phone}
            writer.writerow(cells.values())
    return path


def results_file(report: dict[str, Any]) -> list[dict[str, str]]:
    with open(report["results_path"], encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def stored_phones(sandbox: SandboxServer, prefix: str) -> list[str]:
    body = httpx2.get(f"{sandbox.base_url}/sandbox/records", params={"campaignId": SEED_CAMPAIGN_ID}).json()
    return [record["phone"] for record in body["records"] if record["phone"].startswith(prefix)]


class AfterFirstChunk:
    """A progress callback that runs `action` once, when the first 1,000 rows have been sent."""

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action
        self.fired = False

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        if not self.fired and message is not None and message.startswith("sent 1000"):
            self.fired = True
            self.action()


async def load(client: Client, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("load_campaign_data", arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    report = result.structured_content
    counted = report["accepted"] + report.get("already_in_campaign", 0) + report["rejected"]
    assert report["submitted"] == counted + report["unprocessed"]
    return report


async def test_rows_the_campaign_already_holds_are_not_rejections(
    client: Client, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A re-run without its resume handle (server restarted, client timed out) finds its rows in the
    campaign: they are counted as already_in_campaign, in the report and the results file."""
    phones = [f"5697100{i:04d}" for i in range(300)]
    path = write_rows(tmp_path / "again.csv", phones)
    first = await load(
        client, template_id=SEED_TEMPLATE_ID, campaign_id=SEED_CAMPAIGN_ID, file_path=str(path)
    )
    assert (first["accepted"], first.get("already_in_campaign", 0)) == (300, 0)
    again = await load(
        client, template_id=SEED_TEMPLATE_ID, campaign_id=SEED_CAMPAIGN_ID, file_path=str(path)
    )
    assert (again["state"], again["accepted"], again["already_in_campaign"]) == ("Completed", 0, 300)
    assert again["rejected"] == 0
    assert again["rejected_by_reason"] == {}
    lines = results_file(again)
    assert {(line["outcome"], line["status"]) for line in lines} == {("already_in_campaign", "409")}
    assert sorted(stored_phones(sandbox, "5697100")) == phones

    task = await client.call_tool("get_task_status", {"task_id": again["task_ids"][0]})
    assert task.structured_content is not None
    assert task.structured_content["already_in_campaign"] == 300
    assert task.structured_content["rejected"] == 0


async def test_without_campaign_id_the_report_names_where_the_rows_went(
    client: Client, tmp_path: Path
) -> None:
    report = await load(
        client, template_id=SEED_TEMPLATE_ID, file_path=str(write_rows(tmp_path / "a.csv", ["56971110001"]))
    )
    assert report["campaign_id"] == SEED_CAMPAIGN_ID
    assert report["message"].startswith("No campaign_id was given: the rows went to the template's own")
    assert '"Sandbox demo campaign"' in report["message"]
    assert SEED_CAMPAIGN_ID in report["message"]

    explicit = await load(
        client,
        template_id=SEED_TEMPLATE_ID,
        campaign_id=SEED_CAMPAIGN_ID,
        file_path=str(write_rows(tmp_path / "b.csv", ["56971110002"])),
    )
    assert explicit["campaign_id"] == SEED_CAMPAIGN_ID
    assert "No campaign_id" not in explicit.get("message", "")


async def test_a_dry_run_without_the_template_columns_says_it_did_not_check_the_header(
    client: Client, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A file whose header is not the template's passes every local check; the dry run must not
    present it as fine, and sends nothing."""
    header = ("Name", "Phone", "Email")
    path = write_rows(tmp_path / "wrong.csv", ["56971120001", "56971120002"], header)
    before = request_count(sandbox)
    unchecked = await load(client, template_id=SEED_TEMPLATE_ID, file_path=str(path), dry_run=True)
    assert unchecked["state"] == "DryRun"
    assert "Header not checked" in unchecked["message"]
    assert "json_request" in unchecked["message"]
    assert request_count(sandbox) == before

    refused = await client.call_tool(
        "load_campaign_data", {"json_request": JSON_REQUEST, "file_path": str(path), "dry_run": True}
    )
    assert refused.is_error
    text = refused.content[0].text  # type: ignore[union-attr]
    assert "invalid_argument" in text
    assert "Missing template column(s): Tags" in text

    checked = await load(
        client,
        json_request=JSON_REQUEST,
        file_path=str(write_rows(tmp_path / "right.csv", ["56971120003"])),
        dry_run=True,
    )
    assert "Header not checked" not in checked.get("message", "")
    assert request_count(sandbox) == before


async def test_a_header_lynn_rejects_as_a_whole_stops_the_load_after_the_first_chunk(
    client: Client, sandbox: SandboxServer, tmp_path: Path
) -> None:
    header = (*SEED_TEMPLATE_COLUMNS, "Email")  # a column the template lacks: Lynn rejects every row
    phones = [f"5697113{i:04d}" for i in range(10_000)]
    report = await load(
        client, template_id=SEED_TEMPLATE_ID, file_path=str(write_rows(tmp_path / "h.csv", phones, header))
    )
    assert report["state"] == "Incomplete"
    assert report["accepted"] == 0
    assert report["rejected_by_reason"] == {"400": report["rejected"]}
    assert (report["rejected"], report["unprocessed"]) == (1000, 9000), "the first chunk went alone"
    assert len(report["task_ids"]) == 1
    assert "Lynn rejected all 1000 rows of the first chunk for the same reason" in report["message"]
    assert "column_map" in report["message"]
    assert stored_phones(sandbox, "5697113") == []
    outcomes = {line["outcome"] for line in results_file(report)}
    assert outcomes == {"rejected", "unprocessed"}


async def test_a_refusal_after_rows_were_sent_is_a_report_with_a_resume_handle(
    sandbox: SandboxServer, mode: str, tmp_path: Path
) -> None:
    """Lynn starts answering 403 once the first chunk is in: the call still ends in a report whose
    counts add up, a results file that agrees, and a resume handle that finishes the load."""
    phones = [f"5697114{i:04d}" for i in range(5000)]
    path = write_rows(tmp_path / "refused.csv", phones)
    server = build_server(sandbox_settings(sandbox, max_in_flight=1))
    refuse = AfterFirstChunk(lambda: set_faults(sandbox, errorRate=1.0, errorStatuses=[403]))

    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        result = await client.call_tool(
            "load_campaign_data",
            {"template_id": SEED_TEMPLATE_ID, "campaign_id": SEED_CAMPAIGN_ID, "file_path": str(path)},
            progress_callback=refuse,
        )
        assert refuse.fired
        assert not result.is_error, result.content
        report = result.structured_content
        assert report is not None
        assert report["state"] == "Incomplete"
        assert report["submitted"] == report["accepted"] + report["unprocessed"] == 5000
        assert "forbidden" in report["message"]
        assert report["resume"]
        lines = results_file(report)
        assert len(lines) == 5000
        assert sum(line["outcome"] == "accepted" for line in lines) == report["accepted"]
        stored = stored_phones(sandbox, "5697114")
        assert report["accepted"] <= len(stored) <= report["accepted"] + 1000

        httpx2.delete(f"{sandbox.base_url}/sandbox/faults").raise_for_status()
        final = await load(
            client,
            template_id=SEED_TEMPLATE_ID,
            campaign_id=SEED_CAMPAIGN_ID,
            file_path=str(path),
            resume=report["resume"],
        )
    assert final["unprocessed"] == 0
    assert final["accepted"] == 5000
    assert sorted(stored_phones(sandbox, "5697114")) == phones


async def test_a_file_changed_during_the_load_stops_it_with_a_report(
    client: Client, sandbox: SandboxServer, tmp_path: Path
) -> None:
    phones = [f"5697115{i:04d}" for i in range(6000)]
    path = write_rows(tmp_path / "moving.csv", phones)

    def save_another_file() -> None:  # as an editor saves: a new file put in its place
        write_rows(tmp_path / "replacement.csv", [f"5697116{i:04d}" for i in range(6000)])
        os.replace(tmp_path / "replacement.csv", path)

    rewrite = AfterFirstChunk(save_another_file)

    result = await client.call_tool(
        "load_campaign_data",
        {"template_id": SEED_TEMPLATE_ID, "campaign_id": SEED_CAMPAIGN_ID, "file_path": str(path)},
        progress_callback=rewrite,
    )
    assert rewrite.fired
    assert not result.is_error, result.content
    report = result.structured_content
    assert report is not None
    assert report["state"] == "Incomplete"
    assert "the file changed while it was being loaded" in report["message"]
    assert report["submitted"] == report["accepted"] + report["unprocessed"] == 6000
    assert 1000 <= report["accepted"] < 6000
    assert sorted(stored_phones(sandbox, "5697115")) == phones[: report["accepted"]]
    assert stored_phones(sandbox, "5697116") == [], "nothing of the new file was sent"
    lines = results_file(report)
    assert len(lines) == 6000
    assert {line["status"] for line in lines if line["outcome"] == "unprocessed"} <= {"pending", "unread"}


@pytest.mark.slow
async def test_reports_stay_small_however_many_tasks_a_load_makes(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    phones = [f"5697117{i:04d}" for i in range(3000)]
    server = build_server(sandbox_settings(sandbox, chunk_size=10))
    async with Client(server) as client:
        report = await load(
            client,
            template_id=SEED_TEMPLATE_ID,
            campaign_id=SEED_CAMPAIGN_ID,
            file_path=str(write_rows(tmp_path / "many.csv", phones)),
        )
    assert report["accepted"] == 3000
    assert report["task_count"] == 300
    assert len(report["task_ids"]) == 20
    assert len(set(report["task_ids"])) == 20


async def test_header_names_are_compared_exactly_with_a_hint_for_case_and_spacing(
    client: Client, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Lynn checks exact column names; `phone` or `CouponNumber` would be rejected row by row, so the
    load is refused before anything is sent, with the column_map that fixes it."""
    header = tuple(
        {"Phone": "phone", "Coupon Number": "CouponNumber"}.get(c, c) for c in SEED_TEMPLATE_COLUMNS
    )
    path = write_rows(tmp_path / "loose.csv", ["56971180001"], header)
    before = request_count(sandbox)
    refused = await client.call_tool(
        "load_campaign_data", {"json_request": JSON_REQUEST, "file_path": str(path)}
    )
    assert refused.is_error
    text = refused.content[0].text  # type: ignore[union-attr]
    assert "Missing template column(s): Phone, Coupon Number" in text
    assert "Did you mean column_map {'phone': 'Phone', 'CouponNumber': 'Coupon Number'}?" in text
    assert request_count(sandbox) == before
