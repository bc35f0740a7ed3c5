"""Helpers for the sandbox tests: a thin authenticated API client and row builders."""

from __future__ import annotations

from typing import Any

import anyio
import httpx2

from lynn_mcp.sandbox import SEED_ACCESS_TOKEN, SEED_ACCESS_TOKEN_SECRET, SEED_TENANT

BASE = "/api/LynnService"


class Api:
    """A thin client: ``await api.call("GET", "GetCampaign", campaign_id)`` on its tenant."""

    def __init__(self, client: httpx2.AsyncClient, tenant: int = SEED_TENANT) -> None:
        self.client = client
        self.tenant = tenant
        self.headers: dict[str, str] = {}

    async def login(self, access: str = SEED_ACCESS_TOKEN, secret: str = SEED_ACCESS_TOKEN_SECRET) -> Api:
        r = await self.client.post(
            f"{BASE}/CreateToken",
            json={"accessToken": access, "accessTokenSecret": secret, "tenant": self.tenant},
        )
        assert r.status_code == 200, r.text
        self.headers = {"Authorization": f"bearer {r.json()['token']}"}
        return self

    async def call(
        self, method: str, op: str, *ids: str, tenant: int | None = None, **kw: Any
    ) -> httpx2.Response:
        path = "/".join([f"{BASE}/{op}", str(self.tenant if tenant is None else tenant), *ids])
        headers = self.headers | kw.pop("headers", {})
        return await self.client.request(method, path, headers=headers, **kw)

    async def wait_task(self, task_id: str, op: str = "GetTaskStatus", limit: int = 2000) -> dict[str, Any]:
        for _ in range(limit):
            r = await self.call("GET", op, task_id)
            assert r.status_code == 200, r.text
            task: dict[str, Any] = r.json()
            if task["state"] in ("Completed", "Failed"):
                return task
            await anyio.sleep(0.005)
        raise AssertionError(f"task {task_id} did not finish")


def row(phone: str, name: str = "Maiko", **extra: str) -> dict[str, str]:
    """A valid AddCampaingData row of the seeded template."""
    base = {
        "Name": name, "Phone": phone, "Tags": "5000", "New Date": "03/05/2024", "Store Name": "Altos",
        "Order Number": "1", "Coupon Number": "2", "Coupon Days": "3",
    }  # fmt: skip
    return base | extra
