"""updatedAt moves on with every change, even within one millisecond: lynn-mcp binds approvals to it.

The clock is frozen so every change lands in the same millisecond; the stored time must still
move on, or a start, stop, start within a millisecond would look unchanged.
"""

from __future__ import annotations

import httpx2
import pytest
from sandbox_helpers import Api

from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, api_campaigns

pytestmark = pytest.mark.anyio

MAIKO = "5eed0000-0000-4000-8000-0000000c0001"  # a seeded contact
FROZEN = "2099-01-01T00:00:00.000+00:00"  # later than the seed: the first change takes it


@pytest.fixture
async def api(sandbox_client: httpx2.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> Api:
    logged_in = await Api(sandbox_client).login()
    monkeypatch.setattr(api_campaigns, "now_iso", lambda: FROZEN)
    return logged_in


def test_a_change_is_later_than_the_last_one() -> None:
    assert api_campaigns.changed_at(None) > "2026"
    assert api_campaigns.changed_at("2000-01-01T00:00:00.000+00:00") > "2026"
    assert api_campaigns.changed_at("2999-12-31T23:59:59.999+00:00") == "3000-01-01T00:00:00.000+00:00"


async def test_start_stop_and_edit_each_move_updated_at(api: Api) -> None:
    seen = [(await api.call("GET", "GetCampaign", SEED_CAMPAIGN_ID)).json()["updatedAt"]]
    for op in ("StartCampaignExecution", "StopCampaignExecution", "StartCampaignExecution"):
        r = await api.call("POST", op, SEED_CAMPAIGN_ID)
        assert r.status_code == 200, r.text
        seen.append(r.json()["updatedAt"])
    r = await api.call("PUT", "PutCampaign", SEED_CAMPAIGN_ID, json={"category": "Other"})
    assert r.status_code == 200, r.text
    seen.append(r.json()["updatedAt"])
    assert seen == sorted(set(seen)), seen
    assert seen[-1] > FROZEN


async def test_a_start_of_a_started_campaign_changes_nothing(api: Api) -> None:
    started = (await api.call("POST", "StartCampaignExecution", SEED_CAMPAIGN_ID)).json()
    again = (await api.call("POST", "StartCampaignExecution", SEED_CAMPAIGN_ID)).json()
    assert again["updatedAt"] == started["updatedAt"]


async def test_every_dnd_write_moves_the_entrys_updated_at(api: Api) -> None:
    body = {"campaignId": SEED_CAMPAIGN_ID, "contactId": MAIKO, "doNotDisturb": True}
    seen: list[str] = []
    for flag in (True, False, True, True):
        r = await api.call("POST", "SetDnDContactByCampaign", json=body | {"doNotDisturb": flag})
        assert r.status_code == 200, r.text
        (entry,) = r.json()
        seen.append(entry["updatedAt"])
    r = await api.call("POST", "SetDnDContactByCategory", json={**body, "category": "Promotions"})
    assert r.status_code == 200, r.text
    seen.append(r.json()[0]["updatedAt"])
    assert seen == sorted(set(seen)), seen
