"""Append-only, hash-chained audit log of every view, play, download, assignment and deletion.

There is deliberately no update or delete function here, and the database
triggers refuse them too (on PostgreSQL the service can run under a role that
may only INSERT and SELECT: docs/STORAGE.md). Entries are written in the same
transaction as the action they describe, so an action without its entry
cannot be committed.

Tamper evidence: each entry carries the hash of the one before it
(``prev_hash``) and its own (``entry_hash``), so an edited or deleted entry
breaks the chain at that point and ``callrec audit verify`` names it. What
links an entry to a person (``record_id`` and ``detail``) is hashed through a
salted seal rather than directly: an erasure may redact those two fields
(dropping the salt, so the redacted value cannot be guessed back from the
seal) and the chain still verifies. Nothing else of an entry can change.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from storage.models import AuditEntry
from storage.timeutil import utcnow

GENESIS = "0" * 64
REDACTED = "erasure"
# Any constant: the advisory lock that orders audit writes across nodes on PostgreSQL.
_PG_LOCK = 0x63616C6C72656301


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    recording_id: str | None
    record_id: int | None
    detail: dict[str, Any]


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _canonical(value: Any) -> str:
    return _CANONICAL.encode(value)


def seal(salt: str, record_id: int | None, detail: dict[str, Any]) -> str:
    """The commitment to the redactable fields (salted, so not guessable once redacted)."""
    body = _canonical({"record_id": record_id, "detail": detail})
    return hashlib.sha256(f"{salt}\n{body}".encode()).hexdigest()


def entry_hash(
    prev: str, at: datetime, actor: str, action: str, recording_id: str | None, sealed: str
) -> str:
    body = _canonical([at.isoformat(), actor, action, recording_id, sealed])
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


def _tip(session: Session) -> str:
    """The last entry's hash, with audit writes serialised across nodes.

    On PostgreSQL a transaction-scoped advisory lock (no table privilege
    needed) is held until commit, so entries are chained in id order; SQLite
    already serialises writers (BEGIN IMMEDIATE, storage.db).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    session.flush()  # entries added earlier in this transaction come first
    last = session.scalar(select(AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1))
    return last or GENESIS


def write(
    session: Session,
    actor: str,
    action: str,
    *,
    recording_id: str | None = None,
    record_id: int | None = None,
    at: datetime | None = None,
    **detail: Any,
) -> None:
    write_many(session, actor, action, [(recording_id, record_id, detail)], at=at)


def write_many(
    session: Session,
    actor: str,
    action: str,
    items: Iterable[tuple[str | None, int | None, dict[str, Any]]],
    at: datetime | None = None,
) -> int:
    """Entries of one action, chained in order with one look-up of the tip.

    Batches (the nightly rematch writes one entry per new assignment) are the
    hot path, so the per-entry work is kept to two SHA-256s over strings built
    from parts encoded once per batch (``_Encoder``, byte for byte what
    ``seal``/``entry_hash`` hash), salts cut from one read of the OS random
    source (still 16 independent random bytes each, never shared), and one
    multi-row statement instead of ORM objects. ``at`` (default now) lets an
    entry carry the exact time of the rows it describes (a rematch run's).
    """
    batch = list(items)
    if not batch:
        return 0
    at = at or utcnow()
    prev = _tip(session)
    enc = _Encoder(at, actor, action)
    randomness = secrets.token_hex(16 * len(batch))
    rows: list[_Row] = []
    for n, (recording_id, record_id, detail) in enumerate(batch):
        salt = randomness[32 * n : 32 * n + 32]
        clean, clean_json = enc.detail(detail)
        sealed = enc.seal(salt, record_id, clean, clean_json)
        digest = enc.entry_hash(prev, recording_id, sealed)
        rows.append((recording_id, record_id, clean_json, salt, sealed, prev, digest))
        prev = digest
    _insert(session, at, actor, action, rows)
    return len(rows)


