from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.config import RetentionRule, StorageConfig
from storage.errors import (
    HoldActive,
    InvalidNumber,
    PermissionDenied,
    RecordingAssigned,
    RecordingDeleted,
    RecordingNotFound,
)
from storage.outbox import status
from storage.permissions import Actor
from storage.service import StorageService
from tests.storage.conftest import make_config, make_segment

ADMIN = Actor.of("admin", "admin")
QA = Actor.of("qa", "view_history", "view_unassigned", "delete_unassigned")


async def assigned_one(service: StorageService, tmp_path: Path, number: str) -> str:
    (tmp_path / "c.csv").write_text(f"id,cell_phone\nc1,{number}\n")
    await service.import_crm(ADMIN, tmp_path / "c.csv", "individual")
    return await service.accept_segment(make_segment(tmp_path, number=number))


async def test_delete_unassigned_leaves_a_tombstone(
    service: StorageService, config: StorageConfig, tmp_path: Path
) -> None:
    rid = await service.accept_segment(make_segment(tmp_path))
    assert (await service.drain_outbox()).uploaded == 3
    stored = list(config.store_root.rglob(f"{rid}.*"))
    await service.delete_recording(QA, rid, "junk call")
    assert not any(p.exists() for p in stored)
    view = await service.get_recording(QA, rid)
    assert view.state == "deleted" and view.deleted_by == "qa"
    assert view.delete_reason == "junk call" and view.deleted_at is not None
    assert all(not f.present for f in view.files)
    assert status(service.db).pending == 3  # remote deletes queued durably
    assert (await service.drain_outbox()).deleted == 3
    assert not [p for p in config.upload.local_dir.rglob("*") if p.is_file()]
    with pytest.raises(RecordingDeleted) as ei:
        await service.open_file(QA, rid)
    assert ei.value.code == "recording.deleted"


async def test_assigned_cannot_be_deleted(service: StorageService, tmp_path: Path) -> None:
    rid = await assigned_one(service, tmp_path, "4155550100")
    with pytest.raises(RecordingAssigned) as ei:
        await service.delete_recording(QA, rid)
    assert ei.value.code == "recording.assigned"
    assert (await service.get_recording(QA, rid)).state == "assigned"


async def test_bulk_delete_reports_each_refusal(service: StorageService, tmp_path: Path) -> None:
    a = await service.accept_segment(make_segment(tmp_path, number=None))
    b = await service.accept_segment(make_segment(tmp_path, number=None))
    held = await service.accept_segment(make_segment(tmp_path, number=None))
    assigned = await assigned_one(service, tmp_path, "4155550177")
    await service.set_hold(ADMIN, held, True, "litigation 42")
    out = await service.delete_unassigned(QA, [a, b, held, assigned, "nope"])
    assert sorted(out.deleted) == sorted([a, b])
    assert out.refused == {
        held: "hold.active",
        assigned: "recording.assigned",
        "nope": "recording.not_found",
    }
    assert (await service.get_recording(QA, held)).state == "unassigned"


async def test_number_hold_blocks_every_deletion(service: StorageService, tmp_path: Path) -> None:
    rid = await service.accept_segment(make_segment(tmp_path, number="+1 212 555 0199"))
    await service.set_number_hold(ADMIN, "(212) 555-0199", True, "subpoena")
    with pytest.raises(HoldActive):
        await service.delete_recording(QA, rid)
    res = await service.erase_number(ADMIN, "2125550199", "customer request")
    assert res.deleted == () and res.held == (rid,)
    await service.set_number_hold(ADMIN, "2125550199", False)
    await service.delete_recording(QA, rid)


async def test_erasure_deletes_what_no_hold_keeps_and_is_audited(
    service: StorageService, tmp_path: Path
) -> None:
    num = "4155550123"
    assigned = await assigned_one(service, tmp_path, num)
    free = await service.accept_segment(make_segment(tmp_path, number=num))
    held = await service.accept_segment(make_segment(tmp_path, number=num))
    other = await service.accept_segment(make_segment(tmp_path, number="4155550999"))
    await service.set_hold(ADMIN, held, True, "audit")
    with pytest.raises(PermissionDenied):
        await service.erase_number(QA, num, "x")
    res = await service.erase_number(ADMIN, num, "GDPR art. 17 ticket 991")
    assert sorted(res.deleted) == sorted([assigned, free]) and res.held == (held,)
    for rid in res.deleted:
        v = await service.get_recording(ADMIN, rid)
        assert v.state == "deleted" and v.customer_number_raw is None
    assert (await service.get_recording(ADMIN, other)).state == "unassigned"
    entry = [e for e in await service.audit_log(ADMIN) if e.action == "erasure"][-1]
    assert entry.actor == "admin" and entry.detail["number"] == "********0123"
    assert sorted(entry.detail["deleted"]) == sorted(res.deleted)
    with pytest.raises(InvalidNumber):
        await service.erase_number(ADMIN, "call me maybe", "x")


