"""Recorded ARI streams of real calls, replayed through the Stasis translator and
the call machine with fake ports: no Asterisk, all of them in well under 20 s.

The streams were recorded from the sandbox Asterisk by the integration tests
in ``tests/ari`` (see ``tests/support/event_recorder.py`` for the command).
What each replay must produce is checked against Asterisk's own events in the
stream (which recordings it really started), not against what callrec did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callcore.events import (
    CaptureStopped,
    Decide,
    DeliverSegment,
    EndCall,
    MuteCapture,
    PlayPrompt,
    PlayRefusal,
    StartCapture,
)
from policy import Config
from tests.replay.replayer import Outcome, Replayer, load, truth

FIXTURES = Path(__file__).parent / "fixtures" / "ari"
STREAMS = sorted(FIXTURES.glob("*.jsonl"))


def stream(name: str) -> list[dict[str, Any]]:
    (path,) = [p for p in STREAMS if name in p.stem]
    return load(path)


def replay(policy: Config, events: list[dict[str, Any]]) -> tuple[str, Outcome]:
    outcome = Replayer(policy).play(events)
    (call_id,) = outcome.final  # one call per recorded test
    return call_id, outcome


def test_fixtures_are_there() -> None:
    assert len(STREAMS) >= 15, f"recorded streams missing in {FIXTURES}"


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem.removeprefix("test_")[:50])
def test_every_stream_delivers_what_asterisk_recorded(stasis_policy: Config, path: Path) -> None:
    events = load(path)
    outcome = Replayer(stasis_policy).play(events)
    recorded = truth(events)
    for call_id, state in outcome.final.items():
        assert state == "ended", outcome.transitions[call_id]
        delivered = [e.segment_no for e in outcome.of(call_id, DeliverSegment)]
        assert len(delivered) == len(recorded.get(call_id, ())), outcome.transitions[call_id]
        assert delivered == sorted(set(delivered))  # each once, in order
        assert outcome.of(call_id, EndCall) == [EndCall()]


def test_all_calls_both_legs(stasis_policy: Config) -> None:
    call, out = replay(stasis_policy, stream("all_calls_records_both_legs"))
    assert out.of(call, Decide) == [Decide("initial", "a1", False)]
    assert out.of(call, StartCapture) == [StartCapture(1, ("agent", "customer"))]


def test_two_party_prospect_agent_leg_only(stasis_policy: Config) -> None:
    call, out = replay(stasis_policy, stream("two_party_prospect"))
    assert out.of(call, StartCapture) == [StartCapture(1, ("agent",))]


def test_all_force_refuses_stop_by_api_and_dtmf(stasis_policy: Config) -> None:
    call, out = replay(stasis_policy, stream("all_force_refuses"))
    rules = [r.rule for r in out.of(call, PlayRefusal)]
    assert rules.count("action.stop_forbidden_all_force") == 2, rules  # API, then *1
    assert len(out.of(call, DeliverSegment)) == 1


def test_never_refuses_start(stasis_policy: Config) -> None:
    call, out = replay(stasis_policy, stream("never_refuses_start"))
    assert not out.of(call, StartCapture)
    assert {r.rule for r in out.of(call, PlayRefusal)} == {"action.nothing_recordable"}


def test_on_demand_dtmf_toggles_two_segments(stasis_policy: Config) -> None:
    call, out = replay(stasis_policy, stream("on_demand_dtmf_toggles"))
    assert [s.segment_no for s in out.of(call, StartCapture)] == [1, 2]
    assert not out.of(call, PlayRefusal)


def test_dtmf_stop_then_api_start_pause_resume(stasis_policy: Config) -> None:
    call, out = replay(stasis_policy, stream("agent_may_stop_by_dtmf"))
    assert [r.rule for r in out.of(call, PlayRefusal)] == ["action.not_recording"]  # API stop
    assert [m.muted for m in out.of(call, MuteCapture)] == [True, False]
    assert [d.segment_no for d in out.of(call, DeliverSegment)] == [1, 2]


def test_pause_resume(stasis_policy: Config) -> None:
    call, out = replay(stasis_policy, stream("pause_writes_silence"))
    assert [m.muted for m in out.of(call, MuteCapture)] == [True, False]
    assert ("paused", "AgentAction", "recording") in out.transitions[call]


def test_api_transfer_decides_for_the_new_agent(stasis_policy: Config) -> None:
    call, out = replay(stasis_policy, stream("transfer_gives_two_segments"))
    assert out.of(call, Decide)[1] == Decide("post_transfer", "a2", True)
    assert [d.segment_no for d in out.of(call, DeliverSegment)] == [1, 2]


def test_blind_transfer_inside_asterisk(stasis_policy: Config) -> None:
    call, out = replay(stasis_policy, stream("transfer_done_inside_asterisk"))
    assert out.of(call, Decide)[1] == Decide("post_transfer", "a2", False)


@pytest.mark.parametrize("keep", [True, False])
def test_attended_transfer_from_a_sip_phone(stasis_policy: Config, keep: bool) -> None:
    call, out = replay(stasis_policy, stream(f"gives_the_new_agent_a_segment_{keep}_"))
    assert out.of(call, Decide)[1] == Decide("post_transfer", "a2", keep)
    assert [d.segment_no for d in out.of(call, DeliverSegment)] == [1, 2]


def test_abandoned_consultation_changes_nothing(stasis_policy: Config) -> None:
    call, out = replay(stasis_policy, stream("abandoned_consultation"))
    assert out.of(call, Decide) == [Decide("initial", "a1", False)]
    assert [d.segment_no for d in out.of(call, DeliverSegment)] == [1]


def test_inbound_with_announcement(stasis_policy: Config) -> None:
    call, out = replay(stasis_policy, stream("inbound_from_dialplan"))
    assert out.of(call, PlayPrompt) == [PlayPrompt("beep")]
    assert out.effects[call].index(PlayPrompt("beep")) < out.effects[call].index(
        out.of(call, StartCapture)[0]
    )


@pytest.mark.parametrize("name", ["app_restarted_mid_call", "ended_while_app_was_down"])
def test_reconnect_mid_call(stasis_policy: Config, name: str) -> None:
    events = stream(name)
    assert sum(e["type"] == "CallrecConnected" for e in events) >= 2  # the app came back
    call, out = replay(stasis_policy, events)
    assert any(event == "Reconnected" for _, event, _ in out.transitions[call])
    assert len(out.of(call, DeliverSegment)) == 1


def _move(events: list[dict[str, Any]], pick: Any, before: Any) -> list[dict[str, Any]]:
    """The stream with the events ``pick`` selects moved just before the first ``before``."""
    moved = [e for e in events if pick(e)]
    rest = [e for e in events if not pick(e)]
    at = next(i for i, e in enumerate(rest) if before(e))
    return rest[:at] + moved + rest[at:]


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_hangup_while_capture_is_starting(stasis_policy: Config, role: str) -> None:
    """A real stream with one party's hangup moved before the captures started."""
    events = stream("all_calls_records_both_legs")
    suffix = "-a1" if role == "agent" else "-c"
    gone = ("StasisEnd", "ChannelHangupRequest", "ChannelDestroyed")

    def is_hangup(e: dict[str, Any]) -> bool:
        return e["type"] in gone and e.get("channel", {}).get("id", "").endswith(suffix)

    events = _move(events, is_hangup, lambda e: e["type"] == "RecordingStarted")
    call, out = replay(stasis_policy, events)
    assert ("starting", "HungUp", "ending") in out.transitions[call]
    assert out.final[call] == "ended"
    assert out.of(call, DeliverSegment) == [DeliverSegment(1)]  # what was captured is kept


