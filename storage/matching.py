"""Assign recordings to CRM records by the customer's E.164 number.

One matching record assigns the recording to it, several assign it to all of
them, none leaves it unassigned. Two paths, both set-based:

* ``match_one`` (at ingest): one recording, its pairs, its row marked
  assigned and one chained ``assign`` entry per pair.
* ``rematch`` (nightly, every unassigned recording): one statement makes the
  pairs (join and insert at once) and ONE chained ``rematch`` audit entry
  records the run: actor, time, counts, the run id every assignment row it
  made carries (``assignments.run``) and a SHA-256 over the sorted pairs. It
  rewrites no recording row: an assignment row is what makes a recording
  assigned (``Recording.state`` derives it), so the run costs one indexed
  join plus the rows it inserts, not 8 search B-trees per recording and a
  hash-chained entry per pair (docs/STORAGE.md has the figures). A
  recording's own trail still shows its assignment: ``recording_trail``
  merges the assignment rows of runs into its audit entries, and
  storage.webhooks turns a run into one ``recording.assigned`` per pair.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, bindparam, select, text
from sqlalchemy.orm import Session

from storage import audit
from storage.models import (
    ASSIGNED,
    UNASSIGNED,
    Assignment,
    AuditEntry,
    CrmPhone,
    CrmRecord,
)
from storage.phones import near_key
from storage.timeutil import utcnow

RUN_ACTION = "rematch"

# The new pairs: every unassigned recording's number joined with the phone index.
# Unassigned = stored state "unassigned" (deleted rows and one-at-a-time
# assignments are out at once) and no assignment row (an earlier run's).
# ON CONFLICT: a pair a concurrent manual assignment just made is skipped, not an
# error (SQLite serialises writers; PostgreSQL would otherwise abort the rematch).
# RETURNING hands back exactly the pairs this statement made, for the audit.
_NEW_PAIRS = (
    "INSERT INTO assignments (recording_id, record_id, how, assigned_at, assigned_by, run) "
    "SELECT DISTINCT r.id, p.record_id, :how, :now, :by, :run "
    "FROM recordings r JOIN crm_phones p ON p.e164 = r.customer_e164 "
    "WHERE r.state = 'unassigned' AND {where} AND NOT EXISTS "
    "(SELECT 1 FROM assignments a WHERE a.recording_id = r.id{pair}) "
    "ON CONFLICT DO NOTHING RETURNING recording_id, record_id"
)

# Any constant: on PostgreSQL a rematch holds it exclusively, a deletion of an
# unassigned recording shared (storage.retention), so neither decides on a
# state the other is changing (the rematch no longer locks the recording rows).
_PG_ASSIGN_LOCK = 0x63616C6C72656302


def match_one(session: Session, recording_id: str, actor: str, how: str = "auto") -> int:
    """Assign one unassigned recording to every record sharing its number; count of records."""
    lock_assigning(session, exclusive=False)
    now = utcnow()
    pairs = _insert_pairs(session, "r.id = :rid", {"rid": recording_id}, actor, how, now, None)
    if not pairs:
        return 0
    session.execute(
        text(
            "UPDATE recordings SET state = :assigned, assigned_at = :now "
            "WHERE id = :rid AND state = :unassigned"
        ).bindparams(bindparam("now", type_=DateTime())),
        {"assigned": ASSIGNED, "unassigned": UNASSIGNED, "now": now, "rid": recording_id},
    )
    detail = {"how": how}
    audit.write_many(session, actor, "assign", ((rid, rec, detail) for rid, rec in pairs))
    return len(pairs)


def rematch(session: Session, actor: str) -> int:
    """Assign every unassigned recording whose number now has a record; count of recordings.

    Two statements whatever the number of recordings: the pairs (join and
    insert at once) and the run's one chained audit entry.
    """
    lock_assigning(session, exclusive=True)
    now, run = utcnow(), uuid.uuid4().hex
    if session.get_bind().dialect.name == "postgresql":
        pairs = _copy_run(session, actor, now, run)
    else:
        pairs = _sqlite_run(session, actor, now, run)
    if not pairs:
        return 0
    recordings = len({rid for rid, _ in pairs})
    audit.write(
        session,
        actor,
        RUN_ACTION,
        at=now,  # the assignment rows' assigned_at: how a recording finds its run's entry
        run=run,
        assignments=len(pairs),
        recordings=recordings,
        pairs_sha256=pairs_digest(pairs),
    )
    return recordings


def pairs_digest(pairs: Iterable[tuple[str, int]]) -> str:
    """SHA-256 over the pairs, sorted, one ``<recording id> <record id>`` line each."""
    lines = sorted(f"{rid} {rec}\n" for rid, rec in pairs)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def lock_assigning(session: Session, *, exclusive: bool) -> None:
    """Order a rematch run (exclusive) with other assignments and deletions (shared).

    PostgreSQL only (SQLite serialises writers already), held to commit: a
    deletion checks "unassigned" then marks the row, and a run, which no
    longer updates the row, could assign it in between; a run copies its
    pairs in without ON CONFLICT, so no one else may add a pair meanwhile.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    session.execute(text(f"SELECT {fn}(:k)"), {"k": _PG_ASSIGN_LOCK})


