"""The dialect loop, end to end: a sandbox speaking a tenant's dialect -> `doctor --contract` names
every difference -> the dialect file -> every tool works through the MCP SDK's own client, in both
protocol eras, including a 5,000-row load_campaign_data with exact counts."""

from __future__ import annotations

import csv
import io
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult
from settings_factory import sandbox_settings

from lynn_mcp.doctor import Exit, diagnose
from lynn_mcp.sandbox import (
    SEED_ACCESS_TOKEN,
    SEED_ACCESS_TOKEN_SECRET,
    SEED_CAMPAIGN_ID,
    SEED_TEMPLATE_COLUMNS,
    SEED_TEMPLATE_ID,
    SEED_TENANT,
    SandboxServer,
)
from lynn_mcp.server import build_server

pytestmark = pytest.mark.anyio

# How the first tenant's Lynn differs from the contract: the issue's own examples (a renamed field
# in Campaign, Contact, Task and each task record, a task state spelled `Finished`, a POST where
# the contract has a GET, at another path).
TENANT_DIALECT = """
[GetCampaign]
method = "POST"
path = "/api/LynnService/Campaigns/{tenant}/{campaignId}/Get"

[fields.Campaign]
name = "campaignName"
[fields.Contact]
identifier = "phoneNumber"
[fields.Task]
state = "taskState"
[fields.TaskRecord]
Status = "code"

[values."Task.state"]
Completed = "Finished"
"""
# What the user adds to the doctor's suggestion: the verb and path of the operation answered 404,
# from their deployment's documentation (no answer can tell a path).
FROM_THE_TENANTS_DOCS = """
[GetCampaign]
method = "POST"
path = "/api/LynnService/Campaigns/{tenant}/{campaignId}/Get"
"""


@pytest.fixture
def tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    """A sandbox in the tenant's dialect; the working directory is tmp_path (no .env file)."""
    monkeypatch.chdir(tmp_path)
    dialect = tmp_path / "sandbox-dialect.toml"
    dialect.write_text(TENANT_DIALECT, encoding="utf-8")
    with SandboxServer(task_delay_ms=1, dialect=dialect) as server:
        yield server


def seeded(sandbox: SandboxServer, **changes: Any) -> dict[str, Any]:
    return {
        "base_url": sandbox.base_url,
        "tenant": SEED_TENANT,
        "access_token": SEED_ACCESS_TOKEN,
        "access_token_secret": SEED_ACCESS_TOKEN_SECRET,
        **changes,
    }


async def doctor_contract(overrides: dict[str, Any]) -> tuple[Exit, str, dict[str, Any]]:
    out = io.StringIO()
    code = await diagnose(
        overrides, out, contract=True, writes=True, report_file=Path("report.json"), ask=lambda _: True
    )
    return code, " ".join(out.getvalue().split()), read_json(Path("report.json"))


