"""The views in a real browser: headless Chromium, a small host page playing the host's side of MCP
Apps (tests/apps/host.html), fed the real result of a real tool call against the sandbox. The tests
read the rendered DOM, check that no request leaves the page, and that Lynn's text stays text."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import httpx2
import pytest
from apps_browser import PageWatch, chromium, needs_chromium, new_page, screenshot_path
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.types import CallToolResult, TextResourceContents
from playwright.async_api import FrameLocator, Page
from settings_factory import sandbox_settings

from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SEED_TEMPLATE_COLUMNS, SEED_TEMPLATE_ID, SandboxServer
from lynn_mcp.server import build_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.timeout(120), needs_chromium]

HOST_URL = "http://lynn-host.test/"
HOST_PAGE = (Path(__file__).parent / "host.html").read_text(encoding="utf-8")
APPS_HOST = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})
BLACKLISTED_PHONE = "56966666666"  # a seeded contact, blacklisted for the campaign by the test
HOSTILE_NAME = """<img src=x onerror="parent.postMessage({xss: 1}, '*')">"""


def assert_quiet(watch: PageWatch, leaked: list[str]) -> None:
    """Nothing left the page (its only request was the host page itself), nothing failed in it."""
    assert watch.requests == [HOST_URL]
    assert leaked == []
    assert watch.console_errors == []
    assert watch.page_errors == []


def as_wire(result: CallToolResult) -> dict[str, Any]:
    """A tool result as a host forwards it to a view (the plain CallToolResult on the wire)."""
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


async def read_view(client: Client, uri: str) -> tuple[str, dict[str, Any]]:
    """The view's HTML and the CSP its resource asks for, as a host reads them."""
    (content,) = (await client.read_resource(uri)).contents
    assert isinstance(content, TextResourceContents)
    assert content.mime_type == APP_MIME_TYPE
    assert content.meta is not None
    return content.text, content.meta["ui"]["csp"]


async def link_of(client: Client, tool: str) -> str:
    (found,) = [t for t in (await client.list_tools()).tools if t.name == tool]
    assert found.meta is not None
    uri: str = found.meta["ui"]["resourceUri"]
    return uri


async def open_host(page: Page, client: Client) -> list[str]:
    """Serve the host page at HOST_URL; any other request is refused and recorded. The view's
    tools/call go through the real MCP client."""
    leaked: list[str] = []

    async def route(route: Any) -> None:
        if route.request.url == HOST_URL:
            await route.fulfill(status=200, content_type="text/html", body=HOST_PAGE)
        else:
            leaked.append(route.request.url)
            await route.abort()

    async def call_server_tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return as_wire(await client.call_tool(name, arguments))

    await page.route("**/*", route)
    await page.expose_function("callServerTool", call_server_tool)
    await page.goto(HOST_URL)
    return leaked


async def show(page: Page, html: str, csp: dict[str, Any], arguments: dict[str, Any], result: CallToolResult,
               *, server_tools: bool = True) -> FrameLocator:  # fmt: skip
    options = {"html": html, "csp": csp, "toolInput": arguments, "toolResult": as_wire(result)}
    await page.evaluate("options => window.openView(options)", {**options, "serverTools": server_tools})
    return page.frame_locator("#view")


def write_rows(path: Path, phones: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SEED_TEMPLATE_COLUMNS)
        for i, phone in enumerate(phones):
            cells = {column: f"{column} {i}" for column in SEED_TEMPLATE_COLUMNS} | {"Phone": phone}
            writer.writerow(cells.values())
    return path


class RefuseAfterFirstChunk:
    """A progress callback: once `settled` rows are (the first chunk confirmed), Lynn refuses every
    further request."""

    def __init__(self, sandbox: SandboxServer, settled: int) -> None:
        self.sandbox = sandbox
        self.settled = settled
        self.fired = False

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        if not self.fired and progress >= self.settled:
            self.fired = True
            httpx2.post(
                f"{self.sandbox.base_url}/sandbox/faults", json={"errorRate": 1.0, "errorStatuses": [403]}
            ).raise_for_status()


