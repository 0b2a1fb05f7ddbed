"""Append-only audit log of every view, play, download, assignment and deletion.

There is deliberately no update or delete function here, and the database
triggers refuse them too. Entries are written in the same transaction as the
action they describe, so an action without its entry cannot be committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEntry
from storage.timeutil import utcnow


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    recording_id: str | None
    record_id: int | None
    detail: dict[str, Any]


def write(
    session: Session,
    actor: str,
    action: str,
    *,
    recording_id: str | None = None,
    record_id: int | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEntry(
            at=utcnow(),
            actor=actor,
            action=action,
            recording_id=recording_id,
            record_id=record_id,
            detail=detail,
        )
    )


def read(
    session: Session,
    *,
    recording_id: str | None = None,
    limit: int = 1000,
    offset: int = 0,
    newest_first: bool = False,
) -> list[AuditRecord]:
    """Entries in the order they were written (``newest_first`` reverses it), paged."""
    order = AuditEntry.id.desc() if newest_first else AuditEntry.id
    q = select(AuditEntry).order_by(order)
    if recording_id is not None:
        q = q.where(AuditEntry.recording_id == recording_id)
    rows = session.scalars(q.limit(limit).offset(offset)).all()
    return [
        AuditRecord(r.id, r.at, r.actor, r.action, r.recording_id, r.record_id, r.detail)
        for r in rows
    ]
