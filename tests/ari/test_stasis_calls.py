"""The Stasis app on the real Asterisk: each mode, via API and DTMF, with audio truth."""

from __future__ import annotations

import asyncio

import pytest

from tests.ari.harness import CA_NUMBER, Stack
from tests.support.audio import holds, tone_levels

pytestmark = pytest.mark.asterisk

AGENT_HZ, CUSTOMER_HZ, AGENT2_HZ = 1000.0, 440.0, 1600.0


async def test_all_calls_records_both_legs_and_stereo(stack: Stack) -> None:
    call = await stack.place("auto")
    assert call.decision.legs == "both" and call.decision.mode == "all_calls"
    await asyncio.sleep(2.5)
    await stack.hangup(call)
    [seg] = stack.sink.segments
    assert seg.legs == "both" and seg.segment_no == 1 and seg.source == "ari"
    files = seg.extra["copies"]
    assert set(files) == {"agent", "customer", "stereo"}
    holds(files["agent"], AGENT_HZ, [CUSTOMER_HZ])
    holds(files["customer"], CUSTOMER_HZ, [AGENT_HZ])
    holds(files["stereo"], AGENT_HZ, [CUSTOMER_HZ], channel=0)
    holds(files["stereo"], CUSTOMER_HZ, [AGENT_HZ], channel=1)
    assert not [f for f in seg.flags if f.startswith("short_capture")], seg.flags
    rec = await stack.storage.get_recording(_admin(), seg.recording_id)
    assert rec.call_id == call.call_id and rec.legs == "both"


async def test_two_party_prospect_gets_agent_side_only(stack: Stack) -> None:
    call = await stack.place("auto", number=CA_NUMBER)
    assert call.decision.legs == "agent"
    assert any("two_party" in r for r in call.decision.reasons), call.decision.reasons
    await asyncio.sleep(2.0)
    await stack.hangup(call)
    [seg] = stack.sink.segments
    assert set(seg.extra["copies"]) == {"agent"}
    holds(seg.extra["copies"]["agent"], AGENT_HZ, [CUSTOMER_HZ])


async def test_all_force_refuses_stop_by_api_and_dtmf(stack: Stack) -> None:
    call = await stack.place("force")
    status, body = await stack.api("POST", f"/api/calls/{call.call_id}/recording/stop")
    assert status == 409, body
    assert body["error"]["code"] == "action.refused"
    assert "all_force" in body["error"]["rule"]
    await stack.press(call, "*1")
    await stack.wait(lambda: call.refusals, 5, "the DTMF refusal")
    assert "all_force" in call.refusals[0]
    assert call.recording, "a refused stop must not change the recording"
    status, body = await stack.api("POST", f"/api/calls/{call.call_id}/recording/start")
    assert status == 409 and body["error"]["rule"]
    await stack.hangup(call)
    assert len(stack.sink.segments) == 1


async def test_on_demand_dtmf_toggles_segments(stack: Stack) -> None:
    call = await stack.place("demand")
    assert not call.recording and call.decision.agent_can_start
    await stack.press(call, "*1")
    await stack.wait(lambda: call.recording, 5, "DTMF start")
    await asyncio.sleep(1.5)
    await stack.press(call, "*1")
    await stack.wait(lambda: len(stack.sink.segments) == 1, 10, "DTMF stop")
    await stack.press(call, "*1")
    await stack.wait(lambda: call.recording, 5, "DTMF restart")
    assert call.segment is not None and call.segment.segment_no == 2
    await asyncio.sleep(1.0)
    await stack.hangup(call)
    assert [s.segment_no for s in stack.sink.segments] == [1, 2]
    assert len({s.recording_id for s in stack.sink.segments}) == 2


async def test_never_refuses_start(stack: Stack) -> None:
    call = await stack.place("nope")
    assert call.decision.legs == "none"
    status, body = await stack.api("POST", f"/api/calls/{call.call_id}/recording/start")
    assert status == 409 and body["error"]["rule"]
    await stack.press(call, "*1")
    await stack.wait(lambda: call.refusals, 5, "the DTMF refusal")
    assert not call.recording
    await stack.hangup(call)
    assert stack.sink.segments == []


