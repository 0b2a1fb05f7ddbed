"""SFTP uploads against a real OpenSSH sshd on loopback, including faults."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.config import OutboxConfig, UploadTargetConfig
from storage.models import OutboxItem
from storage.outbox import status
from storage.service import StorageService
from tests.storage.conftest import make_config, make_segment, sftp_upload_config
from tests.support.sshd import Sshd

pytestmark = pytest.mark.sshd


def remote_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def open_service(tmp_path: Path, db_url: str, upload: UploadTargetConfig) -> StorageService:
    return StorageService.open(make_config(tmp_path, db_url, upload=upload))


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    d = tmp_path / "remote"
    d.mkdir()
    return d


async def test_upload_renames_verifies_and_hashes(
    sshd: Sshd, remote: Path, tmp_path: Path, db_url: str
) -> None:
    svc = open_service(tmp_path, db_url, sftp_upload_config(sshd, remote, verify_hash=True))
    seg = make_segment(tmp_path)
    rid = await svc.accept_segment(seg)
    result = await svc.drain_outbox()
    assert result.uploaded == 3, result.errors
    files = remote_files(remote)
    assert [p.name for p in files] == sorted(
        f"{rid}.{k}.wav" for k in ("agent", "customer", "stereo")
    )
    local = {p.name: p.read_bytes() for p in svc.cfg.store_root.rglob("*.wav")}
    assert all(local[p.name] == p.read_bytes() for p in files)
    svc.close()


async def test_sshd_down_then_up_retries_with_backoff(
    sshd: Sshd, remote: Path, tmp_path: Path, sqlite_url: str
) -> None:
    # A backoff long enough that "nothing is due yet" holds on a loaded machine.
    slow = OutboxConfig(lease_seconds=30, backoff_base_seconds=2.0, backoff_max_seconds=60)
    svc = StorageService.open(
        make_config(tmp_path, sqlite_url, upload=sftp_upload_config(sshd, remote)).model_copy(
            update={"outbox": slow}
        )
    )
    await svc.accept_segment(make_segment(tmp_path))
    sshd.stop()
    first = await svc.drain_outbox(workers=1)
    assert first.uploaded == 0 and first.failed == 3
    assert "upload.failed" in first.errors[0] and "cannot connect" in first.errors[0]
    st = status(svc.db)
    assert st.pending == 3 and st.max_attempts == 1
    assert await svc.drain_outbox() == type(first)(), "backoff: nothing is due yet"
    sshd.start()
    await asyncio.sleep(2.5)  # the backoff has passed
    second = await svc.drain_outbox()
    assert second.uploaded == 3
    assert len(remote_files(remote)) == 3
    svc.close()


async def test_connection_cut_mid_file_completes_after_restart_without_doubles(
    sshd: Sshd, remote: Path, tmp_path: Path, sqlite_url: str
) -> None:
    svc = open_service(
        tmp_path, sqlite_url, sftp_upload_config(sshd, remote, block_size=16384, max_requests=4)
    )
    seg = make_segment(tmp_path, seconds=3000.0, legs="agent")  # 48 MB
    rid = await svc.accept_segment(seg)
    part = remote / next(svc.cfg.store_root.rglob("*.wav")).relative_to(svc.cfg.store_root)
    part = part.with_name(part.name + ".part")
    drain = asyncio.create_task(svc.drain_outbox(workers=1))
    for _ in range(2000):
        if part.exists() and part.stat().st_size > 1_000_000:
            break
        await asyncio.sleep(0.005)
    else:
        pytest.fail("upload never started")
    sshd.kill()
    cut = await drain
    assert cut.failed == 1 and cut.uploaded == 0
    final = part.with_name(part.name.removesuffix(".part"))
    assert not final.exists(), "a cut upload never reaches the final name"
    sshd.start()
    await asyncio.sleep(0.2)
    done = await svc.drain_outbox()
    assert done.uploaded == 1
    assert final.stat().st_size == seg_size(svc, rid)
    assert not part.exists(), "the temporary file was overwritten and renamed"
    with svc.db.session() as s:
        assert [i.state for i in s.scalars(select(OutboxItem))] == ["done"]
    svc.close()


def seg_size(svc: StorageService, rid: str) -> int:
    return sum(p.stat().st_size for p in svc.cfg.store_root.rglob(f"{rid}.*"))


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "1m") -> Iterator[None]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


async def test_full_remote_disk_keeps_item_pending_until_space_frees(
    sshd: Sshd, tmp_path: Path, sqlite_url: str
) -> None:
    """A real full disk: the remote dir is a 1 MB tmpfs; the file is 1.9 MB."""
    remote = tmp_path / "full"
    with small_tmpfs(remote):
        svc = open_service(tmp_path, sqlite_url, sftp_upload_config(sshd, remote))
        seg = make_segment(tmp_path, seconds=120.0, legs="agent")
        await svc.accept_segment(seg)
        result = await svc.drain_outbox(workers=1)
        assert result.failed == 1 and result.uploaded == 0
        st = status(svc.db)
        assert st.pending == 1 and "upload.failed" in st.last_errors[0][3]
        assert not [p for p in remote_files(remote) if not p.name.endswith(".part")]
        # The admin grows the volume; the retry then succeeds.
        subprocess.run(["mount", "-o", "remount,size=8m", str(remote)], check=True)
        await asyncio.sleep(0.6)
        again = await svc.drain_outbox()
        assert again.uploaded == 1
        assert [p.name.endswith(".wav") for p in remote_files(remote)] == [True]
        svc.close()


async def test_host_key_mismatch_stops_uploads_and_alerts(
    sshd: Sshd, remote: Path, tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    sshd.write_known_hosts(other)  # the server now presents a key we do not know
    svc = open_service(tmp_path, db_url, sftp_upload_config(sshd, remote))
    await svc.accept_segment(make_segment(tmp_path))
    with caplog.at_level(logging.ERROR, logger="storage.outbox"):
        result = await svc.drain_outbox()
    assert result.blocked == "upload.hostkey_mismatch" and result.uploaded == 0
    assert any(
        r.levelno == logging.ERROR and "upload.hostkey_mismatch" in r.getMessage()
        for r in caplog.records
    )
    assert remote_files(remote) == []
    st = status(svc.db)
    assert st.pending == 3 and st.max_attempts == 0, "no attempt is burnt on a mismatch"
    assert [a[0] for a in st.alerts] == ["upload.hostkey_mismatch"]
    # Credentials never appear in logs.
    key_text = sshd.client_key.read_text()
    assert all(key_text not in r.getMessage() for r in caplog.records)
    # The admin fixes known_hosts: uploads resume and the alert clears.
    sshd.write_known_hosts()
    ok = await svc.drain_outbox()
    assert ok.uploaded == 3
    assert status(svc.db).alerts == []
    svc.close()


async def test_known_hosts_missing_is_never_auto_accepted(
    sshd: Sshd, remote: Path, tmp_path: Path, sqlite_url: str
) -> None:
    sshd.known_hosts.unlink()
    svc = open_service(tmp_path, sqlite_url, sftp_upload_config(sshd, remote))
    await svc.accept_segment(make_segment(tmp_path, legs="agent"))
    result = await svc.drain_outbox()
    assert result.blocked == "upload.hostkey_mismatch"
    assert remote_files(remote) == []
    svc.close()


async def test_remote_delete_goes_through_the_outbox(
    sshd: Sshd, remote: Path, tmp_path: Path, sqlite_url: str
) -> None:
    from storage.permissions import Actor

    svc = open_service(tmp_path, sqlite_url, sftp_upload_config(sshd, remote))
    rid = await svc.accept_segment(make_segment(tmp_path, number=None))
    assert (await svc.drain_outbox()).uploaded == 3
    sshd.stop()
    await svc.delete_recording(Actor.of("qa", "view_unassigned", "delete_unassigned"), rid, "test")
    assert (await svc.drain_outbox()).failed == 3  # platform down: delete waits
    assert len(remote_files(remote)) == 3
    sshd.start()
    await asyncio.sleep(0.6)
    assert (await svc.drain_outbox()).deleted == 3
    assert remote_files(remote) == []
    svc.close()
