"""Coverage per day, campaign and agent, and its page with the chart, in Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from console import coverage
from tests.console.browser import login, shot
from tests.console.story_data import add_verification, example_policy, transferred_call
from tests.console.support import Env, close_env, make_env, password


@pytest.fixture
async def cov_env(tmp_path: Path) -> AsyncIterator[Env]:
    """make_env's three sales recordings (agent a1, not verified yet), a transferred
    collections call (1001 verified, 1002 short), a call with no recording where
    one was due (1003, gap) and one the policy decided not to record (9001)."""
    policy = example_policy()
    env = await make_env(tmp_path, policy=policy)
    call = await transferred_call(env.storage, tmp_path, policy)
    add_verification(env.storage, call.first, "verified", call_id=call.call_id)
    add_verification(env.storage, call.second, "short", call_id=call.call_id)
    add_verification(
        env.storage, None, "gap", call_id="c-1003", agent="1003", campaign="collections"
    )
    add_verification(env.storage, None, "not_recorded_by_decision", call_id="c-9001", agent="9001")
    try:
        yield env
    finally:
        await close_env(env)


def totals(rows: list[dict[str, object]]) -> dict[tuple[object, object], tuple[object, ...]]:
    """Summed over days (a run across midnight UTC splits the rows, not the sums)."""
    out: dict[tuple[object, object], list[int]] = {}
    for r in rows:
        acc = out.setdefault((r["campaign"], r["agent"]), [0, 0, 0, 0])
        for i, k in enumerate(("calls", "decided", "verified", "gaps")):
            acc[i] += int(r[k])  # type: ignore[call-overload]
    return {k: tuple(v) for k, v in out.items()}


async def test_coverage_counts(cov_env: Env) -> None:
    today = datetime.now(UTC).date()
    rows = coverage.read(cov_env.storage.db, today - timedelta(days=1), today)
    assert totals(rows) == {
        ("sales", "a1"): (3, 3, 0, 0),
        ("collections", "1001"): (1, 1, 1, 0),
        ("collections", "1002"): (1, 1, 0, 1),
        ("collections", "1003"): (1, 0, 0, 1),  # never controlled: a gap, not a decision
        ("(none)", "9001"): (1, 0, 0, 0),
    }
    only = coverage.read(cov_env.storage.db, today - timedelta(days=1), today, agent="1002")
    assert totals(only) == {("collections", "1002"): (1, 1, 0, 1)}
    days = coverage.per_day(rows)
    assert sum(int(d["calls"]) for d in days) == 7  # type: ignore[call-overload]


def base(env: Env) -> str:
    return str(env.client.make_url("")).rstrip("/")


@pytest.mark.browser
async def test_coverage_page_with_chart(cov_env: Env, page: Page) -> None:
    await login(page, base(cov_env), "history", password("history"), "/coverage")
    table = page.locator("#coverage tbody tr")
    await expect(table).to_have_count(5)
    row = page.locator('#coverage tr[data-key$="|collections|1002"]')
    await expect(row.locator(".gaps")).to_have_text("1")
    await expect(row.locator(".verified")).to_have_text("0")
    bars = page.locator("#chart rect.bar")
    assert await bars.count() % 4 == 0 and await bars.count() >= 4
    await expect(page.locator("#chart title").first).to_contain_text("per day")
    await shot(page, "coverage")

    # Keyboard: filter to one campaign.
    await page.locator("#cv-campaign").focus()
    await page.keyboard.type("collections")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/coverage?*campaign=collections*")
    await expect(table).to_have_count(3)
    await shot(page, "coverage-collections")

    # Bad dates are said, not crashed on.
    await page.goto(f"{base(cov_env)}/coverage?from=2026-01-01&to=2026-12-31")
    await expect(page.locator("#coverage-error")).to_contain_text("31 days")
    status, _ = await cov_env.call("GET", "/coverage", "agent")
    assert status == 403