def _insert_pairs(
    session: Session,
    where: str,
    params: dict[str, Any],
    actor: str,
    how: str,
    now: datetime,
    run: str | None,
) -> list[tuple[str, int]]:
    """Insert the new pairs of the recordings ``where`` selects; them, sorted."""
    # One at a time, a recording may gain a record it does not have yet; a run
    # only takes recordings without any assignment (no run's pair is new again).
    pair = " AND a.record_id = p.record_id" if run is None else ""
    rows = session.execute(
        text(_NEW_PAIRS.format(where=where, pair=pair)).bindparams(
            bindparam("now", type_=DateTime())
        ),
        {**params, "now": now, "by": actor, "how": how, "run": run},
    ).all()
    return sorted((str(rid), int(rec)) for rid, rec in rows)  # chain order: stable, readable


def _sqlite_run(session: Session, actor: str, now: datetime, run: str) -> list[tuple[str, int]]:
    """A run's pairs on SQLite: one INSERT ... SELECT, its RETURNING rows read on the driver.

    The driver's own cursor: 50k rows made into SQLAlchemy rows and back into
    tuples cost about a sixth of the run. ``now`` is stored as the ORM stores
    a DateTime, so the rows' ``assigned_at`` equals the run entry's ``at``.
    """
    conn = session.connection()
    stamp = DateTime().dialect_impl(conn.dialect).bind_processor(conn.dialect)
    driver: Any = conn.connection.driver_connection  # in the session's transaction
    rows = driver.execute(
        _NEW_PAIRS.format(where="r.customer_e164 IS NOT NULL", pair=""),
        {"now": stamp(now) if stamp else now, "by": actor, "how": RUN_ACTION, "run": run},
    ).fetchall()
    return [(str(rid), int(rec)) for rid, rec in rows]


# A run's pairs on PostgreSQL: a plain SELECT may run in parallel workers, an
# INSERT ... SELECT may not (PostgreSQL 15).
_RUN_PAIRS = (
    "SELECT DISTINCT r.id, p.record_id "
    "FROM recordings r JOIN crm_phones p ON p.e164 = r.customer_e164 "
    "WHERE r.state = 'unassigned' AND r.customer_e164 IS NOT NULL AND NOT EXISTS "
    "(SELECT 1 FROM assignments a WHERE a.recording_id = r.id)"
)


def _copy_run(session: Session, actor: str, now: datetime, run: str) -> list[tuple[str, int]]:
    """A run's pairs on PostgreSQL: one (parallel) SELECT, then COPY into assignments.

    Safe without ON CONFLICT: everything that inserts assignments holds the
    assigning lock (``lock_assigning``), this run exclusively, so no pair can
    appear between the SELECT (whose snapshot is taken after the lock) and the COPY.
    """
    driver: Any = session.connection().connection.driver_connection  # psycopg's own
    with driver.cursor() as cur:
        pairs = sorted((str(rid), int(rec)) for rid, rec in cur.execute(_RUN_PAIRS).fetchall())
    if pairs:  # (in key order: the primary key's B-tree is filled page by page)
        with (
            driver.cursor() as cur,
            cur.copy(
                "COPY assignments (recording_id, record_id, how, assigned_at, assigned_by, run) "
                "FROM STDIN"
            ) as cp,
        ):
            for rid, rec in pairs:
                cp.write_row((rid, rec, RUN_ACTION, now, actor, run))
    return pairs


def recording_trail(
    session: Session,
    recording_id: str,
    *,
    limit: int = 1000,
    offset: int = 0,
    newest_first: bool = False,
) -> list[audit.AuditRecord]:
    """A recording's audit entries with its assignments by rematch runs among them.

    A run is one chained entry for all its pairs; this recording's part of it
    is its assignment row (how, when, by whom, which record), shown as an
    ``assign`` entry with the run's entry id (its place in the chain's order)
    and ``detail`` naming the run. Paged as ``audit.read``.
    """
    own = audit.read(
        session, recording_id=recording_id, limit=limit + offset, newest_first=newest_first
    )
    runs = session.execute(
        select(Assignment, AuditEntry.id, AuditEntry.detail)
        .join(
            AuditEntry,
            (AuditEntry.at == Assignment.assigned_at)
            & (AuditEntry.actor == Assignment.assigned_by)
            & (AuditEntry.action == RUN_ACTION),
        )
        .where(Assignment.recording_id == recording_id, Assignment.run.is_not(None))
    ).all()
    mine = [
        audit.AuditRecord(
            entry_id,
            a.assigned_at,
            a.assigned_by,
            "assign",
            a.recording_id,
            a.record_id,
            {"how": a.how, "run": a.run},
        )
        for a, entry_id, detail in runs
        if detail.get("run") == a.run  # (two runs in the same microsecond: each its own)
    ]
    merged = sorted(
        [*own, *mine], key=lambda e: (e.id, e.record_id or 0), reverse=newest_first
    )
    return merged[offset : offset + limit]


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
