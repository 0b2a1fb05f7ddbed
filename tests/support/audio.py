"""Tone analysis for truth tests: which party's tone is in a recording."""

from __future__ import annotations

import math
import wave
from collections.abc import Sequence
from pathlib import Path

from callcore.audio import read_mono


def goertzel_power(samples: Sequence[int], freq: float, rate: int = 8000) -> float:
    """Normalised power of one frequency (0..~0.5 of full-scale power)."""
    n = len(samples)
    if n == 0:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + coeff * s1 - s2
        s2, s1 = s1, s0
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return power / (n * n * 32768.0 * 32768.0)


def tone_levels(
    path: Path,
    freqs: Sequence[float],
    channel: int | None = None,
    start: float = 0.5,
    seconds: float = 1.0,
) -> dict[float, float]:
    """Power of each frequency in a window of a mono (or one stereo channel) WAV."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        nch = wav.getnchannels()
    if nch == 1:
        samples = list(read_mono(path))
    else:
        import array

        with wave.open(str(path), "rb") as wav:
            data = array.array("h")
            data.frombytes(wav.readframes(wav.getnframes()))
        samples = list(data[(channel or 0) :: nch])
    a = int(start * rate)
    window = samples[a : a + int(seconds * rate)]
    return {f: goertzel_power(window, f, rate) for f in freqs}


def holds(path: Path, present: float, absent: Sequence[float], channel: int | None = None) -> None:
    """Assert the file holds ``present`` and each of ``absent`` is 1000x weaker."""
    levels = tone_levels(path, [present, *absent], channel=channel)
    assert levels[present] > 1e-4, levels
    for freq in absent:
        assert levels[freq] < levels[present] / 1000, levels


def rms(samples: Sequence[int]) -> float:
    return math.sqrt(sum(x * x for x in samples) / max(1, len(samples)))