async def test_load_report_view_renders_a_real_report(sandbox: SandboxServer, tmp_path: Path) -> None:
    """A load with bad phones, a duplicate, a blacklisted phone and Lynn refusing after the first
    chunk: the view shows the counts, the bar, every reason, the first rejected rows (row, phone as
    the result gives it, reason), the task ids and results file, and the resume hint."""
    phones = ["12", "", BLACKLISTED_PHONE, "56911110000", "56911110000", "not a phone"]
    phones += [f"569222{i:05d}" for i in range(54)]
    path = write_rows(tmp_path / "december.csv", phones)
    server = build_server(sandbox_settings(sandbox, chunk_size=20, max_in_flight=1))
    async with Client(server, extensions=[APPS_HOST]) as client:
        contacts = await client.call_tool("list_contacts", {"identifier_contains": BLACKLISTED_PHONE})
        assert contacts.structured_content is not None
        contact_id = contacts.structured_content["contacts"][0]["id"]
        blacklist = {"contact_id": contact_id, "campaign_id": SEED_CAMPAIGN_ID}
        assert not (await client.call_tool("set_dnd_for_campaign", blacklist)).is_error
        arguments = {"file_path": str(path), "template_id": SEED_TEMPLATE_ID, "campaign_id": SEED_CAMPAIGN_ID}
        refuse = RefuseAfterFirstChunk(sandbox, settled=24)  # 4 rows rejected here, a chunk of 20 sent
        result = await client.call_tool("load_campaign_data", arguments, progress_callback=refuse)
        httpx2.delete(f"{sandbox.base_url}/sandbox/faults").raise_for_status()
        report = result.structured_content
        assert refuse.fired
        assert report is not None, result.content
        assert report["unprocessed"] > 0, report
        assert report["resume"]
        reasons = {"403", "invalid_phone", "missing_phone", "duplicate_in_file"}
        assert reasons <= set(report["rejected_by_reason"])
        html, csp = await read_view(client, await link_of(client, "load_campaign_data"))

        async with chromium() as browser:
            page, watch = await new_page(browser)
            leaked = await open_host(page, client)
            view = await show(page, html, csp, arguments, result)
            await view.locator("#resume-hint").wait_for()

            for figure in ("submitted", "accepted", "rejected", "unprocessed"):
                shown = await view.locator(f'[data-figure="{figure}"] .value').text_content()
                assert shown == f"{report[figure]:,}", figure
            assert await view.locator("#outcome > span").count() == 3  # accepted, rejected, unprocessed
            shown = await view.locator("table").first.locator("tbody tr").all_inner_texts()
            assert "403: blacklisted for this campaign\t1\t" in shown, shown
            assert "invalid phone\t2\t" in shown, shown
            rows = await view.locator("#rejected-rows tbody tr").all()
            assert len(rows) == len(report["examples"])
            cells = [await row.locator("td").all_inner_texts() for row in rows]
            blacklisted = [c[1] for c in cells if c[2] == "403: blacklisted for this campaign"]
            assert blacklisted == [BLACKLISTED_PHONE], cells
            assert cells[0][:3] == ["1", "—", "invalid phone"], cells
            assert await view.locator("#resume-hint").text_content() == (
                f"{report['unprocessed']} row(s) were not processed. Ask the agent to call the same tool "
                "again with the same arguments plus resume (the handle below): rows already settled are not "
                f"sent twice.resume: {report['resume'][:40]}…"
            )
            details = await view.locator("dl.facts").inner_text()
            assert report["task_ids"][0] in details
            assert report["results_path"] in details
            assert f"{report['elapsed_s']} s" in details

            sizes = await page.evaluate(
                "() => window.fromView.filter(m => m.method === 'ui/notifications/size-changed').length"
            )
            assert sizes >= 1
            await page.locator("#view").screenshot(path=screenshot_path("view-load-report.png", tmp_path))
            assert await page.evaluate("() => window.toolCalls") == []  # the report asks Lynn nothing
            assert_quiet(watch, leaked)


async def test_load_report_view_shows_a_tool_error_as_text(sandbox: SandboxServer) -> None:
    async with Client(build_server(sandbox_settings(sandbox)), extensions=[APPS_HOST]) as client:
        unknown_task = {"task_id": "5eed0000-0000-4000-8000-0000000000aa"}
        result = await client.call_tool("get_task_status", unknown_task)
        assert result.is_error
        html, csp = await read_view(client, await link_of(client, "get_task_status"))
        async with chromium() as browser:
            page, watch = await new_page(browser)
            await open_host(page, client)
            view = await show(page, html, csp, {}, result)
            shown = await view.locator("#error").text_content()
            assert shown == result.content[0].text  # type: ignore[union-attr]
            assert shown is not None
            assert shown.startswith("Error executing tool get_task_status: not_found")
            assert_quiet(watch, [])


