"""Tables of the store.

The migrations in ``storage/migrations`` are the source of truth for the
schema that exists in a database; these classes describe it for queries and
must stay in step (``tests/storage/test_schema.py`` compares them).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    case,
    exists,
    false,
    or_,
    select,
    text,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column

from storage.phones import near_key

# Recording states. A recording is "unassigned" or "assigned" while it exists;
# "deleted" rows are tombstones: metadata kept, files gone.
UNASSIGNED = "unassigned"
ASSIGNED = "assigned"
DELETED = "deleted"

# Outbox item states.
PENDING = "pending"
DONE = "done"
CANCELLED = "cancelled"


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Assignment(Base):
    """A recording assigned to a CRM record: the fact that makes a recording "assigned".

    ``run`` names the nightly rematch run that made it (its one ``rematch``
    audit entry carries the same id); NULL for one-at-a-time assignments,
    which are audited one ``assign`` entry each.
    """

    __tablename__ = "assignments"

    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), primary_key=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("crm_records.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    how: Mapped[str] = mapped_column(String(16))  # auto | rematch | manual
    assigned_at: Mapped[datetime] = mapped_column(DateTime)
    assigned_by: Mapped[str] = mapped_column(String(128))
    run: Mapped[str | None] = mapped_column(String(32), index=True)


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128))
    segment_no: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))
    agent: Mapped[str] = mapped_column(String(128))
    campaign: Mapped[str | None] = mapped_column(String(128))
    queue: Mapped[str | None] = mapped_column(String(128))
    lead_list: Mapped[str | None] = mapped_column(String(128))
    customer_number_raw: Mapped[str | None] = mapped_column(String(64))
    customer_e164: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime] = mapped_column(DateTime)
    duration_seconds: Mapped[float] = mapped_column(Float)
    bridged_seconds: Mapped[float] = mapped_column(Float)
    legs: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    decision: Mapped[dict[str, Any]] = mapped_column(JSON)
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    flags: Mapped[list[Any]] = mapped_column(JSON)
    pauses: Mapped[list[Any]] = mapped_column(JSON)
    # The stored lifecycle: "deleted" for tombstones, "assigned" when assigned one
    # at a time (ingest, by hand), else "unassigned". A nightly rematch does not
    # rewrite the rows it assigns (docs/STORAGE.md): ``state`` below derives the
    # state from this and the existence of an assignment. Writes go here.
    stored_state: Mapped[str] = mapped_column("state", String(16), index=True)
    upload_state: Mapped[str] = mapped_column(String(16))
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted_by: Mapped[str | None] = mapped_column(String(128))
    delete_reason: Mapped[str | None] = mapped_column(Text)
    # The capture verification's outcome, copied by triggers on ``verifications``
    # (migration 0006) so the search's outcome filter is one index walk.
    verification_outcome: Mapped[str | None] = mapped_column(String(32))
    # What every reader sees: "assigned" as soon as an assignment row exists.
    # The subquery runs only for stored "unassigned" rows (CASE order).
    state: Mapped[str] = column_property(
        case(
            (stored_state == DELETED, DELETED),
            (stored_state == ASSIGNED, ASSIGNED),
            (exists().where(Assignment.recording_id == id), ASSIGNED),
            else_=UNASSIGNED,
        )
    )

    def __init__(self, **kw: Any) -> None:
        """``state=`` as a constructor argument sets the stored state (as it always did)."""
        if "state" in kw:
            kw["stored_state"] = kw.pop("state")
        super().__init__(**kw)

    def __setattr__(self, name: str, value: Any) -> None:
        """``rec.state = …`` would be lost at flush (it is derived): refuse it loudly."""
        if name == "state":
            raise AttributeError("Recording.state is derived; write Recording.stored_state")
        super().__setattr__(name, value)

    # Search (storage/search.py): (filter, started_at, id) serves a filter and the
    # keyset order at once; the partial-number trigram index is PostgreSQL-only
    # and lives in migration 0006 alone.
    __table_args__ = (
        UniqueConstraint("call_id", "segment_no", name="uq_recordings_call_seg"),
        Index("ix_recordings_started_id", "started_at", "id"),
        Index("ix_recordings_agent_started", "agent", "started_at", "id"),
        Index("ix_recordings_campaign_started", "campaign", "started_at", "id"),
        Index("ix_recordings_queue_started", "queue", "started_at", "id"),
        Index("ix_recordings_e164_started", "customer_e164", "started_at", "id"),
        Index("ix_recordings_duration_id", "duration_seconds", "id"),
        Index("ix_recordings_outcome_started", "verification_outcome", "started_at", "id"),
    )


def state_in(states: Iterable[str]) -> ColumnElement[bool]:
    """``Recording.state IN states``, written on the stored column so an index serves it.

    Filtering on the derived ``state`` (a CASE) makes the database evaluate it
    row by row under a guessed selectivity, which costs PostgreSQL its ordered
    index walks (and adds JIT); this form tests ``stored_state`` and asks for
    the assignment only for the stored "unassigned" rows whose answer depends
    on it. "unassigned" alone is a NOT EXISTS that PostgreSQL turns into an
    anti-join it estimates well. Inside an OR the ask is a scalar subquery
    instead: there PostgreSQL may run an EXISTS as one hash of the whole
    ``assignments`` table, costed for the full scan it plans rather than the
    page a LIMIT reads (seen with 1M recordings and few assignments; with
    500k it probed); a scalar subquery is always one primary-key probe per
    row it reaches. Use it in every WHERE on the state.
    """
    want = set(states)
    stored = [s for s in (ASSIGNED, DELETED) if s in want]
    if ASSIGNED in want and UNASSIGNED in want:
        return Recording.stored_state.in_([*stored, UNASSIGNED])
    if not stored:
        if UNASSIGNED not in want:
            return false()
        return and_(
            Recording.stored_state == UNASSIGNED,
            ~exists().where(Assignment.recording_id == Recording.id),
        )
    first = (
        select(Assignment.recording_id)
        .where(Assignment.recording_id == Recording.id)
        .limit(1)
        .scalar_subquery()
    )
    if ASSIGNED in want:
        rest = and_(Recording.stored_state == UNASSIGNED, first.is_not(None))
    elif UNASSIGNED in want:
        rest = and_(Recording.stored_state == UNASSIGNED, first.is_(None))
    else:
        return Recording.stored_state.in_(stored)
    return or_(Recording.stored_state.in_(stored), rest)


class RecordingFile(Base):
    __tablename__ = "recording_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # agent | customer | stereo
    path: Mapped[str] = mapped_column(Text)  # relative to the store root
    format: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    remote_name: Mapped[str] = mapped_column(Text)
    uploaded_at: Mapped[datetime | None] = mapped_column(DateTime)
    present: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (UniqueConstraint("recording_id", "kind", name="uq_files_rec_kind"),)


class CrmRecord(Base):
    __tablename__ = "crm_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # individual | agent | sales
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("kind", "external_id", name="uq_crm_kind_ext"),)


def _near_key_default(context: DefaultExecutionContext) -> str | None:
    params = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return near_key(params.get("e164"))


class CrmPhone(Base):
    """Phone index: one row per (record, field); ``e164`` NULL when unparseable.

    ``e164_last7`` is the number's last seven characters (``phones.near_key``),
    indexed for the "near" candidate match; filled from ``e164`` on insert.
    """

    __tablename__ = "crm_phones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("crm_records.id", ondelete="CASCADE"), index=True
    )
    record_kind: Mapped[str] = mapped_column(String(16))
    field: Mapped[str] = mapped_column(String(16))  # business | home | cell | phone
    e164: Mapped[str | None] = mapped_column(String(20))
    raw: Mapped[str] = mapped_column(String(64))
    e164_last7: Mapped[str | None] = mapped_column(String(7), default=_near_key_default)

    __table_args__ = (
        Index("ix_crm_phones_e164", "e164"),
        Index("ix_crm_phones_e164_last7", "e164_last7", "record_id"),
    )


class OutboxItem(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    op: Mapped[str] = mapped_column(String(16))  # upload | delete
    recording_id: Mapped[str] = mapped_column(String(32), index=True)
    file_id: Mapped[int | None] = mapped_column(Integer)
    local_path: Mapped[str | None] = mapped_column(Text)
    remote_name: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    done_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Webhook items (op "webhook", remote_name = receiver URL): the JSON body,
    # and "<event id>:<receiver hash>", unique, so an event is queued once per receiver.
    payload: Mapped[str | None] = mapped_column(Text)
    event_key: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
        Index("uq_outbox_event_key", "event_key", unique=True),
    )


class NumberHold(Base):
    __tablename__ = "number_holds"

    e164: Mapped[str] = mapped_column(String(20), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(128))


class JobLease(Base):
    """Cluster-wide lease and last run of a periodic job (rematch, retention)."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_run_key: Mapped[str | None] = mapped_column(String(32))


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), index=True)
    message: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(DateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime)

    # At most one active alert per code, even when several workers on several
    # nodes raise it at the same moment.
    __table_args__ = (
        Index(
            "uq_alerts_active_code",
            "code",
            unique=True,
            sqlite_where=text("cleared_at IS NULL"),
            postgresql_where=text("cleared_at IS NULL"),
        ),
    )


