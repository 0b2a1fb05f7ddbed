"""Deletion, legal holds, retention rules and erasure.

Deleting never removes the row: the recording becomes a tombstone
(state ``deleted``, who, when, why) and its files go, locally at once and on
the platform through the outbox (so a remote delete survives a restart like
an upload does). Every path that deletes goes through :func:`tombstone`,
which is where the rules live: a hold (on the recording or on its number)
blocks everything, an assigned recording is only deleted when the caller says
so (retention with ``include_assigned``, erasure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from storage import audit
from storage.config import RetentionRule
from storage.errors import HoldActive, RecordingAssigned, RecordingDeleted, RecordingNotFound
from storage.matching import lock_assigning
from storage.models import (
    ASSIGNED,
    DELETED,
    UNASSIGNED,
    NumberHold,
    Recording,
    RecordingFile,
    state_in,
)
from storage.outbox import enqueue_delete
from storage.timeutil import utcnow


@dataclass
class DeleteOutcome:
    deleted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # recording id -> error code
    local_files: list[Path] = field(default_factory=list)  # to unlink after commit


def number_held(session: Session, e164: str | None) -> bool:
    if e164 is None:
        return False
    return session.get(NumberHold, e164) is not None


def tombstone(
    session: Session,
    rec: Recording,
    *,
    actor: str,
    reason: str,
    allow_assigned: bool,
    store_root: Path,
    remote: bool,
    scrub_number: bool = False,
    outcome: DeleteOutcome,
) -> None:
    """Delete one recording (raises the reason it may not be deleted)."""
    if rec.state == DELETED:
        raise RecordingDeleted(f"recording {rec.id} is already deleted")
    if rec.legal_hold:
        raise HoldActive(f"recording {rec.id} is under legal hold")
    if number_held(session, rec.customer_e164):
        raise HoldActive(f"recording {rec.id}: its customer number is under legal hold")
    if rec.state == ASSIGNED and not allow_assigned:
        raise RecordingAssigned(f"recording {rec.id} is assigned to a record; cannot delete")
    now = utcnow()
    values: dict[str, object] = {
        "stored_state": DELETED,
        "deleted_at": now,
        "deleted_by": actor,
        "delete_reason": reason,
    }
    if scrub_number:
        values.update(customer_number_raw=None, customer_e164=None)
    # Conditional on the state we checked: a concurrent rematch that assigns the
    # recording in between makes this match nothing instead of deleting it (the
    # rematch inserts assignment rows without touching this row: the lock orders us).
    lock_assigning(session, exclusive=False)
    res = session.execute(
        update(Recording)
        .where(
            Recording.id == rec.id, Recording.state == rec.state, Recording.legal_hold.is_(False)
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        raise RecordingAssigned(f"recording {rec.id} changed while deleting; try again")
    files = session.scalars(select(RecordingFile).where(RecordingFile.recording_id == rec.id)).all()
    for f in files:
        if f.present:
            outcome.local_files.append(store_root / f.path)
        f.present = False
        if remote:
            enqueue_delete(session, recording_id=rec.id, remote_name=f.remote_name)
    audit.write(session, actor, "delete", recording_id=rec.id, reason=reason, state=rec.state)
    outcome.deleted.append(rec.id)


def delete_many(
    session: Session,
    ids: list[str],
    *,
    actor: str,
    reason: str,
    allow_assigned: bool,
    store_root: Path,
    remote: bool,
    scrub_number: bool = False,
) -> DeleteOutcome:
    outcome = DeleteOutcome()
    for rid in ids:
        rec = session.get(Recording, rid)
        if rec is None:
            outcome.refused[rid] = RecordingNotFound.code
            continue
        try:
            with session.begin_nested():
                tombstone(
                    session,
                    rec,
                    actor=actor,
                    reason=reason,
                    allow_assigned=allow_assigned,
                    store_root=store_root,
                    remote=remote,
                    scrub_number=scrub_number,
                    outcome=outcome,
                )
        except (HoldActive, RecordingAssigned, RecordingDeleted) as exc:
            session.expire(rec)
            outcome.refused[rid] = exc.code
    return outcome


def retention_candidates(session: Session, rule: RetentionRule, limit: int = 1000) -> list[str]:
    cutoff = utcnow() - timedelta(days=rule.days)
    states = [UNASSIGNED, ASSIGNED] if rule.include_assigned else [UNASSIGNED]
    q = select(Recording.id).where(
        state_in(states),
        Recording.started_at < cutoff,
        Recording.legal_hold.is_(False),
        ~exists().where(NumberHold.e164 == Recording.customer_e164),
    )
    if rule.campaign != "*":
        q = q.where(Recording.campaign == rule.campaign)
    return list(session.scalars(q.order_by(Recording.started_at).limit(limit)))


def unlink_files(paths: list[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def sweep_deleted_files(session: Session, store_root: Path, limit: int = 10000) -> list[Path]:
    """Files of tombstones still on disk (a crash between commit and unlink)."""
    rows = session.scalars(
        select(RecordingFile.path)
        .join(Recording, Recording.id == RecordingFile.recording_id)
        .where(Recording.stored_state == DELETED)
        .limit(limit)
    ).all()
    return [store_root / p for p in rows if (store_root / p).exists()]
