"""Audio post-processing shared by both call paths (stdlib only, no ffmpeg).

Per-leg captures start at slightly different instants (each snoop starts its
recording on its own StasisStart), so the stereo file pads each track with
leading silence by its start offset: both voices then sit on one timeline.
"""

from __future__ import annotations

import array
import sys
import wave
from pathlib import Path

SAMPLE_RATE = 8000


def read_mono(path: Path) -> array.array[int]:
    """Samples of a 16-bit mono WAV."""
    with wave.open(str(path), "rb") as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit mono WAV")
        frames = wav.readframes(wav.getnframes())
    samples = array.array("h")
    samples.frombytes(frames)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / float(wav.getframerate())


def make_stereo(
    agent: Path | None,
    customer: Path | None,
    out: Path,
    *,
    agent_start: float = 0.0,
    customer_start: float = 0.0,
    rate: int = SAMPLE_RATE,
) -> Path:
    """Write agent left, customer right, aligned by their start times (epoch s).

    A missing leg becomes silence, so the file shape never depends on what
    the policy allowed.
    """
    tracks = [read_mono(p) if p else array.array("h") for p in (agent, customer)]
    starts = [agent_start if agent else None, customer_start if customer else None]
    known = [s for s in starts if s is not None]
    origin = min(known) if known else 0.0
    padded: list[array.array[int]] = []
    for samples, start in zip(tracks, starts, strict=True):
        lead = round(((start or origin) - origin) * rate)
        padded.append(array.array("h", bytes(2 * lead)) + samples)
    length = max(len(t) for t in padded)
    for track in padded:
        track.extend(array.array("h", bytes(2 * (length - len(track)))))
    interleaved = array.array("h", bytes(4 * length))
    interleaved[0::2] = padded[0]
    interleaved[1::2] = padded[1]
    if sys.byteorder == "big":
        interleaved.byteswap()
    tmp = out.with_name(out.name + ".part")
    with wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(interleaved.tobytes())
    tmp.replace(out)
    return out
