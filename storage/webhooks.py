"""Signed webhooks: recording stored, verified, assigned and deleted, for the tools around us.

Where events come from: the audit log. Every change worth announcing is
already audited in the transaction that makes it (``ingest``, ``assign``,
``delete``; ``verify`` by a trigger on ``verifications``, migration 0006), so
:func:`collect` turns new audit entries into outbox items, one per configured
receiver, and no code path can change a recording without its event. A
nightly rematch run is one ``rematch`` entry for all its pairs: it becomes one
``recording.assigned`` per assignment row carrying its run id. The event id is
derived from the audit entry (UUID v5; for a run's pair, from the entry and
the pair), and ``outbox.event_key``
is unique per (event, receiver): collecting twice, or on several nodes at
once, queues each delivery once. Audit ids are not committed in id order, so
each pass re-reads the last ``RESCAN`` ids too; the unique key absorbs it.

Delivery: the same durable outbox table as uploads (op ``webhook``,
``remote_name`` = receiver URL), claimed with the same leases, retried with
the same exponential backoff, never dropped. A node delivers only to the
receivers in its own ``[storage.webhooks]``, because only it holds their
secret. Bodies carry metadata, never audio or file paths.

Signature (as Stripe's): header ``Callrec-Signature: t=<unix seconds>,v1=<hex>``
where ``<hex>`` is HMAC-SHA256(secret, ``"<t>." + raw body``). Receivers
recompute it over the raw bytes, compare in constant time, refuse a ``t`` more
than five minutes from their clock (replays), and act once per event
``id``: delivery is at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from storage.config import OutboxConfig, WebhooksConfig
from storage.db import Database
from storage.errors import StorageError
from storage.lease import insert_ignore, worker_id
from storage.matching import RUN_ACTION
from storage.models import DONE, PENDING, Assignment, AuditEntry, JobLease, OutboxItem, Recording
from storage.timeutil import utcnow

log = logging.getLogger(__name__)

OP = "webhook"
SIGNATURE_HEADER = "Callrec-Signature"
EVENT_HEADER = "Callrec-Event"
ID_HEADER = "Callrec-Event-Id"
ACTIONS = {
    "ingest": "recording.stored",
    "verify": "recording.verified",
    "assign": "recording.assigned",
    "delete": "recording.deleted",
}
EVENT_NS = uuid.UUID("6f0c3f55-3c1e-4d7e-9a57-5a8f1c0b7e21")
RESCAN = 1000
BATCH = 2000


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``Callrec-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def receiver_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def event_id(audit_id: int, pair: tuple[str, int] | None = None) -> str:
    """Globally unique and stable: the same audit entry (and run pair) always gives the same id."""
    name = f"audit:{audit_id}" if pair is None else f"audit:{audit_id}:{pair[0]}:{pair[1]}"
    return uuid.uuid5(EVENT_NS, name).hex


@dataclass(frozen=True)
class _Event:
    """One event to announce: an audit entry, or one pair of a rematch run's entry."""

    id: str
    action: str
    at: datetime
    recording_id: str
    record_id: int | None
    detail: dict[str, Any]


def _events(s: Session, entry: AuditEntry) -> list[_Event]:
    if entry.action != RUN_ACTION:
        detail = dict(entry.detail or {})
        rid = entry.recording_id or ""
        return [_Event(event_id(entry.id), entry.action, entry.at, rid, entry.record_id, detail)]
    run = (entry.detail or {}).get("run")
    rows = s.execute(
        select(Assignment.recording_id, Assignment.record_id, Assignment.how)
        .where(Assignment.run == run)
        .order_by(Assignment.recording_id, Assignment.record_id)
    )
    return [
        _Event(event_id(entry.id, (rid, rec)), "assign", entry.at, rid, rec, {"how": how})
        for rid, rec, how in rows
    ]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value is not None else None


