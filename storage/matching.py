"""Assign recordings to CRM records by the customer's E.164 number.

One matching record assigns the recording to it, several assign it to all of
them, none leaves it unassigned. Both the per-recording match at ingest and
the nightly rematch are single set-based statements over the phone index, so
the cost of a rematch is one indexed join, not one query per recording.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from storage.models import ASSIGNED, UNASSIGNED, CrmPhone, CrmRecord
from storage.phones import near_key
from storage.timeutil import utcnow


def _json(session: Session, value: dict[str, str]) -> tuple[str, str]:
    """SQL fragment and bound value for a JSON literal valid on both dialects."""
    frag = "CAST(:detail AS JSON)" if session.get_bind().dialect.name == "postgresql" else ":detail"
    return frag, json.dumps(value)


def match_one(session: Session, recording_id: str, actor: str, how: str = "auto") -> int:
    """Assign one unassigned recording to every record sharing its number; count of records."""
    now = utcnow()
    frag, detail = _json(session, {"how": how})
    params = {"rid": recording_id, "now": now, "by": actor, "how": how, "detail": detail}
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
        session.execute(
            text(
                "INSERT INTO audit_log (at, actor, action, recording_id, record_id, detail) "
                f"SELECT :now, :by, 'assign', recording_id, record_id, {frag} FROM assignments "
                "WHERE recording_id = :rid AND assigned_at = :now AND how = :how"
            ),
            params,
        )
    return int(n)


def rematch(session: Session, actor: str) -> int:
    """Assign every unassigned recording whose number now has a record; count of recordings."""
    now = utcnow()
    how = "rematch"
    frag, detail = _json(session, {"how": how})
    params = {"now": now, "by": actor, "how": how, "detail": detail}
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
    session.execute(
        text(
            "INSERT INTO audit_log (at, actor, action, recording_id, record_id, detail) "
            f"SELECT :now, :by, 'assign', recording_id, record_id, {frag} FROM assignments "
            "WHERE assigned_at = :now AND how = :how"
        ),
        params,
    )
    return int(n)


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
