"""Recorded AMI streams (and FastAGI requests) of real dialplan calls, replayed
through the dialplan translator and the call machine with fake ports: no
Asterisk, all of them in well under 20 s.

The streams were recorded from the sandbox Asterisk by the integration tests
in ``tests/agi`` (see ``tests/support/event_recorder.py`` for the command).
What each replay must produce is checked against Asterisk's own events in the
stream (the MixMonitors it really started and muted, the parties' Hangup),
not against what callrec did.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from callcore.events import (
    Decide,
    DeliverSegment,
    EndCall,
    MuteCapture,
    PlayRefusal,
    StartCapture,
)
from policy import Config
from tests.replay.ami_replayer import AmiReplayer, truth
from tests.replay.replayer import Outcome, load

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
STREAMS = sorted(FIXTURES.glob("*.jsonl"))


def stream(name: str) -> list[dict[str, Any]]:
    (path,) = [p for p in STREAMS if name in p.stem]
    return load(path)


def replay(policy: Config, events: list[dict[str, Any]]) -> tuple[str, Outcome]:
    outcome = AmiReplayer(policy).play(events)
    (call_id,) = outcome.final  # one call per recorded test
    return call_id, outcome


def test_fixtures_are_there() -> None:
    assert len(STREAMS) >= 15, f"recorded streams missing in {FIXTURES}"


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem.removeprefix("test_")[:50])
def test_every_stream_delivers_what_asterisk_recorded(dialplan_policy: Config, path: Path) -> None:
    events = load(path)
    outcome = AmiReplayer(dialplan_policy).play(events)
    seen = truth(events)
    assert outcome.final, "no call in the stream"
    for call_id, state in outcome.final.items():
        why = outcome.transitions[call_id]
        assert state == "ended", why
        delivered = [e.segment_no for e in outcome.of(call_id, DeliverSegment)]
        assert len(delivered) == seen[call_id]["MixMonitorStart"], why
        assert delivered == list(range(1, len(delivered) + 1)), why  # each once, in order
        started = outcome.of(call_id, StartCapture)
        assert len(started) == seen[call_id]["MixMonitorStart"], why
        mutes = [m.muted for m in outcome.of(call_id, MuteCapture)]
        assert mutes.count(True) == seen[call_id]["Mute1"], why
        assert mutes.count(False) == seen[call_id]["Mute0"], why
        assert outcome.of(call_id, EndCall) == [EndCall()]


def _uid(event: dict[str, Any]) -> str:
    return str(event.get("Uniqueid", ""))


def test_all_calls_both_legs_and_two_party_agent_only(dialplan_policy: Config) -> None:
    call, out = replay(dialplan_policy, stream("both_sides_are_separate_tracks"))
    assert out.of(call, Decide) == [Decide("initial", "1001", False)]
    assert out.of(call, StartCapture) == [StartCapture(1, ("agent", "customer"))]
    call, out = replay(dialplan_policy, stream("agent_side_only_is_r_on_the_agent"))
    assert out.of(call, StartCapture) == [StartCapture(1, ("agent",))]


@pytest.mark.parametrize("mode", ["never", "on_demand"])
def test_modes_that_do_not_autostart_record_nothing(dialplan_policy: Config, mode: str) -> None:
    for route in ("dial", "queue"):
        call, out = replay(dialplan_policy, stream(f"records_{mode}-{route}"))
        assert out.of(call, StartCapture) == [] and out.of(call, DeliverSegment) == []


def test_dtmf_toggles_record_and_pause(dialplan_policy: Config) -> None:
    events = stream("toggle_record_and_pause_by_dtmf")
    call, out = replay(dialplan_policy, events)
    names = [t[2] for t in out.transitions[call]]
    assert names[3:7] == ["starting", "recording", "paused", "recording"], names
    assert [m.muted for m in out.of(call, MuteCapture)] == [True, False]
    assert out.of(call, PlayRefusal) == []


@pytest.mark.parametrize("campaign", ["all_force", "never"])
def test_forbidden_dtmf_toggle_is_refused(dialplan_policy: Config, campaign: str) -> None:
    call, out = replay(dialplan_policy, stream(f"forbidden_toggle_is_refused_{campaign}"))
    refusals = out.of(call, PlayRefusal)
    assert len(refusals) == (1 if campaign == "all_force" else 2)  # never: *1, then *2
    assert all(r.rule.startswith("action.") for r in refusals), refusals
    assert len(out.of(call, DeliverSegment)) == (1 if campaign == "all_force" else 0)


def test_console_pause_resume_and_refusals(dialplan_policy: Config) -> None:
    call, out = replay(dialplan_policy, stream("console_start_pause_resume_stop"))
    assert [m.muted for m in out.of(call, MuteCapture)] == [True, False]
    assert [d.segment_no for d in out.of(call, DeliverSegment)] == [1, 2]
    assert [r.rule for r in out.of(call, PlayRefusal)] == ["action.not_recording"]
    call, out = replay(dialplan_policy, stream("console_refusals_follow_the_decision"))
    assert out.of(call, PlayRefusal), "the decision refused nothing"


@pytest.mark.parametrize("keep", [True, False])
def test_native_blind_transfer(dialplan_policy: Config, keep: bool) -> None:
    call, out = replay(dialplan_policy, stream(f"post_transfer_segment_{keep}"))
    assert out.of(call, Decide)[1] == Decide("post_transfer", "2002", keep)
    assert [d.segment_no for d in out.of(call, DeliverSegment)] == [1, 2]


def test_api_transfer_with_continue_recording(dialplan_policy: Config) -> None:
    call, out = replay(dialplan_policy, stream("transfer_continue_recording_starts"))
    assert out.of(call, Decide)[1] == Decide("post_transfer", "2002", True)
    assert out.of(call, StartCapture)[1] == StartCapture(2, ("agent",))


def test_attended_transfer_keeps_the_segment_until_completion(dialplan_policy: Config) -> None:
    call, out = replay(dialplan_policy, stream("native_attended_transfer"))
    labels = [t[2] for t in out.transitions[call]]
    assert "consulting (segment runs)" in labels and "stopping (then transferred)" in labels
    assert out.of(call, Decide)[1] == Decide("post_transfer", "2002", True)
    assert [d.segment_no for d in out.of(call, DeliverSegment)] == [1, 2]


def test_abandoned_consultation_leaves_one_segment(dialplan_policy: Config) -> None:
    call, out = replay(dialplan_policy, stream("abandoned_consultation"))
    kinds = [t[1] for t in out.transitions[call]]
    assert "TransferAbandoned" in kinds and "TransferCompleted" not in kinds
    assert len(out.of(call, Decide)) == 1
    assert [d.segment_no for d in out.of(call, DeliverSegment)] == [1]


def test_hangup_lost_during_an_ami_blip_ends_the_call_on_reconnect(dialplan_policy: Config) -> None:
    events = stream("hangup_during_an_ami_blip")
    assert not [e for e in events if e.get("Event") == "Hangup"], "the blip lost no Hangup"
    call, out = replay(dialplan_policy, events)
    assert out.final[call] == "ended"
    assert [d.segment_no for d in out.of(call, DeliverSegment)] == [1]


# ----------------------------------------------- events in an unexpected order
def test_transferer_hangup_before_attended_transfer_event(dialplan_policy: Config) -> None:
    """Asterisk may report the transferring agent gone before AttendedTransfer."""
    events = stream("native_attended_transfer")
    (xfer,) = [e for e in events if e.get("Event") == "AttendedTransfer"]
    transferer = xfer["OrigTransfererUniqueid"]
    (gone,) = [e for e in events if e.get("Event") == "Hangup" and _uid(e) == transferer]
    events.remove(gone)
    events.insert(events.index(xfer), gone)
    call, out = replay(dialplan_policy, events)
    assert out.of(call, Decide)[1] == Decide("post_transfer", "2002", True)
    assert [d.segment_no for d in out.of(call, DeliverSegment)] == [1, 2]
    assert out.final[call] == "ended"


def test_checkbox_after_attended_transfer_event(dialplan_policy: Config) -> None:
    """The checkbox's UserEvent late: the completion waits for it."""
    events = stream("native_attended_transfer")
    (flag,) = [e for e in events if e.get("UserEvent") == "CallrecContinueRecording"]
    events.remove(flag)
    xfer = next(e for e in events if e.get("Event") == "AttendedTransfer")
    events.insert(events.index(xfer) + 1, flag)
    call, out = replay(dialplan_policy, events)
    assert out.of(call, Decide)[1] == Decide("post_transfer", "2002", True)


