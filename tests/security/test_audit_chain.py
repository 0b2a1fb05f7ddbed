"""The audit log is tamper-evident: an edited or a deleted entry is named by `callrec audit verify`.

On SQLite anyone with the file can drop the triggers, so the chain is what
shows tampering. On PostgreSQL the service runs under a role that can only
insert and read the audit table (tested on the real server), and the chain
still shows what the owner role might do.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from callrec.cli import main
from storage import audit
from storage.config import StorageConfig, UploadTargetConfig
from storage.db import open_database
from storage.permissions import Actor
from storage.roles import service_role_grants
from storage.service import StorageService
from tests.storage.conftest import PG_TEMPLATE, make_segment
from tests.support.postgres import Postgres

ADMIN = Actor.of("dpo", "admin")


async def _some_entries(url: str, tmp_path: Path) -> list[str]:
    svc = StorageService.open(
        StorageConfig(
            db_url=url, store_root=tmp_path / "store", upload=UploadTargetConfig(type="none")
        )
    )
    try:
        ids = [await svc.accept_segment(make_segment(tmp_path)) for _ in range(3)]
        for rid in ids:
            await svc.get_recording(ADMIN, rid)
        return ids
    finally:
        svc.close()


def _verify(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "verify", "--db", url])
    return code, capsys.readouterr().out


async def test_sqlite_edit_and_delete_are_detected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'callrec.db'}"
    await _some_entries(url, tmp_path)
    code, out = _verify(url, capsys)
    assert code == 0 and "audit chain OK" in out, out
    engine = create_engine(url)
    with engine.begin() as conn:
        n = conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
        assert n >= 6
        with pytest.raises(DBAPIError):  # the triggers hold while they exist
            conn.execute(text("UPDATE audit_log SET actor = 'nobody' WHERE id = 2"))
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        conn.execute(text("UPDATE audit_log SET actor = 'nobody' WHERE id = 3"))
    code, out = _verify(url, capsys)
    assert code == 1 and "BROKEN at entry 3" in out and "actor" in out, out

    with engine.begin() as conn:  # put it back: then delete another entry instead
        conn.execute(text("UPDATE audit_log SET actor = 'system' WHERE id = 3"))
    assert _verify(url, capsys)[0] == 0
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 4"))
    code, out = _verify(url, capsys)
    assert code == 1 and "BROKEN at entry 5" in out and "deleted" in out, out

    with engine.begin() as conn:  # an edit of the detail (the seal) is caught too
        conn.execute(text("UPDATE audit_log SET detail = '{\"flags\": []}' WHERE id = 1"))
    code, out = _verify(url, capsys)
    assert code == 1 and "BROKEN at entry 1" in out and "detail" in out, out
    engine.dispose()


@pytest.mark.postgres
async def test_pg_service_role_may_only_insert_and_read_the_audit_log(
    postgres: Postgres, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "sec_" + uuid.uuid4().hex[:10]
    owner_url = postgres.create_database(name, template=PG_TEMPLATE)
    open_database(owner_url).dispose()  # migrations under the owner
    role = "svc_" + uuid.uuid4().hex[:8]
    postgres.psql(f"CREATE ROLE {role} LOGIN")
    for statement in service_role_grants(role):
        postgres.psql(statement, db=name)
    svc_url = owner_url.replace("postgres@", f"{role}@", 1)

    ids = await _some_entries(svc_url, tmp_path)  # the service works under the role
    engine = create_engine(svc_url)
    refused = [
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE audit_log SET actor = 'nobody'",
        "DROP TRIGGER audit_log_append_only ON audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "DROP TABLE audit_log",
        "UPDATE audit_log SET detail = '{}'",  # column allowed, but not a redaction
    ]
    for sql in refused:
        with pytest.raises(DBAPIError), engine.begin() as conn:
            conn.execute(text(sql))
    engine.dispose()

    # An erasure's redaction is allowed, and the chain still verifies.
    svc = StorageService.open(
        StorageConfig(
            db_url=svc_url, store_root=tmp_path / "store", upload=UploadTargetConfig(type="none")
        )
    )
    try:
        result = await svc.erase_number(ADMIN, "+1 (415) 555-0100", "request 42")
        assert set(ids) <= set(result.deleted)
    finally:
        svc.close()
    code, out = _verify(svc_url, capsys)
    assert code == 0 and "redacted by erasure" in out, out

    # What the owner could still do is evident: the chain breaks where it did it.
    owner = create_engine(owner_url)
    with owner.begin() as conn:
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        victim = conn.execute(text("SELECT min(id) + 1 FROM audit_log")).scalar_one()
        conn.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": victim})
    owner.dispose()
    code, out = _verify(svc_url, capsys)
    assert code == 1 and f"BROKEN at entry {victim + 1}" in out, out


def test_chain_hashes_are_stable() -> None:
    from datetime import datetime

    sealed = audit.seal("00" * 16, 7, {"how": "manual"})
    digest = audit.entry_hash(
        audit.GENESIS, datetime(2026, 1, 1, 12), "dpo", "assign", "ab" * 16, sealed
    )
    assert len(sealed) == len(digest) == 64
    assert audit.seal("00" * 16, 8, {"how": "manual"}) != sealed
