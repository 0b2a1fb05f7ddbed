"""Capturing a segment with MixMonitor on the agent's channel, over AMI.

The alternative to snoops (``[ari] capture = "mixmonitor"``): one audiohook
on the agent's channel instead of a snoop channel and an ARI recording per
leg, so both legs start together (no alignment) and cost what the dialplan
path costs. The options and files are the dialplan path's
(``callcore.mixmonitor``): ``r()`` the agent, ``t()`` the customer, no mixed
file. A stop is complete only when Asterisk closed the files (header
written), so stop waits for that. Pause mutes the running MixMonitor.

A capture's ``handle`` names the backend, the channel MixMonitor runs on and
its MixMonitorID (``mixmonitor/<channel>/<id>``): after a transfer the
segment is stopped on the channel it records, not the call's new agent.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ari_app.capture import new_segment
from callcore.ami import Ami, AmiError
from callcore.mixmonitor import MonitorDir, legs_captured, options, wait_closed
from callcore.state import CallState, Capture, Segment

log = logging.getLogger("callrec.ari.mixmonitor")

MARK = "mixmonitor"


def handle_of(channel: str, mix_id: str) -> str:
    return f"{MARK}/{channel}/{mix_id}"


def parse_handle(handle: str) -> tuple[str, str] | None:
    """(channel, MixMonitorID) of a MixMonitor capture's handle, None for a snoop's."""
    mark, _, rest = handle.partition("/")
    if mark != MARK or not rest:
        return None
    channel, _, mix_id = rest.partition("/")
    return channel, mix_id


def is_mixmonitor(seg: Segment) -> bool:
    return any(parse_handle(cap.handle) for cap in seg.captures.values())


class MixMonitorCapturer:
    """Start, stop and mute one MixMonitor per segment on the agent's channel."""

    def __init__(self, ami: Ami, monitor: MonitorDir, close_timeout: float = 10.0) -> None:
        self.ami = ami
        self.monitor = monitor
        self.close_timeout = close_timeout

    async def start(self, call: CallState, segment_no: int) -> Segment:
        """MixMonitor the legs the decision allows; return the live segment.

        Raises ``AmiError`` when Asterisk refused (the segment is then set
        with nothing started, as a failed snoop leaves it).
        """
        channel = call.channels["agent"]
        seg = new_segment(call, segment_no)
        for leg in legs_captured(seg.legs):
            seg.captures[leg] = Capture(
                leg=leg,
                handle=handle_of(channel, ""),
                host_path=str(self.monitor.host_path(seg.recording_id, leg)),
            )
        call.segment = seg  # persisted by the caller before MixMonitor runs
        reply = await self.ami.action(
            "MixMonitor", Channel=channel, Options=options(self.monitor, seg.recording_id, seg.legs)
        )
        # The audiohook is attached before the answer: both files start here.
        started = time.time()
        mix_id = reply.get("MixMonitorID", "")
        for cap in seg.captures.values():
            cap.handle = handle_of(channel, mix_id)
            cap.started_at = started
        call.mixmonitor_id = mix_id
        return seg

    async def stop(self, seg: Segment, ended_at: float | None = None) -> None:
        """StopMixMonitor, then wait until Asterisk closed both files.

        Never raises: a channel already gone closed its MixMonitor itself,
        and whatever is on disk is what gets delivered.
        """
        seg.ended_at = ended_at or time.time()
        caps = list(seg.captures.values())
        parsed = next((parse_handle(c.handle) for c in caps if parse_handle(c.handle)), None)
        if parsed is not None:
            channel, mix_id = parsed
            fields = {"Channel": channel}
            if mix_id:
                fields["MixMonitorID"] = mix_id
            try:
                await self.ami.action("StopMixMonitor", **fields)
            except AmiError as exc:  # the hangup closes it: the files are there or coming
                log.info("recording %s: StopMixMonitor: %s", seg.recording_id, exc)
        started = [Path(c.host_path) for c in caps if c.started_at]
        if started and not await wait_closed(started, self.close_timeout):
            log.error("recording %s: MixMonitor files not closed in time", seg.recording_id)
        for cap in caps:
            cap.finished = True
        if seg.paused:
            seg.close_pause(seg.ended_at)

    async def set_muted(self, seg: Segment, muted: bool) -> None:
        """Pause = mute both directions: silence is written, the timeline kept."""
        parsed = next((parse_handle(c.handle) for c in seg.captures.values()), None)
        if parsed is None:
            return
        channel, mix_id = parsed
        fields = {"Channel": channel, "Direction": "both", "State": "1" if muted else "0"}
        if mix_id:
            fields["MixMonitorID"] = mix_id
        await self.ami.action("MixMonitorMute", **fields)

    async def still_live(self, cap: Capture) -> bool:
        """MixMonitor lives as long as its channel (unless stopped, which we did not)."""
        parsed = parse_handle(cap.handle)
        if parsed is None:
            return False
        try:
            await self.ami.getvar(parsed[0], "CHANNEL(state)")
        except AmiError as exc:
            # Only a channel Asterisk says is gone is a capture gone; AMI
            # itself down says nothing about it.
            return "no such channel" not in str(exc).lower()
        return True
