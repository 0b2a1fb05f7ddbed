"""The batched rematch: right pairs, one chained audit entry per run, safe on two nodes at once.

The expected pairs (and their SHA-256) are computed here from the numbers the
test generated, not read back from callrec; the chain is checked by
``audit.verify`` and the per-entry hashes of the batch encoder against the
reference ``seal`` and ``entry_hash`` on arbitrary values.
"""

from __future__ import annotations

import hashlib
import random
import threading
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from storage import audit, erasure, matching, retention
from storage.db import Database, open_database
from storage.errors import RecordingAssigned
from storage.models import Recording

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


def _digest(pairs: set[tuple[str, int]]) -> str:
    return hashlib.sha256("".join(sorted(f"{r} {c}\n" for r, c in pairs)).encode()).hexdigest()


def _check_result(db: Database, want: set[tuple[str, int]]) -> list[audit.AuditRecord]:
    """The pairs, the derived state, the run entries (returned) and the chain."""
    with db.session() as s:
        made = {
            (str(r), int(c), str(run), str(at))
            for r, c, run, at in s.execute(
                text("SELECT recording_id, record_id, run, assigned_at FROM assignments")
            )
        }
        assigned = set(s.scalars(select(Recording.id).where(Recording.state == "assigned")))
        stored = {str(x) for (x,) in s.execute(text("SELECT DISTINCT state FROM recordings"))}
        entries = audit.read(s, limit=100_000)
        report = audit.verify(s)
        at_of = {  # each run's entry time as the assignments column stores it
            e.id: s.execute(
                text("SELECT at FROM audit_log WHERE id = :id"), {"id": e.id}
            ).scalar_one()
            for e in entries
        }
    assert {(r, c) for r, c, _, _ in made} == want
    assert assigned == {r for r, _ in want}  # derived from the assignment rows
    assert stored == {"unassigned"}  # ... and no recording row was rewritten
    assert not [e for e in entries if e.action == "assign"]  # no entry per pair
    runs = [e for e in entries if e.action == "rematch"]
    assert runs and all(e.recording_id is None and e.record_id is None for e in runs)
    for e in runs:  # each run's entry points at exactly the rows it made, and hashes them
        mine = {(r, c) for r, c, run, at in made if run == e.detail["run"]}
        assert {at for _, _, run, at in made if run == e.detail["run"]} == {str(at_of[e.id])}
        assert e.detail["assignments"] == len(mine)
        assert e.detail["recordings"] == len({r for r, _ in mine})
        assert e.detail["pairs_sha256"] == _digest(mine)
    assert sum(e.detail["assignments"] for e in runs) == len(want)
    assert report.ok, report.problem
    assert report.checked == len(entries)
    return runs


def test_rematch_makes_each_pair_once_with_one_chained_entry(db_url: str) -> None:
    db = open_database(db_url)
    try:
        want = _load(db, 400)
        assert len(want) > 200 and len({r for r, _ in want}) < len(want)  # shared number hit
        with db.joined_session() as s:  # as serve runs it (SQLite: unchecked keys)
            n = matching.rematch(s, "nightly")
        assert n == len({r for r, _ in want})
        [run] = _check_result(db, want)
        assert run.actor == "nightly" and run.detail["pairs_sha256"] == _digest(want)
        with db.session() as s:
            # The recording's own trail (its story page) shows its assignment by the run.
            rid = next(r for r, _ in sorted(want) if sum(x == r for x, _ in want) > 1)
            mine = matching.recording_trail(s, rid)
            assert sorted((e.action, e.record_id) for e in mine) == sorted(
                ("assign", c) for r, c in want if r == rid
            )
            assert all(e.detail == {"how": "rematch", "run": run.detail["run"]} for e in mine)
            assert all(e.actor == "nightly" and e.at == run.at and e.id == run.id for e in mine)
            assert matching.recording_trail(s, rid, limit=1, newest_first=True) == mine[-1:]
        with db.session() as s:
            assert matching.rematch(s, "nightly") == 0  # nothing new: nothing written
            assert audit.verify(s).checked == 1
    finally:
        db.dispose()


