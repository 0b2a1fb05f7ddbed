"""Uploaded copies are read back on a schedule; a missing or altered copy is found and re-sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from storage.config import StorageConfig, UploadTargetConfig
from storage.models import Alert, RecordingFile, Verification
from storage.outbox import status
from storage.service import StorageService
from storage.verification import recheck_remote, verify
from tests.storage.conftest import (  # noqa: F401 - sshd is a fixture
    FAST_OUTBOX,
    make_config,
    make_segment,
    sftp_upload_config,
    sshd,
)
from tests.support.sshd import Sshd


@pytest.fixture
def service(tmp_path: Path) -> Iterator[StorageService]:
    svc = StorageService.open(
        StorageConfig(
            db_url=f"sqlite:///{tmp_path / 'callrec.db'}",
            store_root=tmp_path / "store",
            upload=UploadTargetConfig(type="local", local_dir=tmp_path / "platform"),
            outbox=FAST_OUTBOX,
        )
    )
    yield svc
    svc.close()


def _alerts(service: StorageService) -> list[str]:
    with service.db.session() as s:
        return [a.code for a in s.scalars(select(Alert).where(Alert.cleared_at.is_(None)))]


async def test_absent_and_altered_copies_are_found_and_sent_again(
    service: StorageService, tmp_path: Path
) -> None:
    for _ in range(2):
        await service.accept_segment(make_segment(tmp_path, seconds=2.0))
    await service.drain_outbox()
    assert status(service.db).pending == 0
    verify(service.db, service.cfg.store_root, since=datetime.now(UTC) - timedelta(hours=1))
    assert service.target is not None

    clean = await recheck_remote(service.db, service.target)
    assert clean.checked == 6 and clean.bad == [] and not clean.unsupported
    again = await recheck_remote(service.db, service.target)
    assert again.checked == 0  # checked copies wait for their next period

    platform = tmp_path / "platform"
    with service.db.session() as s:
        files = list(s.scalars(select(RecordingFile).where(RecordingFile.kind != "stereo")))
        s.execute(update(Verification).values(remote_checked_at=None))
    gone, altered = files[0].remote_name, files[1].remote_name
    (platform / gone).unlink()
    data = bytearray((platform / altered).read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes
    (platform / altered).write_bytes(bytes(data))

    found = await recheck_remote(service.db, service.target)
    assert dict(found.bad) == {gone: "absent", altered: "SHA-256 differs"}
    assert "capture.remote_mismatch" in _alerts(service)
    with service.db.session() as s:
        notes = [v.details.get("remote", {}) for v in s.scalars(select(Verification))]
    assert any(n.get(gone) == "absent" for n in notes)

    for _ in range(50):  # the outbox repairs them
        await service.drain_outbox()
        if status(service.db).pending == 0:
            break
    assert status(service.db).pending == 0
    with service.db.session() as s:
        s.execute(update(Verification).values(remote_checked_at=None))
    healed = await recheck_remote(service.db, service.target)
    assert healed.checked == 6 and healed.bad == []
    assert "capture.remote_mismatch" not in _alerts(service)


async def test_sftp_copies_are_read_back(tmp_path: Path, sshd: Sshd) -> None:  # noqa: F811
    remote = tmp_path / "remote"
    remote.mkdir()
    svc = StorageService.open(
        make_config(
            tmp_path, f"sqlite:///{tmp_path / 'sftp.db'}", upload=sftp_upload_config(sshd, remote)
        )
    )
    try:
        await svc.accept_segment(make_segment(tmp_path, seconds=1.0))
        await svc.drain_outbox()
        assert status(svc.db).pending == 0
        verify(svc.db, svc.cfg.store_root, since=datetime.now(UTC) - timedelta(hours=1))
        assert svc.target is not None
        assert (await recheck_remote(svc.db, svc.target)).checked == 3
        victim = next(p for p in remote.rglob("*.wav"))
        data = bytearray(victim.read_bytes())
        data[100] ^= 0x55
        victim.write_bytes(bytes(data))
        with svc.db.session() as s:
            s.execute(update(Verification).values(remote_checked_at=None))
        found = await recheck_remote(svc.db, svc.target)
        assert [why for _, why in found.bad] == ["SHA-256 differs"]
        assert not victim.exists()  # removed, so the re-upload replaces it
        for _ in range(50):
            await svc.drain_outbox()
            if status(svc.db).pending == 0:
                break
        assert victim.read_bytes() != bytes(data)
    finally:
        svc.close()
