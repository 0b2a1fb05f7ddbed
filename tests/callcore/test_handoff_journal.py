"""A hand-off interrupted half-way (crash, stop) is retried: it was journalled first."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

from callcore.finish import Handoff
from callcore.state import CallState, Capture, Segment
from policy import Decision
from storage.segment import FinishedSegment


class Sink:
    def __init__(self, hang: bool) -> None:
        self.hang = hang
        self.got: list[FinishedSegment] = []

    async def accept_segment(self, seg: FinishedSegment) -> str:
        if self.hang:
            await asyncio.Event().wait()  # storage never answers
        self.got.append(seg)
        return seg.recording_id


async def test_interrupted_hand_off_is_retried(tmp_path: Path) -> None:
    wav = tmp_path / "r1-agent.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\1" * 8000)
    decision = Decision("agent", True, False, True, True, "all_calls", None, ("mode.all_calls",))
    call = CallState("c1", "ari", "outbound", "a1", decision=decision, segments=1)
    seg = Segment("r1", 1, "a1", "agent", decision, started_at=100.0, ended_at=101.0)
    seg.captures["agent"] = Capture("agent", "h", str(wav), started_at=100.0)
    task = asyncio.create_task(Handoff(Sink(hang=True), tmp_path / "pending").deliver(call, seg))
    await asyncio.sleep(0.2)
    task.cancel()  # the process stops mid-hand-off
    journal = tmp_path / "pending" / "r1.json"
    assert journal.exists() and oct(journal.stat().st_mode & 0o777) == "0o600"
    sink = Sink(hang=False)
    assert await Handoff(sink, tmp_path / "pending").retry_pending() == 1
    assert [s.recording_id for s in sink.got] == ["r1"] and not journal.exists()
