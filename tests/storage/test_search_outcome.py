"""The outcome filter reads recordings.verification_outcome, which triggers keep in step."""

from __future__ import annotations

from storage.db import Database
from storage.models import Recording, Verification
from storage.permissions import Actor
from storage.search import SearchFilter, search
from tests.storage.search_data import Row, make_rows, recording, verification

QA = Actor.of("qa", "view_history", "view_unassigned")


def test_verification_written_later_or_changed_reaches_the_search(db: Database) -> None:
    rows = [Row(**{**r.__dict__, "outcome": None}) for r in make_rows(3, seed=8)]
    with db.session() as s:
        for r in rows:
            s.add(recording(r))
    assert search(db, QA, SearchFilter(outcome="gap")).recordings == []
    with db.session() as s:  # the capture verification runs after the call
        s.add(verification(Row(**{**rows[0].__dict__, "outcome": "silent_leg"})))
        s.add(verification(Row(**{**rows[1].__dict__, "outcome": "verified"})))
    page = search(db, QA, SearchFilter(outcome="silent_leg"))
    assert [v.id for v in page.recordings] == [rows[0].id]
    assert page.outcomes == {rows[0].id: "silent_leg"}
    with db.session() as s:  # a re-check changes its mind
        v = s.query(Verification).filter(Verification.recording_id == rows[1].id).one()
        v.outcome = "short"
    assert [v.id for v in search(db, QA, SearchFilter(outcome="short")).recordings] == [rows[1].id]
    assert search(db, QA, SearchFilter(outcome="verified")).recordings == []
    with db.session() as s:
        assert s.get_one(Recording, rows[2].id).verification_outcome is None
