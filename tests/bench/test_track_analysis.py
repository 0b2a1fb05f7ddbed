"""The bench's track analysis on synthetic tracks: a file of the right length can
still miss speech, and the figures the benches print must say so."""

from __future__ import annotations

import math
import wave
from array import array
from pathlib import Path
from typing import Any

import pytest

from tests.support import bench_common

ROOT = Path(__file__).resolve().parents[2]
RATE = 8000


common = bench_common.load()
TONES = common.AGENT_TONES


def speech(start: float, end: float, tones: tuple[int, ...] = TONES) -> list[int]:
    """What a timed party says from tone-time ``start`` to ``end`` (phase-continuous)."""
    out = []
    for i in range(int(start * RATE), int(end * RATE)):
        f = tones[(i // RATE) % len(tones)]
        out.append(int(8000 * math.sin(2 * math.pi * f * i / RATE)))
    return out


def quiet(seconds: float) -> list[int]:
    return [0] * int(seconds * RATE)


def track(tmp_path: Path, samples: list[int], name: str = "t.wav") -> Path:
    path = tmp_path / name
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(array("h", samples).tobytes())
    return path


def judged(path: Path, opens: float, closes: float) -> Any:
    """The track judged as the benches do, against the span it should hold."""
    loss = common.analyse_track(path, TONES)
    result = common.judge("callrec", "agent", loss, (closes - opens, opens, closes))
    assert result is not None
    return result


def test_a_clean_track_is_whole(tmp_path: Path) -> None:
    result = judged(track(tmp_path, speech(2.3, 24.3)), 2.3, 24.3)
    assert result.loss.gaps == [] and result.loss.silences == []
    assert result.loss.duplicated == pytest.approx(0.0, abs=0.01)
    assert result.ratio == pytest.approx(1.0, abs=0.002)
    assert result.intact == pytest.approx(1.0, abs=0.005)
    assert result.head == pytest.approx(0.0, abs=0.04)
    assert result.tail == pytest.approx(0.0, abs=0.04)


def test_a_track_across_the_sequence_end_is_whole(tmp_path: Path) -> None:
    """The 30-tone sequence repeats: tone 29 to tone 0 is the next second, not a step back."""
    result = judged(track(tmp_path, speech(25.0, 40.0)), 25.0, 40.0)
    assert result.loss.gaps == [] and result.loss.duplicated < 0.01
    assert result.intact == pytest.approx(1.0, abs=0.005)


def test_half_a_second_missing_is_a_gap_where_it_is(tmp_path: Path) -> None:
    samples = speech(0.0, 10.3) + speech(10.8, 20.0)
    result = judged(track(tmp_path, samples), 0.0, 20.0)
    [(at, lost)] = result.loss.gaps
    assert lost == pytest.approx(0.5, abs=0.04)
    assert 10.0 - 0.05 <= at <= 10.3  # in the file: tone 10, which starts at 10.0 s
    assert result.ratio == pytest.approx(0.975, abs=0.002)
    assert result.intact == pytest.approx(0.975, abs=0.004)
    assert result.strict < 0.98


def test_a_gap_across_a_tone_change_is_one_gap(tmp_path: Path) -> None:
    samples = speech(0.0, 14.94) + speech(15.88, 25.0)
    [(at, lost)] = common.analyse_track(track(tmp_path, samples), TONES).gaps
    assert lost == pytest.approx(0.94, abs=0.04)
    assert at == pytest.approx(14.0, abs=0.05)  # tone 14 is where it begins


def test_a_full_length_track_that_lost_speech_to_silence_is_not_whole(tmp_path: Path) -> None:
    """What the length ratio alone passes: 0.9 s of silence, then 0.9 s of speech gone
    (a capture that stalled, then dropped what had queued): the file is full length."""
    samples = speech(0.0, 14.06) + quiet(0.88) + speech(14.94, 30.0)
    result = judged(track(tmp_path, samples), 0.0, 30.0)
    assert result.ratio == pytest.approx(1.0, abs=0.002)
    [(at, length)] = result.loss.silences
    assert at == pytest.approx(14.06, abs=0.03) and length == pytest.approx(0.88, abs=0.03)
    assert result.loss.gap_seconds == pytest.approx(0.88, abs=0.04)
    assert result.intact == pytest.approx(1 - 0.88 / 30, abs=0.003)
    assert result.strict == result.intact
    report = common.loss_report([result], "callrec")
    assert "stricter" in report and "short 1/1" in report


def test_a_real_snoop_track_of_a_stalled_call(tmp_path: Path) -> None:
    """A real capture: the call's bridge threads stopped for 0.9 s (bench/stall_threads.py).
    The snoop wrote 0.9 s of zeros, then flushed 0.5 s of the late speech; the
    other 0.4 s stayed queued (lost at the hangup, outside this excerpt)."""
    real = ROOT / "tests" / "verification" / "fixtures" / "snoop_stalled_writer.wav"
    loss = common.analyse_track(real, common.CUSTOMER_TONES)
    assert loss.seconds == pytest.approx(5.0)
    [(at, length)] = loss.silences
    assert at == pytest.approx(1.9, abs=0.03) and length == pytest.approx(0.9, abs=0.03)
    [(at, lost)] = loss.gaps
    assert lost == pytest.approx(0.5, abs=0.04) and 1.9 < at < 3.0
    assert loss.intact == pytest.approx(4.1, abs=0.05)


def test_a_pause_in_the_party_speech_loses_nothing(tmp_path: Path) -> None:
    """The party's own tones stalled for 0.9 s and went on where they were: the file
    holds all the speech (and the silence), which is not capture loss."""
    samples = speech(0.0, 12.4) + quiet(0.9) + speech(12.4, 20.0)
    loss = common.analyse_track(track(tmp_path, samples), TONES)
    assert loss.gaps == []
    [(at, length)] = loss.silences
    assert at == pytest.approx(12.4, abs=0.03) and length == pytest.approx(0.9, abs=0.03)
    assert loss.intact == pytest.approx(20.0, abs=0.05)


def test_a_duplicated_stretch_is_not_counted_twice(tmp_path: Path) -> None:
    """0.5 s heard twice across a tone change (11.8-12.3), and 0.4 s within one tone."""
    samples = speech(0.0, 12.3) + speech(11.8, 16.5) + speech(16.1, 22.0)
    result = judged(track(tmp_path, samples), 0.0, 22.0)
    assert result.loss.duplicated == pytest.approx(0.9, abs=0.06)
    assert result.loss.gaps == []
    assert result.ratio == pytest.approx(22.9 / 22.0, abs=0.002)
    assert result.intact == pytest.approx(1.0, abs=0.005)


def test_silence_over_speech_is_a_gap_and_a_silence(tmp_path: Path) -> None:
    samples = speech(0.0, 20.0)
    samples[int(9.2 * RATE) : int(9.7 * RATE)] = quiet(0.5)
    loss = common.analyse_track(track(tmp_path, samples), TONES)
    assert loss.gap_seconds == pytest.approx(0.5, abs=0.04)
    assert [round(n, 1) for _, n in loss.silences] == [0.5]
    assert loss.seconds == pytest.approx(20.0) and loss.intact == pytest.approx(19.5, abs=0.05)


def test_the_report_judges_by_the_stricter_figure(tmp_path: Path) -> None:
    whole = judged(track(tmp_path, speech(0.0, 20.0), "a.wav"), 0.0, 20.0)
    holed = judged(
        track(tmp_path, speech(0.0, 9.0) + quiet(0.6) + speech(9.6, 20.0), "b.wav"), 0.0, 20.0
    )
    report = common.loss_report([whole, holed], "callrec")
    lines = report.splitlines()
    assert "stricter" in lines[0] and "short 1/2" in lines[0]
    assert "length p1 1.000" in lines[1] and "short 0/2" in lines[1]  # length alone passes it
    assert "tracks with gaps 1/2" in lines[2]
