"""The timed-tone analysis finds exactly which stretch of a track is missing."""

from __future__ import annotations

import math
import wave
from array import array
from pathlib import Path

import pytest

from tests.support import bench_common

common = bench_common.load()
RATE = 8000


def party_audio(tones: tuple[int, ...], seconds: float) -> list[int]:
    """What a timed party plays from its answer: one tone per second, in order."""
    out = []
    for i in range(int(seconds * RATE)):
        f = tones[(i // RATE) % len(tones)]
        out.append(int(8000 * math.sin(2 * math.pi * f * i / RATE)))
    return out


def write(path: Path, samples: list[int]) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(array("h", samples).tobytes())
    return path


def cut(audio: list[int], *keep: tuple[float, float]) -> list[int]:
    return [s for a, b in keep for s in audio[int(a * RATE) : int(b * RATE)]]


@pytest.mark.parametrize("tones", [common.CUSTOMER_TONES, common.AGENT_TONES])
def test_head_gap_and_tail_are_located(tmp_path: Path, tones: tuple[int, ...]) -> None:
    audio = party_audio(tones, 20.0)
    # The capture should hold tone-time 0-20 s; it lost 0.4 s at the head,
    # 1.3 s in the middle (5.0-6.3) and 0.7 s at the tail.
    track = write(tmp_path / "t.wav", cut(audio, (0.4, 5.0), (6.3, 19.3)))
    loss = common.analyse_track(track, tones)
    assert loss.seconds == pytest.approx(17.6, abs=0.01)
    assert loss.gap_seconds == pytest.approx(1.3, abs=0.08)
    assert all(4.4 < at < 5.0 for at, _ in loss.gaps)  # where in the file: just after 4.6 s
    assert loss.head(0.0) == pytest.approx(0.4, abs=0.06)
    assert loss.tail(20.0) == pytest.approx(0.7, abs=0.06)
    assert loss.untoned < 0.1


def test_a_whole_track_has_no_loss(tmp_path: Path) -> None:
    audio = party_audio(common.AGENT_TONES, 12.0)
    loss = common.analyse_track(
        write(tmp_path / "w.wav", cut(audio, (2.25, 12.0))), common.AGENT_TONES
    )
    assert loss.gaps == []
    assert loss.head(2.25) == pytest.approx(0.0, abs=0.06)
    assert loss.tail(12.0) == pytest.approx(0.0, abs=0.06)


def test_gaps_longer_than_a_second_and_silence(tmp_path: Path) -> None:
    audio = party_audio(common.CUSTOMER_TONES, 15.0)
    samples = cut(audio, (0.0, 3.5), (7.5, 15.0))  # 4 s gone: three whole tones and two halves
    # Silence over 0.5 s of speech: that speech is missing too, and the silence is told.
    samples[int(9 * RATE) : int(9.5 * RATE)] = [0] * int(0.5 * RATE)
    loss = common.analyse_track(write(tmp_path / "g.wav", samples), common.CUSTOMER_TONES)
    assert loss.gap_seconds == pytest.approx(4.5, abs=0.08)
    assert loss.untoned == pytest.approx(0.5, abs=0.06)


def test_ratio_summary() -> None:
    ratios = [1.0] * 98 + [0.97, 0.5]
    assert common.ratio_summary(ratios) == "p1 0.970  p50 1.000  short 2/100"
