"""Token exchange, tenant isolation, contacts and the blacklist, in-process."""

from __future__ import annotations

import httpx2
import pytest
from sandbox_helpers import BASE, Api

from lynn_mcp.sandbox import (
    OTHER_ACCESS_TOKEN,
    OTHER_ACCESS_TOKEN_SECRET,
    OTHER_TENANT,
    SEED_CAMPAIGN_ID,
    SEED_TENANT,
    create_app,
)

pytestmark = pytest.mark.anyio
CREDS = {"accessToken": "sandbox-access-token", "accessTokenSecret": "sandbox-secret", "tenant": SEED_TENANT}


@pytest.fixture
async def api(sandbox_client: httpx2.AsyncClient) -> Api:
    return await Api(sandbox_client).login()


@pytest.mark.parametrize("prefix", ["/api/LynnService", "/api/LynnReporting"])
async def test_create_token_on_both_paths(sandbox_client: httpx2.AsyncClient, prefix: str) -> None:
    r = await sandbox_client.post(f"{prefix}/CreateToken", json=CREDS)
    assert r.status_code == 200
    assert len(r.json()["token"]) >= 32


@pytest.mark.parametrize(
    "creds",
    [
        CREDS | {"accessTokenSecret": "wrong"},
        CREDS | {"accessToken": "nobody"},
        CREDS | {"tenant": OTHER_TENANT},
    ],
)
async def test_bad_credentials_are_401_with_empty_body(
    sandbox_client: httpx2.AsyncClient, creds: object
) -> None:
    r = await sandbox_client.post(f"{BASE}/CreateToken", json=creds)
    assert r.status_code == 401
    assert r.content == b""


async def test_malformed_credentials_are_400(sandbox_client: httpx2.AsyncClient) -> None:
    r = await sandbox_client.post(f"{BASE}/CreateToken", json={"accessToken": 1})
    assert r.status_code == 400
    assert "accessToken" in r.json()["message"]


@pytest.mark.parametrize("scheme", ["bearer", "Bearer", "BEARER"])
async def test_bearer_any_case(api: Api, scheme: str) -> None:
    token = api.headers["Authorization"].split()[1]
    r = await api.client.get(
        f"{BASE}/GetCampaigns/{SEED_TENANT}", headers={"Authorization": f"{scheme} {token}"}
    )
    assert r.status_code == 200


