"""The recording's story page in headless Chromium (and its JSON twin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from console import story as story_module
from policy import default_config
from tests.console.browser import login, shot
from tests.console.story_data import (
    TransferredCall,
    add_verification,
    example_policy,
    transferred_call,
)
from tests.console.support import ADMIN, Env, close_env, make_env, password, segment


@pytest.fixture
async def story_env(tmp_path: Path) -> AsyncIterator[tuple[Env, TransferredCall]]:
    policy = example_policy()
    env = await make_env(tmp_path, policy=policy)
    call = await transferred_call(env.storage, tmp_path, policy)
    remote = datetime(2026, 11, 30, 8, 15, 0)
    add_verification(env.storage, call.first, "verified", remote_checked_at=remote)
    try:
        yield env, call
    finally:
        await close_env(env)


def base(env: Env) -> str:
    return str(env.client.make_url("")).rstrip("/")


async def test_story_api_tells_the_whole_story(story_env: tuple[Env, TransferredCall]) -> None:
    env, call = story_env
    status, data = await env.call("GET", f"/api/recordings/{call.first}/story", "admin")
    assert status == 200
    story = data["story"]
    assert story["decided_by"] == "mode.all_force"
    assert "mode.all_force" in [r["id"] for r in story["rules"]]
    assert "Decided by: mode.all_force" in story["explanation"]
    assert story["decided_now"] is None  # the policy has not changed since
    assert [(s["segment_no"], s["agent"], s["this"]) for s in story["segments"]] == [
        (1, "1001", True),
        (2, "1002", False),
    ]
    pause = call.started.replace(tzinfo=None) + timedelta(seconds=10)
    assert story["pauses"][0]["started_at"] == pause.isoformat() + "Z"
    assert "dtmf_toggled" in story["flags"]
    assert story["verification"]["outcome"] == "verified"
    assert story["remote_verified_at"] == "2026-11-30T08:15:00Z"
    stored = (await env.storage.get_recording(ADMIN, call.first)).files
    assert {f["sha256"] for f in story["files"]} == {f.sha256 for f in stored}
    assert any(e["action"] == "view" and e["actor"] == "admin" for e in story["audit"])
    # Not an admin: the story without the audit trail; no view permission: refused.
    # Under another policy (an empty file: no campaigns) the story says it would differ.
    other = story_module.build(
        env.storage.db, call.first, policy=default_config(), with_audit=False
    )
    assert other.decided_now is not None and "mode.all_force" not in other.decided_now
    assert other.decided_by == "mode.all_force"  # what was decided stays what was decided
    # The second segment is explained as what it was: after the transfer.
    status, data = await env.call("GET", f"/api/recordings/{call.second}/story", "admin")
    assert "(post-transfer)" in data["story"]["explanation"]
    assert data["story"]["decided_by"] in [r["id"] for r in data["story"]["rules"]]
    status, data = await env.call("GET", f"/api/recordings/{call.first}/story", "qa")
    assert status == 200 and data["story"]["audit"] is None
    status, data = await env.call("GET", f"/api/recordings/{call.first}/story", "agent")
    assert status == 403
    status, data = await env.call("GET", "/api/recordings/nope/story", "qa")
    assert status == 404 and data["error"]["code"] == "recording.not_found"


@pytest.mark.browser
async def test_story_page_with_player_per_leg(
    story_env: tuple[Env, TransferredCall], page: Page
) -> None:
    env, call = story_env
    await login(page, base(env), "admin", password("admin"), f"/recordings/{call.first}")
    await expect(page.locator("#decided-by")).to_contain_text("mode.all_force")
    await expect(page.locator("#rules")).to_contain_text("mode.all_force")
    await expect(page.locator("#explanation")).to_contain_text("Rules that fired, in order")
    await expect(page.locator("#legs")).to_contain_text("both sides")
    rows = page.locator("#segments tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("1001")
    await expect(rows.nth(1)).to_contain_text("1002")
    pause = call.started.replace(tzinfo=None) + timedelta(seconds=10)
    await expect(page.locator("#pauses")).to_contain_text(pause.isoformat(sep=" "))
    await expect(page.locator("#flags")).to_contain_text("dtmf_toggled")
    await expect(page.locator("#verification")).to_contain_text("verified")
    await expect(page.locator("#upload")).to_contain_text("2026-11-30 08:15:00")
    stereo = next(
        f for f in (await env.storage.get_recording(ADMIN, call.first)).files if f.kind == "stereo"
    )
    await expect(page.locator("#files")).to_contain_text(stereo.sha256)
    await expect(page.locator("#audit")).to_contain_text("admin")
    await shot(page, "story")

    # Keyboard: the leg choice is a radio group; arrows switch the player's file.
    await page.locator("#leg-stereo").focus()
    await page.keyboard.press("ArrowDown")
    await expect(page.locator("#leg-agent")).to_be_checked()
    player = page.locator("#player")
    await expect(player).to_have_attribute("src", f"/api/recordings/{call.first}/play?kind=agent")
    duration = await player.evaluate(
        """a => new Promise((ok, bad) => { a.preload = "auto";
             a.addEventListener("loadedmetadata", () => ok(a.duration));
             a.addEventListener("error", () => bad(String(a.error && a.error.code)));
             a.load(); })"""
    )
    assert 0.3 < duration < 1.0
    audit = await env.storage.audit_log(ADMIN, call.first)
    assert any(a.action == "play" and a.actor == "admin" for a in audit)

    # Across the transfer: the next segment's story, by keyboard.
    link = page.get_by_role("link", name="2", exact=True)
    await link.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/recordings/{call.second}")
    await expect(page.locator("#segments tr.this")).to_contain_text("1002")
    await shot(page, "story-second-segment")


@pytest.mark.browser
async def test_story_page_refusals(story_env: tuple[Env, TransferredCall], page: Page) -> None:
    env, call = story_env
    await login(page, base(env), "qa", password("qa"), f"/recordings/{call.first}")
    await expect(page.locator("#audit")).to_contain_text("shown to administrators")
    await page.goto(f"{base(env)}/recordings/{'x' * 10}")
    await expect(page.locator("main")).to_contain_text("no recording")
    assert datetime.now(UTC) > call.started


async def test_story_page_escapes_caller_controlled_text(
    story_env: tuple[Env, TransferredCall],
) -> None:
    """The raw customer number is what the caller sent: shown as text, never as markup."""
    env, _ = story_env
    hostile = '<img src=x onerror="alert(1)">'
    rid = await env.storage.accept_segment(segment(env.tmp, hostile))
    status, html = await env.call("GET", f"/recordings/{rid}", "admin")
    assert status == 200
    assert hostile not in html and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
