"""The calls in progress on every node, shared through the database.

Live-call state itself stays on the node that owns the call (beside its
Asterisk); what is published here is only what another node's API needs to
list the call and to say who owns it. Each node replaces its own rows in one
transaction; rows older than ``STALE_SECONDS`` belong to a node that stopped
and are ignored (and removed by whichever node publishes next).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from storage.db import Database
from storage.models import LiveCall
from storage.timeutil import utcnow

STALE_SECONDS = 15.0


@dataclass(frozen=True)
class RemoteCall:
    call_id: str
    node_id: str
    node_url: str
    snapshot: dict[str, Any]


def publish(db: Database, node_id: str, node_url: str, calls: Iterable[dict[str, Any]]) -> None:
    """Make this node's rows exactly ``calls`` (API snapshots with ``call_id`` and ``agent``)."""
    now = utcnow()
    with db.session() as s:
        s.execute(delete(LiveCall).where(LiveCall.node_id == node_id))
        s.execute(
            delete(LiveCall).where(LiveCall.updated_at < now - timedelta(seconds=4 * STALE_SECONDS))
        )
        for snap in calls:
            s.merge(
                LiveCall(
                    call_id=str(snap["call_id"]),
                    node_id=node_id,
                    node_url=node_url,
                    agent=str(snap.get("agent") or ""),
                    snapshot=snap,
                    updated_at=now,
                )
            )


def others(db: Database, node_id: str) -> list[RemoteCall]:
    """Calls other nodes published recently."""
    fresh = utcnow() - timedelta(seconds=STALE_SECONDS)
    with db.session() as s:
        rows = s.scalars(
            select(LiveCall).where(LiveCall.node_id != node_id, LiveCall.updated_at >= fresh)
        ).all()
        return [RemoteCall(r.call_id, r.node_id, r.node_url, dict(r.snapshot)) for r in rows]
