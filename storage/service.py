"""StorageService: the one object the call paths, the web API and the CLI use.

Every public method is async (blocking work runs in a thread) and, except
``accept_segment`` which is the call paths' hand-off, takes the ``actor`` on
whose behalf it runs: permissions are checked here and every access is
audited here, so no caller can forget either.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from storage import audit, crm, crypto, erasure, ingest, matching, outbox, retention
from storage.config import StorageConfig
from storage.db import Database, open_database
from storage.errors import (
    FileCorrupt,
    FileMissing,
    ImportFailed,
    PermissionDenied,
    RecordingDeleted,
    RecordingNotFound,
    RecordNotFound,
)
from storage.files import sha256_file
from storage.lease import claim_job, release_job, worker_id
from storage.models import (
    ASSIGNED,
    DELETED,
    UNASSIGNED,
    Assignment,
    CrmPhone,
    CrmRecord,
    NumberHold,
    Recording,
    RecordingFile,
    state_in,
)
from storage.permissions import SYSTEM, Actor, Permission, listable_states
from storage.phones import require_e164
from storage.segment import FinishedSegment
from storage.targets import UploadTarget
from storage.timeutil import utcnow

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class FileView:
    kind: str
    format: str
    size_bytes: int
    sha256: str
    present: bool
    uploaded: bool


@dataclass(frozen=True)
class RecordingView:
    id: str
    call_id: str
    segment_no: int
    agent: str
    campaign: str | None
    queue: str | None
    direction: str
    customer_number_raw: str | None
    customer_e164: str | None
    started_at: datetime
    ended_at: datetime
    duration_seconds: float
    legs: str
    format: str
    size_bytes: int
    state: str
    upload_state: str
    legal_hold: bool
    flags: tuple[str, ...]
    reasons: tuple[str, ...]
    decision: dict[str, Any]
    record_ids: tuple[int, ...]
    files: tuple[FileView, ...]
    deleted_at: datetime | None
    deleted_by: str | None
    delete_reason: str | None

    @classmethod
    def of(
        cls, rec: Recording, record_ids: tuple[int, ...], files: tuple[FileView, ...]
    ) -> RecordingView:
        """The view of one row, given its assignments and files (read by the caller)."""
        return cls(
            rec.id,
            rec.call_id,
            rec.segment_no,
            rec.agent,
            rec.campaign,
            rec.queue,
            rec.direction,
            rec.customer_number_raw,
            rec.customer_e164,
            rec.started_at,
            rec.ended_at,
            rec.duration_seconds,
            rec.legs,
            rec.format,
            rec.size_bytes,
            rec.state,
            rec.upload_state,
            rec.legal_hold,
            tuple(rec.flags),
            tuple(rec.reasons),
            dict(rec.decision),
            record_ids,
            files,
            rec.deleted_at,
            rec.deleted_by,
            rec.delete_reason,
        )


@dataclass(frozen=True)
class RecordView:
    id: int
    kind: str
    external_id: str
    name: str | None
    phones: tuple[tuple[str, str | None, str], ...]  # field, e164, raw


@dataclass(frozen=True)
class ErasureResult:
    number: str
    deleted: tuple[str, ...]
    held: tuple[str, ...]


def _in_thread(fn: Callable[P, T]) -> Callable[P, Any]:
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    return wrapper


class StorageService:
    """Implements :class:`storage.segment.SegmentSink` and everything after it."""

    def __init__(
        self, db: Database, config: StorageConfig, *, target: UploadTarget | None = None
    ) -> None:
        self.db = db
        self.cfg = config
        self.target = target if target is not None else outbox.build_target(config.upload)
        self.node = worker_id()
        # Set when a segment is stored here: this node's outbox worker uploads
        # it at once instead of at its next poll (other nodes still poll).
        self.outbox_wake = asyncio.Event()

    @classmethod
    def open(cls, config: StorageConfig) -> StorageService:
        return cls(open_database(config.db_url), config)

    def close(self) -> None:
        self.db.dispose()

    # -- hand-off from the call paths ---------------------------------------

    async def accept_segment(self, segment: FinishedSegment) -> str:
        stored = await asyncio.to_thread(
            ingest.ingest, self.db, self.cfg, segment, upload=self.target is not None
        )
        if self.target is not None:
            self.outbox_wake.set()
        return stored

    # -- outbox ---------------------------------------------------------------

    def outbox_worker(self, owner: str | None = None) -> outbox.Outbox:
        if self.target is None:
            raise RuntimeError("no upload target configured")
        return outbox.Outbox(
            self.db, self.target, self.cfg.store_root, self.cfg.outbox, owner=owner
        )

    async def drain_outbox(self, workers: int | None = None) -> outbox.DrainResult:
        """Drain with several concurrent workers; returns the combined result."""
        n = workers or self.cfg.outbox.workers
        results = await asyncio.gather(*(self.outbox_worker().drain() for _ in range(n)))
        total = outbox.DrainResult()
        for r in results:
            total.uploaded += r.uploaded
            total.already_present += r.already_present
            total.deleted += r.deleted
            total.failed += r.failed
            total.blocked = total.blocked or r.blocked
            total.errors.extend(r.errors)
        return total

    async def outbox_status(self) -> outbox.OutboxStatus:
        return await asyncio.to_thread(outbox.status, self.db)

    # -- reading --------------------------------------------------------------

    def _view(self, s: Session, rec: Recording) -> RecordingView:
        record_ids = tuple(
            s.scalars(
                select(Assignment.record_id)
                .where(Assignment.recording_id == rec.id)
                .order_by(Assignment.record_id)
            )
        )
        files = tuple(
            FileView(f.kind, f.format, f.size_bytes, f.sha256, f.present, f.uploaded_at is not None)
            for f in s.scalars(
                select(RecordingFile)
                .where(RecordingFile.recording_id == rec.id)
                .order_by(RecordingFile.kind)
            )
        )
        return RecordingView.of(rec, record_ids, files)

    @staticmethod
    def _may_see(actor: Actor, rec: Recording) -> bool:
        if actor.agent_scope is not None and rec.agent != actor.agent_scope:
            return False
        if rec.state == ASSIGNED:
            return actor.has(Permission.VIEW_HISTORY)
        if rec.state == UNASSIGNED:
            return actor.has(Permission.VIEW_UNASSIGNED)
        return actor.has(Permission.VIEW_HISTORY) or actor.has(Permission.VIEW_UNASSIGNED)

    def _require_see(self, actor: Actor, rec: Recording) -> None:
        if actor.agent_scope is not None and rec.agent != actor.agent_scope:
            raise PermissionDenied(f"recording {rec.id} is not agent {actor.agent_scope}'s")
        if not self._may_see(actor, rec):
            actor.require(
                Permission.VIEW_HISTORY if rec.state == ASSIGNED else Permission.VIEW_UNASSIGNED,
                f"see recording {rec.id}",
            )

    @staticmethod
    def _get(s: Session, recording_id: str) -> Recording:
        rec = s.get(Recording, recording_id)
        if rec is None:
            raise RecordingNotFound(f"no recording {recording_id!r}")
        return rec

    @_in_thread
    def get_recording(self, actor: Actor, recording_id: str) -> RecordingView:
        with self.db.session() as s:
            rec = self._get(s, recording_id)
            self._require_see(actor, rec)
            audit.write(s, actor.name, "view", recording_id=rec.id)
            return self._view(s, rec)

    @_in_thread
    def list_recordings(
        self,
        actor: Actor,
        *,
        state: Literal["assigned", "unassigned", "deleted"] | None = None,
        customer_number: str | None = None,
        record_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RecordingView]:
        """Recordings the actor may see, newest first; an explicit state must be allowed."""
        allowed = listable_states(actor, state)
        with self.db.session() as s:
            q = select(Recording).where(state_in(allowed))
            if actor.agent_scope is not None:
                q = q.where(Recording.agent == actor.agent_scope)
            if customer_number is not None:
                q = q.where(
                    Recording.customer_e164
                    == require_e164(customer_number, self.cfg.default_region)
                )
            if record_id is not None:
                q = q.where(
                    Recording.id.in_(
                        select(Assignment.recording_id).where(Assignment.record_id == record_id)
                    )
                )
            q = q.order_by(Recording.started_at.desc(), Recording.id).limit(limit).offset(offset)
            recs = s.scalars(q).all()
            audit.write(
                s,
                actor.name,
                "list",
                state=state,
                record_id=record_id,
                count=len(recs),
            )
            return [self._view(s, r) for r in recs]

    @_in_thread
    def open_file(
        self,
        actor: Actor,
        recording_id: str,
        kind: str = "stereo",
        purpose: Literal["play", "download"] = "play",
    ) -> Path:
        """Local path of one file for playing or downloading; audited as such."""
        with self.db.session() as s:
            rec = self._get(s, recording_id)
            self._require_see(actor, rec)
            if rec.state == DELETED:
                raise RecordingDeleted(f"recording {recording_id} was deleted")
            f = s.scalar(
                select(RecordingFile).where(
                    RecordingFile.recording_id == recording_id, RecordingFile.kind == kind
                )
            )
            if f is None or not f.present:
                raise FileMissing(f"recording {recording_id} has no {kind} file")
            path = self.cfg.store_root / f.path
            if not path.is_file():
                raise FileMissing(f"{kind} file of recording {recording_id} is gone from the store")
            if sha256_file(path) != f.sha256:
                log.error("recording %s: %s file does not match its SHA-256", recording_id, kind)
                raise FileCorrupt(f"{kind} file of recording {recording_id} was altered in store")
            audit.write(s, actor.name, purpose, recording_id=recording_id, kind=kind)
            return path

    @_in_thread
    def decrypt(self, path: Path) -> bytes:
        """The plaintext of an encrypted stored file, with this node's private key(s)."""
        key_file = self.cfg.encryption.identity_file
        if key_file is None:
            raise crypto.KeyUnavailable(
                f"{path.name} is encrypted and this node has no [storage.encryption] identity_file"
            )
        return crypto.decrypt_file(path, crypto.load_identities(key_file))

    @_in_thread
    def get_record(self, actor: Actor, record_id: int) -> RecordView:
        actor.require(Permission.VIEW_HISTORY, "see CRM records")
        with self.db.session() as s:
            rec = s.get(CrmRecord, record_id)
            if rec is None:
                raise RecordNotFound(f"no CRM record {record_id}")
            phones = tuple(
                (p.field, p.e164, p.raw)
                for p in s.scalars(select(CrmPhone).where(CrmPhone.record_id == record_id))
            )
            return RecordView(rec.id, rec.kind, rec.external_id, rec.name, phones)

    @_in_thread
    def candidates(self, actor: Actor, recording_id: str) -> list[dict[str, Any]]:
        """Records the recording could be assigned to (for the assign drop-down)."""
        actor.require(Permission.ASSIGN, "see assignment candidates")
        with self.db.session() as s:
            rec = self._get(s, recording_id)
            self._require_see(actor, rec)
            return matching.candidates(s, rec.customer_e164)

    @_in_thread
    def audit_log(
        self,
        actor: Actor,
        recording_id: str | None = None,
        *,
        limit: int = 1000,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[audit.AuditRecord]:
        actor.require(Permission.ADMIN, "read the audit log")
        with self.db.session() as s:
            if recording_id is None:
                return audit.read(s, limit=limit, offset=offset, newest_first=newest_first)
            # A recording's trail includes its assignments by nightly rematch runs.
            return matching.recording_trail(
                s, recording_id, limit=limit, offset=offset, newest_first=newest_first
            )

    # -- assignment -------------------------------------------------------------

    @_in_thread
    def assign(self, actor: Actor, recording_id: str, record_id: int) -> None:
        """Manual assignment to a chosen record, in addition to any automatic ones."""
        actor.require(Permission.ASSIGN, "assign recordings")
        with self.db.session() as s:
            rec = self._get(s, recording_id)
            self._require_see(actor, rec)  # no assigning what one may not see
            if rec.state == DELETED:
                raise RecordingDeleted(f"recording {recording_id} was deleted")
            if s.get(CrmRecord, record_id) is None:
                raise RecordNotFound(f"no CRM record {record_id}")
            matching.lock_assigning(s, exclusive=False)  # not during a rematch run's copy
            if s.get(Assignment, (recording_id, record_id)) is None:
                now = utcnow()
                s.add(
                    Assignment(
                        recording_id=recording_id,
                        record_id=record_id,
                        how="manual",
                        assigned_at=now,
                        assigned_by=actor.name,
                    )
                )
                if rec.stored_state == UNASSIGNED:
                    rec.stored_state = ASSIGNED
                    rec.assigned_at = now
                audit.write(
                    s,
                    actor.name,
                    "assign",
                    recording_id=recording_id,
                    record_id=record_id,
                    how="manual",
                )

    @_in_thread
    def rematch(self, actor: Actor = SYSTEM) -> int:
        """Assign unassigned recordings to records that now match (one node at a time)."""
        actor.require(Permission.ASSIGN, "run the rematch")
        owner = self.node + ":rematch"
        with self.db.session() as s:
            if not claim_job(s, "rematch", owner, 3600):
                log.info("rematch already running on another node")
                return 0
        try:
            with self.db.joined_session() as s:
                n = matching.rematch(s, actor.name)
        finally:
            with self.db.session() as s:
                release_job(s, "rematch", owner)
        return n

    # -- CRM --------------------------------------------------------------------

    @_in_thread
    def import_crm(
        self, actor: Actor, path: Path, kind: str, fmt: str | None = None
    ) -> crm.ImportResult:
        actor.require(Permission.ADMIN, "import CRM records")
        rows = crm.read_file(path, kind, fmt)
        with self.db.session() as s:
            res = crm.import_rows(s, rows, kind, region=self.cfg.default_region, source=path.name)
            audit.write(
                s,
                actor.name,
                "crm_import",
                file=path.name,
                kind=kind,
                created=res.created,
                updated=res.updated,
                problems=len(res.problems),
            )
        return res

    @_in_thread
    def import_crm_table(self, actor: Actor) -> crm.ImportResult:
        actor.require(Permission.ADMIN, "import CRM records")
        mapping = self.cfg.crm_table
        if mapping is None:
            raise ImportFailed("no [storage.crm_table] mapping configured")
        rows = list(crm.read_table(mapping, self.cfg.db_url))
        with self.db.session() as s:
            res = crm.import_rows(
                s, rows, mapping.kind, region=self.cfg.default_region, source=mapping.table
            )
            audit.write(s, actor.name, "crm_import", table=mapping.table, created=res.created)
        return res

    # -- deletion, holds, retention, erasure --------------------------------------

    def _finish_delete(self, outcome: retention.DeleteOutcome) -> None:
        retention.unlink_files(outcome.local_files)

    @_in_thread
    def delete_recording(self, actor: Actor, recording_id: str, reason: str = "") -> None:
        actor.require(Permission.DELETE_UNASSIGNED, "delete recordings")
        outcome = retention.DeleteOutcome()
        with self.db.session() as s:
            rec = self._get(s, recording_id)
            self._require_see(actor, rec)  # no deleting what one may not see
            retention.tombstone(
                s,
                rec,
                actor=actor.name,
                reason=reason or "deleted by user",
                allow_assigned=False,
                store_root=self.cfg.store_root,
                remote=self.target is not None,
                outcome=outcome,
            )
        self._finish_delete(outcome)

    @_in_thread
    def delete_unassigned(
        self, actor: Actor, recording_ids: list[str], reason: str = ""
    ) -> retention.DeleteOutcome:
        """Bulk delete: each id is deleted or listed in ``refused`` with its error code."""
        actor.require(Permission.DELETE_UNASSIGNED, "delete recordings")
        with self.db.session() as s:
            visible: list[str] = []
            hidden: list[str] = []
            for rid in recording_ids:
                # Assigned ones are refused as such below; the others need sight.
                rec = s.get(Recording, rid)
                blind = rec is not None and not self._may_see(actor, rec)
                if blind and rec is not None and (rec.state != ASSIGNED or actor.agent_scope):
                    hidden.append(rid)
                else:
                    visible.append(rid)
            outcome = retention.delete_many(
                s,
                visible,
                actor=actor.name,
                reason=reason or "bulk delete",
                allow_assigned=False,
                store_root=self.cfg.store_root,
                remote=self.target is not None,
            )
            for rid in hidden:
                outcome.refused[rid] = PermissionDenied.code
        self._finish_delete(outcome)
        return outcome

    @_in_thread
    def set_hold(self, actor: Actor, recording_id: str, on: bool, reason: str = "") -> None:
        actor.require(Permission.ADMIN, "set legal holds")
        with self.db.session() as s:
            rec = self._get(s, recording_id)
            if rec.state == DELETED:
                raise RecordingDeleted(f"recording {recording_id} was deleted")
            rec.legal_hold = on
            rec.hold_reason = reason if on else None
            audit.write(
                s,
                actor.name,
                "hold" if on else "release_hold",
                recording_id=recording_id,
                reason=reason,
            )

    @_in_thread
    def set_number_hold(self, actor: Actor, number: str, on: bool, reason: str = "") -> str:
        actor.require(Permission.ADMIN, "set legal holds")
        e164 = require_e164(number, self.cfg.default_region)
        with self.db.session() as s:
            hold = s.get(NumberHold, e164)
            if on and hold is None:
                s.add(
                    NumberHold(e164=e164, reason=reason, created_at=utcnow(), created_by=actor.name)
                )
            elif not on and hold is not None:
                s.delete(hold)
            audit.write(
                s,
                actor.name,
                "number_hold" if on else "release_number_hold",
                number=_mask(e164),
                reason=reason,
            )
        return e164

    @_in_thread
    def erase_number(self, actor: Actor, number: str, reason: str) -> ErasureResult:
        """A customer's erasure request: delete every recording of the number no hold keeps."""
        actor.require(Permission.ADMIN, "erase a customer's recordings")
        e164 = require_e164(number, self.cfg.default_region)
        with self.db.session() as s:
            ids = list(
                s.scalars(
                    select(Recording.id).where(
                        Recording.customer_e164 == e164, Recording.state != DELETED
                    )
                )
            )
            outcome = retention.delete_many(
                s,
                ids,
                actor=actor.name,
                reason=f"erasure request: {reason}",
                allow_assigned=True,
                store_root=self.cfg.store_root,
                remote=self.target is not None,
                scrub_number=True,
            )
            held = tuple(sorted(outcome.refused))
            erasure_id = uuid.uuid4().hex
            scrubbed = erasure.scrub(s, outcome.deleted, e164, erasure_id)
            # Only what proves the erasure happened: the number masked to its last
            # four digits (which request it was), never anything linking to a record.
            audit.write(
                s,
                actor.name,
                "erasure",
                erasure=erasure_id,
                number=_mask(e164),
                reason=reason,
                deleted=sorted(outcome.deleted),
                held=list(held),
                assignments_removed=scrubbed.assignments,
                audit_entries_redacted=scrubbed.audit_entries,
            )
        self._finish_delete(outcome)
        return ErasureResult(e164, tuple(sorted(outcome.deleted)), held)

    @_in_thread
    def run_retention(self, actor: Actor = SYSTEM) -> retention.DeleteOutcome:
        """Apply the configured retention rules (admin only); one node at a time."""
        actor.require(Permission.ADMIN, "run retention")
        total = retention.DeleteOutcome()
        owner = self.node + ":retention"
        with self.db.session() as s:
            if not claim_job(s, "retention", owner, 3600):
                return total
        try:
            for rule in self.cfg.retention:
                while True:
                    with self.db.session() as s:
                        ids = retention.retention_candidates(s, rule, limit=500)
                        if not ids:
                            break
                        outcome = retention.delete_many(
                            s,
                            ids,
                            actor=actor.name,
                            reason=f"retention: campaign {rule.campaign} after {rule.days} days"
                            + (" (including assigned)" if rule.include_assigned else ""),
                            allow_assigned=rule.include_assigned,
                            store_root=self.cfg.store_root,
                            remote=self.target is not None,
                        )
                    self._finish_delete(outcome)
                    total.deleted.extend(outcome.deleted)
                    total.refused.update(outcome.refused)
                    if not outcome.deleted:
                        break
            with self.db.session() as s:
                retention.unlink_files(retention.sweep_deleted_files(s, self.cfg.store_root))
        finally:
            with self.db.session() as s:
                release_job(s, "retention", owner)
        return total

    @_in_thread
    def counts(self) -> dict[str, int]:
        """Recordings per state: the stored states by their index, then the stored
        "unassigned" ones a rematch run assigned moved over (one probe per assignment)."""
        with self.db.session() as s:
            rows = s.execute(
                select(Recording.stored_state, func.count()).group_by(Recording.stored_state)
            )
            out = {str(state): int(n) for state, n in rows}
            moved = s.scalar(
                select(func.count(distinct(Assignment.recording_id)))
                .join(Recording, Recording.id == Assignment.recording_id)
                .where(Recording.stored_state == UNASSIGNED)
            )
        if moved:
            out[ASSIGNED] = out.get(ASSIGNED, 0) + moved
            out[UNASSIGNED] -= moved
        return {state: n for state, n in out.items() if n}


def _mask(e164: str) -> str:
    """Numbers in the audit log of an erasure keep only the last four digits."""
    return "*" * max(len(e164) - 4, 0) + e164[-4:]
