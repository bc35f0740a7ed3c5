"""Headless Debian Chromium driven by Playwright for Python, for the views' and the console's tests.

Bounded: every Playwright wait has a timeout (BROWSER_TIMEOUT_MS) and each test a pytest timeout;
the browser is closed by the context manager whatever happens. Nothing is fetched: Chromium runs with
the background-networking flags off and every request a page makes is recorded (and, for the test
host's pages, answered or refused by the test itself).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
BROWSER_TIMEOUT_MS = 15_000
DOCS = Path(__file__).resolve().parents[2] / "docs"

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"Debian's chromium is not at {CHROMIUM} (.ci/run installs it: apt-get install chromium)",
)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=FLAGS, timeout=BROWSER_TIMEOUT_MS
        )
        try:
            yield browser
        finally:
            await browser.close()


class PageWatch:
    """What a page did that a test asserts on: its requests, console errors and uncaught errors."""

    def __init__(self, page: Page) -> None:
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.console_errors.append(message.text)


async def new_page(browser: Browser, **options: Any) -> tuple[Page, PageWatch]:
    page = await browser.new_page(viewport={"width": 1000, "height": 700}, **options)
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    return page, PageWatch(page)


def screenshot_path(name: str, tmp_path: Path) -> Path:
    """docs/NAME when UPDATE_SCREENSHOTS=1 (the README's pictures), else a temporary file."""
    return DOCS / name if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path / name
