"""Coverage per day, campaign and agent: calls, calls the policy decided to
record, calls verified, calls with gaps, from recordings and the capture
verification's rows.

A small stand-in computed in Python over a bounded window (at most
``MAX_DAYS``); storage's own coverage query replaces it where available.
A call counts once per (day, campaign, agent): *decided* if it has a
recording or a verification row other than ``not_recorded_by_decision``;
*gap* if any of its rows is ``short``, ``missing``, ``silent_leg`` or
``gap``; *verified* if it has a ``verified`` row and no gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from console.alerts import GAP_OUTCOMES
from storage.db import Database
from storage.models import Recording, Verification

MAX_DAYS = 31
NOT_DECIDED = "not_recorded_by_decision"


@dataclass
class Row:
    day: str
    campaign: str
    agent: str
    calls: set[str] = field(default_factory=set)
    decided: set[str] = field(default_factory=set)
    verified_any: set[str] = field(default_factory=set)
    gaps: set[str] = field(default_factory=set)

    def counts(self) -> dict[str, object]:
        verified = self.verified_any - self.gaps
        return {
            "day": self.day,
            "campaign": self.campaign,
            "agent": self.agent,
            "calls": len(self.calls),
            "decided": len(self.decided),
            "verified": len(verified),
            "gaps": len(self.gaps),
        }


def _matches(v: Verification, campaign: str | None, agent: str | None) -> bool:
    return (not campaign or v.campaign == campaign) and (not agent or v.agent == agent)


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
    rows: dict[tuple[str, str, str], Row] = {}

    def row(when: datetime, camp: str | None, ag: str | None) -> Row:
        key = (when.date().isoformat(), camp or "—", ag or "—")
        return rows.setdefault(key, Row(*key))

    with db.session() as s:
        rec_q = select(
            Recording.id,
            Recording.call_id,
            Recording.started_at,
            Recording.campaign,
            Recording.agent,
            Recording.legs,
        ).where(Recording.started_at >= lo, Recording.started_at < hi)
        ver_q = select(Verification).where(
            Verification.checked_at >= lo - timedelta(days=1), Verification.checked_at < hi
        )
        # A verification of a recording follows its recording (filter included);
        # one without a recording carries its own agent and campaign.
        if campaign:
            rec_q = rec_q.where(Recording.campaign == campaign)
        if agent:
            rec_q = rec_q.where(Recording.agent == agent)
        where: dict[str, tuple[Row, str]] = {}
        for rid, call_id, started, camp, ag, legs in s.execute(rec_q):
            r = row(started, camp, ag)
            r.calls.add(call_id)
            if legs != "none":
                r.decided.add(call_id)
            where[rid] = (r, call_id)
        for v in s.scalars(ver_q):
            key = v.call_id or v.linkedid or v.id
            if v.recording_id is not None:
                found = where.get(v.recording_id)
                if found is None:
                    continue  # its recording is outside the window or the filter
                r, key = found
            elif not lo <= v.checked_at < hi or not _matches(v, campaign, agent):
                continue
            else:
                r = row(v.checked_at, v.campaign, v.agent)
            r.calls.add(key)
            if v.outcome != NOT_DECIDED:
                r.decided.add(key)
            if v.outcome in GAP_OUTCOMES:
                r.gaps.add(key)
            elif v.outcome == "verified":
                r.verified_any.add(key)
    ordered = sorted(rows.values(), key=lambda r: (r.day, r.campaign, r.agent))
    ordered.sort(key=lambda r: r.day, reverse=True)
    return [r.counts() for r in ordered]


def per_day(
    rows: list[dict[str, object]], start: date | None = None, end: date | None = None
) -> list[dict[str, object]]:
    """Totals per day, oldest first (the chart's bars); days with no calls
    between ``start`` and ``end`` are there with zeros."""
    days: dict[str, dict[str, object]] = {}

    def blank(day: str) -> dict[str, object]:
        return {"day": day, "calls": 0, "decided": 0, "verified": 0, "gaps": 0}

    if start is not None and end is not None:
        for n in range((end - start).days + 1):
            day = (start + timedelta(days=n)).isoformat()
            days[day] = blank(day)
    for r in rows:
        d = days.setdefault(str(r["day"]), blank(str(r["day"])))
        for k in ("calls", "decided", "verified", "gaps"):
            d[k] = int(d[k]) + int(r[k])  # type: ignore[call-overload]
    return [days[k] for k in sorted(days)]
