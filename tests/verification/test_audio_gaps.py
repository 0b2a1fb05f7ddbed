"""A track of the right length with a hole in it is not whole: verification finds
runs of digital silence inside heard audio, and says where they are.

The fixtures are real Asterisk captures from the call bench (bench/ari_bench.py):
a snoop track whose call had its bridge threads stopped for 0.9 s
(bench/stall_threads.py: the snoop wrote 0.9 s of zeros, then dropped 0.5 s of
the speech that arrived late; the file is full length), a MixMonitor track from
a saturated machine (its party's tones stop for 0.18-0.6 s at a time while the
file runs on in exact zeros) and a snoop track from a quiet N = 50 run (one
20 ms frame of zeros, the snoop's tick finding its audiohook a frame short:
jitter, not a hole).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import wave
from array import array
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.config import StorageConfig, UploadTargetConfig
from storage.models import Verification
from storage.segment import Pause
from storage.service import StorageService
from storage.verification import SpanRecord, find_holes, read_track, save_span, verify
from tests.storage.conftest import make_segment

FIXTURES = Path(__file__).parent / "fixtures"
SATURATED = FIXTURES / "mixmonitor_saturated_hole.wav"
STALLED = FIXTURES / "snoop_stalled_writer.wav"
WHOLE = FIXTURES / "snoop_whole.wav"
RATE = 8000


def tone(seconds: float, freq: float = 440.0) -> array[int]:
    return array(
        "h",
        (int(6000 * math.sin(2 * math.pi * freq * i / RATE)) for i in range(int(seconds * RATE))),
    )


def zeros(seconds: float) -> array[int]:
    return array("h", bytes(2 * int(seconds * RATE)))


def test_a_hole_inside_speech_is_found_where_it_is() -> None:
    samples = tone(2.0) + zeros(0.5) + tone(1.5)
    [(at, length)] = find_holes(samples, RATE)
    assert at == pytest.approx(2.0, abs=0.001) and length == pytest.approx(0.5, abs=0.001)


def test_silence_at_the_ends_a_short_run_and_quiet_surroundings_are_not_holes() -> None:
    assert find_holes(zeros(0.5) + tone(2.0) + zeros(0.5), RATE) == ()  # nothing heard on one side
    assert find_holes(tone(1.0) + zeros(0.02) + tone(1.0), RATE) == ()  # one frame: jitter
    near_silent = array("h", [3] * RATE)  # a line's noise floor, below SILENCE_PEAK
    assert find_holes(tone(1.0) + near_silent + zeros(0.5) + near_silent + tone(1.0), RATE) == ()
    assert find_holes(tone(3.0), RATE) == ()


def test_each_channel_of_a_stereo_file_is_judged() -> None:
    left = tone(1.0) + zeros(0.3) + tone(1.0)
    right = tone(2.3, 880.0)
    stereo = array("h", (s for pair in zip(left, right, strict=True) for s in pair))
    [(at, length)] = find_holes(stereo, RATE, channels=2)
    assert at == pytest.approx(1.0, abs=0.001) and length == pytest.approx(0.3, abs=0.001)


def test_real_snoop_capture_of_a_stalled_call_has_its_hole_found() -> None:
    track = read_track(STALLED)
    assert track.seconds == pytest.approx(5.0)
    assert [(round(at, 2), round(n, 2)) for at, n in track.holes] == [(1.90, 0.90)]


def test_real_saturated_capture_has_its_holes_found() -> None:
    track = read_track(SATURATED)
    assert track.seconds == pytest.approx(4.0)
    assert [(round(at, 2), round(n, 2)) for at, n in track.holes] == [
        (1.10, 0.18),
        (1.52, 0.20),
        (1.74, 0.18),
        (1.94, 0.60),
    ]


def test_real_whole_snoop_capture_has_none() -> None:
    track = read_track(WHOLE)
    assert track.seconds == pytest.approx(3.0) and track.holes == ()
    with wave.open(str(WHOLE)) as w:  # it does hold one 20 ms frame of zeros
        samples = array("h", w.readframes(w.getnframes()))
    assert b"\x00\x00" * 160 in samples.tobytes()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[StorageService]:
    cfg = StorageConfig(
        db_url=f"sqlite:///{tmp_path / 'callrec.db'}",
        store_root=tmp_path / "store",
        upload=UploadTargetConfig(type="none"),
    )
    svc = StorageService.open(cfg)
    yield svc
    svc.close()


def _span(call_id: str, start: datetime, seconds: float) -> SpanRecord:
    a = start.timestamp()
    naive = start.astimezone(UTC).replace(tzinfo=None)
    return SpanRecord(
        linkedid=f"{a:.6f}-{call_id}",
        node="node1",
        call_id=call_id,
        answered_at=naive,
        bridged_at=naive,
        unbridged_at=naive + timedelta(seconds=seconds),
        ended_at=naive + timedelta(seconds=seconds + 0.2),
        details={"intervals": [[a, a + seconds]]},
    )


async def test_a_full_length_track_with_a_hole_is_flagged_with_where(
    service: StorageService, tmp_path: Path
) -> None:
    """Length alone passes this segment (4.0 s of 4.0 s); the hole makes it short,
    unless the hole is a documented pause (a paused capture writes silence)."""
    since = datetime.now(UTC) - timedelta(hours=1)
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    ids = {}
    for name in ("holed", "paused"):
        seg = make_segment(tmp_path, seconds=4.0, started_at=t0, call_id=f"call-{name}")
        shutil.copyfile(SATURATED, seg.files["customer"])
        pauses = (Pause(t0 + timedelta(seconds=1.0), t0 + timedelta(seconds=2.6)),)
        seg = dataclasses.replace(
            seg, ended_at=t0 + timedelta(seconds=4.0), pauses=pauses if name == "paused" else ()
        )
        ids[name] = await service.accept_segment(seg)
        save_span(service.db, _span(seg.call_id, t0, 4.0))
        t0 += timedelta(seconds=30)

    report = verify(service.db, service.cfg.store_root, since=since)
    assert report.counts == {"short": 1, "verified": 1}
    with service.db.session() as s:
        rows = {v.recording_id: v for v in s.scalars(select(Verification))}
    holed = rows[ids["holed"]]
    assert holed.outcome == "short"
    assert holed.captured_seconds == pytest.approx(4.0)  # the length is right
    assert "audio_gap:customer:1.10s:0.18s" in holed.reason
    assert "audio_gap:customer:1.94s:0.60s" in holed.reason
    assert holed.details["customer"]["audio_gaps"][-1] == [1.94, 0.6]
    assert "agent" in holed.details and "audio_gaps" not in holed.details["agent"]
    assert rows[ids["paused"]].outcome == "verified"