async def campaigns_view(client: Client) -> tuple[str, dict[str, Any]]:
    return await read_view(client, await link_of(client, "list_campaigns"))


async def test_campaigns_view_lists_fills_in_opens_and_refreshes_read_only(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    async with Client(build_server(sandbox_settings(sandbox)), extensions=[APPS_HOST]) as client:
        for name, category in (("Summer coupons", "Promotions"), ("Black Friday reminders", "Retail")):
            await client.call_tool(
                "create_campaign",
                {"name": name, "category": category, "template_id": SEED_TEMPLATE_ID,
                 "start_date": "2026-12-01T09:00:00-03:00", "stop_date": "2026-12-24T21:00:00-03:00"},
            )  # fmt: skip
        arguments: dict[str, Any] = {"limit": 20}
        result = await client.call_tool("list_campaigns", arguments)
        page_content = result.structured_content
        assert page_content is not None
        html, csp = await campaigns_view(client)

        async with chromium() as browser:
            page, watch = await new_page(browser)
            leaked = await open_host(page, client)
            view = await show(page, html, csp, arguments, result)
            rows = view.locator("tbody tr")
            await rows.first.wait_for()
            names = [c["name"] for c in page_content["campaigns"]]
            assert await view.locator("td.name").all_inner_texts() == names
            # Template and dates come from get_campaign through the host, for every row.
            summer = view.locator("tr", has_text="Summer coupons")
            await summer.locator("td", has_text=SEED_TEMPLATE_ID).wait_for()
            assert (await summer.locator("td").all_inner_texts())[1:6] == [
                "Stopped", "Manual", "Promotions", SEED_TEMPLATE_ID, "2026-12-01 09:00 -03:00",
            ]  # fmt: skip

            await view.get_by_role("button", name="Black Friday reminders").click()
            await view.locator("#campaign-detail .detail-name").wait_for()
            opened = await view.locator("#campaign-detail .detail-name").text_content()
            assert opened == "Black Friday reminders"
            await page.locator("#view").screenshot(path=screenshot_path("view-campaigns.png", tmp_path))

            await client.call_tool("create_campaign", {"name": "Added meanwhile"})
            await view.locator("#refresh").click()
            await view.locator("td.name", has_text="Added meanwhile").wait_for()
            assert await view.locator("#total").text_content() == f"{len(names) + 1} in all"

            calls = await page.evaluate("() => window.toolCalls")
            assert set(calls) == {"list_campaigns", "get_campaign"}, calls  # read-only tools only
            refreshes = await page.evaluate(
                "() => window.fromView.filter(m => m.params && m.params.name === 'list_campaigns')"
            )
            assert [m["params"]["arguments"] for m in refreshes] == [arguments]
            assert_quiet(watch, leaked)


async def test_a_hostile_campaign_name_is_text_and_runs_nothing(sandbox: SandboxServer) -> None:
    async with Client(build_server(sandbox_settings(sandbox)), extensions=[APPS_HOST]) as client:
        created = await client.call_tool("create_campaign", {"name": HOSTILE_NAME, "category": HOSTILE_NAME})
        assert not created.is_error, created.content
        for tool, arguments in (
            ("list_campaigns", {}),
            ("get_campaign", {"campaign_id": created.structured_content["id"]}),  # type: ignore[index]
        ):
            result = await client.call_tool(tool, arguments)
            html, csp = await campaigns_view(client)
            async with chromium() as browser:
                page, watch = await new_page(browser)
                leaked = await open_host(page, client)
                view = await show(page, html, csp, arguments, result)
                hostile = view.locator("tr", has_text="onerror")
                await hostile.wait_for()
                assert await hostile.locator("td.name").text_content() == HOSTILE_NAME
                assert await hostile.locator("td").nth(3).text_content() == HOSTILE_NAME
                # Wait for the rows' details (more round trips through the host) before concluding.
                await hostile.locator("td", has_text="—").first.wait_for()
                assert await view.locator("img").count() == 0
                assert await page.evaluate("() => window.strayMessages") == []
                assert_quiet(watch, leaked)