class _Encoder:
    """``seal`` and ``entry_hash`` for one batch, with what the batch shares encoded once.

    Canonical JSON (sorted keys, no spaces, ASCII) of a list or a dict is its
    members' encodings joined by commas, so the shared head is encoded once and
    each entry adds only its own members. tests/storage/test_rematch_batch.py
    checks the result against ``seal``/``entry_hash`` on arbitrary values.
    """

    def __init__(self, at: datetime, actor: str, action: str) -> None:
        self.head = _canonical([at.isoformat(), actor, action])[:-1] + ","
        self._last: tuple[Any, dict[str, Any], str] | None = None

    def detail(self, detail: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """Detail as stored and read back (JSON types only, so the seal verifies), and its JSON."""
        if self._last is None or self._last[0] is not detail:  # a batch often shares one
            clean = json.loads(json.dumps(detail, default=str))
            self._last = (detail, clean, _canonical(clean))
        return self._last[1], self._last[2]

    @staticmethod
    def seal(salt: str, record_id: int | None, clean: dict[str, Any], clean_json: str) -> str:
        if record_id is not None and type(record_id) is not int:  # bool, subclasses: no shortcut
            return seal(salt, record_id, clean)
        rec = "null" if record_id is None else str(record_id)
        body = f'{salt}\n{{"detail":{clean_json},"record_id":{rec}}}'
        return hashlib.sha256(body.encode()).hexdigest()

    def entry_hash(self, prev: str, recording_id: str | None, sealed: str) -> str:
        rid = "null" if recording_id is None else _encode_str(recording_id)
        body = f'{prev}\n{self.head}{rid},"{sealed}"]'
        return hashlib.sha256(body.encode()).hexdigest()


_encode_str: Any = getattr(json.encoder, "c_encode_basestring_ascii", None) or (
    json.encoder.py_encode_basestring_ascii
)

# recording_id, record_id, detail (JSON text), salt, seal, prev_hash, entry_hash
_Row = tuple[str | None, int | None, str, str, str, str, str]
_INSERT_COLUMNS = (
    "at, actor, action, recording_id, record_id, detail, salt, seal, prev_hash, entry_hash"
)


# Batches this long or longer go to PostgreSQL by COPY; a single entry (a view,
# a play, a search page) is one plain INSERT round trip.
_COPY_FROM = 50


def _insert(session: Session, at: datetime, actor: str, action: str, rows: list[_Row]) -> None:
    """The entries in chain order: ids follow it, since writers are serialised (``_tip``)."""
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    if postgres and len(rows) >= _COPY_FROM:
        # COPY, in this transaction: rows are inserted (and ids taken) in the order
        # written; measured at 2.5x a one-statement unnest of arrays for 5,000 entries.
        driver: Any = conn.connection.driver_connection  # psycopg's own
        with (
            driver.cursor() as cur,
            cur.copy(f"COPY audit_log ({_INSERT_COLUMNS}) FROM STDIN") as cp,
        ):
            for r in rows:
                cp.write_row((at, actor, action, *r))
        return
    # Otherwise the driver's own executemany over plain tuples (on SQLite a third
    # of the cost of binding each row's dict through the compiler).
    if postgres:
        marks = "%s, %s, %s, %s, %s, CAST(%s AS json), %s, %s, %s, %s"
        at_value: Any = at
    else:
        marks = ", ".join("?" * 10)
        stored_at = AuditEntry.__table__.c.at.type.bind_processor(conn.dialect)
        at_value = stored_at(at) if stored_at else at  # the time as the column stores it
    conn.exec_driver_sql(
        f"INSERT INTO audit_log ({_INSERT_COLUMNS}) VALUES ({marks})",
        [(at_value, actor, action, *r) for r in rows],
    )


def redact(session: Session, recording_ids: Iterable[str], erasure: str) -> int:
    """Drop what links these recordings' entries to a person; the chain stays valid.

    The action, actor and time stay: they show what was done, by whom, when.
    """
    ids = sorted(set(recording_ids))
    if not ids:
        return 0
    result = session.execute(
        update(AuditEntry)
        .where(AuditEntry.recording_id.in_(ids), AuditEntry.salt.is_not(None))
        .values(record_id=None, salt=None, detail={"redacted": REDACTED, "erasure": erasure})
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class ChainReport:
    checked: int
    redacted: int
    tip: str
    broken_at: int | None = None  # id of the first entry that does not verify
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify(session: Session, batch: int = 5000) -> ChainReport:
    """Walk the chain in id order; stop at the first entry that does not verify."""
    prev, checked, redacted, last_id = GENESIS, 0, 0, 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)
        ).all()
        if not rows:
            return ChainReport(checked, redacted, prev)
        for row in rows:
            last_id = row.id
            problem = _check(row, prev)
            if problem:
                return ChainReport(checked, redacted, prev, row.id, problem)
            if row.salt is None:
                redacted += 1
            prev = str(row.entry_hash)
            checked += 1


def _check(row: AuditEntry, prev: str) -> str:
    if row.prev_hash != prev:
        return (
            "its prev_hash does not match the entry before it "
            "(an entry before it was deleted, or this one inserted out of chain)"
        )
    if row.seal is None or row.entry_hash is None:
        return "it has no hash"
    if row.salt is not None:
        if seal(row.salt, row.record_id, row.detail) != row.seal:
            return "its record_id or detail was changed"
    elif row.record_id is not None or row.detail.get("redacted") != REDACTED:
        return "its seal was dropped but its details were not redacted"
    want = entry_hash(prev, row.at, row.actor, row.action, row.recording_id, row.seal)
    if row.entry_hash != want:
        return "its time, actor, action or recording was changed"
    return ""


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
