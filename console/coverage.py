"""The coverage page's rows: storage's coverage (storage/coverage.py) per day,
campaign and agent, shaped for the table and the chart.

One computation for the page and ``GET /api/coverage``: a call is *decided*
when it has a recording or a verification outcome other than
``not_recorded_by_decision`` / ``gap``; the page's *gaps* column is what is
not whole: calls with a ``short``, ``missing`` or ``silent_leg`` segment plus
calls Asterisk bridged that callrec never controlled (``gap``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from storage.coverage import coverage_table
from storage.db import Database

MAX_DAYS = 31
COLUMNS = ("calls", "decided", "verified", "gaps")


def read(
    db: Database,
    start: date,
    end: date,
    *,
    campaign: str | None = None,
    agent: str | None = None,
) -> list[dict[str, object]]:
    """Rows for days ``start``..``end`` (inclusive, UTC), newest day first."""
    lo = datetime.combine(start, time.min)
    hi = datetime.combine(end + timedelta(days=1), time.min)
    with db.session() as s:
        table = coverage_table(s, lo, hi, campaign=campaign, agent=agent, max_days=MAX_DAYS)
    rows = [
        {
            "day": day,
            "campaign": camp,
            "agent": ag,
            "calls": row.calls,
            "decided": row.decided,
            "verified": row.verified,
            "gaps": row.problems + row.gaps,
        }
        for (day, camp, ag), row in table
    ]
    rows.sort(key=lambda r: str(r["day"]), reverse=True)  # stable: campaign, agent order kept
    return rows


def per_day(
    rows: list[dict[str, object]], start: date | None = None, end: date | None = None
) -> list[dict[str, object]]:
    """Totals per day, oldest first (the chart's bars); days with no calls
    between ``start`` and ``end`` are there with zeros."""
    days: dict[str, dict[str, object]] = {}

    def blank(day: str) -> dict[str, object]:
        return {"day": day, **dict.fromkeys(COLUMNS, 0)}

    if start is not None and end is not None:
        for n in range((end - start).days + 1):
            day = (start + timedelta(days=n)).isoformat()
            days[day] = blank(day)
    for r in rows:
        d = days.setdefault(str(r["day"]), blank(str(r["day"])))
        for k in COLUMNS:
            d[k] = int(d[k]) + int(r[k])  # type: ignore[call-overload]
    return [days[k] for k in sorted(days)]
