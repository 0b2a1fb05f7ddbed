"""Coverage: per day, campaign or agent, how many calls were recorded as the policy said.

The figures come from the capture verification (``verifications``: each
segment, and each call callrec never controlled, checked against Asterisk's
own CEL/CDR) and from the recordings themselves; none is callrec's say-so
about its own captures.

Counted per call (``call_id``; a gap with no callrec id counts by Asterisk's
linkedid). A call handled by two agents (a transfer) counts once for each
agent; by day it counts on the day it started.

- ``calls``: calls seen (a recording, or a verification row of any outcome);
- ``decided``: calls the policy decided to record (a recording exists, or an
  outcome other than ``not_recorded_by_decision`` / ``gap``);
- ``verified``: decided calls whose every checked segment is ``verified``;
- ``problems``: decided calls with a ``short``, ``missing`` or ``silent_leg`` segment;
- ``unverified``: decided calls not checked yet;
- ``gaps``: calls Asterisk bridged that callrec never controlled (``gap``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import (
    GAP,
    NOT_RECORDED_BY_DECISION,
    VERIFIED,
    CallSpan,
    Recording,
    Verification,
)

Group = Literal["day", "campaign", "agent"]
GROUPS: tuple[str, ...] = ("day", "campaign", "agent")
PROBLEMS = ("short", "missing", "silent_leg")
MAX_DAYS = 366
NONE_KEY = "(none)"


@dataclass
class CoverageRow:
    key: str
    calls: int = 0
    decided: int = 0
    verified: int = 0
    problems: int = 0
    unverified: int = 0
    gaps: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Call:
    recorded: bool = False
    outcomes: set[str | None] = field(default_factory=set)


@dataclass(frozen=True)
class Coverage:
    start: datetime
    end: datetime
    group: str
    rows: list[CoverageRow]
    totals: CoverageRow


def _key(group: str, when: datetime, agent: str | None, campaign: str | None) -> str:
    if group == "day":
        return when.date().isoformat()
    value = agent if group == "agent" else campaign
    return value or NONE_KEY


def coverage(s: Session, start: datetime, end: datetime, group: str = "day") -> Coverage:
    """Figures for calls started in [start, end) (UTC), one row per group value, sorted."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}")
    if not start < end or end - start > timedelta(days=MAX_DAYS):
        raise ValueError(f"the range must be positive and at most {MAX_DAYS} days")
    units: dict[tuple[str, str], _Call] = defaultdict(_Call)
    totals: dict[str, _Call] = defaultdict(_Call)
    # Segments: the recording's start decides the day; its verification, if any, the outcome.
    segs = s.execute(
        select(
            Recording.call_id,
            Recording.started_at,
            Recording.agent,
            Recording.campaign,
            Verification.outcome,
        )
        .outerjoin(Verification, Verification.recording_id == Recording.id)
        .where(Recording.started_at >= start, Recording.started_at < end)
    )
    for call_id, started, agent, campaign, outcome in segs:
        for unit in (units[_key(group, started, agent, campaign), call_id], totals[call_id]):
            unit.recorded = True
            unit.outcomes.add(outcome)
    # Calls with no recording (gaps, not recorded by decision): Asterisk's times decide the day.
    when = func.coalesce(
        CallSpan.bridged_at, CallSpan.answered_at, CallSpan.ended_at, Verification.checked_at
    )
    rows = s.execute(
        select(
            Verification.call_id,
            Verification.linkedid,
            Verification.id,
            when,
            Verification.agent,
            Verification.campaign,
            Verification.outcome,
        )
        .outerjoin(CallSpan, CallSpan.linkedid == Verification.linkedid)
        .where(
            Verification.recording_id.is_(None),
            # checked after the call ended: a day's margin keeps the index range tight
            Verification.checked_at >= start,
            Verification.checked_at < end + timedelta(days=1),
        )
    )
    for v_call, linkedid, vid, at, v_agent, v_campaign, outcome in rows:
        if at is None or not start <= at < end:
            continue
        call = v_call or f"linkedid:{linkedid or vid}"
        units[_key(group, at, v_agent, v_campaign), call].outcomes.add(outcome)
        totals[call].outcomes.add(outcome)
    out: dict[str, CoverageRow] = {}
    for (key, _call), unit in units.items():
        _count(out.setdefault(key, CoverageRow(key)), unit)
    total = CoverageRow("total")
    for unit in totals.values():
        _count(total, unit)
    return Coverage(start, end, group, [out[k] for k in sorted(out)], total)


def _count(row: CoverageRow, call: _Call) -> None:
    checked = {o for o in call.outcomes if o is not None}
    row.calls += 1
    if GAP in checked:
        row.gaps += 1
    decided = call.recorded or bool(checked - {GAP, NOT_RECORDED_BY_DECISION})
    if not decided:
        return
    row.decided += 1
    if checked & set(PROBLEMS):
        row.problems += 1
    elif None in call.outcomes or not checked:
        row.unverified += 1
    elif VERIFIED in checked:
        row.verified += 1
