"""Which capture backend does what: new segments by the setting, running ones by their own.

``[ari] capture`` picks the backend new segments start with (snoops, or
MixMonitor over AMI); a segment already running is stopped, muted and
checked by the backend that started it (its captures' handles say which),
so changing the setting and restarting never strands a live segment.
"""

from __future__ import annotations

from typing import Literal

from ari_app.capture import Capturer
from ari_app.mixmonitor_capture import MixMonitorCapturer, is_mixmonitor, parse_handle
from callcore.state import CallState, Capture, Segment

CaptureKind = Literal["snoop", "mixmonitor"]
CAPTURE_KINDS: tuple[CaptureKind, ...] = ("snoop", "mixmonitor")


class Capturers:
    def __init__(
        self, snoop: Capturer, mixmonitor: MixMonitorCapturer | None, use: CaptureKind
    ) -> None:
        if use == "mixmonitor" and mixmonitor is None:
            raise ValueError("capture = mixmonitor needs an AMI connection and a monitor dir")
        self.snoop = snoop
        self.mixmonitor = mixmonitor
        self.use = use

    def _for(self, seg: Segment) -> Capturer | MixMonitorCapturer:
        if self.mixmonitor is not None and is_mixmonitor(seg):
            return self.mixmonitor
        return self.snoop

    async def start(self, call: CallState, segment_no: int) -> Segment:
        if self.use == "mixmonitor" and self.mixmonitor is not None:
            return await self.mixmonitor.start(call, segment_no)
        return await self.snoop.start(call, segment_no)

    async def stop(self, seg: Segment, ended_at: float | None = None) -> None:
        await self._for(seg).stop(seg, ended_at)

    async def set_muted(self, seg: Segment, muted: bool) -> None:
        await self._for(seg).set_muted(seg, muted)

    async def still_live(self, cap: Capture) -> bool:
        if self.mixmonitor is not None and parse_handle(cap.handle):
            return await self.mixmonitor.still_live(cap)
        return await self.snoop.still_live(cap)
