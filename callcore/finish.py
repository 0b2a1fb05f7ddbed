"""Turn a stopped segment into a :class:`storage.segment.FinishedSegment`.

Runs after every capture of the segment is complete on disk. Repairs a WAV
header a crash left at zero, builds the stereo file when both legs were
captured (aligned by each capture's start), flags a capture shorter than the
segment (a defect to report, not to hide) and hands the result to the sink.
A hand-off that fails is kept as a pending file and retried: nothing is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callcore.audio import make_stereo, wav_seconds
from callcore.state import CallState, Segment
from callcore.state_migrate import load as load_state
from storage.files import private_dir, write_private
from storage.segment import FinishedSegment, Pause, SegmentSink
from storage.wavfix import repair_wav_header

log = logging.getLogger("callrec.finish")

SHORT_CAPTURE_RATIO = 0.98


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def build_finished(call: CallState, seg: Segment) -> FinishedSegment:
    files: dict[str, Path] = {}
    flags: list[str] = list(call.flags)  # e.g. state_unreadable
    for leg, cap in seg.captures.items():
        path = Path(cap.host_path)
        if not path.exists():
            flags.append(f"capture_missing:{leg}")
            log.error("recording %s: %s capture missing at %s", seg.recording_id, leg, path)
            continue
        if repair_wav_header(path):
            flags.append("header_repaired")
        files[leg] = path
    ended = seg.ended_at or seg.started_at
    for leg, path in files.items():
        recorded = wav_seconds(path)
        # Compare with the time this leg was really capturing: from its own
        # start (snoops start apart) to the stop request.
        leg_span = max(0.0, ended - (seg.captures[leg].started_at or seg.started_at))
        if leg_span > 1.0 and recorded < SHORT_CAPTURE_RATIO * leg_span - 0.1:
            flags.append(f"short_capture:{leg}")
            log.warning(
                "recording %s: %s track %.2fs for a %.2fs segment",
                seg.recording_id,
                leg,
                recorded,
                leg_span,
            )
    if "agent" in files and "customer" in files:
        stereo = files["agent"].with_name(f"{seg.recording_id}-stereo.wav")
        make_stereo(
            files["agent"],
            files["customer"],
            stereo,
            agent_start=seg.captures["agent"].started_at or seg.started_at,
            customer_start=seg.captures["customer"].started_at or seg.started_at,
        )
        files["stereo"] = stereo
    return FinishedSegment(
        recording_id=seg.recording_id,
        call_id=call.call_id,
        segment_no=seg.segment_no,
        source="ari" if call.source == "ari" else "agi",
        direction="inbound" if call.direction == "inbound" else "outbound",
        agent=seg.agent,
        campaign=call.campaign,
        queue=call.queue,
        lead_list=call.lead_list,
        customer_number_raw=call.customer_number,
        started_at=_dt(seg.started_at),
        ended_at=_dt(ended),
        legs="both" if seg.legs == "both" else "agent",
        files=files,
        decision=seg.decision.to_dict(),
        reasons=seg.decision.reasons,
        # What the recording should cover: from the first capture's start.
        bridged_seconds=max(
            0.0,
            ended
            - min(
                (c.started_at for c in seg.captures.values() if c.started_at),
                default=seg.started_at,
            ),
        ),
        pauses=tuple(Pause(_dt(a), _dt(b) if b else None) for a, b in seg.pauses),
        flags=tuple(dict.fromkeys(flags)),
        extra={"capture_started": {leg: c.started_at for leg, c in seg.captures.items()}},
    )


class Handoff:
    """Hands finished segments to storage; keeps what fails for a retry.

    Each segment is journalled (a pending file) *before* the hand-off starts
    and the file is removed once storage took it, so a hand-off that fails,
    or a process that dies during one, leaves the segment to be retried on
    start: the call paths may run hand-offs in the background, outside any
    per-call lock, without risking a recording.
    """

    def __init__(self, sink: SegmentSink, pending_dir: Path) -> None:
        self.sink = sink
        self.pending_dir = pending_dir
        private_dir(pending_dir)
        self._in_flight: set[str] = set()  # recording ids being handed off now

    async def _journal(self, call: CallState, seg: Segment) -> Path:
        """Write the pending file, synced, off the event loop (an fsync on a busy
        disk would stall every call); the record is taken on the loop, where
        the call state cannot change under it."""
        record: dict[str, Any] = {"call": call.to_dict(), "segment_id": seg.recording_id}
        record["call"]["segment"] = asdict(seg) | {"decision": seg.decision.to_dict()}
        path = self.pending_dir / f"{seg.recording_id}.json"
        await asyncio.to_thread(write_private, path, json.dumps(record), sync=True)
        return path

    async def deliver(self, call: CallState, seg: Segment) -> str | None:
        self._in_flight.add(seg.recording_id)  # before the journal exists: no retry races it
        try:
            path = await self._journal(call, seg)
        except BaseException:
            self._in_flight.discard(seg.recording_id)
            raise
        try:  # a file we cannot finish (bad header, stereo) is kept too
            # Header repair and stereo read and write whole files: off the loop.
            finished = await asyncio.to_thread(build_finished, call, seg)
            stored = await self.sink.accept_segment(finished)
        except Exception:
            log.exception("recording %s: hand-off failed; kept for retry", seg.recording_id)
            return None
        finally:
            self._in_flight.discard(seg.recording_id)
        path.unlink(missing_ok=True)
        return stored

    async def retry_pending(self) -> int:
        done = 0
        for path in sorted(self.pending_dir.glob("*.json")):
            if path.stem in self._in_flight:
                continue  # being handed off right now
            data = json.loads(path.read_text())
            call = load_state(data["call"])  # pending files of older versions too
            if call.segment is None:
                path.unlink()
                continue
            try:
                finished = await asyncio.to_thread(build_finished, call, call.segment)
                await self.sink.accept_segment(finished)
            except Exception:
                log.exception("recording %s: hand-off retry failed", data["segment_id"])
                continue
            path.unlink()
            done += 1
        return done
