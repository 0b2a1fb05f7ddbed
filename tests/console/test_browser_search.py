"""The search on the recordings page in headless Chromium: filters, next page,
the CSV link carrying the same search, the story link; keyboard included."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Page, expect

from tests.console.browser import login, shot
from tests.console.support import Env, password, segment

pytestmark = pytest.mark.browser


def base(env: Env) -> str:
    return str(env.client.make_url("")).rstrip("/")


async def test_search_filters_pages_and_csv_link(env: Env, page: Page) -> None:
    extra = [
        await env.storage.accept_segment(segment(env.tmp, "+16465550123", minutes_ago=20 + i))
        for i in range(11)
    ]
    await login(page, base(env), "qa", password("qa"), "/recordings")
    rows = page.locator("#recordings tbody tr")
    await expect(rows).to_have_count(1)  # assigned only, by default
    await expect(rows.first).to_contain_text("+14155550100")
    await shot(page, "search-default")

    # Any state, by keyboard: choose in the select, submit with Enter from a field.
    await page.locator("#s-state").select_option("")
    await page.locator("#s-number").focus()
    await page.keyboard.press("Enter")
    await expect(rows).to_have_count(14)
    assert "state=" in page.url

    # An exact number filter.
    await page.locator("#s-number").fill("(212) 555-0199")
    await page.locator("#s-number").press("Enter")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-id", env.ids["unassigned"])
    csv = await page.locator("#csv").get_attribute("href")
    assert csv is not None and csv.startswith("/api/recordings.csv?")
    assert parse_qs(urlsplit(csv).query)["number"] == ["(212) 555-0199"]
    await shot(page, "search-number")

    # Pages of 10: the next page holds the rest, newest first throughout.
    await page.locator("#s-number").fill("")
    await page.locator("#s-limit").select_option("10")
    await page.locator("#s-number").press("Enter")
    await expect(rows).to_have_count(10)
    first_page = await rows.evaluate_all("rs => rs.map(r => r.dataset.id)")
    await page.locator("#next-page").focus()
    await page.keyboard.press("Enter")
    await expect(rows).to_have_count(4)
    await expect(page.locator("#range")).to_contain_text("Page 2")
    await expect(page.locator("#next-page")).to_be_disabled()
    second_page = await rows.evaluate_all("rs => rs.map(r => r.dataset.id)")
    assert not set(first_page) & set(second_page)
    assert set(first_page) | set(second_page) == {
        env.ids["assigned"],
        env.ids["unassigned"],
        env.ids["near"],
        *extra,
    }
    assert second_page[-1] == extra[-1]  # the oldest, last
    await shot(page, "search-page-2")
    await page.locator("#first-page").click()
    await expect(rows).to_have_count(10)

    # The search survives a reload (it lives in the address); a row opens its story.
    await page.reload()
    await expect(page.locator("#s-limit")).to_have_value("10")
    await expect(rows).to_have_count(10)
    await rows.first.get_by_role("link").first.click()
    await page.wait_for_url(f"**/recordings/{first_page[0]}")
    await expect(page.locator("h1")).to_contain_text(first_page[0])