def test_transfer_event_before_the_new_party(stasis_policy: Config) -> None:
    """Asterisk may send Bridge*Transfer before or after the replacing StasisStart."""
    events = stream("gives_the_new_agent_a_segment_True_")
    events = _move(
        events,
        lambda e: e["type"] == "BridgeAttendedTransfer",
        lambda e: e["type"] == "StasisStart" and e.get("replace_channel"),
    )
    call, out = replay(stasis_policy, events)
    assert out.of(call, Decide)[1] == Decide("post_transfer", "a2", True)


def test_recording_finished_before_the_hangup(stasis_policy: Config) -> None:
    """Files complete before the hangup is seen: delivered once, the call still ends."""
    events = stream("all_calls_records_both_legs")
    events = _move(
        events,
        lambda e: e["type"] == "RecordingFinished",
        lambda e: (
            e["type"] in ("ChannelHangupRequest", "StasisEnd")
            and e.get("channel", {}).get("id", "").endswith(("-c", "-a1"))
        ),
    )
    call, out = replay(stasis_policy, events)
    assert out.of(call, DeliverSegment) == [DeliverSegment(1)]
    assert out.final[call] == "ended"
    assert ("recording", "CaptureStopped", "bridged") in out.transitions[call]


def test_duplicate_and_late_events_change_nothing(stasis_policy: Config) -> None:
    events = stream("pause_writes_silence")
    doubled = [x for e in events for x in ([e] if e["type"].startswith("Callrec") else [e, e])]
    call, out = replay(stasis_policy, doubled)
    assert [m.muted for m in out.of(call, MuteCapture)] == [True, False]
    assert len(out.of(call, DeliverSegment)) == 1
    assert not any(isinstance(e, CaptureStopped) for e in out.effects[call])
