"""Dialect files: their tables checked with the line named, renames applied both ways by the client
(every shape, against a sandbox speaking the same dialect), the sandbox's own reading of the same
file, and nothing changed for a deployment without renames."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from pydantic import BaseModel
from settings_factory import make_settings, sandbox_settings

from lynn_mcp.errors import ConfigError, LynnError
from lynn_mcp.lynn import models
from lynn_mcp.lynn.client import LynnClient
from lynn_mcp.lynn.dialect import PLAIN, WireDialect
from lynn_mcp.lynn.models import CampaignFields, ContactFields, DndContactRow
from lynn_mcp.lynn.operations import load_operations
from lynn_mcp.lynn.shapes import EXCHANGES, SHAPES
from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SEED_TEMPLATE_COLUMNS, SEED_TEMPLATE_ID, SandboxServer
from lynn_mcp.sandbox.dialect import SHAPE_COMPONENTS, Dialect
from lynn_mcp.sandbox.routes import CONTRACT_ROUTES
from lynn_mcp.sandbox.schemas import COMPONENTS
from lynn_mcp.server import build_server

# A deployment that differs in every shape, in values of every kind of enum, and in two operations.
FULL_DIALECT = """
[GetCampaigns]
method = "POST"
path = "/api/v2/{tenant}/campaigns/list"

[AddCampaingData]
path = "/api/v2/{tenant}/campaign-data"

[fields.Credentials]
accessToken = "clientId"
accessTokenSecret = "clientSecret"
[fields.Token]
token = "jwt"
[fields.Campaign]
name = "campaignName"
[fields.Contact]
identifier = "phoneNumber"
[fields.Deleted]
deleted = "ok"
[fields.DndEntry]
doNotDisturb = "blocked"
[fields.DndByCampaign]
contactId = "contact"
[fields.DndByCategory]
category = "group"
[fields.ManageDnd]
contacts = "entries"
[fields.DndContact]
identifier = "phone"
[fields.CampaignData]
campaingId = "campaignId"   # this deployment fixed the vendor's typo
data = "rows"
[fields.CpgUpload]
file = "upload"
templateId = "template"
[fields.TaskRef]
taskId = "id"
[fields.Task]
state = "taskState"
[fields.TaskRecord]
Status = "status"

