from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.config import StorageConfig
from storage.db import Database
from storage.errors import FileMissing, FileTruncated
from storage.models import OutboxItem, Recording, RecordingFile
from storage.permissions import Actor
from storage.segment import FinishedSegment, SegmentSink
from storage.service import StorageService
from tests.storage.conftest import crash_header, make_config, make_segment

ADMIN = Actor.of("admin", "admin")


async def test_service_is_a_segment_sink(service: StorageService, tmp_path: Path) -> None:
    sink: SegmentSink = service
    seg = make_segment(tmp_path)
    rid = await sink.accept_segment(seg)
    assert rid == seg.recording_id
    view = await service.get_recording(ADMIN, rid)
    assert view.customer_e164 == "+14155550100"
    assert view.customer_number_raw == "+1 (415) 555-0100"
    assert view.state == "unassigned"
    assert view.upload_state == "pending"
    assert {f.kind for f in view.files} == {"agent", "customer", "stereo"}
    assert view.reasons == ("jurisdiction.one_party", "mode.all_calls")
    assert view.duration_seconds == pytest.approx(1.0)


async def test_files_moved_named_by_id_and_hashed_as_stored(
    service: StorageService, db: Database, config: StorageConfig, tmp_path: Path
) -> None:
    seg = make_segment(tmp_path, number="+1 415 555 0100; rm -rf /")
    sources = dict(seg.files)
    await service.accept_segment(seg)
    assert not any(p.exists() for p in sources.values()), "files are moved, not copied"
    with db.session() as s:
        rows = s.scalars(
            select(RecordingFile).where(RecordingFile.recording_id == seg.recording_id)
        )
        for f in rows:
            stored = config.store_root / f.path
            assert stored.name == f"{seg.recording_id}.{f.kind}.wav"
            assert f.path.split("/")[-1] == stored.name and len(f.path.split("/")) == 4
            assert hashlib.sha256(stored.read_bytes()).hexdigest() == f.sha256
            assert stored.stat().st_size == f.size_bytes
        items = s.scalars(select(OutboxItem)).all()
        assert len(items) == 3 and all(i.state == "pending" for i in items)


async def test_accepting_twice_returns_first_id(service: StorageService, tmp_path: Path) -> None:
    seg = make_segment(tmp_path)
    rid = await service.accept_segment(seg)
    assert await service.accept_segment(seg) == rid
    assert (await service.counts()) == {"unassigned": 1}


async def test_missing_file_is_refused_and_nothing_taken(
    service: StorageService, tmp_path: Path
) -> None:
    seg = make_segment(tmp_path)
    seg.files["customer"].unlink()
    with pytest.raises(FileMissing) as ei:
        await service.accept_segment(seg)
    assert ei.value.code == "file.missing"
    assert seg.files["agent"].exists() and seg.files["stereo"].exists()
    assert await service.counts() == {}


async def test_crashed_header_is_repaired_and_flagged(
    service: StorageService, tmp_path: Path
) -> None:
    seg = make_segment(tmp_path, seconds=2.0)
    crash_header(seg.files["stereo"])
    rid = await service.accept_segment(seg)
    view = await service.get_recording(ADMIN, rid)
    assert "header_repaired" in view.flags
    assert view.duration_seconds == pytest.approx(2.0)


async def test_header_only_file_is_truncated_error(service: StorageService, tmp_path: Path) -> None:
    seg = make_segment(tmp_path)
    seg.files["agent"].write_bytes(b"RIFF")
    with pytest.raises(FileTruncated):
        await service.accept_segment(seg)
    assert seg.files["customer"].exists()


async def test_short_capture_and_invalid_number_are_flagged(
    service: StorageService, tmp_path: Path
) -> None:
    seg = make_segment(tmp_path, number="anonymous")
    seg = FinishedSegment(**{**seg.__dict__, "bridged_seconds": 10.0})
    view = await service.get_recording(ADMIN, await service.accept_segment(seg))
    assert "short_capture" in view.flags and "number_invalid" in view.flags
    assert view.customer_e164 is None


@pytest.mark.parametrize("fmt,magic", [("flac", b"fLaC"), ("opus", b"OggS"), ("mp3", b"")])
async def test_transcoding_stores_and_hashes_the_encoded_file(
    tmp_path: Path, sqlite_url: str, fmt: str, magic: bytes
) -> None:
    cfg = make_config(tmp_path, sqlite_url, transcode=fmt)
    svc = StorageService.open(cfg)
    seg = make_segment(tmp_path)
    rid = await svc.accept_segment(seg)
    with svc.db.session() as s:
        rec = s.get_one(Recording, rid)
        assert rec.format == fmt
        for f in s.scalars(select(RecordingFile).where(RecordingFile.recording_id == rid)):
            p = cfg.store_root / f.path
            assert p.suffix == "." + fmt
            assert p.read_bytes().startswith(magic)
            assert hashlib.sha256(p.read_bytes()).hexdigest() == f.sha256
            assert not p.with_suffix(".wav").exists()
    svc.close()
