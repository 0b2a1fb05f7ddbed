"""What a supervisor must act on: upload alerts and failing uploads (from the
outbox) and capture-verification gaps of the last day (from ``verifications``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from console.story import iso
from storage import outbox
from storage.db import Database
from storage.models import Verification

# Outcomes that mean audio is missing or wrong (SPEC: capture verification).
GAP_OUTCOMES = ("short", "missing", "silent_leg", "gap")
WINDOW = timedelta(hours=24)
LIMIT = 50


def read(db: Database, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC).replace(tzinfo=None)
    status = outbox.status(db)
    with db.session() as s:
        gaps = s.scalars(
            select(Verification)
            .where(Verification.outcome.in_(GAP_OUTCOMES), Verification.checked_at >= now - WINDOW)
            .order_by(Verification.checked_at.desc())
            .limit(LIMIT)
        ).all()
        verification = [
            {
                "outcome": v.outcome,
                "reason": v.reason,
                "recording_id": v.recording_id,
                "call_id": v.call_id,
                "agent": v.agent,
                "campaign": v.campaign,
                "checked_at": iso(v.checked_at),
            }
            for v in gaps
        ]
    return {
        "upload": {
            "alerts": [
                {"code": code, "message": message, "raised_at": iso(at)}
                for code, message, at in status.alerts
            ],
            "failing": [
                {"remote_name": name, "attempts": attempts, "error": error[:200]}
                for _id, name, attempts, error in status.last_errors
            ],
            "pending": status.pending,
        },
        "verification": verification,
    }
