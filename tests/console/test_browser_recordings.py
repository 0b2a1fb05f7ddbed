"""The recordings pages in headless Chromium: play, assign, delete, refused delete, bulk delete."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.console.browser import login, shot
from tests.console.support import ADMIN, Env, password, segment

pytestmark = pytest.mark.browser


def base(env: Env) -> str:
    return str(env.client.make_url("")).rstrip("/")


async def test_history_and_record_pages_play_audio(env: Env, page: Page) -> None:
    await login(page, base(env), "qa", password("qa"), "/recordings")
    row = page.locator(f'tr[data-id="{env.ids["assigned"]}"]')
    await expect(row).to_be_visible()
    await expect(row).to_contain_text("+14155550100")
    duration = await row.locator("audio").evaluate(
        """a => new Promise((ok, bad) => { a.preload = "auto";
             a.addEventListener("loadedmetadata", () => ok(a.duration));
             a.addEventListener("error", () => bad(String(a.error && a.error.code)));
             a.load(); })"""
    )
    assert 0.3 < duration < 1.0
    await shot(page, "recordings-history")
    await row.get_by_role("link", name=f"#{env.ids['record']}").click()
    await expect(page.locator("h1")).to_contain_text("Ann Archer")
    await expect(page.locator(f'tr[data-id="{env.ids["assigned"]}"]')).to_be_visible()
    await shot(page, "record-page")
    audit = await env.storage.audit_log(ADMIN, env.ids["assigned"])
    assert any(a.action == "play" and a.actor == "qa" for a in audit)


async def test_unassigned_assign_delete_and_refusals(env: Env, page: Page) -> None:
    await login(page, base(env), "qa", password("qa"), "/unassigned")
    near = page.locator(f'tr[data-id="{env.ids["near"]}"]')
    await expect(near).to_be_visible()
    await expect(page.locator("tbody tr")).to_have_count(2)
    await shot(page, "unassigned")

    # assign from the candidate drop-down
    select = near.get_by_label("Assign recording to")
    await select.select_option(label="Bob Baker (individual, near)")
    await near.get_by_role("button", name="Assign").click()
    await expect(page.locator("#message")).to_contain_text("Assigned to Bob Baker")
    await expect(near).to_have_count(0)
    rec = await env.storage.get_recording(ADMIN, env.ids["near"])
    assert rec.state == "assigned" and len(rec.record_ids) == 1

    # a recording assigned behind the page's back: the delete is refused (409) and said so
    other = page.locator(f'tr[data-id="{env.ids["unassigned"]}"]')
    await env.storage.assign(ADMIN, env.ids["unassigned"], env.ids["record"])
    await other.get_by_role("button", name="Delete").click()
    await expect(page.locator("#confirm")).to_be_visible()
    await page.locator("#confirm-ok").click()
    await expect(page.locator("#message")).to_contain_text(
        "Not deleted: Assigned recordings cannot be deleted"
    )
    await shot(page, "unassigned-refused-delete")
    assert (await env.storage.get_recording(ADMIN, env.ids["unassigned"])).state == "assigned"


async def test_single_and_bulk_delete_with_confirmation(env: Env, page: Page) -> None:
    extra = [await env.storage.accept_segment(segment(env.tmp, "+16465550123")) for _ in range(3)]
    await login(page, base(env), "deleter", password("deleter"), "/unassigned")
    await expect(page.locator("tbody tr")).to_have_count(5)

    # single delete, cancelled first, then confirmed
    row = page.locator(f'tr[data-id="{extra[0]}"]')
    await row.get_by_role("button", name="Delete").click()
    await page.locator("#confirm-cancel").click()
    await expect(row).to_be_visible()
    await row.get_by_role("button", name="Delete").click()
    await page.locator("#confirm-ok").click()
    await expect(page.locator("#message")).to_contain_text("Deleted 1 recording")
    await expect(page.locator("tbody tr")).to_have_count(4)

    # select all -> bulk delete with a confirmation naming the count
    await page.get_by_label("Select all").check()
    bulk = page.get_by_role("button", name="Delete selected (4)")
    await expect(bulk).to_be_enabled()
    await bulk.click()
    await expect(page.locator("#confirm-text")).to_contain_text("Delete 4 recordings?")
    await shot(page, "bulk-delete-confirm")
    await page.locator("#confirm-ok").click()
    await expect(page.locator("#message")).to_contain_text("Deleted 4 recordings")
    await expect(page.locator("#empty")).to_be_visible()
    for rid in [*extra, env.ids["unassigned"], env.ids["near"]]:
        assert (await env.storage.get_recording(ADMIN, rid)).state == "deleted"
    assert (await env.storage.get_recording(ADMIN, env.ids["assigned"])).state == "assigned"


async def test_pages_refuse_users_without_permission(env: Env, page: Page) -> None:
    await login(page, base(env), "agent", password("agent"), "/console")
    response = await page.goto(base(env) + "/unassigned")
    assert response is not None and response.status == 403
    await expect(page.get_by_role("alert")).to_contain_text("view_unassigned")
    await expect(page.get_by_role("link", name="Recordings")).to_have_count(0)
    await shot(page, "forbidden")
    response = await page.goto(base(env) + "/recordings")
    assert response is not None and response.status == 403


async def test_keyboard_can_reach_and_use_controls(env: Env, page: Page) -> None:
    await login(page, base(env), "deleter", password("deleter"), "/unassigned")
    await expect(page.locator("tbody tr")).to_have_count(2)
    await page.get_by_label("Select all").focus()
    await page.keyboard.press("Space")
    await expect(page.get_by_role("button", name="Delete selected (2)")).to_be_enabled()
    await page.keyboard.press("Tab")
    focused = await page.evaluate("document.activeElement.id")
    assert focused == "bulk-delete"
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