[values."Campaign.status"]
Started = "Running"
Stopped = "Paused"
[values."Contact.channel"]
WhatsApp = "WHATSAPP"
[values."Task.state"]
Completed = "Finished"
[values."Task.kind"]
Dnd = "Blacklist"
CampaignData = "Records"
[values."TaskRecord.Status"]
"409" = "Duplicate"
"""


def write(tmp_path: Path, text: str, name: str = "dialect.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def template_row(phone: str) -> dict[str, str]:
    return dict.fromkeys(SEED_TEMPLATE_COLUMNS, "x") | {"Name": "Ana", "Phone": phone}


def wire_models() -> list[type[BaseModel]]:
    return [
        model
        for model in vars(models).values()
        if isinstance(model, type)
        and issubclass(model, models.WireResponse | models.WireRequest)
        and model not in (models.WireResponse, models.WireRequest)
    ]


def test_every_model_reads_the_wire_names_of_its_shape() -> None:
    """The models and the shape table cannot drift: a dialect renames what the models read."""
    checked = wire_models()
    assert {model.__name__ for model in checked} >= {"Campaign", "Contact", "Task", "TaskRecord", "TaskRef"}
    for model in checked:
        shape = SHAPES[model.wire_shape]  # type: ignore[attr-defined]
        aliases = {info.alias or name for name, info in model.model_fields.items()}
        assert aliases <= set(shape), (model.__name__, aliases - set(shape))


def test_the_sandbox_knows_the_same_shapes_fields_and_values() -> None:
    """Client and sandbox read a dialect file each on its own; both must know the same vocabulary."""
    assert set(SHAPE_COMPONENTS) == set(SHAPES)
    for shape, fields in SHAPES.items():
        properties: dict[str, Any] = {}
        for component in SHAPE_COMPONENTS[shape]:
            properties.update(COMPONENTS[component]["properties"])
        assert set(properties) == set(fields), shape
        for name, spec in fields.items():
            enum = tuple(value for value in properties[name].get("enum", ()) if isinstance(value, str))
            assert enum == spec.values, (shape, name)  # values a dialect may rename are strings
    assert set(CONTRACT_ROUTES) == set(EXCHANGES)


def test_the_full_dialect_renames_something_in_every_shape(tmp_path: Path) -> None:
    wire = load_operations(write(tmp_path, FULL_DIALECT)).wire
    assert set(wire.fields) == set(SHAPES)


def test_renames_apply_both_ways_nested_shapes_included(tmp_path: Path) -> None:
    wire = load_operations(write(tmp_path, FULL_DIALECT)).wire
    body = {"campaignId": "c1", "contacts": [{"identifier": "5691", "doNotDisturb": True}]}
    assert wire.to_lynn("ManageDnd", body) == {
        "campaignId": "c1",
        "entries": [{"phone": "5691", "doNotDisturb": True}],
    }
    answer = {
        "taskId": "t1",
        "taskState": "Finished",
        "state": "a field of this deployment's own, not ours",
        "kind": "Blacklist",
        "records": [{"row": 1, "status": "Duplicate"}, {"row": 2, "status": "200"}],
    }
    assert wire.from_lynn("Task", answer) == {
        "taskId": "t1",
        "state": "Completed",
        "kind": "Dnd",
        "records": [{"row": 1, "Status": "409"}, {"row": 2, "Status": "200"}],
    }
    listed = [{"id": "a", "campaignName": "A", "status": "Running"}]
    assert wire.from_lynn("Campaign", listed) == [{"id": "a", "name": "A", "status": "Started"}]
    # The AddCampaingData rows are template columns: a rename of `data` moves them, never renames them.
    rows = [{"Name": "x", "data": "y"}]
    sent = {"campaingId": "", "templateId": "t", "typeOfData": 0, "data": rows}
    assert wire.to_lynn("CampaignData", sent) == {
        "campaignId": "",
        "templateId": "t",
        "typeOfData": 0,
        "rows": rows,
    }


def test_the_sandbox_reads_back_what_the_client_writes_in_every_shape(tmp_path: Path) -> None:
    """The two readers of one file agree: every field of every shape, renamed by the client, comes
    back under the contract's name and value when the sandbox undoes the dialect."""
    path = write(tmp_path, FULL_DIALECT)
    wire, sandbox_dialect = load_operations(path).wire, Dialect.load(path, CONTRACT_ROUTES)
    for shape, fields in SHAPES.items():
        document = {
            name: spec.values[-1] if spec.values else f"{name}-value" for name, spec in fields.items()
        }
        schema = {"$ref": f"#/components/schemas/{SHAPE_COMPONENTS[shape][0]}"}
        on_the_wire = wire.to_lynn(shape, document)
        assert sandbox_dialect.to_contract(schema, on_the_wire) == document, shape
        assert wire.from_lynn(shape, sandbox_dialect.to_wire(schema, document)) == document, shape


def test_without_renames_bodies_and_answers_pass_through_as_they_are(tmp_path: Path) -> None:
    """The hot path: no dialect, or one for other shapes, returns the very same objects."""
    only_operations = load_operations(write(tmp_path, '[GetCampaigns]\nmethod = "POST"\n')).wire
    campaign_only = WireDialect({"Campaign": {"name": "campaignName"}})
    for shape in SHAPES:
        document: dict[str, Any] = {"records": [{"row": 1}], "data": [{"a": "b"}]}
        for wire in (PLAIN, only_operations):
            assert wire.to_lynn(shape, document) is document
            assert wire.from_lynn(shape, document) is document
        if shape != "Campaign":
            assert campaign_only.from_lynn(shape, document) is document
    assert only_operations.is_plain
    assert not campaign_only.is_plain
    assert not campaign_only.rewrites("Task")
    assert campaign_only.rewrites("Campaign")
    assert WireDialect({"Task": {"state": "state"}}).is_plain  # a rename onto itself is no rename


