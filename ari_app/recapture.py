"""A capture the decision asked for that could not start: kept owed until it runs.

When the ARI link drops while a segment is being set up, the snoops' events
are lost or the requests fail, and the segment ends before any audio was
captured. The call then owes a capture: a marker in the persisted call's
flags (so an app restart still knows it) says since when. Once the link is
back the capture is started again (``Reconciler._recapture``), and the
segment that finally runs is flagged with how much of its head is missing,
so the loss is never silent. Pure helpers on the call state, no I/O.
"""

from __future__ import annotations

import dataclasses

from callcore.state import CallState, Segment

PENDING = "capture_pending:"  # + epoch seconds the capture was due; never delivered
LATE = "segment_late:"  # + "segment_no:seconds"; delivered only with that segment
MAX_ATTEMPTS = 3  # starts tried again before the call is left to the gap report
RETRY_DELAYS = (0.5, 2.0, 5.0)  # s before each attempt, after the link is back


def pending_since(call: CallState) -> float | None:
    """When the owed capture was due, or None if the call owes none."""
    for flag in call.flags:
        if flag.startswith(PENDING):
            return float(flag.removeprefix(PENDING))
    return None


def mark_pending(call: CallState, since: float) -> None:
    """The capture due at ``since`` did not start (kept: the earliest due time)."""
    if pending_since(call) is None:
        call.flags.append(f"{PENDING}{since:.3f}")


def drop_pending(call: CallState) -> None:
    call.flags[:] = [f for f in call.flags if not f.startswith(PENDING)]


def clear_pending(call: CallState, seg: Segment) -> float | None:
    """The segment now captures: settle what was owed; return the seconds missed."""
    since = pending_since(call)
    if since is None:
        return None
    drop_pending(call)
    started = [c.started_at for c in seg.captures.values() if c.started_at]
    late = max(0.0, min(started) - since) if started else 0.0
    call.flags.append(f"{LATE}{seg.segment_no}:{late:.1f}")
    return late


def for_segment(call: CallState, seg: Segment) -> CallState:
    """The call as the segment is delivered: only its own flags.

    ``audio_missing:head:<seconds>s`` says the stretch from when the capture
    was due to when it ran is not in the files.
    """
    flags: list[str] = []
    for flag in call.flags:
        if flag.startswith(PENDING):
            continue
        if flag.startswith(LATE):
            number, _, seconds = flag.removeprefix(LATE).partition(":")
            if number == str(seg.segment_no):
                flags.append(f"audio_missing:head:{seconds}s")
            continue
        flags.append(flag)
    call.flags[:] = [f for f in call.flags if not f.startswith(f"{LATE}{seg.segment_no}:")]
    return dataclasses.replace(call, flags=flags)
