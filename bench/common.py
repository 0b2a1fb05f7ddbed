"""Pieces the call-path benchmarks share."""

from __future__ import annotations

from storage.segment import FinishedSegment


class DiscardSink:
    """Counts segments and removes their files: storage is not what is measured."""

    def __init__(self) -> None:
        self.count = 0

    async def accept_segment(self, segment: FinishedSegment) -> str:
        self.count += 1
        for path in segment.files.values():
            path.unlink(missing_ok=True)
        return segment.recording_id


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
