from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, async_playwright

from tests.console.browser import CHROMIUM, CHROMIUM_ARGS
from tests.console.support import Env, close_env, make_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = await make_env(tmp_path)
    try:
        yield e
    finally:
        await close_env(e)


@pytest.fixture(scope="module")
async def shared_env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    """Read-mostly data for the permission table (allowed writes use unknown ids)."""
    e = await make_env(tmp_path_factory.mktemp("console"))
    try:
        yield e
    finally:
        await close_env(e)


@pytest.fixture(scope="session")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserContext]:
    """Headless Debian Chromium with a fresh profile for the session; cookies cleared per test."""
    async with async_playwright() as pw:
        try:
            ctx = await pw.chromium.launch_persistent_context(
                str(tmp_path_factory.mktemp("chromium-profile")),
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1366, "height": 800},
            )
        except Exception as exc:  # a browser that cannot start fails, never skips
            pytest.fail(f"headless Chromium could not start: {exc}", pytrace=False)
        try:
            yield ctx
        finally:
            await ctx.close()


@pytest.fixture
async def page(browser: BrowserContext) -> AsyncIterator[Page]:
    await browser.clear_cookies()
    p = await browser.new_page()
    p.set_default_timeout(15_000)
    try:
        yield p
    finally:
        await p.close()
