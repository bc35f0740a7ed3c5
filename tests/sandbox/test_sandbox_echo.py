"""The echoSecrets fault: every free-text field of every /api/ JSON answer except CreateToken's
carries the caller's bearer token and its tenant's access token secrets; structure stays intact."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from sandbox_helpers import BASE, Api, row

from lynn_mcp.sandbox import (
    OTHER_ACCESS_TOKEN_SECRET,
    SEED_ACCESS_TOKEN_SECRET,
    SEED_CAMPAIGN_ID,
    SEED_TEMPLATE_ID,
    SEED_TENANT,
)
from lynn_mcp.sandbox.echo import echo_into
from lynn_mcp.sandbox.schemas import COMPONENTS

pytestmark = pytest.mark.anyio

MISSING = "00000000-0000-4000-8000-000000000000"


async def echoing_api(client: httpx2.AsyncClient) -> tuple[Api, str]:
    """A logged-in Api with the echo fault on, and the echo its answers should carry."""
    api = await Api(client).login()
    response = await client.post("/sandbox/faults", json={"echoSecrets": True})
    assert response.json()["echoSecrets"] is True
    bearer = api.headers["Authorization"].removeprefix("bearer ")
    return api, f"{bearer} {SEED_ACCESS_TOKEN_SECRET}"


async def test_campaign_text_fields_are_echoed_and_structure_is_kept(
    sandbox_client: httpx2.AsyncClient,
) -> None:
    api = await Api(sandbox_client).login()
    plain = (await api.call("GET", "GetCampaign", SEED_CAMPAIGN_ID)).json()
    api, echo = await echoing_api(sandbox_client)
    echoed = (await api.call("GET", "GetCampaign", SEED_CAMPAIGN_ID)).json()
    for field in ("name", "division", "category"):
        assert echoed[field] == f"{echo} {plain[field]}"
    unchanged = {k: v for k, v in plain.items() if k not in {"name", "division", "category"}}
    assert {k: echoed[k] for k in unchanged} == unchanged  # ids, enums, dates, nulls
    listed = (await api.call("GET", "GetCampaigns")).json()
    assert all(campaign["name"].startswith(echo) for campaign in listed)


async def test_contacts_dnd_and_task_records_are_echoed(sandbox_client: httpx2.AsyncClient) -> None:
    api, echo = await echoing_api(sandbox_client)
    body = {"name": "Ana", "identifier": "56911112222", "correlationIds": ["crm-1"]}
    contact = (await api.call("POST", "PostContact", json=body)).json()
    assert (contact["name"], contact["identifier"], contact["correlationIds"]) == (
        f"{echo} Ana",
        f"{echo} 56911112222",
        [f"{echo} crm-1"],
    )
    entries = (
        await api.call(
            "POST",
            "SetDnDContactByCampaign",
            json={"campaignId": SEED_CAMPAIGN_ID, "contactId": contact["id"], "doNotDisturb": True},
        )
    ).json()
    assert entries[0]["campaignName"].startswith(echo)
    assert entries[0]["doNotDisturb"] is True
    data = {"campaingId": "", "templateId": SEED_TEMPLATE_ID, "typeOfData": 0, "data": [row("x")]}
    task_id = (await api.call("POST", "AddCampaingData", json=data)).json()["taskId"]
    task = await api.wait_task(task_id)  # the task id itself was not touched: polling works
    assert task["state"] == "Completed"
    assert task["records"][0]["Status"] == "400"
    assert task["records"][0]["message"].startswith(echo)
    assert task["message"].startswith(echo)


async def test_error_answers_and_injected_faults_are_echoed(sandbox_client: httpx2.AsyncClient) -> None:
    api, echo = await echoing_api(sandbox_client)
    missing = await api.call("GET", "GetCampaign", MISSING)
    assert missing.status_code == 404
    assert missing.json()["message"].startswith(echo)
    await sandbox_client.post("/sandbox/faults", json={"echoSecrets": True, "errorRate": 1.0})
    faulted = await api.call("GET", "GetCampaigns")
    assert faulted.status_code in (500, 503)
    assert faulted.json()["message"].startswith(echo)


async def test_create_token_unknown_bearers_and_other_tenants_are_not_echoed(
    sandbox_client: httpx2.AsyncClient,
) -> None:
    api, _ = await echoing_api(sandbox_client)
    fresh = await Api(sandbox_client).login()
    assert (await fresh.call("GET", "GetCampaigns")).status_code == 200  # its token was not echoed into
    unknown = await api.call("GET", "GetCampaigns", headers={"Authorization": "bearer not-a-token"})
    assert (unknown.status_code, unknown.content) == (401, b"")
    text = (await api.call("GET", "GetCampaigns")).text
    assert OTHER_ACCESS_TOKEN_SECRET not in text  # only the caller's own tenant's secrets


async def test_the_fault_is_off_by_default_and_cleared_with_the_others(
    sandbox_client: httpx2.AsyncClient,
) -> None:
    api = await Api(sandbox_client).login()
    bearer = api.headers["Authorization"].removeprefix("bearer ")
    assert bearer not in (await api.call("GET", "GetCampaigns")).text
    await sandbox_client.post("/sandbox/faults", json={"echoSecrets": True})
    assert bearer in (await api.call("GET", "GetCampaigns")).text
    assert (await sandbox_client.delete("/sandbox/faults")).json()["echoSecrets"] is False
    assert bearer not in (await api.call("GET", "GetCampaigns")).text


@pytest.mark.parametrize("value", [1, "true", None, [True]])
async def test_echo_secrets_must_be_a_boolean(sandbox_client: httpx2.AsyncClient, value: Any) -> None:
    response = await sandbox_client.post("/sandbox/faults", json={"echoSecrets": value})
    assert response.status_code == 400
    assert "echoSecrets must be true or false" in response.json()["message"]


def test_only_free_text_of_the_declared_schema_is_echoed() -> None:
    task = {
        "taskId": MISSING,
        "state": "Completed",
        "message": None,
        "records": [{"row": 1, "Status": "400", "message": "bad"}],
        "unknownField": "kept",
        "createdAt": "2026-01-01T00:00:00Z",
    }
    assert echo_into(task, COMPONENTS["Task"], "E") == task | {
        "records": [{"row": 1, "Status": "400", "message": "E bad"}]
    }
    assert echo_into({"message": "no"}, {"$ref": "#/components/schemas/Error"}, "E") == {"message": "E no"}


async def test_echoed_answers_have_a_matching_content_length(sandbox_client: httpx2.AsyncClient) -> None:
    api, _ = await echoing_api(sandbox_client)
    response = await sandbox_client.get(f"{BASE}/GetCampaigns/{SEED_TENANT}", headers=api.headers)
    assert int(response.headers["content-length"]) == len(response.content)
