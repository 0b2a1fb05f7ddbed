"""Coverage figures from a hand-made day of calls whose answer is worked out below."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from storage.coverage import coverage
from storage.db import Database
from storage.models import CallSpan, Verification
from tests.console.support import Env, close_env, make_env
from tests.storage.search_data import Row, recording

D0, D1, D2 = datetime(2026, 11, 1, 9), datetime(2026, 11, 2, 9), datetime(2026, 11, 3, 9)


def seg(call: str, agent: str, campaign: str | None, at: datetime, outcome: str | None) -> Row:
    return Row(uuid.uuid4().hex, agent, campaign, None, "inbound", "+14155550100", at, 30.0,
               "assigned", (), outcome)  # fmt: skip


def load_scenario(db: Database) -> None:
    """A: verified. B: transferred a1 -> a2, second leg silent. C: not checked yet.
    D: not recorded by decision. E: a gap (no callrec id). F: decided, file missing.
    G: the day before the range."""
    segments = {
        "A": [seg("A", "a1", "sales", D1, "verified")],
        "B": [seg("B", "a1", "sales", D1 + timedelta(minutes=5), "verified"),
              seg("B", "a2", "sales", D1 + timedelta(minutes=9), "silent_leg")],
        "C": [seg("C", "a2", "support", D2, None)],
        "G": [seg("G", "a1", "sales", D0, "verified")],
    }  # fmt: skip
    with db.session() as s:
        for call, rows in segments.items():
            for n, r in enumerate(rows, 1):
                rec = recording(r)
                rec.call_id, rec.segment_no = f"call-{call}", n
                s.add(rec)
        s.flush()
        for call, rows in segments.items():
            for r in rows:
                if r.outcome:
                    s.add(verification_row(r.outcome, f"call-{call}", r.agent, r.campaign,
                                           r.started_at, recording_id=r.id))  # fmt: skip
        for linkedid, call, agent, camp, outcome in (
            ("L-D", "call-D", "a3", "support", "not_recorded_by_decision"),
            ("L-E", None, None, None, "gap"),
            ("L-F", "call-F", "a1", "sales", "missing"),
        ):
            s.add(CallSpan(linkedid=linkedid, node="n1", call_id=call, answered_at=D2,
                           bridged_at=D2 + timedelta(seconds=3), ended_at=D2 + timedelta(minutes=2),
                           details={}))  # fmt: skip
            s.add(verification_row(outcome, call, agent, camp, D2, linkedid=linkedid))


def verification_row(
    outcome: str, call: str | None, agent: str | None, campaign: str | None, at: datetime, **kw: str
) -> Verification:
    return Verification(id=uuid.uuid4().hex, call_id=call, agent=agent, campaign=campaign,
                        outcome=outcome, reason="test", details={},
                        checked_at=at + timedelta(minutes=20), **kw)  # fmt: skip


def figures(db: Database, group: str) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    with db.session() as s:
        cov = coverage(s, D1 - timedelta(hours=9), D2 + timedelta(hours=15), group)
    fields = ("calls", "decided", "verified", "problems", "unverified", "gaps")

    def t(row: object) -> tuple[int, ...]:
        return tuple(getattr(row, f) for f in fields)

    return {r.key: t(r) for r in cov.rows}, t(cov.totals)


#                       calls decided verified problems unverified gaps
TOTALS = (6, 4, 1, 2, 1, 1)


def test_by_day(db: Database) -> None:
    load_scenario(db)
    rows, totals = figures(db, "day")
    assert rows == {"2026-11-02": (2, 2, 1, 1, 0, 0), "2026-11-03": (4, 2, 0, 1, 1, 1)}
    assert totals == TOTALS


def test_by_agent_a_transferred_call_counts_for_each_agent(db: Database) -> None:
    load_scenario(db)
    rows, totals = figures(db, "agent")
    assert rows == {
        "a1": (3, 3, 2, 1, 0, 0),
        "a2": (2, 2, 0, 1, 1, 0),
        "a3": (1, 0, 0, 0, 0, 0),
        "(none)": (1, 0, 0, 0, 0, 1),
    }
    assert totals == TOTALS


def test_by_campaign(db: Database) -> None:
    load_scenario(db)
    rows, _ = figures(db, "campaign")
    assert rows == {
        "sales": (3, 3, 1, 2, 0, 0),
        "support": (2, 1, 0, 0, 1, 0),
        "(none)": (1, 0, 0, 0, 0, 1),
    }


def test_bad_ranges_and_groups_are_refused(db: Database) -> None:
    with db.session() as s:
        for start, end, group in ((D2, D1, "day"), (D0, D0 + timedelta(days=400), "day"),
                                  (D1, D2, "queue")):  # fmt: skip
            with pytest.raises(ValueError):
                coverage(s, start, end, group)


async def test_coverage_api(tmp_path: Path) -> None:
    env: Env = await make_env(tmp_path)
    try:
        load_scenario(env.storage.db)
        q = "/api/coverage?group=agent&from=2026-11-02T00:00:00Z&to=2026-11-04"
        status, body = await env.call("GET", q, "qa")
        assert status == 200, body
        assert body["totals"]["calls"] == 6 and body["totals"]["gaps"] == 1
        assert {r["key"]: r["verified"] for r in body["rows"]} == {
            "a1": 2, "a2": 0, "a3": 0, "(none)": 0
        }  # fmt: skip
        for bad in ("group=queue", "from=2026-11-05&to=2026-11-01", "from=2020-01-01&to=2026-01-01",
                    "to=soon"):  # fmt: skip
            status, body = await env.call("GET", f"/api/coverage?{bad}", "qa")
            assert status == 400 and body["error"]["code"] == "request.bad_query", (bad, body)
        status, _ = await env.call("GET", "/api/coverage", "agent")
        assert status == 403
    finally:
        await close_env(env)
