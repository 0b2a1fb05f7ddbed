"""Fallback recordings made by the dialplan alone are stored, once, flagged."""

from __future__ import annotations

import os
import time
import wave
from pathlib import Path

from callcore.fallback import REASON, collect
from storage.config import StorageConfig, UploadTargetConfig
from storage.permissions import Actor
from storage.service import StorageService


def _wav(path: Path, seconds: float, zero_header: bool = False) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * int(8000 * seconds))
    if zero_header:  # what a crash mid-recording leaves
        data = bytearray(path.read_bytes())
        data[4:8] = b"\x00\x00\x00\x00"
        data[40:44] = b"\x00\x00\x00\x00"
        path.write_bytes(bytes(data))


async def test_fallback_files_are_stored_once_and_flagged(tmp_path: Path) -> None:
    monitor = tmp_path / "monitor"
    monitor.mkdir()
    old = monitor / "callrec-fallback-0a1b-agent.wav"
    crashed = monitor / "callrec-stasis-fallback-1700000000.5-agent.wav"
    fresh = monitor / "callrec-fallback-ffff-agent.wav"
    other = monitor / "callrec-0a1b-agent.wav"  # a normal capture: not ours to take
    _wav(old, 2.0)
    _wav(crashed, 1.0, zero_header=True)
    _wav(fresh, 1.0)
    _wav(other, 1.0)
    past = time.time() - 120
    for p in (old, crashed, other):
        os.utime(p, (past, past))
    svc = StorageService.open(
        StorageConfig(
            db_url=f"sqlite:///{tmp_path}/db.sqlite",
            store_root=tmp_path / "store",
            upload=UploadTargetConfig(type="local", local_dir=tmp_path / "platform"),
        )
    )
    try:
        assert await collect(monitor, svc) == 2
        assert fresh.exists() and other.exists()  # still growing / not a fallback
        assert not old.exists() and not crashed.exists()
        assert await collect(monitor, svc) == 0
        recs = await svc.list_recordings(Actor.of("t", "admin"))
        assert len(recs) == 2
        for rec in recs:
            assert "fallback" in rec.flags and rec.reasons == (REASON,)
            assert rec.state == "unassigned" and rec.legs == "agent"
        repaired = [r for r in recs if "header_repaired" in r.flags]
        assert len(repaired) == 1 and abs(repaired[0].duration_seconds - 1.0) < 0.01
    finally:
        svc.close()