class AuditEntry(Base):
    """Append-only and hash-chained (storage/audit.py): triggers refuse DELETE and any
    UPDATE but an erasure's redaction of ``record_id``/``detail``/``salt``."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    recording_id: Mapped[str | None] = mapped_column(String(32), index=True)
    record_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    salt: Mapped[str | None] = mapped_column(String(32))  # None once redacted
    seal: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    entry_hash: Mapped[str | None] = mapped_column(String(64))


class RevokedSession(Base):
    """Console sessions ended by logout, shared by every node until they would expire."""

    __tablename__ = "revoked_sessions"

    sid: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


# Capture verification outcomes (docs/STORAGE.md, "Capture verification").
VERIFIED = "verified"
SHORT = "short"
MISSING = "missing"
SILENT_LEG = "silent_leg"
NOT_RECORDED_BY_DECISION = "not_recorded_by_decision"
GAP = "gap"  # Asterisk bridged the call but callrec never controlled it.


class CallSpan(Base):
    """A call as Asterisk itself recorded it (CEL/CDR): the ground truth.

    Keyed by Asterisk's linkedid; ``call_id`` is callrec's id when the
    channels carried ``CALLREC_CALL_ID``, else NULL (a call callrec never saw).
    """

    __tablename__ = "call_spans"

    linkedid: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str] = mapped_column(String(128))
    call_id: Mapped[str | None] = mapped_column(String(128), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    bridged_at: Mapped[datetime | None] = mapped_column(DateTime)
    unbridged_at: Mapped[datetime | None] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class Verification(Base):
    """The outcome of checking one segment (or one uncontrolled call) against
    the ground truth; one row per recording, or per gap with no recording."""

    __tablename__ = "verifications"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    recording_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    call_id: Mapped[str | None] = mapped_column(String(128), index=True)
    linkedid: Mapped[str | None] = mapped_column(String(64))
    agent: Mapped[str | None] = mapped_column(String(128))
    campaign: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str] = mapped_column(Text)
    expected_seconds: Mapped[float | None] = mapped_column(Float)
    captured_seconds: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    checked_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    remote_checked_at: Mapped[datetime | None] = mapped_column(DateTime)


class LiveCall(Base):
    """A call in progress on some node, as that node last published it.

    Each node rewrites its own rows every second or so (``storage.live_calls``);
    rows not refreshed for a while belong to a node that stopped, and are ignored.
    """

    __tablename__ = "live_calls"

    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(128), index=True)
    node_url: Mapped[str] = mapped_column(Text)
    agent: Mapped[str] = mapped_column(String(128))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime, index=True)
