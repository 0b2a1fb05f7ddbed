"""Leases: how several nodes share one queue without doubles.

A worker owns a row only after a conditional UPDATE that sets it as owner
succeeded (rowcount 1). The condition (free, or lease expired) makes two
claims of the same row mutually exclusive on any SQL database, SQLite
included, without SKIP LOCKED. An expired lease means its owner died or hung;
the next claim takes over, which is why every operation done under a lease
must be idempotent.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from storage.models import JobLease
from storage.timeutil import utcnow


def worker_id(prefix: str = "") -> str:
    """Unique per process and worker: host, pid and a random part."""
    base = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return f"{prefix}{base}" if prefix else base


def claim_job(session: Session, name: str, owner: str, seconds: float) -> bool:
    """Take the cluster-wide lease of a periodic job; False when another node holds it."""
    now = utcnow()
    insert_ignore(session, JobLease, {"name": name})
    res = session.execute(
        update(JobLease)
        .where(JobLease.name == name)
        .where(or_(JobLease.owner.is_(None), JobLease.lease_until < now, JobLease.owner == owner))
        .values(owner=owner, lease_until=now + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )
    return bool(res.rowcount == 1)  # type: ignore[attr-defined]


def release_job(session: Session, name: str, owner: str, *, run_key: str | None = None) -> None:
    values: dict[str, object] = {"owner": None, "lease_until": None, "last_run_at": utcnow()}
    if run_key is not None:
        values["last_run_key"] = run_key
    session.execute(
        update(JobLease)
        .where(JobLease.name == name, JobLease.owner == owner)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def last_run_key(session: Session, name: str) -> str | None:
    return session.scalar(select(JobLease.last_run_key).where(JobLease.name == name))


def lease_until(seconds: float, now: datetime | None = None) -> datetime:
    return (now or utcnow()) + timedelta(seconds=seconds)


def insert_ignore(session: Session, table: type[JobLease], values: dict[str, object]) -> None:
    """INSERT that does nothing when the primary key exists (both dialects)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(table).values(**values).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(table).values(**values).on_conflict_do_nothing())
