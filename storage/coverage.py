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
from collections.abc import Callable
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


def _check_range(start: datetime, end: datetime, max_days: int = MAX_DAYS) -> None:
    if not start < end or end - start > timedelta(days=max_days):
        raise ValueError(f"the range must be positive and at most {max_days} days")


Key = tuple[str, ...]
KeyOf = Callable[[datetime, str | None, str | None], Key]  # (when, agent, campaign) -> key


def _calls(
    s: Session,
    start: datetime,
    end: datetime,
    key_of: KeyOf,
    *,
    campaign: str | None = None,
    agent: str | None = None,
) -> tuple[dict[tuple[Key, str], _Call], dict[str, _Call]]:
    """Each call's recordings and verification outcomes, per group key and overall."""
    units: dict[tuple[Key, str], _Call] = defaultdict(_Call)
    totals: dict[str, _Call] = defaultdict(_Call)
    # Segments: the recording's start decides the day; its verification, if any, the outcome.
    segs = (
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
    if campaign:
        segs = segs.where(Recording.campaign == campaign)
    if agent:
        segs = segs.where(Recording.agent == agent)
    for call_id, started, rec_agent, rec_campaign, outcome in s.execute(segs):
        for unit in (units[key_of(started, rec_agent, rec_campaign), call_id], totals[call_id]):
            unit.recorded = True
            unit.outcomes.add(outcome)
    # Calls with no recording (gaps, not recorded by decision): Asterisk's times decide the day.
    when = func.coalesce(
        CallSpan.bridged_at, CallSpan.answered_at, CallSpan.ended_at, Verification.checked_at
    )
    rows = (
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
    if campaign:
        rows = rows.where(Verification.campaign == campaign)
    if agent:
        rows = rows.where(Verification.agent == agent)
    for v_call, linkedid, vid, at, v_agent, v_campaign, outcome in s.execute(rows):
        if at is None or not start <= at < end:
            continue
        call = v_call or f"linkedid:{linkedid or vid}"
        units[key_of(at, v_agent, v_campaign), call].outcomes.add(outcome)
        totals[call].outcomes.add(outcome)
    return units, totals


def coverage(s: Session, start: datetime, end: datetime, group: str = "day") -> Coverage:
    """Figures for calls started in [start, end) (UTC), one row per group value, sorted."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}")
    _check_range(start, end)
    units, totals = _calls(
        s, start, end, lambda when, agent, campaign: (_key(group, when, agent, campaign),)
    )
    out: dict[str, CoverageRow] = {}
    for (key, _call), unit in units.items():
        _count(out.setdefault(key[0], CoverageRow(key[0])), unit)
    total = CoverageRow("total")
    for unit in totals.values():
        _count(total, unit)
    return Coverage(start, end, group, [out[k] for k in sorted(out)], total)


def coverage_table(
    s: Session,
    start: datetime,
    end: datetime,
    *,
    campaign: str | None = None,
    agent: str | None = None,
    max_days: int = MAX_DAYS,
) -> list[tuple[Key, CoverageRow]]:
    """One row per (day, campaign, agent) of calls started in [start, end), sorted,
    counted as :func:`coverage` counts: the console's coverage table."""
    _check_range(start, end, max_days)

    def key_of(when: datetime, agent_: str | None, campaign_: str | None) -> Key:
        return (when.date().isoformat(), campaign_ or NONE_KEY, agent_ or NONE_KEY)

    units, _ = _calls(s, start, end, key_of, campaign=campaign, agent=agent)
    out: dict[Key, CoverageRow] = {}
    for (key, _call), unit in units.items():
        _count(out.setdefault(key, CoverageRow("|".join(key))), unit)
    return [(k, out[k]) for k in sorted(out)]


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
