"""The agent console in headless Chromium, on real calls through the sandbox Asterisk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from callrec.sandbox import Instance
from tests.ari.harness import API_PASSWORD, API_USER, POLICY, Stack
from tests.console.browser import login, shot

pytestmark = [pytest.mark.browser, pytest.mark.asterisk]

CONSOLE_POLICY = (
    POLICY
    + """
[campaigns.ptnever]
mode = "all_calls"
post_transfer = "never"
"""
)


@pytest.fixture
async def stack(asterisk: Instance, tmp_path: Path, no_leaks: None) -> AsyncIterator[Stack]:
    s = Stack(asterisk, tmp_path, CONSOLE_POLICY)
    await s.start()
    try:
        yield s
    finally:
        await s.close()


async def open_console(page: Page, stack: Stack) -> None:
    await login(page, stack.base, API_USER, API_PASSWORD, "/console")
    await expect(page.locator("#live")).to_have_text("Live")


async def test_auto_call_records_and_follows_dtmf_live(stack: Stack, page: Page) -> None:
    await open_console(page, stack)
    call = await stack.place("auto")
    state, record = page.locator("#rec-state"), page.locator("#btn-record")
    await expect(page.locator("#call")).to_be_visible()
    await expect(state).to_have_text("Recording")
    await expect(record).to_have_text("Stop recording")
    await expect(record).to_be_enabled()
    await expect(page.locator("#call-mode")).to_have_text("All calls")
    await shot(page, "console-auto-recording")

    await record.click()
    await expect(state).to_have_text("Not recording")
    await expect(record).to_have_text("Start recording")
    assert not call.recording

    await stack.press(call, "*1")  # the agent's DTMF toggle shows at once
    await expect(state).to_have_text("Recording", timeout=10_000)
    await page.locator("#btn-pause").click()
    await expect(state).to_have_text("Recording paused")
    await expect(page.locator("#btn-pause")).to_have_text("Resume")
    await page.locator("#btn-pause").click()
    await expect(state).to_have_text("Recording")
    await stack.hangup(call)
    await expect(page.locator("#no-calls")).to_be_visible()


async def test_force_call_stop_is_disabled_with_reason(stack: Stack, page: Page) -> None:
    await open_console(page, stack)
    call = await stack.place("force")
    record = page.locator("#btn-record")
    await expect(page.locator("#rec-state")).to_have_text("Recording")
    await expect(record).to_have_text("Stop recording")
    await expect(record).to_be_disabled()
    await expect(page.locator("#record-reason")).to_have_text(
        "All Force: recording cannot be stopped"
    )
    await shot(page, "console-force")
    status, body = await stack.api("POST", f"/api/calls/{call.call_id}/recording/stop")
    assert status == 409 and body["error"]["rule"] == "action.stop_forbidden_all_force"
    assert call.recording
    await stack.hangup(call)


@pytest.mark.parametrize(
    ("campaign", "mode", "checked", "enabled"),
    [
        ("ptnever", "never", False, False),
        ("auto", "on_demand", False, True),
        ("force", "all_force", True, False),
    ],
)
async def test_transfer_checkbox_follows_post_transfer_mode(
    stack: Stack, page: Page, campaign: str, mode: str, checked: bool, enabled: bool
) -> None:
    await open_console(page, stack)
    call = await stack.place(campaign)
    _, snap = await stack.api("GET", f"/api/calls/{call.call_id}")
    assert snap["post_transfer_mode"] == mode
    await expect(page.locator("#rec-state")).to_have_text("Recording")
    await page.get_by_role("button", name="Transfer…").click()
    dialog = page.locator("#transfer-dialog")
    await expect(dialog).to_be_visible()
    box = page.get_by_label("Continue recording after the transfer")
    assert await box.is_checked() == checked
    assert await box.is_enabled() == enabled
    await shot(page, f"console-transfer-{mode}")
    if mode != "on_demand":
        await page.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_be_hidden()
        await stack.hangup(call)
        return
    # on demand: the agent asks to continue, and the next agent's segment starts by itself
    await box.check()
    await page.get_by_label("To agent").fill("a2")
    await page.locator("#transfer-ok").click()
    await expect(page.locator("#message")).to_have_text("Transferred to a2")
    await expect(page.locator("#call-agent")).to_have_text("a2", timeout=10_000)
    await expect(page.locator("#call-phase")).to_have_text("After transfer")
    await expect(page.locator("#rec-state")).to_have_text("Recording", timeout=10_000)
    await stack.hangup(call)
    assert [s.agent for s in stack.sink.segments] == ["a1", "a2"]
