"""Recording search: filters, sort and keyset pagination, for the API and CSV export.

Pages are cut by keyset (``WHERE (sort_key, id) < (last_key, last_id)``),
never OFFSET, so page 10,000 costs what page 1 costs: the database walks one
of the ``(column, started_at, id)`` indexes of migration 0006 from the cursor.
The cursor is opaque to clients (base64 of the sort, last key and last id)
and is checked on the way in: a forged one can only start a page elsewhere.

Permissions are the listing's: an actor sees assigned recordings with
``view_history``, unassigned ones with ``view_unassigned``, tombstones with
either. Each search is audited once (filters and count), like a list.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, Text, cast, select, tuple_
from sqlalchemy.orm import Session

from storage import audit
from storage.db import Database
from storage.errors import PermissionDenied
from storage.models import (
    ASSIGNED,
    DELETED,
    UNASSIGNED,
    Assignment,
    Recording,
    RecordingFile,
    state_in,
)
from storage.permissions import Actor, listable_states
from storage.phones import require_e164
from storage.service import FileView, RecordingView

SortKey = Literal["started_at", "-started_at", "duration", "-duration"]
SORTS: tuple[str, ...] = ("-started_at", "started_at", "-duration", "duration")
STATES = (ASSIGNED, UNASSIGNED, DELETED)
DIRECTIONS = ("inbound", "outbound", "internal")
OUTCOMES = ("verified", "short", "missing", "silent_leg", "not_recorded_by_decision", "gap")
NAME = re.compile(r"[A-Za-z0-9_.@:+-]{1,128}")
FLAG = re.compile(r"[a-z0-9_.-]{1,64}")
DIGITS = re.compile(r"\d{3,15}")
MAX_LIMIT = 500
EXPORT_BATCH = 1000


class BadSearch(ValueError):
    """A filter or cursor that cannot be used; ``field`` names which."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.field = name


