"""Assign recordings to CRM records by the customer's E.164 number.

One matching record assigns the recording to it, several assign it to all of
them, none leaves it unassigned. Both the per-recording match at ingest and
the nightly rematch are the same three set-based statements (pairs, state,
audit), so the cost of a rematch is one indexed join plus its writes, not one
query per recording.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, bindparam, select, text
from sqlalchemy.orm import Session

from storage import audit
from storage.models import ASSIGNED, UNASSIGNED, CrmPhone, CrmRecord
from storage.phones import near_key
from storage.timeutil import utcnow

# The new pairs: every unassigned recording's number joined with the phone index.
# ON CONFLICT: a pair a concurrent manual assignment just made is skipped, not an
# error (SQLite serialises writers; PostgreSQL would otherwise abort the rematch).
# RETURNING hands back exactly the pairs this statement made, for their audit entries.
_NEW_PAIRS = (
    "INSERT INTO assignments (recording_id, record_id, how, assigned_at, assigned_by) "
    "SELECT DISTINCT r.id, p.record_id, :how, :now, :by "
    "FROM recordings r JOIN crm_phones p ON p.e164 = r.customer_e164 "
    "WHERE {where} AND NOT EXISTS "
    "(SELECT 1 FROM assignments a WHERE a.recording_id = r.id AND a.record_id = p.record_id) "
    "ON CONFLICT DO NOTHING RETURNING recording_id, record_id"
)


def match_one(session: Session, recording_id: str, actor: str, how: str = "auto") -> int:
    """Assign one unassigned recording to every record sharing its number; count of records."""
    where = "r.id = :rid AND r.state = 'unassigned'"
    return len(_assign(session, where, {"rid": recording_id}, actor, how)[0])


def rematch(session: Session, actor: str) -> int:
    """Assign every unassigned recording whose number now has a record; count of recordings.

    Three statements whatever the number of recordings: the pairs (join and
    insert at once), the recordings' state, and the pairs' chained audit
    entries (storage.audit.write_many: one multi-row insert).
    """
    where = "r.state = 'unassigned' AND r.customer_e164 IS NOT NULL"
    return _assign(session, where, {}, actor, "rematch")[1]


def _assign(
    session: Session, where: str, params: dict[str, Any], actor: str, how: str
) -> tuple[list[tuple[str, int]], int]:
    """New pairs for the recordings ``where`` selects, their state and audit.

    Returns the pairs made and how many recordings changed to assigned.
    """
    now = utcnow()
    rows = session.execute(
        text(_NEW_PAIRS.format(where=where)).bindparams(bindparam("now", type_=DateTime())),
        {**params, "now": now, "by": actor, "how": how},
    ).all()
    pairs = sorted((str(rid), int(rec)) for rid, rec in rows)  # chain order: stable, readable
    if not pairs:
        return [], 0
    n = _set_assigned(session, sorted({rid for rid, _ in pairs}), now)
    detail = {"how": how}
    audit.write_many(session, actor, "assign", ((rid, rec, detail) for rid, rec in pairs))
    return pairs, n


def _set_assigned(session: Session, ids: list[str], now: datetime) -> int:
    """Mark these recordings assigned (only those still unassigned), in one statement.

    The ids travel as one parameter (an array on PostgreSQL, a JSON list on
    SQLite) rather than as a look-up of the assignments just made, which
    would scan the whole assignments table (it has no index on the time).
    """
    params = {"assigned": ASSIGNED, "unassigned": UNASSIGNED, "now": now}
    ids_param: list[str] | str
    if session.get_bind().dialect.name == "postgresql":
        in_ids, ids_param = "id = ANY(CAST(:ids AS varchar[]))", ids
    else:
        in_ids, ids_param = "id IN (SELECT value FROM json_each(:ids))", json.dumps(ids)
    result = session.execute(
        text(
            "UPDATE recordings SET state = :assigned, assigned_at = :now "
            f"WHERE state = :unassigned AND {in_ids}"
        ).bindparams(bindparam("now", type_=DateTime())),
        {**params, "ids": ids_param},
    )
    return int(getattr(result, "rowcount", 0) or 0)


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
