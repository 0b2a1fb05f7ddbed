"""What a softphone's steady tone shows in a recording that was paused.

Shared by the baresip tests of both call paths: the phone sends one tone
without a break, so a pause must appear in the agent's track as one silent
stretch of about the pause's length, with the tone before and after it.
"""

from __future__ import annotations

from pathlib import Path

from callcore.audio import read_mono
from tests.support.audio import goertzel_power

FRAME = 0.1  # seconds per analysed window


def silent_stretches(path: Path, hz: float, floor: float) -> list[tuple[float, float]]:
    """(start, end) seconds of each run of windows where ``hz`` is below ``floor``."""
    samples = read_mono(path)
    n = int(8000 * FRAME)
    runs: list[tuple[float, float]] = []
    start: float | None = None
    for i in range(len(samples) // n):
        quiet = goertzel_power(samples[i * n : (i + 1) * n], hz) < floor
        if quiet and start is None:
            start = i * FRAME
        elif not quiet and start is not None:
            runs.append((start, i * FRAME))
            start = None
    if start is not None:
        runs.append((start, len(samples) // n * FRAME))
    return runs


def assert_one_pause(path: Path, hz: float, paused_at: float, paused_for: float) -> None:
    """The track holds ``hz``, then silence for the pause, then ``hz`` again.

    ``paused_at`` is the pause's start in seconds after the segment's start,
    ``paused_for`` its length, both as callrec recorded them.
    """
    samples = read_mono(path)
    level = goertzel_power(samples[4000:12000], hz)  # 0.5 s to 1.5 s
    assert level > 1e-4, f"no {hz} Hz from the phone before the pause: {level}"
    stretches = silent_stretches(path, hz, level / 1000)
    quiet = [(a, b) for a, b in stretches if b - a >= 1.0]
    assert len(quiet) == 1, f"expected one silent stretch, found {stretches}"
    [(q0, q1)] = quiet
    # callrec notes each pause edge once its mute requests returned, so on a
    # loaded machine its times may trail the audio by up to a second.
    assert 2.0 <= q1 - q0 <= paused_for + 1.0, (stretches, paused_for)
    # The file starts when Asterisk's recording does, a little after the segment.
    assert abs(q0 - paused_at) < 1.2, (stretches, paused_at)
    after = samples[int(8000 * (q1 + 0.3)) : int(8000 * (q1 + 1.3))]
    assert goertzel_power(after, hz) > level / 10, "no tone after the resume"
