"""Console sessions ended by logout, kept in the shared database.

A session cookie is signed, so it stays valid until it expires unless the
server remembers that it was ended: a copied cookie would otherwise outlive
the logout. Every node reads the same table, so a logout on one node ends
the session on all of them. Rows go once the session would have expired.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from storage.db import Database
from storage.models import RevokedSession
from storage.timeutil import utcnow


class RevokedSessions:
    def __init__(self, db: Database) -> None:
        self.db = db

    def revoke(self, sid: str, expires_at: datetime) -> None:
        with self.db.session() as s:
            s.execute(delete(RevokedSession).where(RevokedSession.expires_at < utcnow()))
            if s.get(RevokedSession, sid) is None:
                s.add(RevokedSession(sid=sid, expires_at=expires_at))

    def is_revoked(self, sid: str) -> bool:
        with self.db.session() as s:
            return s.scalar(select(RevokedSession.sid).where(RevokedSession.sid == sid)) is not None
