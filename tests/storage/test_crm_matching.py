from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.errors import ImportFailed, PermissionDenied, RecordingAssigned, RecordNotFound
from storage.permissions import Actor
from storage.search import SearchFilter, search
from storage.service import StorageService
from tests.storage.conftest import make_config, make_segment

ADMIN = Actor.of("admin", "admin")
QA = Actor.of("qa", "view_history", "view_unassigned", "assign")


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_csv_import_normalises_and_reports_bad_numbers(
    service: StorageService, tmp_path: Path
) -> None:
    f = write_csv(
        tmp_path / "people.csv",
        [
            "id,name,business_phone,home_phone,cell_phone",
            "p1,Ann,(415) 555-0100,,",
            "p2,Bob,not a number,+44 20 7946 0958,415.555.0199",
            ",Nobody,4155550111,,",
        ],
    )
    res = await service.import_crm(ADMIN, f, "individual")
    assert res.created == 2 and res.skipped == 1
    problems = [str(p) for p in res.problems]
    assert problems == [
        "line 3: business='not a number': not a phone number; kept raw, never matched",
        "line 4: id='': missing id; row skipped",
    ]
    with service.db.session() as s:
        rows = s.execute(
            text("SELECT record_kind, field, e164, raw FROM crm_phones ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [
        ("individual", "business", "+14155550100", "(415) 555-0100"),
        ("individual", "business", None, "not a number"),
        ("individual", "home", "+442079460958", "+44 20 7946 0958"),
        ("individual", "cell", "+14155550199", "415.555.0199"),
    ]


async def test_one_match_assigns_several_assign_all_none_unassigned(
    service: StorageService, tmp_path: Path
) -> None:
    write_csv(tmp_path / "a.csv", ["id,name,cell_phone", "a1,Agent,4155550100"])
    (tmp_path / "s.json").write_text(
        json.dumps([{"id": "s1", "phone": "+1 415 555 0100"}, {"id": "s2", "cell": "4155550200"}])
    )
    await service.import_crm(ADMIN, tmp_path / "a.csv", "agent")
    await service.import_crm(ADMIN, tmp_path / "s.json", "sales")
    both = await service.accept_segment(make_segment(tmp_path, number="415-555-0100"))
    one = await service.accept_segment(make_segment(tmp_path, number="4155550200"))
    none = await service.accept_segment(make_segment(tmp_path, number="4155550300"))
    v_both = await service.get_recording(QA, both)
    v_one = await service.get_recording(QA, one)
    v_none = await service.get_recording(QA, none)
    assert v_both.state == "assigned" and len(v_both.record_ids) == 2
    assert v_one.state == "assigned" and len(v_one.record_ids) == 1
    assert v_none.state == "unassigned" and v_none.record_ids == ()


async def test_rematch_assigns_records_created_later(
    service: StorageService, tmp_path: Path
) -> None:
    rids = [
        await service.accept_segment(make_segment(tmp_path, number=f"415555010{i}"))
        for i in range(4)
    ]
    assert await service.rematch() == 0
    write_csv(
        tmp_path / "late.csv",
        ["id,business_phone,home_phone", "x1,4155550101,4155550101", "x2,4155550102,"],
    )
    await service.import_crm(ADMIN, tmp_path / "late.csv", "individual")
    assert await service.rematch() == 2
    states = [(await service.get_recording(QA, r)).state for r in rids]
    assert states == ["unassigned", "assigned", "assigned", "unassigned"]
    assert (await service.get_recording(QA, rids[1])).record_ids != ()
    assert await service.rematch() == 0  # idempotent
    log = await service.audit_log(ADMIN)
    [run] = [e for e in log if e.action == "rematch"]  # one chained entry for the run
    assert run.detail["assignments"] == 2 and run.detail["recordings"] == 2
    for rid in rids[1:3]:  # and each recording's own trail shows its assignment
        trail = await service.audit_log(ADMIN, rid)
        assert [e.detail["how"] for e in trail if e.action == "assign"] == ["rematch"]


async def test_manual_assignment_and_unknown_record(
    service: StorageService, tmp_path: Path
) -> None:
    write_csv(tmp_path / "p.csv", ["id,cell_phone", "p9,2125550123"])
    await service.import_crm(ADMIN, tmp_path / "p.csv", "individual")
    rid = await service.accept_segment(make_segment(tmp_path, number=None))
    with pytest.raises(RecordNotFound) as ei:
        await service.assign(QA, rid, 999999)
    assert ei.value.code == "record.not_found"
    with service.db.session() as s:
        record_id = s.execute(text("SELECT id FROM crm_records")).scalar_one()
    with pytest.raises(PermissionDenied):
        await service.assign(Actor.of("viewer", "view_history"), rid, record_id)
    await service.assign(QA, rid, record_id)
    view = await service.get_recording(QA, rid)
    assert view.state == "assigned" and view.record_ids == (record_id,)


async def test_bad_import_files_are_clear_errors(service: StorageService, tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('[{"id": 1},\n{oops}]')
    with pytest.raises(ImportFailed, match="line 2"):
        await service.import_crm(ADMIN, tmp_path / "x.json", "individual")
    (tmp_path / "y.csv").write_text("name,phone\nA,1\n")
    with pytest.raises(ImportFailed, match="'id' column"):
        await service.import_crm(ADMIN, tmp_path / "y.csv", "sales")
    with pytest.raises(ImportFailed, match="unknown record kind"):
        await service.import_crm(ADMIN, tmp_path / "y.csv", "martian")


async def test_import_from_an_existing_table(tmp_path: Path, sqlite_url: str) -> None:
    from sqlalchemy import create_engine

    legacy = tmp_path / "legacy.db"
    eng = create_engine(f"sqlite:///{legacy}")
    with eng.begin() as c:
        c.execute(text("CREATE TABLE leads (lead_no INT, who TEXT, tel TEXT, mob TEXT)"))
        c.execute(text("INSERT INTO leads VALUES (7, 'Zed', '(212) 555-0147', 'n/a')"))
    eng.dispose()
    from storage.config import CrmTableMapping

    mapping = CrmTableMapping(
        url=f"sqlite:///{legacy}",
        table="leads",
        kind="sales",
        id_column="lead_no",
        name_column="who",
        phones={"phone": "tel", "cell": "mob"},
    )
    svc = StorageService.open(make_config(tmp_path, sqlite_url, crm_table=mapping))
    res = await svc.import_crm_table(ADMIN)
    assert res.created == 1 and [p.field for p in res.problems] == ["cell"]
    rid = await svc.accept_segment(make_segment(tmp_path, number="+12125550147"))
    assert (await svc.get_recording(ADMIN, rid)).state == "assigned"
    bad = mapping.model_copy(update={"id_column": "id; DROP TABLE leads"})
    svc2 = StorageService(svc.db, make_config(tmp_path, sqlite_url, crm_table=bad))
    with pytest.raises(ImportFailed, match="no column"):
        await svc2.import_crm_table(ADMIN)
    svc.close()


async def test_a_recording_a_run_assigned_is_assigned_to_every_reader(
    service: StorageService, tmp_path: Path
) -> None:
    """The run does not rewrite the row; listing, search, counts and deletion still see it."""
    hit, miss = [
        await service.accept_segment(make_segment(tmp_path, number=f"415555012{i}"))
        for i in (1, 2)
    ]
    write_csv(tmp_path / "late.csv", ["id,cell_phone", "y1,4155550121"])
    await service.import_crm(ADMIN, tmp_path / "late.csv", "individual")
    assert await service.rematch() == 1
    with service.db.session() as s:  # the stored column was left alone
        stored = s.execute(text("SELECT state FROM recordings WHERE id = :r"), {"r": hit})
        assert stored.scalar_one() == "unassigned"
    view = await service.get_recording(QA, hit)
    assert view.state == "assigned" and len(view.record_ids) == 1
    assert [v.id for v in await service.list_recordings(QA, state="unassigned")] == [miss]
    assert [v.id for v in await service.list_recordings(QA, state="assigned")] == [hit]
    page = search(service.db, QA, SearchFilter(state="assigned"))
    assert [v.id for v in page.recordings] == [hit]
    assert await service.counts() == {"assigned": 1, "unassigned": 1}
    with pytest.raises(RecordingAssigned):
        await service.delete_recording(ADMIN, hit, "unassigned only")
    await service.delete_recording(ADMIN, miss, "junk")  # the other one is still deletable