@pytest.mark.parametrize(
    ("toml", "line", "complaint"),
    [
        (
            '# renames\n[fields.Campagin]\nname = "x"\n',
            2,
            "'Campagin' is not a wire shape; known: Credentials",
        ),
        (
            '[fields.Campaign]\ndivision = "d"\nnmae = "x"\n',
            3,
            "Campaign has no field 'nmae'; its fields: id, name",
        ),
        ('[fields.Campaign]\nname = "has space"\n', 2, "1-64 characters without spaces"),
        ("[fields.Campaign]\nname = 3\n", 2, "1-64 characters without spaces"),
        ('[fields.Task]\nstate = "s"\nkind = "s"\n', 3, "'state' is already renamed to 's'"),
        ('[fields.Campaign]\nname = "category"\n', 2, "the contract name of another Campaign field"),
        ("fields = 3\n", 1, "`fields` must hold tables such as [fields.Campaign]"),
        (
            '[values."Campaign.name"]\nx = "y"\n',
            1,
            "not a field with a closed set of values; known: Campaign",
        ),
        (
            '[values."Task.state"]\nRunning = "Busy"\nDone = "Finished"\n',
            3,
            "'Done' is not a value of Task.state",
        ),
        ('[values."Task.state"]\nCompleted = "X"\nFailed = "X"\n', 3, "'Completed' already stands for 'X'"),
        ('[values."Task.state"]\nCompleted = "Failed"\n', 2, "'Failed' is another value of Task.state"),
        ('[values."Task.state"]\nCompleted = ""\n', 2, "must be a string of 1-64 characters"),
        ("\n\n[GetCampaignz]\npath = '/x/{tenant}'\n", 3, "not a Lynn operation (nor `fields` or `values`)"),
    ],
)
def test_bad_dialect_tables_name_their_line(tmp_path: Path, toml: str, line: int, complaint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_operations(write(tmp_path, toml))
    message = caught.value.message
    assert message.startswith(f"LYNN_OPERATIONS_FILE {tmp_path / 'dialect.toml'} line {line} ["), message
    assert complaint in message


def test_swapping_two_names_is_a_valid_dialect(tmp_path: Path) -> None:
    wire = load_operations(write(tmp_path, '[fields.Campaign]\nname = "category"\ncategory = "name"\n')).wire
    assert wire.from_lynn("Campaign", {"name": "Retail", "category": "Spring"}) == {
        "category": "Retail",
        "name": "Spring",
    }


@pytest.mark.anyio
async def test_the_client_speaks_a_dialect_in_every_shape(tmp_path: Path) -> None:
    path = write(tmp_path, FULL_DIALECT)
    with SandboxServer(task_delay_ms=1, dialect=path) as sandbox:
        async with LynnClient(sandbox_settings(sandbox, operations_file=path)) as client:
            # CreateToken (Credentials, Token), GetCampaigns (moved), Campaign with a status value.
            campaigns = await client.list_campaigns()
            assert [(c.name, c.status) for c in campaigns] == [("Sandbox demo campaign", "Stopped")]
            fields = CampaignFields(name="Dialect", category="Dialects", execution_mode="Manual")
            created = await client.create_campaign(fields)
            assert (created.name, created.category, created.status) == ("Dialect", "Dialects", "Stopped")
            assert (await client.start_campaign(created.id)).status == "Started"
            assert (await client.get_campaign(created.id)).status == "Started"
            contact = await client.create_contact(
                ContactFields(name="Ana", channel="WhatsApp", identifier="56911110000")
            )
            assert (contact.identifier, contact.channel) == ("56911110000", "WhatsApp")
            assert [
                e.do_not_disturb for e in await client.set_dnd_by_campaign(created.id, contact.id, True)
            ] == [True]
            assert [e.campaign_id for e in await client.get_contact_dnd(contact.id)] == [created.id]
            lifted = await client.set_dnd_by_category("Dialects", contact.id, False)
            assert [(e.campaign_id, e.do_not_disturb) for e in lifted] == [(created.id, False)]
            ref = await client.manage_dnd(
                created.id, [DndContactRow(identifier="56911110001", do_not_disturb=True)]
            )
            assert sandbox.wait_for_task(ref.task_id) == "Completed"
            dnd_task = await client.get_dnd_task(ref.task_id)
            assert (dnd_task.state, dnd_task.kind, dnd_task.succeeded) == ("Completed", "Dnd", 1)
            # AddCampaingData (moved, its body renamed), TaskRef, Task and TaskRecord with values.
            first = await client.add_campaign_data(SEED_TEMPLATE_ID, None, [template_row("56911110002")])
            sandbox.wait_for_task(first.task_id)
            rows = [template_row("56911110002"), template_row("56911110003")]
            second = await client.add_campaign_data(SEED_TEMPLATE_ID, None, rows)
            sandbox.wait_for_task(second.task_id)
            task = await client.get_task(second.task_id)
            assert (task.state, task.kind, task.campaign_id) == (
                "Completed",
                "CampaignData",
                SEED_CAMPAIGN_ID,
            )
            assert [(r.row, r.status) for r in task.records] == [(1, "409"), (2, "200")]
            # UploadCampaignDataByTenant: its form's part and field names renamed.
            cpg = tmp_path / "rows.cpg"
            cpg.write_text(",".join(SEED_TEMPLATE_COLUMNS) + "\nBo,56911110004,,,,,,\n", encoding="utf-8")
            upload = await client.upload_campaign_file(
                cpg, campaign_id=SEED_CAMPAIGN_ID, template_id=SEED_TEMPLATE_ID
            )
            sandbox.wait_for_task(upload.task_id)
            assert [(r.row, r.status) for r in (await client.get_task(upload.task_id)).records] == [
                (1, "200")
            ]
            # Deleted.
            assert await client.delete_contact(contact.id) is True
            assert await client.delete_campaign(created.id) is True
        stats = httpx2.get(f"{sandbox.base_url}/sandbox/stats").json()["operations"]
        assert stats["GetCampaigns"] == 1
        assert stats["AddCampaingData"] == 2
        # The sandbox really speaks the dialect: a client of the plain contract cannot even log in.
        async with LynnClient(sandbox_settings(sandbox)) as plain:
            with pytest.raises(LynnError, match="CreateToken was rejected"):
                await plain.list_campaigns()


@pytest.mark.anyio
async def test_a_dialect_leaves_tools_list_as_it_is(tmp_path: Path) -> None:
    """What an agent reads is the contract's vocabulary, whatever the deployment calls things."""
    listed = []
    for dialect in (None, write(tmp_path, FULL_DIALECT)):
        server = build_server(make_settings(tenant=1000, token="t", operations_file=dialect))
        async with Client(server) as client:
            listed.append([tool.model_dump(mode="json") for tool in (await client.list_tools()).tools])
    assert len(listed[0]) == 21
    assert listed[0] == listed[1]


def test_a_moved_operation_leaves_its_contract_path(tmp_path: Path) -> None:
    path = write(tmp_path, FULL_DIALECT)
    with SandboxServer(task_delay_ms=1, dialect=path) as sandbox:
        login = {"clientId": "sandbox-access-token", "clientSecret": "sandbox-secret", "tenant": 1000}
        token = httpx2.post(f"{sandbox.base_url}/api/LynnService/CreateToken", json=login).json()["jwt"]
        auth = {"Authorization": f"bearer {token}"}
        old = httpx2.get(f"{sandbox.base_url}/api/LynnService/GetCampaigns/1000", headers=auth)
        new = httpx2.post(f"{sandbox.base_url}/api/v2/1000/campaigns/list", headers=auth)
        assert (old.status_code, new.status_code) == (404, 200)
        assert new.json()[0]["campaignName"] == "Sandbox demo campaign"
        assert "name" not in new.json()[0]
        openapi = httpx2.get(f"{sandbox.base_url}/openapi.json").json()
        assert "post" in openapi["paths"]["/api/v2/{tenant}/campaigns/list"]


@pytest.mark.parametrize(
    ("toml", "complaint"),
    [
        ('[GetCampaignz]\nmethod = "POST"\n', "[GetCampaignz] is not an operation table"),
        ('[GetCampaign]\npath = "/x/{tenant}"\n', "must keep the placeholders"),
        ('[fields.Campaign]\nnmae = "x"\n', "[fields.Campaign] nmae is not a field to rename"),
        ('[values."Task.state"]\nDone = "x"\n', '[values."Task.state"] Done is not a value to rename'),
    ],
)
def test_the_sandbox_refuses_a_bad_dialect_file(tmp_path: Path, toml: str, complaint: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LYNN_")}
    command = [sys.executable, "-m", "lynn_mcp", "sandbox", "--port", "0", "--db", str(tmp_path / "db")]
    done = subprocess.run(  # noqa: S603 # this interpreter on our own entry point
        [*command, "--dialect", str(write(tmp_path, toml))],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert complaint in done.stderr


def test_the_sandbox_command_line_serves_a_dialect(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LYNN_")}
    path = write(tmp_path, FULL_DIALECT)
    command = [sys.executable, "-m", "lynn_mcp", "sandbox", "--port", "0", "--db", str(tmp_path / "db")]
    with subprocess.Popen(  # noqa: S603 # this interpreter on our own entry point
        [*command, "--dialect", str(path)], stdout=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            assert process.stdout is not None
            banner = [process.stdout.readline() for _ in range(8)]
            base_url = banner[0].split()[4]
            dialect_line = next(line for line in banner if line.lstrip().startswith("dialect"))
            assert "GetCampaigns, AddCampaingData moved; 18 field(s) and 7 value(s) renamed" in dialect_line
            login = {"clientId": "sandbox-access-token", "clientSecret": "sandbox-secret", "tenant": 1000}
            answer = httpx2.post(f"{base_url}/api/LynnService/CreateToken", json=login, timeout=10)
            assert set(answer.json()) == {"jwt"}
        finally:
            process.terminate()
            process.wait(timeout=30)
