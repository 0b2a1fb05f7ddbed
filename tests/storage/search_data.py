"""Generated recordings (and verification outcomes) for search and coverage tests.

Rows go straight into the tables: the search reads metadata only, and a
known, varied data set lets each test compute the expected answer in plain
Python, independently of the SQL under test.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storage.db import Database
from storage.models import Recording, Verification

AGENTS = ("a1", "a2", "a3")
CAMPAIGNS = ("sales", "support", None)
QUEUES = ("q1", "q2", None)
DIRECTIONS = ("inbound", "outbound")
STATES = ("assigned", "unassigned", "deleted")
FLAGS = ((), ("short_capture",), ("fallback",), ("short_capture", "fallback"))
OUTCOMES = ("verified", "short", "missing", "silent_leg", None)
BASE = datetime(2026, 11, 1, 8, 0, 0)


@dataclass(frozen=True)
class Row:
    id: str
    agent: str
    campaign: str | None
    queue: str | None
    direction: str
    e164: str | None
    started_at: datetime
    duration: float
    state: str
    flags: tuple[str, ...]
    outcome: str | None


def make_rows(n: int, seed: int = 1) -> list[Row]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        # Several rows share a start time, so the id tie-break of the keyset matters.
        start = BASE + timedelta(hours=rng.randrange(0, 24 * 20) // 3 * 3)
        rows.append(
            Row(
                id=uuid.UUID(int=rng.getrandbits(128)).hex,
                agent=rng.choice(AGENTS),
                campaign=rng.choice(CAMPAIGNS),
                queue=rng.choice(QUEUES),
                direction=rng.choice(DIRECTIONS),
                e164=None if i % 13 == 0 else f"+1{(415, 212, 310)[i % 3]}555{i % 97:04d}",
                started_at=start,
                duration=float(rng.choice((3, 15, 45, 120, 600))) + i % 2 / 2,
                state=rng.choice(STATES),
                flags=rng.choice(FLAGS),
                outcome=rng.choice(OUTCOMES),
            )
        )
    return rows


def load(db: Database, rows: list[Row]) -> None:
    with db.session() as s:
        for r in rows:
            s.add(recording(r))
        s.flush()
        for r in rows:
            if r.outcome is not None:
                s.add(verification(r))


def recording(r: Row) -> Recording:
    return Recording(
        id=r.id,
        call_id="call-" + r.id[:12],
        segment_no=1,
        source="ari",
        direction=r.direction,
        agent=r.agent,
        campaign=r.campaign,
        queue=r.queue,
        lead_list=None,
        customer_number_raw=r.e164,
        customer_e164=r.e164,
        started_at=r.started_at,
        ended_at=r.started_at + timedelta(seconds=r.duration),
        duration_seconds=r.duration,
        bridged_seconds=r.duration,
        legs="both",
        format="wav",
        size_bytes=1000,
        decision={"legs": "both"},
        reasons=["mode.all_calls"],
        flags=list(r.flags),
        pauses=[],
        state=r.state,
        upload_state="uploaded",
        legal_hold=False,
        created_at=r.started_at,
    )


def verification(r: Row, **kw: Any) -> Verification:
    return Verification(
        id=uuid.uuid4().hex,
        recording_id=r.id,
        call_id="call-" + r.id[:12],
        agent=r.agent,
        campaign=r.campaign,
        outcome=r.outcome,
        reason="test",
        details={},
        checked_at=r.started_at + timedelta(minutes=30),
        **kw,
    )
