"""`lynn-mcp doctor --contract` against real sandboxes: exit 0 when the answers match the contract,
exit 7 naming each difference when they do not, writes only when confirmed and on scratch objects
deleted again, and a report that holds no secret and no phone number."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from security_helpers import Sentinels, sentinels_fixture, set_faults

from lynn_mcp.doctor import Exit, diagnose, mask_phones
from lynn_mcp.lynn.conformance import Difference, read_answer
from lynn_mcp.lynn.shapes import EXCHANGES
from lynn_mcp.sandbox import SEED_ACCESS_TOKEN, SEED_ACCESS_TOKEN_SECRET, SEED_TENANT, SandboxServer

pytestmark = pytest.mark.anyio
__all__ = ["sentinels_fixture"]  # a fixture used by name

READ_ONLY_CALLS = [
    "CreateToken", "GetCampaigns", "GetCampaign", "GetContacts", "GetContact", "GetDnDContact",
    "GetTaskStatus", "GetDndTaskStatus",
]  # fmt: skip
# Not run even with --writes: the two data operations need a template and would add records.
NOT_WRITTEN = {"UploadCampaignDataByTenant", "AddCampaingData"}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer LYNN_* variable or .env file may influence the checks."""
    for name in list(os.environ):
        if name.startswith("LYNN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@contextmanager
def dialect_sandbox(tmp_path: Path, toml: str) -> Iterator[SandboxServer]:
    path = tmp_path / "lynn-dialect.toml"
    path.write_text(toml, encoding="utf-8")
    with SandboxServer(task_delay_ms=1, dialect=path) as server:
        yield server


def seeded(sandbox: SandboxServer, **changes: Any) -> dict[str, Any]:
    return {
        "base_url": sandbox.base_url,
        "tenant": SEED_TENANT,
        "access_token": SEED_ACCESS_TOKEN,
        "access_token_secret": SEED_ACCESS_TOKEN_SECRET,
        **changes,
    }


class Run:
    def __init__(self, code: Exit, text: str, report: dict[str, Any], questions: list[str]) -> None:
        self.code, self.text, self.report, self.questions = code, text, report, questions

    @property
    def operations(self) -> list[str]:
        """The operations called, in order."""
        return [call["operation"] for call in self.report["calls"] if call["verdict"] != "skipped"]

    @property
    def skipped(self) -> set[str]:
        return {call["operation"] for call in self.report["calls"] if call["verdict"] == "skipped"}

    def verdicts(self) -> dict[str, set[str]]:
        seen: dict[str, set[str]] = {}
        for call in self.report["calls"]:
            seen.setdefault(call["operation"], set()).add(call["verdict"])
        return seen


async def contract(
    overrides: dict[str, Any], tmp_path: Path, *, writes: bool = False, answer: bool = True
) -> Run:
    questions: list[str] = []

    def ask(question: str) -> bool:
        questions.append(question)
        return answer

    out = io.StringIO()
    report_file = tmp_path / "report.json"
    code = await diagnose(overrides, out, contract=True, writes=writes, report_file=report_file, ask=ask)
    text = out.getvalue()
    assert max(len(line) for line in [*text.splitlines(), *"\n".join(questions).splitlines()]) <= 100
    return Run(code, text, json.loads(report_file.read_text(encoding="utf-8")), questions)


def api_get(sandbox: SandboxServer, operation: str, path: str = "") -> Any:
    login = {
        "accessToken": SEED_ACCESS_TOKEN,
        "accessTokenSecret": SEED_ACCESS_TOKEN_SECRET,
        "tenant": SEED_TENANT,
    }
    token = httpx2.post(f"{sandbox.base_url}/api/LynnService/CreateToken", json=login).json()["token"]
    url = f"{sandbox.base_url}/api/LynnService/{operation}/{SEED_TENANT}{path}"
    return httpx2.get(url, headers={"Authorization": f"bearer {token}"}).json()


async def test_the_plain_sandbox_matches_the_contract(sandbox: SandboxServer, tmp_path: Path) -> None:
    run = await contract(seeded(sandbox), tmp_path)
    assert run.code == Exit.OK == 0, run.text
    assert run.operations == READ_ONLY_CALLS
    assert run.skipped == set(EXCHANGES) - set(READ_ONLY_CALLS)  # each one named, none forgotten
    assert all(call["verdict"] in ("ok", "skipped") for call in run.report["calls"])
    assert run.report["matches"] is True
    assert run.report["suggested_dialect"] == ""
    assert run.questions == []  # read-only asks nothing
    assert "[ ok ] every answer matches the contract (8 calls)" in run.text
    assert "Not checked: UploadCampaignDataByTenant, AddCampaingData (they need a template" in run.text
    assert "  GetTaskStatus              unknown id                     404     ok" in run.text
    assert "Report written to" in run.text
    assert "report.json (no secrets, phones masked): attach it to any question." in " ".join(run.text.split())


async def test_writes_ask_first_then_use_scratch_objects_and_delete_them(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    campaigns_before, contacts_before = api_get(sandbox, "GetCampaigns"), api_get(sandbox, "GetContacts")
    run = await contract(seeded(sandbox), tmp_path, writes=True)
    assert run.code == Exit.OK, run.text
    assert len(run.questions) == 1
    assert "in tenant 1000" in run.questions[0]
    assert "deletes both again. Go on? [y/N]" in run.questions[0]
    assert set(run.operations) == set(EXCHANGES) - NOT_WRITTEN
    assert run.skipped == NOT_WRITTEN
    assert run.verdicts()["DeleteCampaign"] == {"ok"}
    assert run.report["writes"] is True
    assert run.report["left_behind"] == []
    # Nothing of the scratch round is left behind.
    assert api_get(sandbox, "GetCampaigns") == campaigns_before
    assert api_get(sandbox, "GetContacts") == contacts_before


async def test_declined_writes_run_read_only_and_create_nothing(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    httpx2.delete(f"{sandbox.base_url}/sandbox/stats").raise_for_status()
    run = await contract(seeded(sandbox), tmp_path, writes=True, answer=False)
    assert run.code == Exit.OK
    assert len(run.questions) == 1
    assert "Writes not confirmed: running the read-only checks only." in run.text
    assert run.operations == READ_ONLY_CALLS
    seen = httpx2.get(f"{sandbox.base_url}/sandbox/stats").json()["operations"]
    assert set(seen) == set(READ_ONLY_CALLS)


READ_ONLY_DIALECT = """
[GetContacts]
method = "POST"
path = "/api/LynnService/Contacts/{tenant}/Search"
[fields.Campaign]
name = "campaignName"
category = "group"
[fields.Contact]
identifier = "phoneNumber"
"""


@pytest.fixture
def differing(tmp_path: Path) -> Iterator[SandboxServer]:
    with dialect_sandbox(tmp_path, READ_ONLY_DIALECT) as server:
        yield server


async def test_a_deployment_in_a_dialect_fails_naming_each_difference(
    differing: SandboxServer, tmp_path: Path
) -> None:
    run = await contract(seeded(differing), tmp_path)
    assert run.code == Exit.CONTRACT == 7
    verdicts = run.verdicts()
    assert {name: verdicts[name] for name in READ_ONLY_CALLS} == {
        "CreateToken": {"ok"},
        "GetCampaigns": {"differs"},
        "GetCampaign": {"differs"},
        "GetContacts": {"differs"},
        "GetContact": {"skipped"},  # no contact listed: nothing to call them on
        "GetDnDContact": {"skipped"},
        "GetTaskStatus": {"ok"},
        "GetDndTaskStatus": {"ok"},
    }
    text = " ".join(run.text.split())
    assert "Not checked: GetContact, GetDnDContact (nothing to call them on: see the rows above)" in text
    assert "Campaign.name: missing; the answer has `campaignName` instead" in text
    assert "Campaign.category: missing; the answer has `group` instead" in text
    assert "GetContacts: answered 404" in text
    assert "set this operation's `path` (and `method`) in LYNN_OPERATIONS_FILE" in text
    assert "[FAIL] Lynn's answers differ from the contract in 3 place(s), named above" in text
    assert "lynn-mcp doctor: failed (exit 7); see docs/troubleshooting.md" in text
    suggested = tomllib.loads(run.report["suggested_dialect"])
    assert suggested == {"fields": {"Campaign": {"name": "campaignName", "category": "group"}}}
    assert '  name = "campaignName"' in run.text


async def test_with_the_dialect_file_the_same_deployment_matches(
    differing: SandboxServer, tmp_path: Path
) -> None:
    # Named relative to the working directory (tmp_path): the doctor prints it in a 100-column line.
    run = await contract(seeded(differing, operations_file=Path("lynn-dialect.toml")), tmp_path)
    assert run.code == Exit.OK, run.text
    assert run.operations == READ_ONLY_CALLS
    assert "Field and value renames in use:" in run.text


async def test_a_failed_write_still_deletes_the_scratch_objects_or_names_them(tmp_path: Path) -> None:
    moved = """
[PutContact]
path = "/elsewhere/{tenant}/{contactId}"
[DeleteCampaign]
path = "/gone/{tenant}/{campaignId}"
"""
    with dialect_sandbox(tmp_path, moved) as sandbox:
        run = await contract(seeded(sandbox), tmp_path, writes=True)
        assert run.code == Exit.CONTRACT
        assert run.verdicts()["PutContact"] == {"differs"}
        assert run.verdicts()["DeleteContact"] == {"ok"}
        campaigns = api_get(sandbox, "GetCampaigns")
        scratch = [c["id"] for c in campaigns if c["name"].startswith("lynn-mcp contract check")]
        assert len(scratch) == 1
        assert run.report["left_behind"] == [f"campaign {scratch[0]}"]
        assert f"left behind: scratch campaign {scratch[0]} (delete it by hand" in " ".join(run.text.split())
        assert len(api_get(sandbox, "GetContacts")) == 5  # the scratch contact went


async def test_the_report_holds_no_secret_and_masks_phone_numbers(
    tmp_path: Path, sentinels: Sentinels
) -> None:
    # A deployment whose 404 answers and a renamed value carry what must not leave: the echoSecrets
    # fault writes the bearer token and the access token secret into every error message.
    phone_channel = """
[GetCampaign]
path = "/moved/{tenant}/{campaignId}"
[values."Contact.channel"]
WhatsApp = "+56 9 1111-2222"
"""
    with dialect_sandbox(tmp_path, phone_channel) as sandbox:
        sentinels.grant(sandbox)
        set_faults(sandbox, echoSecrets=True)
        login = {
            "accessToken": sentinels.access_token,
            "accessTokenSecret": sentinels.values["LYNN_ACCESS_TOKEN_SECRET"],
            "tenant": SEED_TENANT,
        }
        bearer = httpx2.post(f"{sandbox.base_url}/api/LynnService/CreateToken", json=login).json()["token"]
        moved_away = httpx2.get(
            f"{sandbox.base_url}/api/LynnService/GetCampaign/1000/x",
            headers={"Authorization": f"bearer {bearer}"},
        )
        assert sentinels.leaked(moved_away.text) == [
            "LYNN_ACCESS_TOKEN_SECRET"
        ]  # the leak the doctor must stop
        overrides = {
            "base_url": sandbox.base_url,
            "tenant": SEED_TENANT,
            "access_token": sentinels.access_token,
            "access_token_secret": sentinels.values["LYNN_ACCESS_TOKEN_SECRET"],
            "token": sentinels.values["LYNN_TOKEN"],  # refused by Lynn: the doctor exchanges
            "http_token": sentinels.values["LYNN_HTTP_TOKEN"],
            "signing_key": sentinels.values["LYNN_SIGNING_KEY"],
        }
        run = await contract(overrides, tmp_path, writes=True)
        assert run.code == Exit.CONTRACT
        report_text = (tmp_path / "report.json").read_text(encoding="utf-8")
        for where, text in (("the doctor's output", run.text), ("the report", report_text)):
            sentinels.assert_absent(where, text)
            assert "1111-2222" not in text
            assert "Lynn says '***" in text  # the echoed bearer token, redacted where it stood
        assert "has the value '+** * ****-**22'" in report_text
        assert "Contact.channel" in run.report["suggested_dialect"]


def test_on_the_command_line_no_answer_is_no(sandbox: SandboxServer, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LYNN_")}
    env.update(
        LYNN_TENANT=str(SEED_TENANT),
        LYNN_ACCESS_TOKEN=SEED_ACCESS_TOKEN,
        LYNN_ACCESS_TOKEN_SECRET=SEED_ACCESS_TOKEN_SECRET,
    )
    command = [sys.executable, "-m", "lynn_mcp", "doctor", "--base-url", sandbox.base_url, "--contract"]
    done = subprocess.run(  # noqa: S603 # this interpreter on our own entry point
        [*command, "--writes", "--report", "out.json"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Go on? [y/N] Writes not confirmed" in done.stdout
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["writes"] is False
    usage = subprocess.run(  # this interpreter on our own entry point, fixed arguments
        [sys.executable, "-m", "lynn_mcp", "doctor", "--writes"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert usage.returncode == 2
    assert "--writes and --yes go with --contract" in usage.stderr


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("identifier '56911112222' exists", "identifier '*********22' exists"),
        ("+56 9 7000-0001 and +1 415 555 0100", "+** * ****-**01 and +* *** *** **00"),
        ("campaign 5eed0000-0000-4000-8000-00000000c001", "campaign 5eed0000-0000-4000-8000-00000000c001"),
        ("task 00000000-0000-4000-8000-000000000000", "task 00000000-0000-4000-8000-000000000000"),
        (
            "http://127.0.0.1:8040 tenant 1000, 1234567 rows",
            "http://127.0.0.1:8040 tenant 1000, 1234567 rows",
        ),
    ],
)
def test_phone_numbers_are_masked_and_ids_are_not(text: str, shown: str) -> None:
    assert mask_phones(text) == shown


def test_one_missing_and_one_unknown_field_of_a_type_are_read_as_a_rename() -> None:
    answer = {
        "taskId": "t",
        "kind": "Dnd",
        "phase": "Finished",  # state, renamed and with a value of its own
        "total": 1, "processed": 1, "succeeded": 1, "failed": 0, "message": None, "campaignId": "c",
        "templateId": None, "records": [], "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    reading = read_answer("Task", answer)
    assert reading.renames == {"Task": {"state": "phase"}}
    assert reading.view["state"] == "Finished"
    assert reading.unknown_values == {("Task", "state"): {"Finished"}}
    assert [d.where for d in reading.differences] == ["Task.state", "Task.state"]


def test_ambiguous_fields_are_named_but_not_guessed() -> None:
    contact = {
        "id": "c", "name": "Ana", "channel": "WhatsApp", "phone": "569", "email": "a@b.c",
        "correlationIds": [], "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    reading = read_answer("Contact", contact)
    assert reading.renames == {}
    assert Difference("Contact.identifier", "missing") in reading.differences
    notes = [d for d in reading.differences if not d.fails]
    assert [d.where for d in notes] == ["Contact.phone", "Contact.email"]


def test_types_values_and_nulls_are_checked() -> None:
    campaign = {
        "id": "c", "name": None, "division": None, "category": None, "campaignType": "SingleMessage",
        "executionMode": "Manual", "channel": "Fax", "templateId": None, "startDate": "yesterday",
        "stopDate": None, "validUntil": None, "status": 1, "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00+02:00",
    }  # fmt: skip
    found = {(d.where, d.what) for d in read_answer("Campaign", [campaign], as_list=True).differences}
    assert found == {
        ("Campaign.name", "is null, the contract has a value"),
        ("Campaign.channel", "has the value 'Fax', not one of WhatsApp, SMS, Voice, Email"),
        ("Campaign.startDate", "is not an ISO 8601 date-time"),
        ("Campaign.status", "is a number, the contract has a string"),
    }
    assert read_answer("Campaign", {"campaigns": []}, as_list=True).differences == [
        Difference("Campaign", "is an object, the contract has a list of Campaign")
    ]


async def test_a_bad_dialect_file_is_a_configuration_failure_naming_its_line(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    (tmp_path / "tenant.toml").write_text(
        '[fields]\nCampaign = { nmae = "campaignName" }\n', encoding="utf-8"
    )
    out = io.StringIO()
    code = await diagnose(seeded(sandbox, operations_file=Path("tenant.toml")), out, contract=True)
    assert code == Exit.CONFIG == 2
    text = " ".join(out.getvalue().split())
    assert (
        "[FAIL] LYNN_OPERATIONS_FILE tenant.toml line 2 [fields.Campaign] nmae: Campaign has no field" in text
    )
    assert not (tmp_path / "lynn-mcp-contract.json").exists()  # no report of a check that did not run
