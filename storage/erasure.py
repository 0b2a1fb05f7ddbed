"""What an erasure removes besides the recordings' files: every link to the customer.

``retention.tombstone`` deletes the files (local now, remote through the
outbox) and clears the number on the recording row. This removes the rest of
what callrec holds that ties the erased recordings to a person: their
assignments to CRM records, the CRM phone rows of the number, the CEL/CDR
details and verification details of their calls, and the person-linking
fields of their audit entries (``storage.audit.redact``: the chain still
verifies). What stays proves the erasure happened: the tombstones (ids,
times, agent, who deleted and why) and the audit entries' actions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage import audit
from storage.models import Assignment, CallSpan, CrmPhone, Recording, Verification


@dataclass(frozen=True)
class Scrubbed:
    assignments: int
    crm_phones: int
    call_details: int
    audit_entries: int


def scrub(session: Session, recording_ids: Sequence[str], e164: str, erasure: str) -> Scrubbed:
    ids = sorted(set(recording_ids))
    call_ids = (
        sorted(
            c for c in session.scalars(select(Recording.call_id).where(Recording.id.in_(ids))) if c
        )
        if ids
        else []
    )
    assignments = _count(
        session.execute(delete(Assignment).where(Assignment.recording_id.in_(ids)))
    )
    phones = _count(session.execute(delete(CrmPhone).where(CrmPhone.e164 == e164)))
    details = 0
    if call_ids:
        details += _count(
            session.execute(
                update(CallSpan).where(CallSpan.call_id.in_(call_ids)).values(details={})
            )
        )
    if ids:
        details += _count(
            session.execute(
                update(Verification).where(Verification.recording_id.in_(ids)).values(details={})
            )
        )
    redacted = audit.redact(session, ids, erasure)
    return Scrubbed(assignments, phones, details, redacted)


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
