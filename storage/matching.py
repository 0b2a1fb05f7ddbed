"""Assign recordings to CRM records by the customer's E.164 number.

One matching record assigns the recording to it, several assign it to all of
them, none leaves it unassigned. Both the per-recording match at ingest and
the nightly rematch are single set-based statements over the phone index, so
the cost of a rematch is one indexed join, not one query per recording.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from storage import audit
from storage.models import ASSIGNED, UNASSIGNED, Assignment, CrmPhone, CrmRecord
from storage.phones import near_key
from storage.timeutil import utcnow


def match_one(session: Session, recording_id: str, actor: str, how: str = "auto") -> int:
    """Assign one unassigned recording to every record sharing its number; count of records."""
    now = utcnow()
    params = {"rid": recording_id, "now": now, "by": actor, "how": how}
    n = session.execute(
        text(
            "INSERT INTO assignments (recording_id, record_id, how, assigned_at, assigned_by) "
            "SELECT DISTINCT r.id, p.record_id, :how, :now, :by "
            "FROM recordings r JOIN crm_phones p ON p.e164 = r.customer_e164 "
            "WHERE r.id = :rid AND r.state = 'unassigned' AND NOT EXISTS "
            "(SELECT 1 FROM assignments a "
            "WHERE a.recording_id = r.id AND a.record_id = p.record_id)"
        ),
        params,
    ).rowcount  # type: ignore[attr-defined]
    if n:
        session.execute(
            text(
                "UPDATE recordings SET state = :assigned, assigned_at = :now "
                "WHERE id = :rid AND state = :unassigned"
            ),
            {"assigned": ASSIGNED, "unassigned": UNASSIGNED, "now": now, "rid": recording_id},
        )
        _audit_new(session, actor, how, now, recording_id)
    return int(n)


def rematch(session: Session, actor: str) -> int:
    """Assign every unassigned recording whose number now has a record; count of recordings."""
    now = utcnow()
    how = "rematch"
    params = {"now": now, "by": actor, "how": how}
    session.execute(
        text(
            "INSERT INTO assignments (recording_id, record_id, how, assigned_at, assigned_by) "
            "SELECT DISTINCT r.id, p.record_id, :how, :now, :by "
            "FROM recordings r JOIN crm_phones p ON p.e164 = r.customer_e164 "
            "WHERE r.state = 'unassigned' AND r.customer_e164 IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM assignments a "
            "WHERE a.recording_id = r.id AND a.record_id = p.record_id)"
        ),
        params,
    )
    n = session.execute(
        text(
            "UPDATE recordings SET state = :assigned, assigned_at = :now "
            "WHERE state = :unassigned AND id IN "
            "(SELECT recording_id FROM assignments WHERE assigned_at = :now AND how = :how)"
        ),
        {"assigned": ASSIGNED, "unassigned": UNASSIGNED, **params},
    ).rowcount  # type: ignore[attr-defined]
    _audit_new(session, actor, how, now)
    return int(n)


def _audit_new(
    session: Session, actor: str, how: str, now: datetime, recording_id: str | None = None
) -> None:
    """One chained audit entry per assignment just made (storage.audit keeps the chain)."""
    q = select(Assignment.recording_id, Assignment.record_id).where(
        Assignment.assigned_at == now, Assignment.how == how
    )
    if recording_id is not None:
        q = q.where(Assignment.recording_id == recording_id)
    rows = session.execute(q.order_by(Assignment.recording_id, Assignment.record_id)).all()
    detail = {"how": how}
    audit.write_many(session, actor, "assign", ((r, rec, detail) for r, rec in rows))


def candidates(s: Session, e164: str | None, limit: int = 20) -> list[dict[str, Any]]:
    """CRM records a person might assign a recording to.

    Exact E.164 matches first, then "near" ones sharing the last seven digits
    (the same subscriber number under another area code, a common typo).

    One index lookup: every exact match shares its last seven digits, so
    ``e164_last7 = <last 7>`` (the stored key, indexed with ``record_id``)
    selects both without scanning the phone table. Exact rows are taken
    first, so a crowd of near ones (a common subscriber number under many
    area codes) can never push an exact match out of the 50 rows read.
    """
    tail = near_key(e164) if e164 and len(e164) >= 8 else None
    if tail is None:
        return []
    rows = s.execute(
        select(CrmRecord.id, CrmRecord.kind, CrmRecord.name, CrmRecord.external_id, CrmPhone)
        .join(CrmPhone, CrmPhone.record_id == CrmRecord.id)
        .where(CrmPhone.e164_last7 == tail)
        .order_by(CrmPhone.e164 != e164, CrmPhone.record_id)
        .limit(50)
    ).all()
    found: dict[int, dict[str, Any]] = {}
    for rid, kind, name, ext, phone in rows:
        exact = phone.e164 == e164
        entry = found.setdefault(
            rid,
            {"id": rid, "kind": kind, "name": name, "external_id": ext, "match": "near",
             "phones": []},
        )  # fmt: skip
        if exact:
            entry["match"] = "exact"
        entry["phones"].append({"field": phone.field, "e164": phone.e164})
    return sorted(found.values(), key=lambda c: (c["match"] != "exact", c["id"]))[:limit]