async def test_pause_writes_silence_and_keeps_timeline(stack: Stack) -> None:
    call = await stack.place("auto")
    await asyncio.sleep(1.5)
    status, _ = await stack.api("POST", f"/api/calls/{call.call_id}/recording/pause")
    assert status == 200 and call.paused
    await asyncio.sleep(2.0)
    status, _ = await stack.api("POST", f"/api/calls/{call.call_id}/recording/resume")
    assert status == 200 and not call.paused
    await asyncio.sleep(1.5)
    await stack.hangup(call)
    [seg] = stack.sink.segments
    [pause] = seg.pauses
    assert pause.ended_at is not None
    agent = seg.extra["copies"]["agent"]
    t0 = seg.extra["capture_started"]["agent"]
    p0, p1 = pause.started_at.timestamp() - t0, pause.ended_at.timestamp() - t0
    assert 1.7 < p1 - p0 < 3.5  # slept 2 s between the two API calls
    inside = tone_levels(agent, [AGENT_HZ], start=p0 + 0.3, seconds=p1 - p0 - 0.6)
    before = tone_levels(agent, [AGENT_HZ], start=0.3, seconds=0.8)
    after = tone_levels(agent, [AGENT_HZ], start=p1 + 0.3, seconds=0.8)
    assert before[AGENT_HZ] > 1e-4 and after[AGENT_HZ] > 1e-4
    assert inside[AGENT_HZ] < before[AGENT_HZ] / 1000, (inside, before)
    from callcore.audio import wav_seconds

    span = seg.ended_at.timestamp() - t0
    assert wav_seconds(agent) >= 0.98 * span - 0.1, "mute must keep the timeline"


async def test_transfer_gives_two_segments_decided_for_each_agent(stack: Stack) -> None:
    call = await stack.place("auto")
    await asyncio.sleep(1.5)
    status, body = await stack.api(
        "POST", f"/api/calls/{call.call_id}/transfer", {"agent": "a2", "continue_recording": True}
    )
    assert status == 202, body
    await stack.wait(
        lambda: call.agent == "a2" and (call.decision and call.decision.mode), 10, "transfer"
    )
    assert call.phase == "post_transfer"
    assert call.decision.mode == "on_demand"  # campaign auto: post_transfer on_demand
    assert call.decision.autostart  # the transferring agent asked to continue
    await stack.wait(lambda: call.recording, 5, "B's segment")
    await asyncio.sleep(1.5)
    await stack.hangup(call)
    first, second = stack.sink.segments
    assert (first.agent, second.agent) == ("a1", "a2")
    assert (first.segment_no, second.segment_no) == (1, 2)
    assert first.decision["mode"] == "all_calls" and second.decision["mode"] == "on_demand"
    holds(first.extra["copies"]["agent"], AGENT_HZ, [AGENT2_HZ, CUSTOMER_HZ])
    holds(second.extra["copies"]["agent"], AGENT2_HZ, [AGENT_HZ, CUSTOMER_HZ])


async def test_bad_input_gets_clear_errors(stack: Stack) -> None:
    status, body = await stack.api("POST", "/api/calls", {"agent": "a1", "number": "garbage"})
    assert status == 400 and body["error"]["code"] == "call.bad_number"
    status, body = await stack.api(
        "POST", "/api/calls", {"agent": "a;1|x", "number": "+15125550142"}
    )
    assert status == 400 and body["error"]["code"] == "call.bad_agent"
    status, body = await stack.api("POST", "/api/calls/nope/recording/start")
    assert status == 404 and body["error"]["code"] == "call.not_found"
    status, body = await stack.api("POST", "/api/calls/x/recording/explode")
    assert status == 404 and body["error"]["code"] == "action.unknown"


def _admin():
    from storage.permissions import Actor

    return Actor.of("test-admin", "admin")


async def test_app_restarted_mid_call_finishes_and_delivers(stack: Stack) -> None:
    call = await stack.place("auto")
    await asyncio.sleep(1.0)
    await stack.stop_app()  # the service dies; Asterisk keeps recording
    stack.registry.unregister(call.call_id)
    await asyncio.sleep(1.5)
    await stack.start_app()  # reconnect: rebuild from persisted state + ARI
    assert stack.app is not None
    recovered = stack.app.calls[call.call_id]
    assert recovered is not call and recovered.recording
    await asyncio.sleep(1.0)
    await stack.hangup(recovered)
    [seg] = stack.sink.segments
    assert seg.ended_at.timestamp() - seg.started_at.timestamp() > 3.0
    from callcore.audio import wav_seconds

    for leg in ("agent", "customer"):
        span = seg.ended_at.timestamp() - seg.extra["capture_started"][leg]
        assert wav_seconds(seg.extra["copies"][leg]) >= 0.98 * span - 0.1, seg.flags
    assert not [f for f in seg.flags if f.startswith("short_capture")], seg.flags
    holds(
        seg.extra["copies"]["agent"],
        AGENT_HZ,
        [CUSTOMER_HZ],
    )


