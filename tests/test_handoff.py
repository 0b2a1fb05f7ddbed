"""A hand-off that fails is kept on disk and delivered by the retry: nothing lost."""

from __future__ import annotations

import time
import wave
from pathlib import Path

from callcore.finish import Handoff
from callcore.state import CallState, Capture, Segment
from policy import Decision
from storage.segment import FinishedSegment


class FlakySink:
    def __init__(self) -> None:
        self.fail = True
        self.got: list[FinishedSegment] = []

    async def accept_segment(self, segment: FinishedSegment) -> str:
        if self.fail:
            raise OSError("database is down")
        self.got.append(segment)
        return segment.recording_id


def _wav(path: Path, seconds: float) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * int(8000 * seconds))
    return path


async def test_failed_handoff_is_kept_and_retried(tmp_path: Path) -> None:
    now = time.time()
    call = CallState(call_id="c1", source="ari", direction="outbound", agent="a1",
                     customer_number="+15125550142")  # fmt: skip
    seg = Segment(recording_id="r1", segment_no=1, agent="a1", legs="agent",
                  decision=Decision("agent", True, False, True, True, "all_calls", None,
                                    ("mode.all_calls",)),
                  started_at=now - 1.0, ended_at=now)  # fmt: skip
    seg.captures["agent"] = Capture("agent", "h", str(_wav(tmp_path / "a.wav", 1.0)),
                                    started_at=now - 1.0)  # fmt: skip
    sink = FlakySink()
    handoff = Handoff(sink, tmp_path / "pending")
    assert await handoff.deliver(call, seg) is None
    assert (tmp_path / "pending" / "r1.json").exists()
    assert await handoff.retry_pending() == 0  # still down: kept
    sink.fail = False
    assert await handoff.retry_pending() == 1
    [got] = sink.got
    assert got.recording_id == "r1" and got.call_id == "c1" and got.legs == "agent"
    assert got.reasons == ("mode.all_calls",) and not list((tmp_path / "pending").iterdir())