def event_body(entry: _Event, rec: Recording | None, record_ids: list[int]) -> dict[str, Any]:
    """The JSON an event carries: what happened and the recording's metadata now."""
    data: dict[str, Any] = {"recording_id": entry.recording_id}
    if rec is not None:
        data.update(
            call_id=rec.call_id,
            segment_no=rec.segment_no,
            agent=rec.agent,
            campaign=rec.campaign,
            queue=rec.queue,
            direction=rec.direction,
            customer_e164=rec.customer_e164,
            started_at=_iso(rec.started_at),
            ended_at=_iso(rec.ended_at),
            duration_seconds=rec.duration_seconds,
            legs=rec.legs,
            format=rec.format,
            state=rec.state,
            flags=list(rec.flags),
            record_ids=record_ids,
            verification=rec.verification_outcome,
        )
    detail = entry.detail or {}
    if entry.action == "assign":
        data.update(record_id=entry.record_id, how=detail.get("how"))
    elif entry.action == "verify":
        data["outcome"] = detail.get("outcome")
    elif entry.action == "delete":
        data.update(deleted_at=_iso(rec.deleted_at) if rec else None)
    return {
        "id": entry.id,
        "type": ACTIONS[entry.action],
        "occurred_at": _iso(entry.at),
        "data": data,
    }


def _cursor_name(cfg: WebhooksConfig) -> str:
    return "webhooks:" + receiver_key("\n".join(sorted(cfg.urls)))


