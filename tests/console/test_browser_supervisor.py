"""The supervisor view in headless Chromium: calls appear, change and leave live
(over the websocket), and alerts (upload, verification gaps) show on the page."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from storage import outbox
from tests.console.browser import login, shot
from tests.console.story_data import add_verification
from tests.console.support import Env, password


def base(env: Env) -> str:
    return str(env.client.make_url("")).rstrip("/")


async def test_alerts_api(env: Env) -> None:
    status, data = await env.call("GET", "/api/alerts", "agent")
    assert status == 200 and data["verification"] == [] and data["upload"]["alerts"] == []
    add_verification(
        env.storage,
        env.ids["unassigned"],
        "short",
        agent="a1",
        campaign="sales",
        reason="captured 3.1 s of 40 s bridged",
    )
    add_verification(env.storage, env.ids["assigned"], "verified", agent="a1")
    with env.storage.db.session() as s:
        outbox.raise_alert(s, "sftp.host_key_mismatch", "the SFTP host key changed")
    status, data = await env.call("GET", "/api/alerts", "agent")
    assert [v["outcome"] for v in data["verification"]] == ["short"]
    assert data["upload"]["alerts"][0]["code"] == "sftp.host_key_mismatch"
    status, _ = await env.call("GET", "/api/alerts", "history")
    assert status == 403


@pytest.mark.browser
async def test_supervisor_sees_calls_live_and_alerts(env: Env, page: Page) -> None:
    await login(page, base(env), "agent", password("agent"), "/supervisor")
    await expect(page.locator("#live")).to_have_text("Live")
    first = page.locator('tr[data-call-id="call-1"]')
    await expect(first).to_contain_text("a1")
    await expect(first.locator(".rec-state")).to_have_text("recording")
    await expect(first).to_contain_text("all_calls")
    await expect(first).to_contain_text("both")
    await expect(first.locator(".time")).to_have_text(re.compile(r"^\d+:\d\d$"))

    # A new call arrives, the first one is paused, the new one ends: all without reloading.
    env.add_call("call-2", mode="on_demand", agent="a2", campaign="support")
    second = page.locator('tr[data-call-id="call-2"]')
    await expect(second).to_contain_text("a2")
    await expect(second.locator(".rec-state")).to_have_text("not recording")
    await expect(second).to_contain_text("on_demand")
    status, _ = await env.call("POST", "/api/calls/call-1/recording/pause", "agent")
    assert status == 200
    await expect(first.locator(".rec-state")).to_have_text("paused")
    await shot(page, "supervisor")
    env.registry.unregister("call-2")
    await expect(second).to_have_count(0)

    # Alerts: none, then a verification gap and an upload alert, refreshed by keyboard.
    await expect(page.locator("#alerts-status")).to_have_text("No alerts.")
    add_verification(
        env.storage,
        env.ids["unassigned"],
        "missing",
        agent="a1",
        reason="no audio for a bridged call",
    )
    with env.storage.db.session() as s:
        outbox.raise_alert(s, "sftp.host_key_mismatch", "the SFTP host key changed")
    await page.locator("#alerts-refresh").focus()
    await page.keyboard.press("Enter")
    alerts = page.locator("#alerts li")
    await expect(alerts).to_have_count(2)
    await expect(page.locator("#alerts")).to_contain_text("Verification missing")
    await expect(page.locator("#alerts")).to_contain_text("sftp.host_key_mismatch")
    await shot(page, "supervisor-alerts")
    link = page.locator("#alerts").get_by_role("link", name="recording")
    await link.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/recordings/{env.ids['unassigned']}")
