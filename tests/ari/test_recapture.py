"""An owed capture's bookkeeping (pure): kept across saves, settled once, flagged on its segment."""

from __future__ import annotations

from ari_app.recapture import clear_pending, for_segment, mark_pending, pending_since
from callcore.state import CallState, Capture, Segment
from policy import Decision

DECISION = Decision("both", True, True, True, True, "all_calls", None, ("test",))


def _call() -> CallState:
    return CallState(call_id="c1", source="ari", direction="outbound", agent="a1")


def _segment(no: int, started: float) -> Segment:
    seg = Segment(recording_id=f"r{no}", segment_no=no, agent="a1", legs="both", decision=DECISION)
    for leg, at in (("agent", started), ("customer", started + 0.2)):
        seg.captures[leg] = Capture(leg=leg, handle=f"h-{leg}", host_path="/x", started_at=at)
    return seg


def test_marker_keeps_the_earliest_due_time_and_survives_a_save() -> None:
    call = _call()
    mark_pending(call, 100.0)
    mark_pending(call, 105.0)  # a retry failing again: the audio is missing since 100
    again = CallState.from_dict(call.to_dict())
    assert pending_since(again) == 100.0


def test_late_start_flags_only_its_own_segment_once() -> None:
    call = _call()
    call.flags.append("state_unreadable")
    mark_pending(call, 100.0)
    seg2 = _segment(2, 106.5)
    assert clear_pending(call, seg2) == 6.5
    assert pending_since(call) is None
    delivered = for_segment(call, seg2)
    assert delivered.flags == ["state_unreadable", "audio_missing:head:6.5s"]
    later = for_segment(call, _segment(3, 200.0))  # a later segment starts on time
    assert later.flags == ["state_unreadable"]


def test_nothing_owed_nothing_flagged() -> None:
    call = _call()
    seg = _segment(1, 10.0)
    assert clear_pending(call, seg) is None
    assert for_segment(call, seg).flags == []