async def test_call_that_ended_while_app_was_down_is_delivered(stack: Stack) -> None:
    call = await stack.place("auto")
    await asyncio.sleep(1.0)
    client = stack.app.client if stack.app else None
    assert client is not None
    await stack.stop_app()
    stack.registry.unregister(call.call_id)
    from ari_app.client import AriClient

    a = stack.asterisk
    async with AriClient(a.ari_url, a.ari_user, a.ari_password, "other") as raw:
        await raw.hangup(call.channels["customer"])
    await asyncio.sleep(0.5)
    await stack.start_app()
    await stack.wait(lambda: len(stack.sink.segments) == 1, 10, "delivery after restart")
    [seg] = stack.sink.segments
    assert seg.call_id == call.call_id and "agent" in seg.extra["copies"]
    # ended_at is the files' last write, not the restart: no false shortfall
    assert not [f for f in seg.flags if f.startswith("short_capture")], seg.flags
    assert stack.app is not None and call.call_id not in stack.app.calls


async def test_inbound_from_dialplan_with_queue_announcement(stack: Stack) -> None:
    assert stack.app is not None
    await stack.app.client.originate(
        "Local/customer@callrec-sim/n",
        extension="s",
        context="callrec-inbound-demo",
        priority=1,
    )
    call = await stack.wait(lambda: next(iter(stack.app.calls.values()), None), 10, "inbound")
    await stack.wait(lambda: call.decision, 15, "bridge and decision")
    assert call.direction == "inbound" and call.queue == "support" and call.agent == "a1"
    assert call.announcement == "beep"
    # queue "support" samples 100%: on_demand autostarts
    assert call.decision.autostart and "sample.queue" in call.decision.reasons
    await stack.wait(lambda: call.recording, 5, "recording")
    await asyncio.sleep(1.5)
    await stack.hangup(call)
    [seg] = stack.sink.segments
    assert seg.direction == "inbound" and seg.queue == "support"


async def test_all_calls_agent_may_stop_by_dtmf_and_restart_by_api(stack: Stack) -> None:
    call = await stack.place("auto")
    await asyncio.sleep(1.0)
    await stack.press(call, "*1")
    await stack.wait(lambda: len(stack.sink.segments) == 1, 10, "DTMF stop")
    assert not call.recording
    status, body = await stack.api("POST", f"/api/calls/{call.call_id}/recording/stop")
    assert status == 409 and body["error"]["rule"] == "action.not_recording"
    status, body = await stack.api("POST", f"/api/calls/{call.call_id}/recording/start")
    assert status == 200 and body["recording"] and body["segment_no"] == 2
    await stack.press(call, "*2")
    await stack.wait(lambda: call.paused, 5, "DTMF pause")
    await stack.press(call, "*2")
    await stack.wait(lambda: not call.paused, 5, "DTMF resume")
    await asyncio.sleep(1.0)
    await stack.hangup(call)
    assert [s.segment_no for s in stack.sink.segments] == [1, 2]
    assert len(stack.sink.segments[1].pauses) == 1


async def test_transfer_done_inside_asterisk_gives_the_new_agent_a_segment(
    stack: Stack,
) -> None:
    call = await stack.place("auto")
    await asyncio.sleep(1.0)
    assert stack.app is not None
    agent = await stack.app.client.get_channel(call.channels["agent"])
    customer_id = call.channels["customer"]
    # AMI BlindTransfer of the agent's channel: what a SIP REFER from the
    # agent's phone does. Asterisk puts a channel to "a2" in place of a1.
    reply = await stack.ami.send_action(
        {"Action": "BlindTransfer", "Channel": agent["name"], "Context": "callrec-sim",
         "Exten": "a2", "Async": "false"}
    )  # fmt: skip
    assert (reply[0] if isinstance(reply, list) else reply).success, reply
    await stack.wait(lambda: call.agent == "a2" and call.decision, 10, "B's decision")
    await stack.wait(lambda: len(stack.sink.segments) == 1, 10, "A's segment")
    assert call.phase == "post_transfer" and call.decision.mode == "on_demand"
    assert not call.decision.autostart  # A left no continue-recording flag
    assert call.channels["customer"] == customer_id  # the customer was not cut off
    status, body = await stack.api("POST", f"/api/calls/{call.call_id}/recording/start")
    assert status == 200, body
    await asyncio.sleep(1.5)
    await stack.hangup(call)
    first, second = stack.sink.segments
    assert (first.agent, second.agent) == ("a1", "a2")
    holds(first.extra["copies"]["agent"], AGENT_HZ, [AGENT2_HZ, CUSTOMER_HZ])
    holds(second.extra["copies"]["agent"], AGENT2_HZ, [AGENT_HZ, CUSTOMER_HZ])
    holds(second.extra["copies"]["customer"], CUSTOMER_HZ, [AGENT_HZ, AGENT2_HZ])
