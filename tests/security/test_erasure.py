"""An erasure leaves nothing that links the customer to a recording, anywhere callrec holds it.

Both databases; files stored locally and uploaded to a (local) target, CRM
matches, a manual assignment, views and plays in the audit log. After the
erasure: no file of the erased recordings locally or remotely, no
assignment, no CRM phone row, no audit entry tying an erased recording to a
record, no trace of the number in any table; the audit chain still verifies.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import MetaData, select, text

from storage import audit
from storage.config import OutboxConfig, StorageConfig, UploadTargetConfig
from storage.models import Assignment, AuditEntry, CrmRecord
from storage.permissions import Actor
from storage.service import StorageService
from tests.storage.conftest import make_segment

ADMIN = Actor.of("dpo", "admin")
DIGITS = "4155550100"


async def test_erasure_leaves_nothing_linkable(db_url: str, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    svc = StorageService.open(
        StorageConfig(
            db_url=db_url,
            store_root=tmp_path / "store",
            upload=UploadTargetConfig(type="local", local_dir=remote),
            outbox=OutboxConfig(backoff_base_seconds=0.05, backoff_max_seconds=0.5),
        )
    )
    try:
        crm = tmp_path / "people.csv"
        crm.write_text(
            "id,name,business_phone,home_phone,cell_phone\n"
            "p1,Ann Archer,(415) 555-0100,,\n"
            "p2,Bob Baker,(512) 555-0100,,\n"
        )
        await svc.import_crm(ADMIN, crm, "individual")
        erased = [
            await svc.accept_segment(make_segment(tmp_path, number="+1 415-555-0100")),
            await svc.accept_segment(make_segment(tmp_path, number="(415) 555-0100")),
        ]
        kept = await svc.accept_segment(make_segment(tmp_path, number="(512) 555-0100"))
        await svc.drain_outbox()
        assert any(erased[0] in p.name for p in remote.rglob("*"))
        with svc.db.session() as s:
            ann = s.scalar(select(CrmRecord.id).where(CrmRecord.external_id == "p1"))
            bob = s.scalar(select(CrmRecord.id).where(CrmRecord.external_id == "p2"))
        assert ann is not None and bob is not None
        for rid in erased:
            view = await svc.get_recording(ADMIN, rid)
            assert ann in view.record_ids  # matched automatically
            await svc.open_file(ADMIN, rid, "stereo", "play")
        await svc.assign(ADMIN, erased[1], bob)  # a manual link, to another record

        result = await svc.erase_number(ADMIN, "415 555 0100", "ticket 7")
        assert sorted(result.deleted) == sorted(erased)
        await svc.drain_outbox()

        # Files: none left here or on the target.
        for rid in erased:
            assert not any(rid in p.name for p in (tmp_path / "store").rglob("*")), rid
            assert not any(rid in p.name for p in remote.rglob("*")), rid
        assert any(kept in p.name for p in remote.rglob("*"))

        with svc.db.session() as s:
            assert not s.scalars(
                select(Assignment).where(Assignment.recording_id.in_(erased))
            ).all()
            for entry in s.scalars(select(AuditEntry)):
                mentions = entry.recording_id in erased or any(
                    rid in str(entry.detail) for rid in erased
                )
                if not mentions:
                    continue
                if entry.action == "erasure":
                    assert entry.record_id is None and "record" not in str(entry.detail)
                    continue
                assert entry.record_id is None, (entry.action, entry.record_id)
                assert entry.detail.get("redacted") == "erasure", (entry.action, entry.detail)
            # The number, in any spelling, appears in no table at all.
            meta = MetaData()
            meta.reflect(s.connection())
            for table in meta.sorted_tables:
                for row in s.execute(select(table)).all():
                    for value in row:
                        assert DIGITS not in re.sub(r"\D", "", str(value)), (table.name, row)
            report = audit.verify(s)
            assert report.ok and report.redacted >= 4, report
            kept_view = s.execute(text("SELECT state FROM recordings WHERE id = :i"), {"i": kept})
            assert kept_view.scalar_one() != "deleted"
    finally:
        svc.close()
