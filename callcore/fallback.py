"""Recordings the dialplan made on its own while callrec could not decide.

When the Stasis app or the FastAGI service is unreachable, the dialplan's
fallback records the agent's side with MixMonitor (if the admin chose so).
Those files must be accounted for like any other: once a file has stopped
growing, it is handed to storage as a one-segment recording flagged
``fallback``, with reason ``fallback.service_unavailable``. Nothing about the
call is known but the file, so it lands unassigned for a person to assign.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callcore.audio import wav_seconds
from storage.segment import FinishedSegment, SegmentSink
from storage.wavfix import repair_wav_header

log = logging.getLogger("callrec.fallback")

PATTERNS = {
    "callrec-fallback-*-agent.wav": "agi",
    "callrec-stasis-fallback-*-agent.wav": "ari",
}
REASON = "fallback.service_unavailable"


def _segment(path: Path, source: str) -> FinishedSegment:
    flags = ["fallback"]
    if repair_wav_header(path):
        flags.append("header_repaired")
    # A stable id from the file name: a second pass after a crash is a no-op.
    rid = uuid.uuid5(uuid.NAMESPACE_URL, f"callrec-fallback:{path.name}").hex
    ended = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    seconds = wav_seconds(path)
    decision = {
        "legs": "agent",
        "autostart": True,
        "agent_can_start": False,
        "agent_can_stop": False,
        "agent_can_pause": False,
        "mode": None,
        "announce": None,
        "reasons": [REASON],
    }
    return FinishedSegment(
        recording_id=rid,
        call_id=rid,
        segment_no=1,
        source="agi" if source == "agi" else "ari",
        direction="inbound",
        agent="unknown",
        campaign=None,
        queue=None,
        lead_list=None,
        customer_number_raw=None,
        started_at=ended - timedelta(seconds=seconds),
        ended_at=ended,
        legs="agent",
        files={"agent": path},
        decision=decision,
        reasons=(REASON,),
        bridged_seconds=seconds,
        flags=tuple(flags),
    )


async def collect(monitor_dir: Path, sink: SegmentSink, quiet_seconds: float = 30.0) -> int:
    """Hand every finished fallback file to storage; return how many."""
    done = 0
    now = time.time()
    for pattern, source in PATTERNS.items():
        for path in sorted(monitor_dir.glob(pattern)):
            try:
                if now - path.stat().st_mtime < quiet_seconds:
                    continue  # MixMonitor may still be writing it
                await sink.accept_segment(_segment(path, source))
            except Exception:
                log.exception("fallback recording %s could not be stored; will retry", path)
                continue
            log.warning("fallback recording %s stored (made while callrec was down)", path.name)
            done += 1
    return done