@pytest.mark.parametrize("header", [None, "bearer nope", "Basic abc", "bearer"])
async def test_missing_or_unknown_token_is_401_empty(
    sandbox_client: httpx2.AsyncClient, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    r = await sandbox_client.get(f"{BASE}/GetCampaigns/{SEED_TENANT}", headers=headers)
    assert r.status_code == 401
    assert r.content == b""


async def test_expired_token_is_401() -> None:
    app = create_app(token_ttl_s=0)
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://s") as c:
            api = await Api(c).login()
            r = await api.call("GET", "GetCampaigns")
            assert r.status_code == 401
            assert r.content == b""
    finally:
        app.state.close()


@pytest.mark.parametrize("tenant", [OTHER_TENANT, 9999])
async def test_other_tenant_path_is_403(api: Api, tenant: int) -> None:
    r = await api.call("GET", "GetCampaigns", tenant=tenant)
    assert r.status_code == 403
    assert str(tenant) in r.json()["message"]


async def test_other_tenant_sees_only_its_data(sandbox_client: httpx2.AsyncClient) -> None:
    other = await Api(sandbox_client, OTHER_TENANT).login(OTHER_ACCESS_TOKEN, OTHER_ACCESS_TOKEN_SECRET)
    campaigns = (await other.call("GET", "GetCampaigns")).json()
    assert SEED_CAMPAIGN_ID not in [c["id"] for c in campaigns]
    assert (await other.call("GET", "GetContacts")).json() == []
    assert (await other.call("GET", "GetCampaign", SEED_CAMPAIGN_ID)).status_code == 404


async def test_unknown_route_and_method_are_json(api: Api) -> None:
    r = await api.client.get("/api/LynnService/NoSuchThing/1000")
    assert r.status_code == 404
    assert r.json()["message"]
    r = await api.call("DELETE", "GetCampaigns")
    assert r.status_code == 405
    assert r.json()["message"]


async def test_contact_crud(api: Api) -> None:
    seeded = (await api.call("GET", "GetContacts")).json()
    assert len(seeded) >= 3
    body = {"name": "Ana", "identifier": "56911112222", "correlationIds": ["12.345.678-9"]}
    r = await api.call("POST", "PostContact", json=body)
    assert r.status_code == 201, r.text
    contact = r.json()
    assert contact["channel"] == "WhatsApp"
    assert (await api.call("GET", "GetContact", contact["id"])).json() == contact
    r = await api.call("PUT", "PutContact", contact["id"], json={"name": "Ana María"})
    assert r.json()["name"] == "Ana María"
    assert r.json()["identifier"] == "56911112222"
    assert (await api.call("POST", "PostContact", json=body)).status_code == 409
    assert (await api.call("DELETE", "DeleteContact", contact["id"])).json() == {"deleted": True}
    assert (await api.call("GET", "GetContact", contact["id"])).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x"},
        {"identifier": "+56911112222"},
        {"identifier": "1234567"},
        {"identifier": "1234567890123456"},
        {"identifier": "56911112222", "correlationIds": ["a", "b", "c", "d"]},
        {"identifier": "56911112222", "correlationIds": "a"},
        {"identifier": "not-an-email", "channel": "Email"},
        {"identifier": "56911112222", "channel": "Pigeon"},
    ],
)
async def test_contact_rules(api: Api, body: dict[str, object]) -> None:
    r = await api.call("POST", "PostContact", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["message"]


async def test_email_contact_and_put_conflict(api: Api) -> None:
    r = await api.call("POST", "PostContact", json={"identifier": "a@b.cl", "channel": "Email"})
    assert r.status_code == 201
    other = (await api.call("POST", "PostContact", json={"identifier": "c@d.cl", "channel": "Email"})).json()
    r = await api.call("PUT", "PutContact", other["id"], json={"identifier": "a@b.cl"})
    assert r.status_code == 409


async def _contact(api: Api, phone: str = "56977778888") -> str:
    r = await api.call("POST", "PostContact", json={"name": "D", "identifier": phone})
    return str(r.json()["id"])


async def test_dnd_by_campaign(api: Api) -> None:
    cid = await _contact(api)
    body = {"campaignId": SEED_CAMPAIGN_ID, "contactId": cid, "doNotDisturb": True}
    r = await api.call("POST", "SetDnDContactByCampaign", json=body)
    assert r.status_code == 200, r.text
    assert r.json()[0]["doNotDisturb"] is True
    assert r.json()[0]["campaignName"] == "Sandbox demo campaign"
    entries = (await api.call("GET", "GetDnDContact", cid)).json()
    assert [e["campaignId"] for e in entries] == [SEED_CAMPAIGN_ID]
    await api.call("POST", "SetDnDContactByCampaign", json=body | {"doNotDisturb": False})
    assert (await api.call("GET", "GetDnDContact", cid)).json() == []


@pytest.mark.parametrize(
    ("patch", "status"),
    [({"campaignId": "5eed0000-0000-4000-8000-0000000000ff"}, 404), ({"contactId": "x"}, 404),
     ({"doNotDisturb": "yes"}, 400)],
)  # fmt: skip
async def test_dnd_by_campaign_errors(api: Api, patch: dict[str, object], status: int) -> None:
    body = {"campaignId": SEED_CAMPAIGN_ID, "contactId": await _contact(api), "doNotDisturb": True} | patch
    assert (await api.call("POST", "SetDnDContactByCampaign", json=body)).status_code == status


async def test_dnd_by_category(api: Api) -> None:
    second = await api.call("POST", "PostCampaign", json={"name": "Second promo", "category": "Promotions"})
    await api.call("POST", "PostCampaign", json={"name": "Other cat", "category": "Service"})
    cid = await _contact(api)
    body = {"category": "Promotions", "contactId": cid, "doNotDisturb": True}
    r = await api.call("POST", "SetDnDContactByCategory", json=body)
    assert r.status_code == 200
    assert {e["campaignId"] for e in r.json()} == {SEED_CAMPAIGN_ID, second.json()["id"]}
    assert len((await api.call("GET", "GetDnDContact", cid)).json()) == 2
    r = await api.call("POST", "SetDnDContactByCategory", json=body | {"category": "Nope"})
    assert r.status_code == 404
    assert (await api.call("GET", "GetDnDContact", "unknown")).status_code == 404


async def test_manage_dnd_task(api: Api) -> None:
    known = await _contact(api, "56900000001")
    contacts = [
        {"identifier": "56900000001", "doNotDisturb": True},
        {"identifier": "56900000002", "name": "New", "doNotDisturb": True},
        {"identifier": "bad", "doNotDisturb": True},
        {"identifier": "56900000003", "doNotDisturb": "maybe"},
    ]
    r = await api.call(
        "POST", "ManageDnDByCampaign", json={"campaignId": SEED_CAMPAIGN_ID, "contacts": contacts}
    )
    assert r.status_code == 200, r.text
    task = await api.wait_task(r.json()["taskId"], "GetDndTaskStatus")
    assert task["kind"] == "Dnd"
    assert task["state"] == "Completed"
    assert [rec["Status"] for rec in task["records"]] == ["200", "200", "400", "400"]
    assert (task["succeeded"], task["failed"]) == (2, 2)
    assert len((await api.call("GET", "GetDnDContact", known)).json()) == 1
    phones = {c["identifier"] for c in (await api.call("GET", "GetContacts")).json()}
    assert "56900000002" in phones
    # a Dnd task is not a campaign data task
    assert (await api.call("GET", "GetTaskStatus", task["taskId"])).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [({"campaignId": SEED_CAMPAIGN_ID, "contacts": []}, 400), ({"campaignId": SEED_CAMPAIGN_ID}, 400),
     ({"campaignId": "5eed0000-0000-4000-8000-0000000000ff", "contacts": [{}]}, 404)],
)  # fmt: skip
async def test_manage_dnd_errors(api: Api, body: dict[str, object], status: int) -> None:
    assert (await api.call("POST", "ManageDnDByCampaign", json=body)).status_code == status
