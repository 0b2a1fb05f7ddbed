"""The call state machine alone: pure, fast, no Asterisk."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from callcore.events import (
    AgentAction,
    AgentToggle,
    CaptureFailed,
    CaptureStarted,
    CaptureStopped,
    Decide,
    DecideConsulted,
    Decided,
    DeliverSegment,
    EndCall,
    Event,
    HungUp,
    MuteCapture,
    PartyArrived,
    PlayPrompt,
    PlayRefusal,
    Reconnected,
    StartCapture,
    StopCapture,
    TransferAbandoned,
    TransferCompleted,
    TransferStarted,
)
from callcore.machine import CallMachine, CallPhase
from policy import Decision

ALL_CALLS = Decision("both", True, False, True, True, "all_calls", None, ("mode.all_calls",))
FORCE = Decision("both", True, False, False, False, "all_force", None, ("mode.all_force",))
ON_DEMAND = Decision("agent", False, True, True, True, "on_demand", None, ("mode.on_demand",))
NEVER = Decision("none", False, False, False, False, "never", None, ("mode.never",))


def bridged(decision: Decision, announcement: str | None = None) -> CallMachine:
    m = CallMachine.new("c1", "a1", announcement)
    m.feed(PartyArrived("customer"))
    assert m.feed(PartyArrived("agent")) == [Decide("initial", "a1", False)]
    m.feed(Decided(decision))
    return m


def run(m: CallMachine, *events: Event) -> list[object]:
    out: list[object] = []
    for event in events:
        out.extend(m.feed(event))
    return out


def test_all_calls_autostarts_both_legs_and_delivers_on_hangup() -> None:
    m = CallMachine.new("c1", "a1")
    assert m.feed(PartyArrived("agent")) == []
    assert m.state.name == "dialling"
    assert m.feed(PartyArrived("customer")) == [Decide("initial", "a1", False)]
    assert m.feed(Decided(ALL_CALLS)) == [StartCapture(1, ("agent", "customer"))]
    assert m.state.name == "starting"
    m.feed(CaptureStarted(1))
    assert m.state.name == "recording"
    assert m.feed(HungUp("customer", at=12.5)) == [StopCapture(1, 12.5)]
    assert m.state.name == "ending"
    assert m.feed(CaptureStopped(1)) == [DeliverSegment(1), EndCall()]
    assert m.state.name == "ended"
    assert m.feed(HungUp("agent")) == []  # the other party's hangup is late news


def test_announcement_played_once_to_the_customer() -> None:
    m = CallMachine.new("c1", "a1", announcement="beep")
    assert m.feed(PartyArrived("customer")) == [PlayPrompt("beep")]
    assert m.feed(PartyArrived("customer")) == []


def test_never_records_nothing_and_refuses_start_with_the_policy_rule() -> None:
    m = bridged(NEVER)
    assert m.state.name == "bridged"
    (refusal,) = m.feed(AgentToggle("toggle_record"))
    assert isinstance(refusal, PlayRefusal) and refusal.action == "start"
    assert refusal.rule.startswith("action.")
    assert m.feed(HungUp("agent")) == [EndCall()]


def test_on_demand_start_stop_start_numbers_segments() -> None:
    m = bridged(ON_DEMAND)
    assert m.feed(AgentToggle("toggle_record")) == [StartCapture(1, ("agent",))]
    m.feed(CaptureStarted(1))
    assert m.feed(AgentToggle("toggle_record")) == [StopCapture(1)]
    assert m.feed(CaptureStopped(1)) == [DeliverSegment(1)]
    assert m.state.name == "bridged"
    assert m.feed(AgentAction("start")) == [StartCapture(2, ("agent",))]


def test_pause_resume_mutes_and_keeps_the_segment() -> None:
    m = bridged(ALL_CALLS)
    m.feed(CaptureStarted(1))
    assert m.feed(AgentToggle("toggle_pause")) == [MuteCapture(1, True)]
    assert m.state.name == "paused"
    assert m.feed(AgentToggle("toggle_pause")) == [MuteCapture(1, False)]
    assert m.state.name == "recording"


def test_all_force_refuses_stop_and_pause() -> None:
    m = bridged(FORCE)
    m.feed(CaptureStarted(1))
    stop, pause = m.feed(AgentAction("stop")), m.feed(AgentAction("pause"))
    rules = [r.rule for r in stop + pause if isinstance(r, PlayRefusal)]
    assert rules == ["action.stop_forbidden_all_force", "action.pause_forbidden"]
    assert m.state.name == "recording"


def test_api_transfer_ends_the_segment_and_decides_post_transfer() -> None:
    m = bridged(ALL_CALLS)
    m.feed(CaptureStarted(1))
    assert m.feed(TransferStarted("a2", True)) == [StopCapture(1)]
    assert m.feed(CaptureStopped(1)) == [DeliverSegment(1)]
    assert m.state.name == "consulting"
    assert m.feed(TransferCompleted("a2", True)) == [Decide("post_transfer", "a2", True)]
    assert m.state.ctx.agent == "a2" and m.state.ctx.decision is None
    assert m.feed(Decided(ALL_CALLS)) == [StartCapture(2, ("agent", "customer"))]


def test_transfer_done_inside_asterisk_while_recording() -> None:
    m = bridged(ALL_CALLS)
    m.feed(CaptureStarted(1))
    assert m.feed(TransferCompleted("a2", False)) == [StopCapture(1)]
    assert m.feed(CaptureStopped(1)) == [DeliverSegment(1), Decide("post_transfer", "a2", False)]


def test_attended_consultation_keeps_recording_and_can_be_abandoned() -> None:
    m = bridged(ALL_CALLS)
    m.feed(CaptureStarted(1))
    m.feed(AgentAction("pause"))
    # The consulted agent's provisional decision (its outputs only) is the machine's too.
    assert m.feed(TransferStarted("a2", False, consult=True)) == [DecideConsulted("a2", False)]
    assert m.state.name == "consulting" and m.state.ctx.decision == ALL_CALLS
    # Consulting someone else instead: that one's outputs.
    assert m.feed(TransferStarted("a3", True, consult=True)) == [DecideConsulted("a3", True)]
    (refusal,) = m.feed(AgentAction("resume"))
    assert isinstance(refusal, PlayRefusal) and refusal.rule == "action.transfer_in_progress"
    assert m.feed(TransferAbandoned()) == []
    assert m.state.name == "paused" and m.state.ctx.agent == "a1"


def test_attended_consultation_completed_stops_then_decides() -> None:
    m = bridged(ALL_CALLS)
    m.feed(CaptureStarted(1))
    m.feed(TransferStarted("a2", True, consult=True))
    assert m.feed(TransferCompleted("a2", True)) == [StopCapture(1)]
    assert m.feed(CaptureStopped(1)) == [DeliverSegment(1), Decide("post_transfer", "a2", True)]


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_hangup_while_capture_is_starting_stops_and_delivers(role: str) -> None:
    m = bridged(ALL_CALLS)
    assert m.state.name == "starting"
    assert m.feed(HungUp(role, at=3.0)) == [StopCapture(1, 3.0)]  # type: ignore[arg-type]
    assert m.feed(CaptureStarted(1)) == []  # late: the stop is under way
    assert m.feed(CaptureStopped(1)) == [DeliverSegment(1), EndCall()]


def test_hangup_while_stopping_ends_after_the_files_are_complete() -> None:
    m = bridged(ON_DEMAND)
    run(m, AgentAction("start"), CaptureStarted(1), AgentAction("stop"))
    assert m.feed(HungUp("customer")) == []  # no second stop
    assert m.feed(CaptureStopped(1)) == [DeliverSegment(1), EndCall()]


def test_capture_failure_keeps_what_was_captured() -> None:
    m = bridged(ALL_CALLS)
    assert m.feed(CaptureFailed(1, "snoop refused")) == [StopCapture(1)]
    assert m.feed(CaptureStopped(1)) == [DeliverSegment(1)]
    assert m.state.name == "bridged"


def test_reconnect_gone_parties_end_the_call_dead_capture_is_delivered() -> None:
    m = bridged(ALL_CALLS)
    m.feed(CaptureStarted(1))
    assert m.feed(Reconnected(parties_alive=True, capturing=True)) == []
    assert m.feed(Reconnected(parties_alive=True, capturing=False)) == [StopCapture(1)]
    m.feed(CaptureStopped(1))
    assert m.feed(Reconnected(parties_alive=False, capturing=False)) == [EndCall()]


def test_out_of_order_and_stale_events_change_nothing() -> None:
    m = bridged(ALL_CALLS)
    assert m.feed(CaptureStopped(7)) == [] and m.state.name == "starting"
    assert m.feed(CaptureStarted(9)) == [] and m.state.name == "starting"
    assert m.feed(TransferAbandoned()) == []
    m.feed(CaptureStarted(1))
    assert m.feed(Decided(NEVER)) == [] and m.state.name == "recording"


def test_actions_before_the_decision_are_refused_not_lost() -> None:
    m = CallMachine.new("c1", "a1")
    (refusal,) = m.feed(AgentToggle("toggle_record"))
    assert isinstance(refusal, PlayRefusal) and refusal.rule == "action.decision_pending"


def test_every_transition_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="callrec.machine")
    m = bridged(ALL_CALLS)
    m.feed(CaptureStarted(1))
    lines = [r.getMessage() for r in caplog.records]
    assert "c1 dialling -> PartyArrived(role='agent') -> bridged" in lines
    assert "c1 starting -> CaptureStarted(segment_no=1) -> recording" in lines


def test_resume_from_persisted_state() -> None:
    from callcore.machine import resume
    from callcore.state import CallState, Segment

    call = CallState("c1", "ari", "outbound", "a1", decision=ON_DEMAND, segments=2)
    assert resume(call).name == "bridged"
    call.segment = Segment("r", 2, "a1", "agent", ON_DEMAND)
    call.segment.open_pause(1.0)
    state = resume(call)
    assert state.name == "paused" and state.ctx.segments == 2
    m = CallMachine(state)
    assert m.feed(AgentAction("resume")) == [MuteCapture(2, False)]
    assert resume(CallState("c2", "ari", "outbound", "a1")).name == "dialling"


def _same(resumed: CallPhase, before: CallPhase) -> bool:
    """Equal but for who is present (the dialplan path does not save it; only dialling uses it)."""
    return replace(resumed, ctx=replace(resumed.ctx, present=before.ctx.present)) == before


@pytest.mark.parametrize("paused", [False, True])
def test_consultation_with_a_running_segment_survives_a_save_and_resume(paused: bool) -> None:
    from callcore.machine import consulting, resume
    from callcore.state import CallState, Segment

    m = bridged(ALL_CALLS)
    m.feed(CaptureStarted(1))
    if paused:
        m.feed(AgentAction("pause"))
    m.feed(TransferStarted("a2", True, consult=True))
    # What an adapter saves after the step: the segment and the consulting state.
    call = CallState("c1", "agi", "inbound", "a1", decision=ALL_CALLS, segments=1)
    call.segment = Segment("r", 1, "a1", "both", ALL_CALLS, paused=paused)
    call.consulting = consulting(m.state)
    again = CallMachine(resume(call))
    assert _same(again.state, m.state) and again.state.label == "consulting (segment runs)"
    # Abandoned: back to the segment as it was; completed: stop, deliver, decide for a2.
    done = CallMachine(resume(call))
    assert again.feed(TransferAbandoned()) == []
    assert again.state.name == ("paused" if paused else "recording")
    assert done.feed(TransferCompleted("a2", True)) == [StopCapture(1)]
    assert done.feed(CaptureStopped(1)) == [DeliverSegment(1), Decide("post_transfer", "a2", True)]


def test_consultation_without_a_segment_survives_a_save_and_resume() -> None:
    from callcore.machine import consulting, resume
    from callcore.state import CallState

    m = bridged(ON_DEMAND)
    m.feed(TransferStarted("a2", False, consult=True))
    call = CallState("c1", "agi", "inbound", "a1", decision=ON_DEMAND)
    call.consulting = consulting(m.state)
    state = resume(call)
    assert _same(state, m.state) and state.label == "consulting (no segment)"
    assert CallMachine(state).feed(TransferCompleted("a2", False)) == [
        Decide("post_transfer", "a2", False)
    ]
    assert consulting(bridged(ON_DEMAND).state) is None  # only a consultation is saved
