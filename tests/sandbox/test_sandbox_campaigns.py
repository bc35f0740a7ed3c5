"""Campaign operations and their rules, in-process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx2
import pytest
from sandbox_helpers import Api

from lynn_mcp.sandbox import OTHER_CAMPAIGN_ID, SEED_CAMPAIGN_ID, SEED_TEMPLATE_ID

pytestmark = pytest.mark.anyio


@pytest.fixture
async def api(sandbox_client: httpx2.AsyncClient) -> Api:
    return await Api(sandbox_client).login()


FUTURE = (datetime.now(UTC) + timedelta(days=30)).isoformat()


def iso(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def test_list_and_get_seeded_campaign(api: Api) -> None:
    r = await api.call("GET", "GetCampaigns")
    assert r.status_code == 200
    assert [c["id"] for c in r.json()] == [SEED_CAMPAIGN_ID]
    r = await api.call("GET", "GetCampaign", SEED_CAMPAIGN_ID)
    assert r.json()["templateId"] == SEED_TEMPLATE_ID
    assert r.json()["executionMode"] == "Manual"


async def test_create_update_delete(api: Api) -> None:
    r = await api.call(
        "POST", "PostCampaign", json={"name": "Spring", "category": "Promo", "validUntil": FUTURE}
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "Stopped"
    assert created["channel"] == "WhatsApp"
    assert created["campaignType"] == "SingleMessage"
    r = await api.call("PUT", "PutCampaign", created["id"], json={"division": "North"})
    assert r.status_code == 200
    assert r.json()["division"] == "North"
    assert r.json()["name"] == "Spring"
    r = await api.call("DELETE", "DeleteCampaign", created["id"])
    assert r.json() == {"deleted": True}
    assert (await api.call("GET", "GetCampaign", created["id"])).status_code == 404
    assert (await api.call("DELETE", "DeleteCampaign", created["id"])).status_code == 404


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 5}, "name"),
        ({"name": "Sandbox demo campaign"}, "already exists"),
        ({"name": "S", "executionMode": "Scheduled"}, "startDate"),
        ({"name": "S", "executionMode": "Scheduled", "startDate": iso(2), "stopDate": iso(1)}, "before"),
        ({"name": "S", "validUntil": iso(-1)}, "future"),
        ({"name": "S", "executionMode": "Scheduled", "startDate": iso(1), "stopDate": iso(3),
          "validUntil": iso(2)}, "later than stopDate"),
        ({"name": "S", "campaignType": "MultipleMessage"}, "SingleMessage"),
        ({"name": "S", "channel": "Fax"}, "channel"),
        ({"name": "S", "startDate": "yesterday"}, "startDate"),
        ({"name": "S", "templateId": "3c6f10ec-0000-4000-8000-000000000000"}, "template"),
    ],
)  # fmt: skip
async def test_campaign_rules(api: Api, body: dict[str, object], needle: str) -> None:
    r = await api.call("POST", "PostCampaign", json=body)
    assert r.status_code == 400, r.text
    assert needle in r.json()["message"]


async def test_sms_multiple_message_and_scheduled_are_fine(api: Api) -> None:
    body = {"name": "SMS", "channel": "SMS", "campaignType": "MultipleMessage", "executionMode": "Scheduled",
            "startDate": iso(1), "stopDate": iso(2), "validUntil": iso(3)}  # fmt: skip
    r = await api.call("POST", "PostCampaign", json=body)
    assert r.status_code == 201, r.text
    r = await api.call("POST", "StartCampaignExecution", r.json()["id"])
    assert r.status_code == 409


async def test_sixteenth_campaign_rejected(api: Api) -> None:
    for i in range(14):  # the seed already holds one
        assert (await api.call("POST", "PostCampaign", json={"name": f"c{i}"})).status_code == 201
    r = await api.call("POST", "PostCampaign", json={"name": "one too many"})
    assert r.status_code == 400
    assert "15" in r.json()["message"]


async def test_rename_clash_on_put(api: Api) -> None:
    r = await api.call("POST", "PostCampaign", json={"name": "B"})
    r = await api.call("PUT", "PutCampaign", r.json()["id"], json={"name": "Sandbox demo campaign"})
    assert r.status_code == 400


async def test_start_stop_manual(api: Api) -> None:
    r = await api.call("POST", "StartCampaignExecution", SEED_CAMPAIGN_ID)
    assert r.status_code == 200
    assert r.json()["status"] == "Started"
    r = await api.call("POST", "StopCampaignExecution", SEED_CAMPAIGN_ID)
    assert r.json()["status"] == "Stopped"
    r = await api.call("POST", "PostCampaign", json={"name": "On", "executionMode": "AlwaysOn"})
    r = await api.call("POST", "StopCampaignExecution", r.json()["id"])
    assert r.status_code == 409
    assert "Manual" in r.json()["message"]


async def test_other_tenants_campaign_is_not_found(api: Api) -> None:
    assert (await api.call("GET", "GetCampaign", OTHER_CAMPAIGN_ID)).status_code == 404
    assert (await api.call("GET", "GetCampaign", "not-a-uuid")).status_code == 404


@pytest.mark.parametrize("payload", [b"{", b"[]", b"null", b'"x"', b"\xff\xfe"])
async def test_malformed_bodies(api: Api, payload: bytes) -> None:
    r = await api.call("POST", "PostCampaign", content=payload, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["message"]
