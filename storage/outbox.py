"""The durable upload outbox.

Ingest writes one ``upload`` item per stored file in the same transaction as
the recording, and deletion writes ``delete`` items, so nothing that must reach
the platform exists only in memory. Any number of workers on any number of
nodes drain the table: each claims items with a lease (see ``storage.lease``),
performs the idempotent target protocol, and records success only if it still
owns the item. Failures, expected or not, go back to ``pending`` with
exponential backoff at once (never left leased until the lease runs out);
items are never dropped. A host-key mismatch stops the drain, raises a
persistent alert and leaves every item pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.config import OutboxConfig
from storage.db import Database
from storage.errors import HostKeyMismatch, StorageError, UploadError
from storage.lease import worker_id
from storage.models import (
    CANCELLED,
    DONE,
    PENDING,
    Alert,
    OutboxItem,
    Recording,
    RecordingFile,
)
from storage.targets import TargetSession, UploadJob, UploadTarget
from storage.timeutil import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claimed:
    id: int
    op: str
    recording_id: str
    file_id: int | None
    local_path: str | None
    remote_name: str
    size: int | None
    sha256: str | None
    attempts: int


@dataclass
class DrainResult:
    uploaded: int = 0
    already_present: int = 0
    deleted: int = 0
    failed: int = 0
    blocked: str | None = None  # error code that stopped the drain
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OutboxStatus:
    pending: int
    pending_due: int
    in_flight: int
    done: int
    cancelled: int
    max_attempts: int
    oldest_pending: datetime | None
    alerts: list[tuple[str, str, datetime]]
    last_errors: list[tuple[int, str, int, str]]  # id, remote name, attempts, error


def enqueue_upload(
    session: Session,
    *,
    recording_id: str,
    file_id: int,
    local_path: str,
    remote_name: str,
    size: int,
    sha256: str,
) -> None:
    now = utcnow()
    session.add(
        OutboxItem(
            op="upload",
            recording_id=recording_id,
            file_id=file_id,
            local_path=local_path,
            remote_name=remote_name,
            size_bytes=size,
            sha256=sha256,
            state=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


def enqueue_delete(session: Session, *, recording_id: str, remote_name: str) -> None:
    """Cancel pending uploads of the file and queue its removal from the platform."""
    now = utcnow()
    session.execute(
        update(OutboxItem)
        .where(
            OutboxItem.recording_id == recording_id,
            OutboxItem.remote_name == remote_name,
            OutboxItem.op == "upload",
            OutboxItem.state == PENDING,
            OutboxItem.owner.is_(None),
        )
        .values(state=CANCELLED, done_at=now)
        .execution_options(synchronize_session=False)
    )
    session.add(
        OutboxItem(
            op="delete",
            recording_id=recording_id,
            remote_name=remote_name,
            state=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


def raise_alert(session: Session, code: str, message: str) -> None:
    """Raise ``code`` unless it is already active (a unique index settles races)."""
    active = session.scalar(
        select(func.count()).where(Alert.code == code, Alert.cleared_at.is_(None))
    )
    if active:
        return
    try:
        with session.begin_nested():
            session.add(Alert(code=code, message=message, raised_at=utcnow()))
    except IntegrityError:
        pass  # another worker raised it between our check and our insert


def clear_alerts(session: Session, code: str) -> None:
    session.execute(
        update(Alert)
        .where(Alert.code == code, Alert.cleared_at.is_(None))
        .values(cleared_at=utcnow())
        .execution_options(synchronize_session=False)
    )


class Outbox:
    """One worker. Create several (on one node or many) to drain in parallel."""

    def __init__(
        self,
        db: Database,
        target: UploadTarget,
        store_root: Path,
        config: OutboxConfig | None = None,
        *,
        owner: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.target = target
        self.store_root = store_root
        self.cfg = config or OutboxConfig()
        self.owner = owner or worker_id("outbox:")
        self.clock = clock

    # -- database steps (run in a thread) ---------------------------------

    def claim(self, limit: int | None = None, *, due_by: datetime | None = None) -> list[Claimed]:
        """Lease up to ``limit`` pending items due by ``due_by`` (default: now)."""
        now = self.clock()
        due = due_by or now
        limit = limit or self.cfg.batch_size
        until = now + timedelta(seconds=self.cfg.lease_seconds)
        claimed: list[Claimed] = []
        with self.db.session() as s:
            ids = s.scalars(
                select(OutboxItem.id)
                .where(
                    OutboxItem.op != "webhook",  # storage.webhooks delivers those
                    OutboxItem.state == PENDING,
                    OutboxItem.next_attempt_at <= due,
                    or_(OutboxItem.owner.is_(None), OutboxItem.lease_until < now),
                )
                .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
                .limit(limit * 4)
            ).all()
        for item_id in ids:
            if len(claimed) >= limit:
                break
            with self.db.session() as s:
                res = s.execute(
                    update(OutboxItem)
                    .where(
                        # Re-check all of the select's conditions: another
                        # worker may have claimed, failed and released the
                        # item (due again later) since our select.
                        OutboxItem.id == item_id,
                        OutboxItem.state == PENDING,
                        OutboxItem.next_attempt_at <= due,
                        or_(OutboxItem.owner.is_(None), OutboxItem.lease_until < now),
                    )
                    .values(owner=self.owner, lease_until=until, attempts=OutboxItem.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                if res.rowcount != 1:  # type: ignore[attr-defined]
                    continue  # another worker won it
                it = s.get_one(OutboxItem, item_id)
                claimed.append(
                    Claimed(
                        it.id,
                        it.op,
                        it.recording_id,
                        it.file_id,
                        it.local_path,
                        it.remote_name,
                        it.size_bytes,
                        it.sha256,
                        it.attempts,
                    )
                )
        return claimed

    def _complete(self, item: Claimed) -> bool:
        now = self.clock()
        with self.db.session() as s:
            # Serialise completions of one recording's files (row lock on
            # PostgreSQL; SQLite's write lock does it already) so the last one
            # always sees the others done and marks the recording uploaded.
            s.execute(
                select(Recording.id).where(Recording.id == item.recording_id).with_for_update()
            )
            res = s.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item.id, OutboxItem.owner == self.owner)
                .values(state=DONE, owner=None, lease_until=None, done_at=now, last_error=None)
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                log.warning("outbox item %s: lease lost before completion", item.id)
                return False
            if item.op == "upload" and item.file_id is not None:
                s.execute(
                    update(RecordingFile)
                    .where(RecordingFile.id == item.file_id)
                    .values(uploaded_at=now)
                    .execution_options(synchronize_session=False)
                )
                left = s.scalar(
                    select(func.count()).where(
                        OutboxItem.recording_id == item.recording_id,
                        OutboxItem.op == "upload",
                        OutboxItem.state == PENDING,
                    )
                )
                if not left:
                    s.execute(
                        update(Recording)
                        .where(Recording.id == item.recording_id, Recording.upload_state == PENDING)
                        .values(upload_state="uploaded")
                        .execution_options(synchronize_session=False)
                    )
        return True

    def _fail(self, item: Claimed, error: StorageError, *, count: bool = True) -> None:
        now = self.clock()
        attempts = item.attempts if count else max(item.attempts - 1, 0)
        delay = min(
            self.cfg.backoff_base_seconds * (2 ** max(attempts - 1, 0)),
            self.cfg.backoff_max_seconds,
        )
        with self.db.session() as s:
            s.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item.id, OutboxItem.owner == self.owner)
                .values(
                    owner=None,
                    lease_until=None,
                    attempts=attempts,
                    last_error=str(error),
                    next_attempt_at=now + timedelta(seconds=delay) if count else now,
                )
                .execution_options(synchronize_session=False)
            )

    def _upload_in_flight(self, item: Claimed) -> bool:
        now = self.clock()
        with self.db.session() as s:
            n = s.scalar(
                select(func.count()).where(
                    OutboxItem.recording_id == item.recording_id,
                    OutboxItem.remote_name == item.remote_name,
                    OutboxItem.op == "upload",
                    OutboxItem.state == PENDING,
                    OutboxItem.owner.is_not(None),
                    OutboxItem.lease_until >= now,
                )
            )
        return bool(n)

    def _alert(self, code: str, message: str, *, clear: bool = False) -> None:
        with self.db.session() as s:
            if clear:
                clear_alerts(s, code)
            else:
                raise_alert(s, code, message)

    # -- the drain loop ------------------------------------------------------

    async def drain(
        self, *, max_items: int | None = None, claim_size: int | None = None
    ) -> DrainResult:
        """Process every item due now; return when none is left or the target is blocked.

        Only items due when the drain began are taken, so an item that fails
        here (and is due again after a short backoff) waits for the next drain
        instead of being retried in a tight loop against a target that is down.
        Items are claimed ``claim_size`` at a time (default ``batch_size``);
        one target session (one SFTP connection) serves the whole drain.
        """
        result = DrainResult()
        done = 0
        started = self.clock()
        session: TargetSession | None = None
        try:
            while max_items is None or done < max_items:
                batch = await asyncio.to_thread(self.claim, claim_size, due_by=started)
                if not batch:
                    break
                done += len(batch)
                if session is None:
                    session = await self._open(batch, result)
                    if session is None:
                        if result.blocked:
                            break
                        continue  # the batch went back with a backoff; try the rest
                await self._run_batch(session, batch, result)
                if result.blocked:
                    break
        finally:
            if session is not None:
                try:
                    await session.close()
                except Exception:
                    log.warning("upload target: closing the session failed", exc_info=True)
        return result

    async def _open(self, batch: list[Claimed], result: DrainResult) -> TargetSession | None:
        """A session on the target; None (the batch released, result told) when it fails."""
        try:
            session = await self.target.open()
        except HostKeyMismatch as exc:
            log.error("[%s] uploads stopped: %s", exc.code, exc.message)
            await asyncio.to_thread(self._alert, exc.code, exc.message)
            for item in batch:
                await asyncio.to_thread(self._fail, item, exc, count=False)
            result.blocked = exc.code
            result.errors.append(str(exc))
            return None
        except Exception as exc:
            err = exc if isinstance(exc, UploadError) else _unexpected(exc)
            log.warning("[%s] %s; %d item(s) will be retried", err.code, err.message, len(batch))
            for item in batch:
                await asyncio.to_thread(self._fail, item, err)
            result.failed += len(batch)
            result.errors.append(str(err))
            return None
        await asyncio.to_thread(self._alert, HostKeyMismatch.code, "", clear=True)
        return session

    async def _run_batch(
        self, session: TargetSession, batch: list[Claimed], result: DrainResult
    ) -> None:
        left = list(batch)
        try:
            while left:
                await self._run_item(session, left[0], result)
                left.pop(0)
        finally:
            # Whatever stopped the batch (even a database error), items we did
            # not finish go back to pending now instead of waiting out the lease.
            for item in left:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(
                        self._fail, item, UploadError("drain stopped", code="upload.aborted")
                    )

    async def _run_item(self, session: TargetSession, item: Claimed, result: DrainResult) -> None:
        try:
            if item.op == "upload":
                assert item.local_path is not None and item.size is not None
                job = UploadJob(
                    self.store_root / item.local_path,
                    item.remote_name,
                    item.size,
                    item.sha256 or "",
                )
                if not job.local_path.is_file():
                    raise UploadError(f"local file {item.local_path} is gone", code="file.missing")
                sent = await session.upload(job)
                if await asyncio.to_thread(self._complete, item):
                    if sent:
                        result.uploaded += 1
                    else:
                        result.already_present += 1
            elif item.op == "delete":
                if await asyncio.to_thread(self._upload_in_flight, item):
                    raise UploadError("an upload of this file is in flight", code="upload.busy")
                await session.delete(item.remote_name)
                if await asyncio.to_thread(self._complete, item):
                    result.deleted += 1
        except Exception as exc:
            err = exc if isinstance(exc, StorageError) else _unexpected(exc)
            if isinstance(exc, StorageError):
                log.warning("[%s] outbox item %s: %s", err.code, item.id, err.message)
            else:
                log.warning("[%s] outbox item %s: %s", err.code, item.id, err.message, exc_info=exc)
            await asyncio.to_thread(self._fail, item, err)
            result.failed += 1
            result.errors.append(str(err))

    async def run_forever(
        self,
        stop: asyncio.Event,
        poll_seconds: float = 2.0,
        wake: asyncio.Event | None = None,
        *,
        claim_size: int | None = None,
    ) -> None:
        """Background worker for the service: drain, then sleep until the next
        poll, or until ``wake`` is set (a segment was just stored on this node)."""
        while not stop.is_set():
            if wake is not None:
                wake.clear()  # what is stored from here on is seen by this drain or the next
            try:
                await self.drain(claim_size=claim_size)
            except Exception:  # a database hiccup must not kill the worker
                log.exception("outbox drain failed; retrying")
            await _first_of(stop, wake, poll_seconds)


async def run_workers(
    make: Callable[[], Outbox],
    count: int,
    stop: asyncio.Event,
    wake: asyncio.Event | None = None,
    poll_seconds: float = 2.0,
) -> None:
    """``count`` concurrent workers of one node (``[storage.outbox] workers``).

    Each is its own lease owner and claims one item at a time, so the files
    of a burst (a segment's tracks, many calls ending together) are uploaded
    side by side instead of queueing behind one worker's batch. A wake rouses
    every idle worker; those that find nothing left go back to sleep.
    """
    workers = [make() for _ in range(count)]
    await asyncio.gather(*(w.run_forever(stop, poll_seconds, wake, claim_size=1) for w in workers))


async def _first_of(stop: asyncio.Event, wake: asyncio.Event | None, timeout: float) -> None:
    """Return when ``stop`` or ``wake`` is set, or after ``timeout`` seconds."""
    waits = [asyncio.ensure_future(e.wait()) for e in (stop, wake) if e is not None]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def _unexpected(exc: BaseException) -> UploadError:
    """An error the target code did not anticipate (e.g. the upload dir replaced by a file)."""
    return UploadError(f"unexpected {type(exc).__name__}: {exc}", code="upload.unexpected")


def status(db: Database, limit_errors: int = 20) -> OutboxStatus:
    now = utcnow()
    with db.session() as s:

        def count(*conds: ColumnElement[bool]) -> int:
            return int(s.scalar(select(func.count()).select_from(OutboxItem).where(*conds)) or 0)

        pending = count(OutboxItem.state == PENDING)
        due = count(OutboxItem.state == PENDING, OutboxItem.next_attempt_at <= now)
        in_flight = count(
            OutboxItem.state == PENDING,
            OutboxItem.owner.is_not(None),
            OutboxItem.lease_until >= now,
        )
        done = count(OutboxItem.state == DONE)
        cancelled = count(OutboxItem.state == CANCELLED)
        max_attempts = int(
            s.scalar(select(func.max(OutboxItem.attempts)).where(OutboxItem.state == PENDING)) or 0
        )
        oldest = s.scalar(
            select(func.min(OutboxItem.created_at)).where(OutboxItem.state == PENDING)
        )
        alerts = [
            (a.code, a.message, a.raised_at)
            for a in s.scalars(select(Alert).where(Alert.cleared_at.is_(None)).order_by(Alert.id))
        ]
        errs = [
            (i.id, i.remote_name, i.attempts, i.last_error or "")
            for i in s.scalars(
                select(OutboxItem)
                .where(OutboxItem.state == PENDING, OutboxItem.last_error.is_not(None))
                .order_by(OutboxItem.id)
                .limit(limit_errors)
            )
        ]
    return OutboxStatus(
        pending, due, in_flight, done, cancelled, max_attempts, oldest, alerts, errs
    )


def build_target(cfg: object) -> UploadTarget | None:
    """Target from an ``UploadTargetConfig``; None when uploads are switched off."""
    from storage.config import UploadTargetConfig
    from storage.sftp import SftpTarget
    from storage.targets import LocalDirTarget

    assert isinstance(cfg, UploadTargetConfig)
    if cfg.type == "none":
        return None
    if cfg.type == "local":
        return LocalDirTarget(cfg.local_dir, verify_hash=cfg.verify_hash)
    assert cfg.host and cfg.user and cfg.key_file and cfg.known_hosts
    return SftpTarget(
        host=cfg.host,
        port=cfg.port,
        user=cfg.user,
        key_file=cfg.key_file,
        known_hosts=cfg.known_hosts,
        remote_dir=cfg.remote_dir,
        verify_hash=cfg.verify_hash,
        block_size=cfg.block_size,
        max_requests=cfg.max_requests,
        connect_timeout=cfg.connect_timeout,
    )