def collect(db: Database, cfg: WebhooksConfig) -> int:
    """Queue deliveries for audit entries since the last pass; count of new items.

    The first pass of a new receiver set starts at the end of the log: a
    receiver hears of what happens after it was configured, not of history.
    """
    if not cfg.urls:
        return 0
    actions = [a for a, ev in ACTIONS.items() if ev in cfg.events]
    if ACTIONS["assign"] in cfg.events:
        actions.append(RUN_ACTION)
    name = _cursor_name(cfg)
    with db.session() as s:
        insert_ignore(s, JobLease, {"name": name})
        raw = s.scalar(select(JobLease.last_run_key).where(JobLease.name == name))
        if raw is None:
            top = s.scalar(select(func.max(AuditEntry.id))) or 0
            _set_cursor(s, name, top)
            return 0
        cursor = int(raw)
        entries = list(
            s.scalars(
                select(AuditEntry)
                .where(AuditEntry.id > max(cursor - RESCAN, 0), AuditEntry.action.in_(actions))
                .where(or_(AuditEntry.recording_id.is_not(None), AuditEntry.action == RUN_ACTION))
                .order_by(AuditEntry.id)
                .limit(BATCH)
            )
        )
        if not entries:
            return 0
        events = [ev for e in entries for ev in _events(s, e)]
        keys = {(ev.id, url): f"{ev.id}:{receiver_key(url)}" for ev in events for url in cfg.urls}
        known: set[str] = set()
        for chunk in _chunks(list(keys.values())):  # a run's pairs: more than one IN list
            known.update(
                s.scalars(select(OutboxItem.event_key).where(OutboxItem.event_key.in_(chunk)))
            )
        todo = [(ev, url) for ev in events for url in cfg.urls if keys[ev.id, url] not in known]
        rids = sorted({ev.recording_id for ev, _ in todo if ev.recording_id})
        recs: dict[str, Recording] = {}
        records: dict[str, list[int]] = {}
        for chunk in _chunks(rids):
            recs.update(
                (r.id, r) for r in s.scalars(select(Recording).where(Recording.id.in_(chunk)))
            )
            for rid, record_id in s.execute(
                select(Assignment.recording_id, Assignment.record_id)
                .where(Assignment.recording_id.in_(chunk))
                .order_by(Assignment.record_id)
            ):
                records.setdefault(rid, []).append(record_id)
        now = utcnow()
        added = 0
        for entry, url in todo:
            rid = entry.recording_id
            body = event_body(entry, recs.get(rid), records.get(rid, []))
            row = s.execute(
                _insert_ignore(s)
                .values(
                    op=OP,
                    recording_id=rid,
                    remote_name=url,
                    payload=json.dumps(body, separators=(",", ":")),
                    event_key=keys[entry.id, url],
                    state=PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
                .returning(OutboxItem.id)
            ).first()
            added += row is not None  # None: another node queued it first
        _set_cursor(s, name, max(cursor, entries[-1].id))
    return added


def _chunks(items: list[str], size: int = 5000) -> list[list[str]]:
    """Lists short enough for one IN (SQLite's bound-parameter limit)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def _insert_ignore(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(OutboxItem).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(OutboxItem).on_conflict_do_nothing()


def _set_cursor(s: Session, name: str, value: int) -> None:
    s.execute(
        update(JobLease)
        .where(JobLease.name == name)
        .values(last_run_key=str(value), last_run_at=utcnow())
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class Delivery:
    id: int
    url: str
    payload: str
    attempts: int


@dataclass
class WebhookResult:
    queued: int = 0
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _safe_url(url: str) -> str:
    """A receiver for logs: no query string (it may carry a token)."""
    return url.split("?", 1)[0]


class WebhookWorker:
    """Collects events and delivers this node's webhook items; run one or more per node."""

    def __init__(
        self,
        db: Database,
        config: WebhooksConfig,
        outbox: OutboxConfig | None = None,
        *,
        owner: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.cfg = config
        self.outbox = outbox or OutboxConfig()
        self.owner = owner or worker_id("webhooks:")
        self.clock = clock

    def claim(self, due_by: datetime) -> list[Delivery]:
        now = self.clock()
        until = now + timedelta(seconds=self.outbox.lease_seconds)
        conds = (
            OutboxItem.op == OP,
            OutboxItem.state == PENDING,
            OutboxItem.next_attempt_at <= due_by,
            OutboxItem.remote_name.in_(self.cfg.urls),
            or_(OutboxItem.owner.is_(None), OutboxItem.lease_until < now),
        )
        with self.db.session() as s:
            ids = s.scalars(
                select(OutboxItem.id)
                .where(*conds)
                .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
                .limit(self.outbox.batch_size)
            ).all()
        out = []
        for item_id in ids:
            with self.db.session() as s:
                res = s.execute(
                    update(OutboxItem)
                    .where(OutboxItem.id == item_id, *conds)
                    .values(owner=self.owner, lease_until=until, attempts=OutboxItem.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                if res.rowcount != 1:  # type: ignore[attr-defined]
                    continue  # another worker won it
                it = s.get_one(OutboxItem, item_id)
                out.append(Delivery(it.id, it.remote_name, it.payload or "{}", it.attempts))
        return out

    def _finish(self, item: Delivery, error: str | None) -> None:
        now = self.clock()
        if error is None:
            values: dict[str, Any] = {"state": DONE, "done_at": now, "last_error": None}
        else:
            delay = min(
                self.outbox.backoff_base_seconds * (2 ** max(item.attempts - 1, 0)),
                self.outbox.backoff_max_seconds,
            )
            values = {"last_error": error[:500], "next_attempt_at": now + timedelta(seconds=delay)}
        with self.db.session() as s:
            s.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item.id, OutboxItem.owner == self.owner)
                .values(owner=None, lease_until=None, **values)
                .execution_options(synchronize_session=False)
            )

    async def _deliver(self, http: aiohttp.ClientSession, item: Delivery) -> str | None:
        body = item.payload.encode()
        event = json.loads(item.payload)
        try:
            secret = self.cfg.secret_bytes()
        except StorageError as exc:
            return str(exc)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "callrec-webhooks/1",
            SIGNATURE_HEADER: sign(secret, int(time.time()), body),
            EVENT_HEADER: str(event.get("type", "")),
            ID_HEADER: str(event.get("id", "")),
        }
        try:
            async with http.post(
                item.url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return None
                return f"HTTP {resp.status} from the receiver"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"[:300]

    async def drain(self) -> WebhookResult:
        """Collect new events, then deliver every item due now (failures wait for backoff)."""
        result = WebhookResult()
        if not self.cfg.urls:
            return result
        result.queued = await asyncio.to_thread(collect, self.db, self.cfg)
        started = self.clock()
        timeout = aiohttp.ClientTimeout(total=self.cfg.timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while batch := await asyncio.to_thread(self.claim, started):
                errors = await asyncio.gather(*(self._deliver(http, it) for it in batch))
                for item, error in zip(batch, errors, strict=True):
                    await asyncio.to_thread(self._finish, item, error)
                    if error is None:
                        result.delivered += 1
                    else:
                        result.failed += 1
                        result.errors.append(error)
                        log.warning(
                            "webhook %s to %s failed (attempt %d): %s",
                            item.id, _safe_url(item.url), item.attempts, error,
                        )  # fmt: skip
        return result

    async def run_forever(self, stop: asyncio.Event, poll_seconds: float = 2.0) -> None:
        while not stop.is_set():
            try:
                await self.drain()
            except Exception:  # a database or receiver hiccup must not kill the worker
                log.exception("webhook drain failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
