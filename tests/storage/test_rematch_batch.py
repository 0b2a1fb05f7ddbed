"""The batched rematch: right pairs, one chained audit entry each, safe on two nodes at once.

The expected pairs are computed here from the numbers the test generated,
not read back from callrec; the chain is checked by ``audit.verify`` and the
per-entry hashes of the batch encoder against the reference ``seal`` and
``entry_hash`` on arbitrary values.
"""

from __future__ import annotations

import random
import threading
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from storage import audit, matching
from storage.db import Database, open_database

NOW = "2024-05-01 00:00:00"


def _load(db: Database, n_recordings: int, seed: int = 5) -> set[tuple[str, int]]:
    """Recordings and CRM records; the pairs a rematch must make (computed here)."""
    rng = random.Random(seed)
    phones: list[tuple[int, str]] = []
    for rec in range(1, 61):
        phones.append((rec, f"+1415555{rec:04d}"))
    phones += [(61, "+14155550007"), (62, "+14155550007")]  # a number two records share
    by_number: dict[str, set[int]] = {}
    for rec, e164 in phones:
        by_number.setdefault(e164, set()).add(rec)
    recordings = []
    for i in range(n_recordings):
        known = rng.random() < 0.6
        number = f"+1415555{rng.randint(1, 62):04d}" if known else f"+1999555{i:04d}"
        recordings.append((f"{i:032x}", number))
    with db.session() as s:
        for rec in sorted({r for r, _ in phones}):
            s.execute(
                text(
                    "INSERT INTO crm_records (id, kind, external_id, source, created_at, "
                    "updated_at) VALUES (:id, 'individual', :ext, 'test', :now, :now)"
                ),
                {"id": rec, "ext": str(rec), "now": NOW},
            )
        s.execute(
            text(
                "INSERT INTO crm_phones (record_id, record_kind, field, e164, raw, e164_last7) "
                "VALUES (:rec, 'individual', 'cell', :e, '', :last7)"
            ),
            [{"rec": rec, "e": e, "last7": e[-7:]} for rec, e in phones],
        )
        s.execute(
            text(
                "INSERT INTO recordings (id, call_id, segment_no, source, direction, agent, "
                "customer_e164, started_at, ended_at, duration_seconds, bridged_seconds, legs, "
                "format, size_bytes, decision, reasons, flags, pauses, state, upload_state, "
                "legal_hold, created_at) VALUES (:id, :id, 1, 'ari', 'outbound', 'a1', :e, "
                ":now, :now, 60, 60, 'both', 'wav', 0, '{}', '[]', '[]', '[]', 'unassigned', "
                "'uploaded', false, :now)"
            ),
            [{"id": rid, "e": e, "now": NOW} for rid, e in recordings],
        )
    return {(rid, rec) for rid, e in recordings for rec in by_number.get(e, ())}


def _check_result(db: Database, want: set[tuple[str, int]]) -> None:
    with db.session() as s:
        made = {
            (str(r), int(c))
            for r, c in s.execute(text("SELECT recording_id, record_id FROM assignments"))
        }
        assigned = {
            str(r) for (r,) in s.execute(text("SELECT id FROM recordings WHERE state = 'assigned'"))
        }
        entries = audit.read(s, limit=100_000)
        report = audit.verify(s)
    assert made == want
    assert assigned == {r for r, _ in want}
    assign_entries = [(e.recording_id, e.record_id) for e in entries if e.action == "assign"]
    assert sorted(assign_entries) == sorted(want)  # exactly one entry per pair
    assert all(e.detail == {"how": "rematch"} for e in entries if e.action == "assign")
    assert report.ok, report.problem
    assert report.checked == len(entries)


def test_rematch_makes_each_pair_once_with_one_chained_entry(db_url: str) -> None:
    db = open_database(db_url)
    try:
        want = _load(db, 400)
        assert len(want) > 200 and len({r for r, _ in want}) < len(want)  # shared number hit
        with db.session() as s:
            n = matching.rematch(s, "nightly")
        assert n == len({r for r, _ in want})
        _check_result(db, want)
        with db.session() as s:
            # The recording's own trail (its story page) finds its entry.
            rid, rec = min(want)
            mine = audit.read(s, recording_id=rid)
            assert [(e.action, e.record_id) for e in mine] == [("assign", rec)]
            salts = [
                str(x)
                for (x,) in s.execute(text("SELECT salt FROM audit_log WHERE salt IS NOT NULL"))
            ]
            assert len(set(salts)) == len(salts) == len(want)  # one fresh salt per entry
            assert all(len(x) == 32 and int(x, 16) >= 0 for x in salts)
        with db.session() as s:
            assert matching.rematch(s, "nightly") == 0  # nothing new: nothing written
            assert audit.verify(s).checked == len(want)
    finally:
        db.dispose()


def test_two_nodes_rematching_at_once_assign_each_pair_once(db_url: str) -> None:
    """Without the job lease (its worst case): the statements alone keep it right."""
    db = open_database(db_url)
    other = open_database(db_url)  # a second node's engine
    try:
        want = _load(db, 300, seed=9)
        counts: list[int] = []
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def node(d: Database) -> None:
            try:
                start.wait()
                with d.session() as s:
                    counts.append(matching.rematch(s, "node"))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=node, args=(d,)) for d in (db, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        assert sum(counts) == len({r for r, _ in want})
        _check_result(db, want)
    finally:
        other.dispose()
        db.dispose()


def test_a_manual_assignment_already_made_is_kept_and_not_audited_twice(db_url: str) -> None:
    db = open_database(db_url)
    try:
        want = _load(db, 120, seed=3)
        rid, rec = min(want)
        with db.session() as s:  # the pair exists (a person made it), the recording unassigned
            s.execute(
                text("INSERT INTO assignments VALUES (:rid, :rec, 'manual', :now, 'qa')"),
                {"rid": rid, "rec": rec, "now": NOW},
            )
        with db.session() as s:
            matching.rematch(s, "nightly")
            entries = [(e.recording_id, e.record_id) for e in audit.read(s) if e.action == "assign"]
            state = s.execute(
                text("SELECT state FROM recordings WHERE id = :rid"), {"rid": rid}
            ).scalar_one()
        assert sorted(entries) == sorted(want - {(rid, rec)})
        assert state == "assigned" or all(r != rid for r, _ in want - {(rid, rec)})
    finally:
        db.dispose()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    at=st.datetimes(min_value=datetime(1970, 1, 2)),
    actor=st.text(),
    action=st.text(),
    recording_id=st.none() | st.text(),
    record_id=st.none() | st.integers(),
    detail=st.dictionaries(st.text(), _json, max_size=4),
    salt=st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
    prev=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
)
def test_batch_hashes_are_byte_for_byte_the_reference(
    at: datetime,
    actor: str,
    action: str,
    recording_id: str | None,
    record_id: int | None,
    detail: dict[str, object],
    salt: str,
    prev: str,
) -> None:
    enc = audit._Encoder(at, actor, action)
    clean, clean_json = enc.detail(detail)
    sealed = enc.seal(salt, record_id, clean, clean_json)
    assert sealed == audit.seal(salt, record_id, clean)
    got = enc.entry_hash(prev, recording_id, sealed)
    assert got == audit.entry_hash(prev, at, actor, action, recording_id, sealed)