def test_a_run_leaves_every_key_whole_and_the_checks_back_on(db_url: str) -> None:
    """On SQLite the run's session skips the row-by-row key checks; nothing else may."""
    db = open_database(db_url)
    try:
        want = _load(db, 200, seed=17)
        with db.joined_session() as s:
            assert matching.rematch(s, "nightly") == len({r for r, _ in want})
        with pytest.raises(RuntimeError), db.joined_session() as s:  # a run that fails
            matching.rematch(s, "nightly")
            raise RuntimeError("the run fails")
        dangling = text(
            "INSERT INTO assignments (recording_id, record_id, how, assigned_at, assigned_by) "
            "VALUES (:rid, :rec, 'manual', :now, 'qa')"
        )
        rid, rec = min(want)
        for bad in ({"rid": "f" * 32, "rec": rec}, {"rid": rid, "rec": 99_999}):
            with pytest.raises(IntegrityError), db.session() as s:
                s.execute(dangling, {**bad, "now": NOW})
        if db.dialect == "sqlite":
            # SQLite's own check over the whole table finds no key the run left dangling,
            conns = [db.engine.connect() for _ in range(10)]  # every pooled connection
            try:  # (read on the driver's connections: no BEGIN IMMEDIATE on each)
                raws = [c.connection.driver_connection for c in conns]
                assert raws[0].execute("PRAGMA foreign_key_check").fetchall() == []
                # ... and every connection went back to the pool checking keys again.
                assert [r.execute("PRAGMA foreign_keys").fetchone()[0] for r in raws] == (
                    [1] * len(raws)
                )
            finally:
                for c in conns:
                    c.close()
        _check_result(db, want)
    finally:
        db.dispose()


def test_an_erasure_after_a_rematch_leaves_a_verifiable_chain(db_url: str) -> None:
    db = open_database(db_url)
    try:
        want = _load(db, 200, seed=11)
        with db.session() as s:
            matching.rematch(s, "nightly")
        rid, _ = min(want)
        with db.session() as s:
            e164 = s.scalar(select(Recording.customer_e164).where(Recording.id == rid))
            assert e164 is not None
            done = erasure.scrub(s, [rid], e164, "E-1")
        assert done.assignments == sum(r == rid for r, _ in want)
        with db.session() as s:
            assert matching.recording_trail(s, rid) == []  # the link to the person is gone
            assert s.scalar(select(Recording.state).where(Recording.id == rid)) == "unassigned"
            report = audit.verify(s)
        assert report.ok and report.checked == 1, report.problem
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
                with d.joined_session() as s:
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


def test_a_deletion_racing_a_run_does_not_delete_what_it_assigns(
    db_url: str, tmp_path: Path
) -> None:
    """The run leaves the row alone, so the assigning lock (PostgreSQL) must order them."""
    db = open_database(db_url)
    other = open_database(db_url)  # the deleting node
    try:
        want = _load(db, 60, seed=13)
        rid, _ = min(want)
        errors: list[BaseException] = []

        def delete() -> None:
            try:
                with other.session() as s:
                    rec = s.get(Recording, rid)  # PostgreSQL: read before the run commits
                    assert rec is not None
                    retention.tombstone(
                        s, rec, actor="qa", reason="unassigned", allow_assigned=False,
                        store_root=tmp_path, remote=False, outcome=retention.DeleteOutcome(),
                    )  # fmt: skip
            except BaseException as exc:  # reported below
                errors.append(exc)

        deleter = threading.Thread(target=delete)
        with db.session() as s:
            matching.rematch(s, "nightly")
            deleter.start()
            deleter.join(1.0)  # it now waits for the run (PostgreSQL: the lock; SQLite: the writer)
        deleter.join(60)
        assert [type(e) for e in errors] == [RecordingAssigned], errors
        with db.session() as s:
            assert s.scalar(select(Recording.state).where(Recording.id == rid)) == "assigned"
    finally:
        other.dispose()
        db.dispose()


def test_an_assigned_recording_is_left_alone_and_not_audited_again(db_url: str) -> None:
    db = open_database(db_url)
    try:
        want = _load(db, 120, seed=3)
        rid, rec = min(want)
        with db.session() as s:  # the pair exists (a person made it), the row still unmarked
            s.execute(
                text(
                    "INSERT INTO assignments (recording_id, record_id, how, assigned_at, "
                    "assigned_by) VALUES (:rid, :rec, 'manual', :now, 'qa')"
                ),
                {"rid": rid, "rec": rec, "now": NOW},
            )
        with db.session() as s:
            assert s.scalar(select(Recording.state).where(Recording.id == rid)) == "assigned"
            matching.rematch(s, "nightly")
            made = {
                (str(r), int(c))
                for r, c in s.execute(
                    text("SELECT recording_id, record_id FROM assignments WHERE run IS NOT NULL")
                )
            }
            [run] = [e for e in audit.read(s) if e.action == "rematch"]
        # An assigned recording is not the rematch's: none of its pairs is made again.
        others = {(r, c) for r, c in want if r != rid}
        assert made == others and run.detail["pairs_sha256"] == _digest(others)
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
