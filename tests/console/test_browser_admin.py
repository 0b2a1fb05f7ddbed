"""The /admin page in headless Chromium: legal hold, refused delete, audit log, erasure."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.console.browser import login, shot
from tests.console.support import ADMIN, Env, password, segment

pytestmark = pytest.mark.browser


def base(env: Env) -> str:
    return str(env.client.make_url("")).rstrip("/")


async def test_hold_blocks_delete_and_shows_in_the_audit_log(env: Env, page: Page) -> None:
    rid = env.ids["unassigned"]
    await login(page, base(env), "dpo", password("dpo"), "/admin")
    await expect(page.get_by_role("link", name="Admin")).to_have_attribute("aria-current", "page")
    await expect(page.locator("#audit tbody tr").first).to_be_visible()

    # the hold form, by keyboard: Enter in the reason field puts the hold on
    hold = page.locator("#hold-form")
    await hold.get_by_label("Hold on").select_option("recording")
    await hold.get_by_label("Recording id or customer number").fill(rid)
    await hold.get_by_label("Reason").fill("litigation 2024-17")
    await hold.get_by_label("Reason").press("Enter")
    await expect(page.locator("#hold-message")).to_contain_text(f"Recording {rid} is on legal hold")
    held_row = page.locator(f'#audit tr[data-action="hold"][data-recording="{rid}"]')
    await expect(held_row).to_contain_text("dpo")
    await expect(held_row).to_contain_text("litigation 2024-17")
    assert (await env.storage.get_recording(ADMIN, rid)).legal_hold is True
    await shot(page, "admin-hold")

    # deleting it on /unassigned is refused, in words
    await page.get_by_role("link", name="Unassigned").click()
    row = page.locator(f'tr[data-id="{rid}"]')
    await row.get_by_role("button", name="Delete").click()
    await page.locator("#confirm-ok").click()
    await expect(page.locator("#message")).to_contain_text(
        "Not deleted: A legal hold blocks deletion"
    )
    await expect(row).to_be_visible()
    await shot(page, "admin-hold-refused-delete")
    assert (await env.storage.get_recording(ADMIN, rid)).state == "unassigned"

    # the audit log, filtered by the recording, shows the hold
    await page.get_by_role("link", name="Admin").click()
    await page.get_by_label("Recording id", exact=True).fill(rid)
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("#audit-range")).to_contain_text(f"for {rid}")
    rows = page.locator("#audit tbody tr")
    await expect(page.locator('#audit tr[data-action="hold"]')).to_have_count(1)
    for i in range(await rows.count()):
        await expect(rows.nth(i)).to_have_attribute("data-recording", rid)
    await expect(page.locator('#audit tr[data-action="ingest"]')).to_have_count(1)
    await shot(page, "admin-audit-filtered")

    # releasing it lets the delete through
    hold = page.locator("#hold-form")
    await hold.get_by_label("Recording id or customer number").fill(rid)
    await hold.get_by_label("Reason").fill("case closed")
    await hold.get_by_role("button", name="Release hold").click()
    await expect(page.locator("#hold-message")).to_contain_text("legal hold released")
    await expect(page.locator("#audit tbody tr").first).to_have_attribute(
        "data-action", "release_hold"
    )
    assert (await env.storage.get_recording(ADMIN, rid)).legal_hold is False


async def test_erasure_with_confirmation_deletes_unheld_recordings(env: Env, page: Page) -> None:
    number = "+16465550123"
    kept = await env.storage.accept_segment(segment(env.tmp, number))
    gone = [await env.storage.accept_segment(segment(env.tmp, number)) for _ in range(2)]
    other = env.ids["unassigned"]
    await env.storage.set_hold(ADMIN, kept, True, "court order")
    await login(page, base(env), "dpo", password("dpo"), "/admin")

    form = page.locator("#erase-form")
    await form.get_by_label("Customer number").fill("(646) 555-0123")
    await form.get_by_label("Reason").fill("customer request #881")
    await page.get_by_role("button", name="Erase…").click()
    await expect(page.locator("#erase-confirm")).to_be_visible()
    await expect(page.locator("#erase-confirm-text")).to_contain_text("(646) 555-0123")
    await shot(page, "admin-erasure-confirm")
    await page.keyboard.press("Escape")  # cancelling deletes nothing
    await expect(page.locator("#erase-message")).to_contain_text("Erasure cancelled")
    assert (await env.storage.get_recording(ADMIN, gone[0])).state == "unassigned"

    await page.get_by_role("button", name="Erase…").click()
    await page.locator("#erase-ok").click()
    await expect(page.locator("#erase-message")).to_contain_text(
        f"Erased {number}: deleted 2 recordings; 1 kept by a legal hold"
    )
    for rid in gone:
        await expect(page.locator("#erase-deleted")).to_contain_text(rid)
    await expect(page.locator("#erase-held")).to_contain_text(kept)
    await expect(page.locator("#audit tbody tr").first).to_have_attribute("data-action", "erasure")
    await shot(page, "admin-erasure-result")
    for rid in gone:
        assert (await env.storage.get_recording(ADMIN, rid)).state == "deleted"
    assert (await env.storage.get_recording(ADMIN, kept)).state == "unassigned"
    assert (await env.storage.get_recording(ADMIN, other)).state == "unassigned"

    # a number that cannot be read is refused in words
    await form.get_by_label("Customer number").fill("not a number")
    await page.get_by_role("button", name="Erase…").click()
    await page.locator("#erase-ok").click()
    await expect(page.locator("#erase-message")).to_contain_text(
        "Not erased: Not a valid phone number"
    )


async def test_audit_paging_and_admin_only(env: Env, page: Page) -> None:
    for _ in range(60):
        await env.storage.get_recording(ADMIN, env.ids["near"])  # more than one page
    await login(page, base(env), "dpo", password("dpo"), "/admin")
    rows = page.locator("#audit tbody tr")
    await expect(rows).to_have_count(50)
    await expect(page.locator("#audit-range")).to_have_text("Entries 1–50")
    prev, nxt = page.get_by_role("button", name="Previous"), page.get_by_role("button", name="Next")
    await expect(prev).to_be_disabled()
    first = await rows.first.get_attribute("data-entry")
    assert first is not None
    await nxt.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#audit-range")).to_contain_text("Entries 51–")
    await expect(prev).to_be_enabled()
    await expect(nxt).to_be_disabled()
    await shot(page, "admin-audit-page-2")
    await prev.click()
    await expect(page.locator("#audit-range")).to_have_text("Entries 1–50")
    await expect(rows.first).to_have_attribute("data-entry", first)

    # not an admin: no link, and the page says which permission it needs
    await page.context.clear_cookies()
    await login(page, base(env), "qa", password("qa"), "/unassigned")
    await expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    response = await page.goto(base(env) + "/admin")
    assert response is not None and response.status == 403
    await expect(page.get_by_role("alert")).to_contain_text("admin")