async def test_retention_rules(tmp_path: Path, db_url: str) -> None:
    rules = (
        RetentionRule(campaign="sales", days=30),
        RetentionRule(campaign="legal", days=365, include_assigned=True),
    )
    svc = StorageService.open(make_config(tmp_path, db_url, retention=rules))
    old = datetime.now(UTC) - timedelta(days=400)
    recent = datetime.now(UTC) - timedelta(days=3)

    async def add(campaign: str, when: datetime, number: str | None = None) -> str:
        seg = make_segment(tmp_path, campaign=campaign, started_at=when, number=number)
        return await svc.accept_segment(seg)

    old_sales = await add("sales", old)
    new_sales = await add("sales", recent)
    (tmp_path / "c.csv").write_text("id,cell_phone\nc1,4155550100\n")
    await svc.import_crm(ADMIN, tmp_path / "c.csv", "individual")
    old_sales_assigned = await add("sales", old, "4155550100")
    old_legal_assigned = await add("legal", old, "4155550100")
    old_legal_held = await add("legal", old)
    other_campaign = await add("support", old)
    await svc.set_hold(ADMIN, old_legal_held, True, "hold")
    with pytest.raises(PermissionDenied):
        await svc.run_retention(QA)
    out = await svc.run_retention(ADMIN)
    assert sorted(out.deleted) == sorted([old_sales, old_legal_assigned])
    states = {
        r: (await svc.get_recording(ADMIN, r)).state
        for r in (new_sales, old_sales_assigned, old_legal_held, other_campaign)
    }
    assert set(states.values()) == {"unassigned", "assigned"}
    assert (await svc.run_retention(ADMIN)).deleted == []
    svc.close()


async def test_permissions_gate_views_and_every_access_is_audited(
    service: StorageService, tmp_path: Path
) -> None:
    un = await service.accept_segment(make_segment(tmp_path, number=None))
    asg = await assigned_one(service, tmp_path, "4155550100")
    history_only = Actor.of("sup", "view_history")
    unassigned_only = Actor.of("qa2", "view_unassigned")
    nobody = Actor.of("guest")
    assert [v.id for v in await service.list_recordings(history_only)] == [asg]
    assert [v.id for v in await service.list_recordings(unassigned_only)] == [un]
    with pytest.raises(PermissionDenied) as ei:
        await service.get_recording(history_only, un)
    assert ei.value.code == "permission.denied"
    with pytest.raises(PermissionDenied):
        await service.list_recordings(nobody)
    with pytest.raises(PermissionDenied):
        await service.list_recordings(unassigned_only, state="assigned")
    with pytest.raises(PermissionDenied):
        await service.delete_recording(unassigned_only, un)
    with pytest.raises(PermissionDenied):
        await service.set_hold(QA, un, True)
    with pytest.raises(RecordingNotFound):
        await service.get_recording(ADMIN, "0" * 32)
    path = await service.open_file(history_only, asg, "stereo", "play")
    assert path.is_file()
    await service.open_file(history_only, asg, "agent", "download")
    await service.assign(ADMIN, un, (await service.get_recording(ADMIN, asg)).record_ids[0])
    await service.delete_unassigned(QA, [un])  # refused: now assigned
    log = await service.audit_log(ADMIN)
    actions = [(e.actor, e.action, e.recording_id) for e in log]
    assert ("sup", "play", asg) in actions and ("sup", "download", asg) in actions
    assert ("admin", "assign", un) in actions and ("sup", "list", None) in actions
    assert ("system", "ingest", un) in actions and ("system", "assign", asg) in actions


async def test_audit_log_is_append_only_in_the_database(
    service: StorageService, tmp_path: Path
) -> None:
    await service.accept_segment(make_segment(tmp_path))
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"), service.db.session() as s:
            s.execute(text(sql))
    assert len(await service.audit_log(ADMIN)) >= 1