@pytest.mark.parametrize("party", ["customer", "agent"])
def test_hangup_before_mixmonitor_started(dialplan_policy: Config, party: str) -> None:
    """Both parties gone before Asterisk reported MixMonitor started: the call
    ends, the capture's files are delivered once, a late MixMonitorStart is ignored."""
    events = stream(f"hangup_while_mixmonitor_starts_{party}-True")
    (started,) = [e for e in events if e.get("Event") == "MixMonitorStart"]
    events.remove(started)
    events.append(started)
    call, out = replay(dialplan_policy, events)
    kinds = [t[1] for t in out.transitions[call]]
    assert "CaptureStarted" not in kinds
    assert out.final[call] == "ended"
    assert [d.segment_no for d in out.of(call, DeliverSegment)] == [1]
    assert out.of(call, EndCall) == [EndCall()]


def test_all_ami_replays_are_fast(dialplan_policy: Config) -> None:
    """Every recorded dialplan stream replays well inside the 20 s budget of all replays."""
    began = time.perf_counter()
    for path in STREAMS:
        AmiReplayer(dialplan_policy).play(load(path))
    took = time.perf_counter() - began
    assert took < 5.0, f"AMI replays took {took:.1f}s"


def test_agent_hanging_up_first_leaves_the_call_to_the_customer(dialplan_policy: Config) -> None:
    """The agent's Hangup came first: the segment ends, the customer's ends the call."""
    call, out = replay(dialplan_policy, stream("both_sides_are_separate_tracks"))
    steps = [(t[1], t[2]) for t in out.transitions[call]][-3:]
    assert steps == [
        ("AgentLeft", "stopping (then consulting)"),
        ("CaptureStopped", "consulting (no segment)"),
        ("HungUp", "ended"),
    ], steps
    assert [d.segment_no for d in out.of(call, DeliverSegment)] == [1]
