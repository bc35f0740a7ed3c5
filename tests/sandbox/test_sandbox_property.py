"""Property: whatever mix of valid, invalid, duplicate and blacklisted rows is sent through
AddCampaingData, in whatever chunking, every row gets exactly one record with the status a
simple model predicts, and the campaign stores each accepted phone exactly once."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox_helpers import BASE, row

from lynn_mcp.sandbox import SEED_TEMPLATE_ID, SEED_TENANT, SandboxServer

CREDS = {"accessToken": "sandbox-access-token", "accessTokenSecret": "sandbox-secret", "tenant": SEED_TENANT}
PHONES = [f"5698800{i:04d}" for i in range(6)]
BLACKLISTED = PHONES[:2]

Row = tuple[str, int]  # (kind, phone index)
rows_strategy = st.lists(
    st.tuples(st.sampled_from(["valid", "valid", "bad_phone", "missing_column", "extra_column"]),
              st.integers(0, len(PHONES) - 1)),
    min_size=1, max_size=40,
)  # fmt: skip


Server = tuple[SandboxServer, httpx2.Client, dict[str, str]]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with SandboxServer(task_delay_ms=0) as s, httpx2.Client(base_url=s.base_url) as c:
        token = c.post(f"{BASE}/CreateToken", json=CREDS).json()["token"]
        yield s, c, {"Authorization": f"bearer {token}"}


def make_row(kind: str, phone: str) -> dict[str, Any]:
    if kind == "bad_phone":
        return row("+" + phone)
    if kind == "missing_column":
        return {k: v for k, v in row(phone).items() if k != "Coupon Days"}
    if kind == "extra_column":
        return row(phone, Surprise="1")
    return row(phone)


def expected(rows: list[Row]) -> tuple[list[str], set[str]]:
    accepted: set[str] = set()
    statuses = []
    for kind, index in rows:
        phone = PHONES[index]
        if kind != "valid":
            statuses.append("400")
        elif phone in BLACKLISTED:
            statuses.append("403")
        elif phone in accepted:
            statuses.append("409")
        else:
            accepted.add(phone)
            statuses.append("200")
    return statuses, accepted


def wait(server: Server, task_id: str) -> dict[str, Any]:
    sandbox, c, h = server
    assert sandbox.wait_for_task(task_id) == "Completed"
    task: dict[str, Any] = c.get(f"{BASE}/GetTaskStatus/{SEED_TENANT}/{task_id}", headers=h).json()
    return task


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy, cuts=st.lists(st.integers(1, 39), max_size=5))
def test_every_row_accounted_once(server: Server, rows: list[Row], cuts: list[int]) -> None:
    _, c, h = server
    campaign = c.post(f"{BASE}/PostCampaign/{SEED_TENANT}", json={"name": "Property"}, headers=h).json()
    try:
        dnd = [{"identifier": p, "doNotDisturb": True} for p in BLACKLISTED]
        r = c.post(
            f"{BASE}/ManageDnDByCampaign/{SEED_TENANT}",
            json={"campaignId": campaign["id"], "contacts": dnd},
            headers=h,
        )
        assert r.status_code == 200
        bounds = sorted({0, len(rows), *(x for x in cuts if x < len(rows))})
        task_ids = []
        for start, end in itertools.pairwise(bounds):
            chunk = [make_row(kind, PHONES[i]) for kind, i in rows[start:end]]
            body = {
                "campaingId": campaign["id"],
                "templateId": SEED_TEMPLATE_ID,
                "typeOfData": 0,
                "data": chunk,
            }
            r = c.post(f"{BASE}/AddCampaingData/{SEED_TENANT}", json=body, headers=h)
            assert r.status_code == 200, r.text
            task_ids.append((r.json()["taskId"], end - start))
        statuses: list[str] = []
        for task_id, size in task_ids:
            task = wait(server, task_id)
            assert [rec["row"] for rec in task["records"]] == list(range(1, size + 1))
            assert task["processed"] == task["total"] == size
            assert task["succeeded"] + task["failed"] == size
            statuses += [rec["Status"] for rec in task["records"]]
        want_statuses, want_phones = expected(rows)
        assert statuses == want_statuses
        stored = c.get("/sandbox/records", params={"campaignId": campaign["id"]}).json()["records"]
        phones = [rec["phone"] for rec in stored]
        assert sorted(phones) == sorted(want_phones)
    finally:
        c.delete(f"{BASE}/DeleteCampaign/{SEED_TENANT}/{campaign['id']}", headers=h)
