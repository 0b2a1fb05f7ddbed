"""The what-if page in headless Chromium: facts typed with the keyboard, the
decision and the explanation `callrec explain` gives for the same facts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.console.browser import login, shot
from tests.console.story_data import POLICY_FILE, example_policy
from tests.console.support import Env, close_env, make_env, password

ROOT = Path(__file__).parents[2]


@pytest.fixture
async def policy_env(tmp_path: Path) -> AsyncIterator[Env]:
    env = await make_env(tmp_path, policy=example_policy())
    try:
        yield env
    finally:
        await close_env(env)


def cli_explain(tmp: Path, **facts: object) -> str:
    """What the CLI says for the same facts (a separate process, the admin's tool)."""
    import json

    path = tmp / "facts.json"
    path.write_text(json.dumps(facts))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "callrec",
            "explain",
            "--config",
            str(POLICY_FILE),
            "--call",
            str(path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def base(env: Env) -> str:
    return str(env.client.make_url("")).rstrip("/")


async def test_what_if_api_matches_callrec_explain(policy_env: Env, tmp_path: Path) -> None:
    q = "agent=1001&number=%2B12125550123&campaign=collections&lead_list=2001"
    status, data = await policy_env.call("GET", f"/api/what-if?{q}", "admin")
    assert status == 200
    assert data["decision"]["mode"] == "all_force" and data["decided_by"] == "mode.all_force"
    facts = {
        "call_id": "what-if",
        "direction": "outbound",
        "agent": "1001",
        "campaign": "collections",
        "lead_list": "2001",
        "prospect": {"number": "+12125550123"},
    }
    assert data["explanation"] == cli_explain(tmp_path, **facts)
    status, data = await policy_env.call("GET", "/api/what-if?agent=", "admin")
    assert status == 400 and data["error"]["code"] == "facts.invalid"
    status, _ = await policy_env.call("GET", f"/api/what-if?{q}", "qa")
    assert status == 403


@pytest.mark.browser
async def test_what_if_page_by_keyboard(policy_env: Env, page: Page, tmp_path: Path) -> None:
    await login(page, base(policy_env), "admin", password("admin"), "/what-if")
    await page.locator("#wi-agent").focus()
    for value in ("1001", "+12125550123", "collections", "", "2001"):
        await page.keyboard.type(value)
        await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.locator("#wi-rule")).to_contain_text("mode.all_force")
    await expect(page.locator("#wi-legs")).to_contain_text("both sides")
    shown = await page.locator("#wi-explanation").inner_text()
    facts = {
        "call_id": "what-if",
        "direction": "outbound",
        "agent": "1001",
        "campaign": "collections",
        "lead_list": "2001",
        "prospect": {"number": "+12125550123"},
    }
    assert shown.strip() == cli_explain(tmp_path, **facts)
    await expect(page.locator("#wi-number")).to_have_value("+12125550123")  # kept for editing
    await shot(page, "what-if")

    # A California customer (two-party consent) and an agent who may not record.
    await page.locator("#wi-agent").fill("9001")
    await page.locator("#wi-number").fill("+14155550100")
    await page.locator("#wi-number").press("Enter")
    await expect(page.locator("#wi-legs")).to_contain_text("nothing")
    await expect(page.locator("#wi-rule")).to_contain_text("agent.not_permitted")
    await shot(page, "what-if-not-permitted")

    # Bad facts: said in words, not a crash.
    await page.goto(f"{base(policy_env)}/what-if?agent=+")
    await expect(page.locator("#what-if-error")).to_contain_text("agent")
