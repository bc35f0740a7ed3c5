"""AddCampaingData, .cpg uploads, task progress and per-record results, in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import pytest
from sandbox_helpers import BASE, Api, row

from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SEED_TEMPLATE_COLUMNS, SEED_TEMPLATE_ID, create_app

pytestmark = pytest.mark.anyio
UNKNOWN = "5eed0000-0000-4000-8000-0000000000ff"


@pytest.fixture
async def api(sandbox_client: httpx2.AsyncClient) -> Api:
    return await Api(sandbox_client).login()


def body(rows: list[Any], **extra: Any) -> dict[str, Any]:
    return {"campaingId": "", "templateId": SEED_TEMPLATE_ID, "typeOfData": 0, "data": rows} | extra


async def records(api: Api, campaign_id: str = SEED_CAMPAIGN_ID) -> list[str]:
    r = await api.client.get("/sandbox/records", params={"campaignId": campaign_id})
    assert r.status_code == 200
    return [rec["phone"] for rec in r.json()["records"]]


async def test_add_campaign_data_statuses(api: Api) -> None:
    contact = await api.call("POST", "PostContact", json={"identifier": "56911110003"})
    dnd = {"campaignId": SEED_CAMPAIGN_ID, "contactId": contact.json()["id"], "doNotDisturb": True}
    await api.call("POST", "SetDnDContactByCampaign", json=dnd)
    rows: list[Any] = [
        row("56911110001"),
        row("56911110002"),
        row("56911110001", name="again"),  # duplicate within the request: first wins
        row("56911110003"),  # blacklisted
        row("123"),  # malformed phone
        {k: v for k, v in row("56911110004").items() if k != "Tags"},  # missing column
        row("56911110005", Extra="x"),  # column the template lacks
        row("56911110006") | {"Tags": 5},  # wrong type
        "not an object",
    ]
    r = await api.call("POST", "AddCampaingData", json=body(rows))
    assert r.status_code == 200, r.text
    task = await api.wait_task(r.json()["taskId"])
    statuses = [rec["Status"] for rec in task["records"]]
    assert statuses == ["200", "200", "409", "403", "400", "400", "400", "400", "400"]
    assert [rec["row"] for rec in task["records"]] == list(range(1, 10))
    assert all(rec["message"] for rec in task["records"] if rec["Status"] != "200")
    assert "Tags" in task["records"][5]["message"]
    assert "Extra" in task["records"][6]["message"]
    assert (task["total"], task["processed"], task["succeeded"], task["failed"]) == (9, 9, 2, 7)
    assert sorted(await records(api)) == ["56911110001", "56911110002"]
    # a second request with an already stored phone
    r = await api.call("POST", "AddCampaingData", json=body([row("56911110002"), row("56911110007")]))
    task = await api.wait_task(r.json()["taskId"])
    assert [rec["Status"] for rec in task["records"]] == ["409", "200"]
    # the campaign data task is not a Dnd task
    assert (await api.call("GET", "GetDndTaskStatus", task["taskId"])).status_code == 404


async def test_explicit_campaign_id(api: Api) -> None:
    created = (await api.call("POST", "PostCampaign", json={"name": "Explicit"})).json()
    r = await api.call("POST", "AddCampaingData", json=body([row("56922220001")], campaingId=created["id"]))
    await api.wait_task(r.json()["taskId"])
    assert await records(api, created["id"]) == ["56922220001"]
    assert await records(api) == []


@pytest.mark.parametrize(
    ("patch", "status", "needle"),
    [
        ({"templateId": UNKNOWN}, 400, "template"),
        ({"templateId": "nope"}, 400, "template"),
        ({"campaingId": UNKNOWN}, 404, "campaign"),
        ({"campaingId": 7}, 400, "campaign"),
        ({"typeOfData": 1}, 400, "typeOfData"),
        ({"data": []}, 400, "data"),
        ({"data": {"Phone": "1"}}, 400, "data"),
        ({"data": [row("56933330001")] * 1001}, 413, "1000"),
        ({"campaignId": SEED_CAMPAIGN_ID, "campaingId": None}, 400, "campaingId"),
    ],
)
async def test_add_campaign_data_request_rules(
    api: Api, patch: dict[str, Any], status: int, needle: str
) -> None:
    payload = body([row("56933330001")]) | patch
    if payload.get("campaingId") is None:
        del payload["campaingId"]
    r = await api.call("POST", "AddCampaingData", json=payload)
    assert r.status_code == status, r.text
    assert needle in r.json()["message"]


async def test_template_without_campaign_needs_campaign_id(api: Api) -> None:
    r = await api.client.post(
        "/sandbox/templates", json={"name": "Free", "columns": ["Phone", "Name"], "phoneColumn": "Phone"}
    )
    assert r.status_code == 201
    template = r.json()
    rows = [{"Phone": "56944440001", "Name": "A"}]
    r = await api.call("POST", "AddCampaingData", json=body(rows, templateId=template["id"]))
    assert r.status_code == 400
    assert "campaign" in r.json()["message"]
    r = await api.call(
        "POST", "AddCampaingData", json=body(rows, templateId=template["id"], campaingId=SEED_CAMPAIGN_ID)
    )
    task = await api.wait_task(r.json()["taskId"])
    assert task["records"][0]["Status"] == "200"


@pytest.mark.parametrize(
    "template",
    [{"name": "x", "columns": [], "phoneColumn": "P"}, {"name": "x", "columns": ["A"], "phoneColumn": "P"},
     {"name": "x", "columns": ["P", "P"], "phoneColumn": "P"}, {"columns": ["P"], "phoneColumn": "P"}],
)  # fmt: skip
async def test_sandbox_template_rules(sandbox_client: httpx2.AsyncClient, template: dict[str, Any]) -> None:
    assert (await sandbox_client.post("/sandbox/templates", json=template)).status_code == 400


async def test_unknown_task_is_404(api: Api) -> None:
    assert (await api.call("GET", "GetTaskStatus", UNKNOWN)).status_code == 404
    assert (await api.call("GET", "GetTaskStatus", "../etc")).status_code == 404


@pytest.fixture
async def slow_api() -> AsyncIterator[Api]:
    app = create_app(task_delay_ms=40)
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://s") as c,
    ):
        yield await Api(c).login()


async def test_task_progress_is_visible(slow_api: Api) -> None:
    rows = [row(f"5695555{i:04d}") for i in range(8)]
    r = await slow_api.call("POST", "AddCampaingData", json=body(rows))
    seen: list[tuple[str, int]] = []
    for _ in range(400):
        task = (await slow_api.call("GET", "GetTaskStatus", r.json()["taskId"])).json()
        seen.append((task["state"], task["processed"]))
        if task["state"] == "Completed":
            break
        await anyio.sleep(0.005)
    assert seen[0] == ("Pending", 0)
    assert seen[-1] == ("Completed", 8)
    running = [p for s, p in seen if s == "Running"]
    assert running
    assert 0 < min(running) < 8
    processed = [p for _, p in seen]
    assert processed == sorted(processed)


def cpg(lines: list[str], bom: bool = False) -> bytes:
    return ("\ufeff" if bom else "").encode() + "\n".join(lines).encode()


def cpg_line(phone: str, sep: str) -> str:
    return sep.join(row(phone, name="Jos\u00e9").values())


async def upload(
    api: Api, content: bytes, filename: str = "Contacts_Template.cpg", **fields: str
) -> httpx2.Response:
    data = {"templateId": SEED_TEMPLATE_ID, "campaignId": ""} | fields
    return await api.call(
        "POST", "UploadCampaignDataByTenant", files={"file": (filename, content)}, data=data
    )


@pytest.mark.parametrize(("sep", "bom"), [(";", False), (",", True), (";", True)])
async def test_cpg_upload(api: Api, sep: str, bom: bool) -> None:
    header = sep.join(SEED_TEMPLATE_COLUMNS)
    content = cpg([header, cpg_line("56966660001", sep), "", cpg_line("56966660002", sep), "1;2"], bom)
    r = await upload(api, content)
    assert r.status_code == 200, r.text
    task = await api.wait_task(r.json()["taskId"])
    assert [rec["Status"] for rec in task["records"]] == ["200", "200", "400"]
    stored = (await api.client.get("/sandbox/records", params={"campaignId": SEED_CAMPAIGN_ID})).json()
    assert stored["records"][0]["data"]["Name"] == "Jos\u00e9"


@pytest.mark.parametrize(
    ("content", "filename", "needle"),
    [
        (b"", "a.cpg", "empty"),
        (cpg(["Name;Phone", "a;56966660001"]), "a.cpg", "header"),
        (cpg([";".join(SEED_TEMPLATE_COLUMNS)]), "a.cpg", "no data rows"),
        (cpg([";".join(SEED_TEMPLATE_COLUMNS), cpg_line("56966660001", ";")]), "a.csv", ".cpg"),
        (b"\xff\xfe\x00bad", "a.cpg", "UTF-8"),
    ],
)
async def test_cpg_rejections(api: Api, content: bytes, filename: str, needle: str) -> None:
    r = await upload(api, content, filename)
    assert r.status_code == 400
    assert needle in r.json()["message"]


async def test_cpg_needs_multipart_and_file(api: Api) -> None:
    r = await api.call("POST", "UploadCampaignDataByTenant", json={"file": "x"})
    assert r.status_code == 400
    r = await api.call(
        "POST", "UploadCampaignDataByTenant", data={"templateId": SEED_TEMPLATE_ID}, files={"x": ("a", b"")}
    )
    assert r.status_code == 400
    assert "'file'" in r.json()["message"]


async def test_cpg_row_limit(api: Api) -> None:
    lines = [";".join(SEED_TEMPLATE_COLUMNS)] + ["a;5690;t;d;s;o;c;1"] * 50_001
    r = await upload(api, cpg(lines))
    assert r.status_code == 400
    assert "50000" in r.json()["message"]


async def test_body_cap_is_413() -> None:
    app = create_app(max_body_bytes=2048)
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://s") as c:
            api = await Api(c).login()
            r = await api.call(
                "POST", "AddCampaingData", json=body([row(f"569777{i:05d}") for i in range(50)])
            )
            assert r.status_code == 413
            assert "limit" in r.json()["message"]
            r = await c.post(f"{BASE}/CreateToken", content=b"x" * 4096)
            assert r.status_code == 413
    finally:
        app.state.close()
