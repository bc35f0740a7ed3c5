"""The sandbox console in a real browser: headless Chromium on `/` of a sandbox the MCP tools have
worked on (a campaign loaded, a contact blacklisted, a hostile campaign name). The tests read the
rendered DOM, check that every request stays on the sandbox and that Lynn's text stays text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from apps_browser import chromium, needs_chromium, new_page, screenshot_path
from mcp import Client
from playwright.async_api import Locator
from settings_factory import sandbox_settings

from lynn_mcp.sandbox import SEED_TEMPLATE_COLUMNS, SEED_TEMPLATE_ID, SandboxServer
from lynn_mcp.sandbox.console import CONSOLE_CSP
from lynn_mcp.server import build_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.timeout(120), needs_chromium]

BLACKLISTED_PHONE = "56966666666"  # the seeded contact Maiko
HOSTILE_NAME = """<img src=x onerror="document.title='pwned'">"""
PHONES = ["56911112222", "56911113333", "56911114444", BLACKLISTED_PHONE]


def rows(phones: list[str]) -> list[dict[str, str]]:
    cells = {column: column for column in SEED_TEMPLATE_COLUMNS}
    return [cells | {"Name": f"Customer {i}", "Phone": phone} for i, phone in enumerate(phones)]


async def cells_of(rows: Locator) -> list[list[str]]:
    return [await row.locator("td").all_inner_texts() for row in await rows.all()]


async def ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def agent_session(sandbox: SandboxServer) -> str:
    """What an agent does: a campaign, a blacklisted contact, two loads (the second repeats a phone)."""
    async with Client(build_server(sandbox_settings(sandbox))) as client:
        campaign = await ok(client, "create_campaign", name="Summer coupons", template_id=SEED_TEMPLATE_ID,
                            category="Promotions")  # fmt: skip
        (contact,) = (await ok(client, "list_contacts", identifier_contains=BLACKLISTED_PHONE))["contacts"]
        await ok(client, "set_dnd_for_campaign", contact_id=contact["id"], campaign_id=campaign["id"])
        target = {"template_id": SEED_TEMPLATE_ID, "campaign_id": campaign["id"]}
        first = await ok(client, "load_campaign_data", **target, rows=rows(PHONES))
        assert (first["accepted"], first["rejected_by_reason"]) == (3, {"403": 1})
        again = await ok(client, "load_campaign_data", **target, rows=rows(PHONES[:1]))
        assert again["already_in_campaign"] == 1
    campaign_id: str = campaign["id"]
    return campaign_id


async def test_console_shows_campaigns_records_tasks_and_blacklist(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    campaign_id = await agent_session(sandbox)
    async with chromium() as browser:
        page, watch = await new_page(browser)
        response = await page.goto(f"{sandbox.base_url}/")
        assert response is not None
        assert response.headers["content-security-policy"] == CONSOLE_CSP
        campaigns = page.locator("#campaigns td.name")
        await campaigns.first.wait_for()
        assert await campaigns.all_inner_texts() == ["Sandbox demo campaign", "Summer coupons"]

        await page.get_by_role("button", name="Summer coupons").click()
        records = page.locator("#campaign-records")
        await records.locator(".campaign-name").wait_for()
        assert page.url == f"{sandbox.base_url}/#campaign={campaign_id}"
        stored = await cells_of(page.locator("#records tbody tr"))
        expected = [(phone, f"Customer {i}") for i, phone in enumerate(PHONES[:3])]
        assert [(cells[0], cells[1]) for cells in stored] == expected
        assert {cells[-3] for cells in stored} == {"200"}  # Status
        refused = await cells_of(page.locator("#refused tbody tr"))
        assert [cells[1:3] for cells in refused] == [
            ["409", f"phone {PHONES[0]} is already a record of this campaign"],
            ["403", f"phone {BLACKLISTED_PHONE} is on this campaign's blacklist"],
        ]

        tasks = await cells_of(page.locator("#tasks tbody tr"))
        assert [(cells[1], cells[2], cells[3], cells[5]) for cells in tasks] == [
            ("CampaignData", "Summer coupons", "Completed", "1 / 1"),
            ("CampaignData", "Summer coupons", "Completed", "4 / 4"),
        ]
        blacklist = await page.locator("#blacklist tbody tr").first.locator("td").all_inner_texts()
        assert blacklist[:5] == ["Maiko", BLACKLISTED_PHONE, "WhatsApp", "Summer coupons", "Promotions"]
        assert blacklist[5] == "yes"
        await page.screenshot(path=screenshot_path("console.png", tmp_path), full_page=True)

        # Lynn's text is text: a hostile name is shown as written and nothing of it ran or loaded.
        async with Client(build_server(sandbox_settings(sandbox))) as client:
            await ok(client, "create_campaign", name=HOSTILE_NAME, category=HOSTILE_NAME)
        await page.locator("#refresh").click()
        hostile = page.locator("#campaigns tr", has_text="onerror")
        await hostile.wait_for()
        assert await hostile.locator("td.name").text_content() == HOSTILE_NAME
        assert await hostile.locator("td").nth(3).text_content() == HOSTILE_NAME
        assert await page.locator("img").count() == 0
        assert await page.title() == "Lynn sandbox console"
        assert all(url.startswith(sandbox.base_url + "/") for url in watch.requests), watch.requests
        assert not any(url.endswith("/x") for url in watch.requests)
        assert watch.console_errors == []
        assert watch.page_errors == []


async def test_console_is_read_only_and_serves_only_its_own_files(sandbox: SandboxServer) -> None:
    base = sandbox.base_url
    assert httpx2.get(f"{base}/console/console.js").headers["content-type"].startswith("text/javascript")
    assert httpx2.get(f"{base}/console/look.css").headers["content-type"].startswith("text/css")
    unknown = ("/console/..%2Fapp.py", "/console/app.py", "/console/console.html", "/console/api/campaigns/x")
    for path in unknown:
        assert httpx2.get(f"{base}{path}").status_code == 404, path
    assert httpx2.get(f"{base}/console/api/overview", params={"tenant": "999"}).status_code == 404
    assert httpx2.post(f"{base}/").status_code == 405
    assert httpx2.delete(f"{base}/console/api/overview").status_code == 405