def read_json(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def outcomes_in(results_path: str) -> list[str]:
    with open(results_path, encoding="utf-8-sig", newline="") as handle:
        return [line["outcome"] for line in csv.DictReader(handle)]


async def test_the_doctor_names_every_difference_and_its_suggestion_closes_the_loop(
    tenant: SandboxServer, tmp_path: Path
) -> None:
    code, text, report = await doctor_contract(seeded(tenant))
    assert code == Exit.CONTRACT, text
    for named in (
        "GetCampaign: answered 404",
        "Campaign.name: missing; the answer has `campaignName` instead",
        "Contact.identifier: missing; the answer has `phoneNumber` instead",
        "Task.state: missing; the answer has `taskState` instead",
        "Task.state: has the value 'Finished', not one of Pending, Running, Completed, Failed",
        "Task.records[].Status: missing; the answer has `code` instead",
    ):
        assert named in text
    assert report["matches"] is False
    # The dialect file: the doctor's suggestion, plus the one operation it could only point at.
    suggestion = report["suggested_dialect"]
    dialect_file = tmp_path / "tenant.toml"
    dialect_file.write_text(FROM_THE_TENANTS_DOCS + "\n" + suggestion, encoding="utf-8")
    assert tomllib.loads(dialect_file.read_text(encoding="utf-8")) == tomllib.loads(TENANT_DIALECT)
    code, text, report = await doctor_contract(seeded(tenant, operations_file=Path("tenant.toml")))
    assert code == Exit.OK, text
    assert report["matches"] is True
    assert report["left_behind"] == []


async def approving_human(_: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
    return ElicitResult(action="accept", content={"approve": True})


class Tools:
    """Calls tools, failing on an error, and remembers which were called."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.called: set[str] = set()

    async def __call__(self, tool: str, **arguments: Any) -> dict[str, Any]:
        result = await self.client.call_tool(tool, arguments)
        assert not result.is_error, (tool, result.content)
        assert result.structured_content is not None
        self.called.add(tool)
        return result.structured_content


def phone(i: int) -> str:
    return f"5697{i:07d}"


def kind_of(i: int) -> str:
    """What row i of the big file is, so that every count is known in advance."""
    if i % 97 == 5:
        return "invalid"
    if i % 89 == 7 and (i - 1) % 97 != 5:
        return "duplicate"
    if i % 83 == 11:
        return "blacklisted"
    if i % 79 == 13:
        return "existing"
    return "normal"


def template_row(i: int, written: str) -> dict[str, str]:
    return dict.fromkeys(SEED_TEMPLATE_COLUMNS, str(i)) | {"Name": f"Person {i}", "Phone": written}


def write_big_csv(path: Path, n: int) -> dict[str, int]:
    counts = dict.fromkeys(("normal", "invalid", "duplicate", "blacklisted", "existing"), 0)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SEED_TEMPLATE_COLUMNS)
        for i in range(1, n + 1):
            kind = kind_of(i)
            counts[kind] += 1
            written = {"invalid": "12-34", "duplicate": phone(i - 1)}.get(kind, phone(i))
            writer.writerow(template_row(i, written).values())
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_every_tool_works_in_the_tenants_dialect(
    tenant: SandboxServer, tmp_path: Path, mode: str
) -> None:
    dialect_file = tmp_path / "tenant.toml"
    dialect_file.write_text(TENANT_DIALECT, encoding="utf-8")
    server = build_server(sandbox_settings(tenant, operations_file=dialect_file))
    async with Client(server, mode=mode, elicitation_callback=approving_human) as client:  # type: ignore[arg-type]
        listed = {tool.name for tool in (await client.list_tools()).tools}
        call = Tools(client)
        # Campaigns: GetCampaign answers at its moved verb and path; names come back renamed.
        page = await call("list_campaigns")
        assert [c["name"] for c in page["campaigns"]] == ["Sandbox demo campaign"]
        assert (await call("get_campaign", campaign_id=SEED_CAMPAIGN_ID))["name"] == "Sandbox demo campaign"
        created = await call("create_campaign", name="Loop", category="Loop", execution_mode="Manual")
        campaign_id = created["id"]
        assert (await call("update_campaign", campaign_id=campaign_id, name="Loop 2"))["name"] == "Loop 2"
        assert (await call("start_campaign", campaign_id=campaign_id))["status"] == "Started"
        assert (await call("stop_campaign", campaign_id=campaign_id))["status"] == "Stopped"
        # Contacts: the identifier is the tenant's phoneNumber.
        assert (await call("list_contacts"))["total"] == 5
        first = (await call("list_contacts", limit=1))["contacts"][0]
        assert (await call("get_contact", contact_id=first["id"]))["identifier"] == first["identifier"]
        contact = await call("create_contact", name="Loop person", identifier="56970000001")
        assert contact["identifier"] == "56970000001"
        updated = await call("update_contact", contact_id=contact["id"], identifier="56970000002")
        assert updated["identifier"] == "56970000002"
        # Blacklist, one by one and by category.
        ids = {"contact_id": contact["id"]}
        entries = (await call("set_dnd_for_campaign", **ids, campaign_id=campaign_id))["entries"]
        assert [(e["campaign_name"], e["do_not_disturb"]) for e in entries] == [("Loop 2", True)]
        assert [e["campaign_id"] for e in (await call("get_contact_dnd", **ids))["entries"]] == [campaign_id]
        lifted = await call("set_dnd_for_category", **ids, category="Loop", do_not_disturb=False)
        assert [e["do_not_disturb"] for e in lifted["entries"]] == [False]
        # The big file's blacklisted and already-loaded rows, by the bulk tools; their task states
        # arrive as `Finished` in `taskState` and read as Completed.
        n = 5_000
        blacklist = [{"identifier": phone(i)} for i in range(1, n + 1) if kind_of(i) == "blacklisted"]
        dnd = await call("bulk_set_dnd", campaign_id=SEED_CAMPAIGN_ID, rows=blacklist)
        assert (dnd["state"], dnd["accepted"]) == ("Completed", len(blacklist))
        dnd_task = await call("get_dnd_task_status", task_id=dnd["task_ids"][0])
        assert (dnd_task["state"], dnd_task["accepted"]) == ("Completed", len(blacklist))
        existing = [template_row(i, phone(i)) for i in range(1, n + 1) if kind_of(i) == "existing"]
        sent = await call("add_campaign_data", template_id=SEED_TEMPLATE_ID, rows=existing[:1])
        tenant.wait_for_task(sent["task_ids"][0])
        task = await call("get_task_status", task_id=sent["task_ids"][0])
        assert (task["state"], task["accepted"]) == ("Completed", 1)
        cpg = tmp_path / "existing.cpg"
        with cpg.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(SEED_TEMPLATE_COLUMNS)
            writer.writerows(row.values() for row in existing)
        uploaded = await call("upload_campaign_file", file_path=str(cpg), template_id=SEED_TEMPLATE_ID)
        assert uploaded["state"] == "Completed"
        assert (uploaded["accepted"], uploaded["already_in_campaign"]) == (len(existing) - 1, 1)
        # 5,000 rows from a file: every count exact, every row's outcome in the results file.
        counts = write_big_csv(tmp_path / "big.csv", n)
        report = await call(
            "load_campaign_data", template_id=SEED_TEMPLATE_ID, file_path=str(tmp_path / "big.csv")
        )
        assert report["state"] == "Completed"
        assert (report["submitted"], report["unprocessed"]) == (n, 0)
        assert report["accepted"] == counts["normal"]
        assert report["already_in_campaign"] == counts["existing"]
        assert report["rejected_by_reason"] == {
            "403": counts["blacklisted"],
            "duplicate_in_file": counts["duplicate"],
            "invalid_phone": counts["invalid"],
        }
        outcomes = outcomes_in(report["results_path"])
        assert len(outcomes) == n
        assert outcomes.count("accepted") == counts["normal"]
        # Deleting: the tenant's answer is still {"deleted": true}.
        assert (await call("delete_contact", contact_id=contact["id"]))["deleted"] is True
        assert (await call("delete_campaign", campaign_id=campaign_id))["deleted"] is True
        assert call.called == listed, "every tool of tools/list was called"
