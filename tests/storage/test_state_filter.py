"""The state filter on the stored column selects what the derived ``Recording.state`` says.

A rematch run leaves the rows it assigns stored "unassigned" (docs/STORAGE.md);
``state_in`` and ``counts`` answer from the stored column plus the assignment
rows, so every combination of states is checked here against the states this
test gave each recording (one of each kind, one assigned to two records).
"""

from __future__ import annotations

from itertools import combinations

import pytest
from sqlalchemy import select, text

from storage.models import ASSIGNED, DELETED, UNASSIGNED, Recording, state_in
from storage.service import StorageService

NOW = "2024-05-01 00:00:00"
# id -> (stored state, CRM records it is assigned to, the state every reader must see)
ROWS = {
    "a" * 32: (ASSIGNED, (1,), ASSIGNED),  # assigned at ingest
    "b" * 32: (UNASSIGNED, (), UNASSIGNED),
    "c" * 32: (UNASSIGNED, (1, 2), ASSIGNED),  # assigned by a rematch run, to two records
    "d" * 32: (UNASSIGNED, (2,), ASSIGNED),
    "e" * 32: (DELETED, (), DELETED),
    "f" * 32: (UNASSIGNED, (), UNASSIGNED),
}


def _load(service: StorageService) -> None:
    with service.db.session() as s:
        for rec in (1, 2):
            s.execute(
                text(
                    "INSERT INTO crm_records (id, kind, external_id, source, created_at, "
                    "updated_at) VALUES (:id, 'individual', :ext, 'test', :now, :now)"
                ),
                {"id": rec, "ext": str(rec), "now": NOW},
            )
        s.execute(
            text(
                "INSERT INTO recordings (id, call_id, segment_no, source, direction, agent, "
                "customer_e164, started_at, ended_at, duration_seconds, bridged_seconds, legs, "
                "format, size_bytes, decision, reasons, flags, pauses, state, upload_state, "
                "legal_hold, created_at) VALUES (:id, :id, 1, 'ari', 'outbound', 'a1', NULL, "
                ":now, :now, 60, 60, 'both', 'wav', 0, '{}', '[]', '[]', '[]', :state, "
                "'uploaded', false, :now)"
            ),
            [{"id": rid, "state": stored, "now": NOW} for rid, (stored, _, _) in ROWS.items()],
        )
        s.execute(
            text(
                "INSERT INTO assignments (recording_id, record_id, how, assigned_at, "
                "assigned_by) VALUES (:r, :c, 'rematch', :now, 'test')"
            ),
            [
                {"r": rid, "c": rec, "now": NOW}
                for rid, (_, recs, _) in ROWS.items()
                for rec in recs
            ],
        )


async def test_every_combination_of_states_selects_what_readers_see(
    service: StorageService,
) -> None:
    _load(service)
    states = (ASSIGNED, UNASSIGNED, DELETED)
    with service.db.session() as s:
        derived = {rid: st for rid, st in s.execute(select(Recording.id, Recording.state))}
        assert derived == {rid: seen for rid, (_, _, seen) in ROWS.items()}
        for k in range(len(states) + 1):
            for want in combinations(states, k):
                got = set(s.scalars(select(Recording.id).where(state_in(want))))
                assert got == {rid for rid, (_, _, seen) in ROWS.items() if seen in want}, want


async def test_counts_move_rematch_assigned_rows_to_assigned(service: StorageService) -> None:
    _load(service)
    assert await service.counts() == {ASSIGNED: 3, UNASSIGNED: 2, DELETED: 1}


def test_writing_the_derived_state_is_refused_not_lost() -> None:
    """``rec.state = …`` used to be accepted and then dropped at flush."""
    rec = Recording(state=UNASSIGNED)  # the constructor keeps meaning the stored state
    assert rec.stored_state == UNASSIGNED
    with pytest.raises(AttributeError, match="stored_state"):
        rec.state = ASSIGNED
    rec.stored_state = ASSIGNED  # the one way to write it
    assert rec.stored_state == ASSIGNED