@dataclass(frozen=True)
class SearchFilter:
    """What to look for. ``None`` means "any"; every value is checked in ``validate``."""

    started_from: datetime | None = None  # inclusive, UTC naive
    started_to: datetime | None = None  # exclusive
    agent: str | None = None
    campaign: str | None = None
    queue: str | None = None
    direction: str | None = None
    number: str | None = None  # exact: any format, normalised to E.164
    number_contains: str | None = None  # partial: 3-15 digits anywhere in the E.164
    min_duration: float | None = None
    max_duration: float | None = None
    state: str | None = None
    flag: str | None = None
    outcome: str | None = None  # capture verification outcome
    record_id: int | None = None

    def validate(self) -> None:
        for name in ("agent", "campaign", "queue"):
            value = getattr(self, name)
            if value is not None and not NAME.fullmatch(value):
                raise BadSearch(name, f"{name!r} must be 1-128 letters, digits or _.@:+-")
        checks: tuple[tuple[str, tuple[str, ...]], ...] = (
            ("direction", DIRECTIONS),
            ("state", STATES),
            ("outcome", OUTCOMES),
        )
        for name, allowed in checks:
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise BadSearch(name, f"{name!r} must be one of {', '.join(allowed)}")
        if self.flag is not None and not FLAG.fullmatch(self.flag):
            raise BadSearch("flag", "'flag' must be 1-64 of a-z, 0-9, '_', '.', '-'")
        if self.number_contains is not None and not DIGITS.fullmatch(self.number_contains):
            raise BadSearch("number_contains", "'number_contains' must be 3-15 digits")
        if self.number is not None and not 1 <= len(self.number) <= 64:
            raise BadSearch("number", "'number' must be 1-64 characters")
        for name in ("min_duration", "max_duration"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 10**7:
                raise BadSearch(name, f"{name!r} must be 0..10000000 seconds")
        if self.started_from and self.started_to and self.started_from >= self.started_to:
            raise BadSearch("from", "'from' must be before 'to'")

    def audit_detail(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass(frozen=True)
class Cursor:
    sort: str
    key: datetime | float
    id: str

    def encode(self) -> str:
        key = self.key.isoformat() if isinstance(self.key, datetime) else self.key
        raw = json.dumps([self.sort, key, self.id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, sort: str) -> Cursor:
        bad = BadSearch("cursor", "'cursor' is not one this search returned")
        if len(token) > 256:
            raise bad
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            got_sort, key, rid = json.loads(raw)
        except (binascii.Error, ValueError, TypeError):
            raise bad from None
        if got_sort != sort or not isinstance(rid, str) or not 1 <= len(rid) <= 64:
            raise bad
        try:
            if sort.lstrip("-") == "started_at" and isinstance(key, str):
                return cls(sort, datetime.fromisoformat(key).replace(tzinfo=None), rid)
            if sort.lstrip("-") == "duration" and isinstance(key, int | float):
                return cls(sort, float(key), rid)
        except ValueError:
            pass
        raise bad


@dataclass(frozen=True)
class SearchPage:
    recordings: list[RecordingView]
    outcomes: dict[str, str]  # recording id -> verification outcome (when checked)
    next_cursor: str | None
    filters: dict[str, Any] = field(default_factory=dict)


def scoped(actor: Actor, filt: SearchFilter) -> SearchFilter:
    """The filter narrowed to the one agent a scoped user may see (docs/CONSOLE.md)."""
    scope = actor.agent_scope
    if scope is None:
        return filt
    if filt.agent is not None and filt.agent != scope:
        raise PermissionDenied(f"recordings of agent {filt.agent!r} are not agent {scope}'s")
    return replace(filt, agent=scope)


def build_query(
    filt: SearchFilter, states: list[str], sort: str, region: str = "US"
) -> Select[Recording]:
    """The SELECT for one search (no limit, no cursor): filters and order."""
    r = Recording
    q = select(r).where(state_in(states))
    if filt.started_from is not None:
        q = q.where(r.started_at >= filt.started_from)
    if filt.started_to is not None:
        q = q.where(r.started_at < filt.started_to)
    for name in ("agent", "campaign", "queue", "direction"):
        value = getattr(filt, name)
        if value is not None:
            q = q.where(getattr(r, name) == value)
    if filt.number is not None:
        q = q.where(r.customer_e164 == require_e164(filt.number, region))
    if filt.number_contains is not None:
        q = q.where(r.customer_e164.like(f"%{filt.number_contains}%"))
    if filt.min_duration is not None:
        q = q.where(r.duration_seconds >= filt.min_duration)
    if filt.max_duration is not None:
        q = q.where(r.duration_seconds <= filt.max_duration)
    if filt.flag is not None:
        # flags is a JSON list of identifiers; its text form holds "<flag>" quoted.
        q = q.where(cast(r.flags, Text).like(f'%"{filt.flag}"%'))
    if filt.outcome is not None:
        q = q.where(r.verification_outcome == filt.outcome)
    if filt.record_id is not None:
        q = q.where(
            r.id.in_(select(Assignment.recording_id).where(Assignment.record_id == filt.record_id))
        )
    col = r.started_at if sort.lstrip("-") == "started_at" else r.duration_seconds
    if sort.startswith("-"):
        return q.order_by(col.desc(), r.id.desc())
    return q.order_by(col, r.id)


def _after(q: Select[Recording], cursor: Cursor) -> Select[Recording]:
    col = (
        Recording.started_at
        if cursor.sort.lstrip("-") == "started_at"
        else (Recording.duration_seconds)
    )
    pair = tuple_(col, Recording.id)
    bound = tuple_(cursor.key, cursor.id)
    return q.where(pair < bound) if cursor.sort.startswith("-") else q.where(pair > bound)


def _cursor_of(rec: Recording, sort: str) -> Cursor:
    key = rec.started_at if sort.lstrip("-") == "started_at" else rec.duration_seconds
    return Cursor(sort, key, rec.id)


def _views(s: Session, recs: list[Recording]) -> tuple[list[RecordingView], dict[str, str]]:
    """Views of a page with two batched queries (assignments, files), not two per row."""
    ids = [rec.id for rec in recs]
    records: dict[str, list[int]] = {i: [] for i in ids}
    files: dict[str, list[FileView]] = {i: [] for i in ids}
    outcomes: dict[str, str] = {}
    if ids:
        for rid, record_id in s.execute(
            select(Assignment.recording_id, Assignment.record_id)
            .where(Assignment.recording_id.in_(ids))
            .order_by(Assignment.record_id)
        ):
            records[rid].append(record_id)
        for f in s.scalars(
            select(RecordingFile)
            .where(RecordingFile.recording_id.in_(ids))
            .order_by(RecordingFile.kind)
        ):
            files[f.recording_id].append(
                FileView(
                    f.kind, f.format, f.size_bytes, f.sha256, f.present, f.uploaded_at is not None
                )
            )
        outcomes = {rec.id: rec.verification_outcome for rec in recs if rec.verification_outcome}
    views = [
        RecordingView.of(rec, tuple(records[rec.id]), tuple(files[rec.id])) for rec in recs
    ]
    return views, outcomes


def search_page(
    s: Session,
    filt: SearchFilter,
    states: list[str],
    *,
    sort: str = "-started_at",
    limit: int = 100,
    cursor: Cursor | None = None,
    region: str = "US",
) -> tuple[list[Recording], Cursor | None]:
    """One page of matching rows and the cursor of the next page (None at the end)."""
    q = build_query(filt, states, sort, region)
    if cursor is not None:
        q = _after(q, cursor)
    recs = list(s.scalars(q.limit(limit + 1)))
    more = len(recs) > limit
    recs = recs[:limit]
    return recs, (_cursor_of(recs[-1], sort) if more and recs else None)


def _checked(filt: SearchFilter, sort: str, limit: int, cursor: str | None) -> Cursor | None:
    filt.validate()
    if sort not in SORTS:
        raise BadSearch("sort", f"'sort' must be one of {', '.join(SORTS)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadSearch("limit", f"'limit' must be 1..{MAX_LIMIT}")
    return Cursor.decode(cursor, sort) if cursor else None


def search(
    db: Database,
    actor: Actor,
    filt: SearchFilter,
    *,
    sort: str = "-started_at",
    limit: int = 100,
    cursor: str | None = None,
    region: str = "US",
) -> SearchPage:
    """One page of the recordings ``actor`` may see that match ``filt``; audited."""
    after = _checked(filt, sort, limit, cursor)
    states = listable_states(actor, filt.state)
    filt = scoped(actor, filt)
    with db.session() as s:
        recs, nxt = search_page(
            s, filt, states, sort=sort, limit=limit, cursor=after, region=region
        )
        views, outcomes = _views(s, recs)
        detail = filt.audit_detail()
        audit.write(s, actor.name, "search", count=len(views), sort=sort, **detail)
    return SearchPage(views, outcomes, nxt.encode() if nxt else None, detail)


CSV_COLUMNS = (
    "id",
    "call_id",
    "segment_no",
    "started_at",
    "ended_at",
    "duration_seconds",
    "direction",
    "agent",
    "campaign",
    "queue",
    "customer_e164",
    "state",
    "upload_state",
    "legs",
    "flags",
    "verification",
    "record_ids",
    "legal_hold",
)


def csv_row(view: RecordingView, outcome: str | None) -> list[str]:
    """One CSV line's cells; formula-leading cells are quoted so spreadsheets never run them."""
    cells = [
        view.id,
        view.call_id,
        str(view.segment_no),
        view.started_at.isoformat() + "Z",
        view.ended_at.isoformat() + "Z",
        f"{view.duration_seconds:.3f}",
        view.direction,
        view.agent,
        view.campaign or "",
        view.queue or "",
        view.customer_e164 or "",
        view.state,
        view.upload_state,
        view.legs,
        " ".join(view.flags),
        outcome or "",
        " ".join(str(i) for i in view.record_ids),
        "yes" if view.legal_hold else "no",
    ]
    return [
        "'" + c if c[:1] in ("=", "+", "-", "@") and c != view.customer_e164 else c for c in cells
    ]


def export_rows(
    db: Database,
    actor: Actor,
    filt: SearchFilter,
    *,
    sort: str = "-started_at",
    region: str = "US",
    max_rows: int = 1_000_000,
) -> Iterator[list[list[str]]]:
    """Batches of CSV rows for every match, page by page (keyset), audited once up front.

    A generator: the caller streams each batch before the next is read, so an
    export of a million rows never sits in memory. Run it in a thread.
    """
    _checked(filt, sort, 1, None)
    states = listable_states(actor, filt.state)
    filt = scoped(actor, filt)
    with db.session() as s:
        audit.write(s, actor.name, "export", sort=sort, **filt.audit_detail())
    after: Cursor | None = None
    sent = 0
    while sent < max_rows:
        with db.session() as s:
            recs, after = search_page(
                s,
                filt,
                states,
                sort=sort,
                limit=min(EXPORT_BATCH, max_rows - sent),
                cursor=after,
                region=region,
            )
            views, outcomes = _views(s, recs)
        sent += len(views)
        yield [csv_row(v, outcomes.get(v.id)) for v in views]
        if after is None:
            return
