"""Capturing a segment's legs with snoop channels, and stopping them cleanly.

Recording a bridged channel directly fails, so each leg gets a snoop channel
(spy=in: the voice coming *from* that party) and the recording runs on the
snoop. The recording starts only on the snoop's own StasisStart (acting on it
earlier races into 409/422). A stopped recording's file is complete only when
RecordingFinished arrives, so stop waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from ari_app.client import AriClient, AriConflict, AriError, AriNotFound, AriUnavailable
from callcore.state import CallState, Capture, Segment
from callcore.waiters import Waiters
from storage.segment import new_recording_id

log = logging.getLogger("callrec.ari.capture")

LEG_CHANNEL = {"agent": "agent", "customer": "customer"}
RECORDING_PREFIX = "callrec"


def recording_name(recording_id: str, leg: str) -> str:
    return f"{RECORDING_PREFIX}/{recording_id}-{leg}"


def event_time(event: dict[str, Any]) -> float:
    """ARI's event timestamp as epoch seconds (now, if missing or odd)."""
    stamp = event.get("timestamp")
    if isinstance(stamp, str):
        with contextlib.suppress(ValueError):
            return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    return time.time()


def new_segment(call: CallState, segment_no: int) -> Segment:
    """The segment a capture backend is about to start, under the decision in force."""
    decision = call.current_decision()
    return Segment(
        recording_id=new_recording_id(),
        segment_no=segment_no,
        agent=call.agent,
        legs=decision.legs,
        decision=decision,
    )


class Capturer:
    def __init__(
        self, client: AriClient, waiters: Waiters, recording_dir: Path, timeout: float = 5.0
    ) -> None:
        self.client = client
        self.waiters = waiters
        self.recording_dir = recording_dir
        self.timeout = timeout

    def host_path(self, name: str) -> Path:
        return self.recording_dir / f"{name}.wav"

    async def start(self, call: CallState, segment_no: int) -> Segment:
        """Snoop and record each leg the decision allows; return the live segment."""
        seg = new_segment(call, segment_no)
        legs = ["agent"] if seg.legs == "agent" else ["agent", "customer"]
        for leg in legs:
            name = recording_name(seg.recording_id, leg)
            seg.captures[leg] = Capture(
                leg=leg,
                handle=name,
                host_path=str(self.host_path(name)),
                snoop_id=f"{seg.recording_id}-{leg}",
            )
        call.segment = seg  # persisted by the caller before the snoops exist
        results = await asyncio.gather(
            *(self._start_leg(call, seg, cap) for cap in seg.captures.values()),
            return_exceptions=True,
        )
        # Every leg settled before failing: a stop then sees which ones run.
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return seg

    async def _start_leg(self, call: CallState, seg: Segment, cap: Capture) -> None:
        try:
            await self._snoop_and_record(call, seg, cap)
        finally:  # whatever happened, nothing waits for this leg's start any more
            self.waiters.discard("StasisStart", cap.snoop_id)
            self.waiters.discard("RecordingStarted", cap.handle)

    async def _snoop_and_record(self, call: CallState, seg: Segment, cap: Capture) -> None:
        started = self.waiters.expect("StasisStart", cap.snoop_id)
        await self.client.snoop(
            call.channels[LEG_CHANNEL[cap.leg]],
            spy="in",
            app_args=f"snoop,{call.call_id},{seg.recording_id},{cap.leg}",
            snoop_id=cap.snoop_id,
        )
        try:
            await self.waiters.wait(started, self.timeout)
        except TimeoutError:
            # The event may be lost with a dropped websocket while the snoop
            # is up: ask Asterisk itself (a new REST connection) before failing.
            await self.client.get_channel(cap.snoop_id)  # AriNotFound: really not there
            log.warning("snoop %s: no StasisStart seen, but it exists", cap.snoop_id)
        recording = self.waiters.expect("RecordingStarted", cap.handle)
        requested = time.time()
        await self.client.record(cap.snoop_id, cap.handle, fmt="wav", if_exists="fail")
        try:
            event = await self.waiters.wait(recording, self.timeout)
        except TimeoutError:
            if not await self.still_live(cap):
                raise
            # Recording, but its RecordingStarted was lost: it began at about
            # the request (what the finisher aligns and measures by).
            log.warning("recording %s: no RecordingStarted seen, but it is live", cap.handle)
            cap.started_at = requested
            return
        cap.started_at = event_time(event)

    async def stop(self, seg: Segment, ended_at: float | None = None) -> None:
        """Stop every capture and wait until each file is complete.

        ``ended_at`` is when the segment really ended (a hangup's event time);
        by default the stop request, after which audio is not the call's.
        Never raises: whatever Asterisk answers, the files on disk are what
        gets delivered, so a refused stop must not keep them from storage.
        """
        seg.ended_at = ended_at or time.time()
        results = await asyncio.gather(
            *(self._stop_leg(cap) for cap in seg.captures.values()), return_exceptions=True
        )
        for cap, result in zip(seg.captures.values(), results, strict=True):
            if isinstance(result, BaseException):
                log.error("recording %s: stop failed (%s); delivering the file", cap.handle, result)
                cap.finished = True
        if seg.paused:
            seg.close_pause(seg.ended_at)

    async def _stop_leg(self, cap: Capture) -> None:
        if not cap.started_at:  # never recorded: only the snoop may need removing
            with contextlib.suppress(AriError, AriUnavailable):
                await self.client.hangup(cap.snoop_id)
            return
        finished = self.waiters.expect("RecordingFinished", cap.handle)
        try:
            await self.client.stop_recording(cap.handle)
        except (AriNotFound, AriConflict) as exc:
            # 404: already finished; 409 "Recording not in session": the spied
            # channel hung up and the recording is closing on its own. Either
            # way the file is there (or about to be).
            log.info("recording %s: stop answered %s", cap.handle, exc.status)
            self.waiters.discard("RecordingFinished", cap.handle)
        else:
            try:
                await self.waiters.wait(finished, self.timeout)
            except TimeoutError:
                log.error("recording %s: no RecordingFinished after stop", cap.handle)
        finally:
            self.waiters.discard("RecordingFinished", cap.handle)
            cap.finished = True
            with contextlib.suppress(AriError, AriUnavailable):
                await self.client.hangup(cap.snoop_id)

    async def set_muted(self, seg: Segment, muted: bool) -> None:
        """Pause = mute: silence is written and the call's timeline is kept."""
        for cap in seg.captures.values():
            if muted:
                await self.client.mute_recording(cap.handle)
            else:
                await self.client.unmute_recording(cap.handle)

    async def still_live(self, cap: Capture) -> bool:
        try:
            await self.client.live_recording(cap.handle)
        except AriNotFound:
            return False
        return True
