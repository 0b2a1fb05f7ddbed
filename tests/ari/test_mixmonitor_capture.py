"""Stasis calls captured by MixMonitor over AMI (``[ari] capture = "mixmonitor"``), on the
real Asterisk, judged by the audio and by Asterisk's own event times.

The simulated agent plays 1000 Hz and the customer 440 Hz (dialplan/callrec-sim.conf),
so each track must hold its own party and not the other.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ari_app.mixmonitor_capture import parse_handle
from callcore.audio import wav_seconds
from callcore.state import CallState, Segment
from tests.ari.harness import CA_NUMBER, Stack
from tests.support.audio import holds, tone_levels

pytestmark = pytest.mark.asterisk

AGENT_HZ, CUSTOMER_HZ = 1000.0, 440.0


async def capturing(stack: Stack, call: CallState) -> Segment:
    """The call's segment once every capture of it really runs."""

    def started() -> bool:
        seg = call.segment
        return seg is not None and all(c.started_at for c in seg.captures.values())

    await stack.wait(started, 10, "the capture to run")
    assert call.segment is not None
    return call.segment


class AmiTimes:
    """Asterisk's own clock for what happened to a call (AMI timestamps, not callrec's)."""

    def __init__(self, manager: Any) -> None:
        self.events: list[dict[str, str]] = []
        for name in ("BridgeEnter", "MixMonitorStart"):
            manager.register_event(name, self._seen)

    def _seen(self, _manager: Any, event: Any) -> None:
        self.events.append({str(k): str(v) for k, v in dict(event).items()})

    def at(self, name: str, uniqueid: str) -> list[float]:
        return [
            float(e["Timestamp"])
            for e in self.events
            if e.get("Event") == name and e.get("Uniqueid") == uniqueid
        ]


async def test_both_legs_hold_the_right_party_and_hangup_delivers(stack: Stack) -> None:
    call = await stack.place("auto")
    assert call.decision.legs == "both"
    live = await capturing(stack, call)
    for cap in live.captures.values():
        parsed = parse_handle(cap.handle)
        assert parsed is not None and parsed[0] == call.channels["agent"] and parsed[1], cap
        assert Path(cap.host_path).parent == stack.asterisk.monitor_dir
    await asyncio.sleep(2.5)
    await stack.hangup(call)  # the customer hangs up: the capture ends, the segment goes
    [seg] = stack.sink.segments
    assert seg.legs == "both" and seg.source == "ari"
    files = seg.extra["copies"]
    assert set(files) == {"agent", "customer", "stereo"}
    holds(files["agent"], AGENT_HZ, [CUSTOMER_HZ])
    holds(files["customer"], CUSTOMER_HZ, [AGENT_HZ])
    holds(files["stereo"], AGENT_HZ, [CUSTOMER_HZ], channel=0)
    holds(files["stereo"], CUSTOMER_HZ, [AGENT_HZ], channel=1)
    # Both legs come from one audiohook: the same length, no alignment needed.
    assert abs(wav_seconds(files["agent"]) - wav_seconds(files["customer"])) < 0.05
    span = seg.ended_at.timestamp() - seg.extra["capture_started"]["agent"]
    assert wav_seconds(files["agent"]) >= 0.98 * span - 0.1, (span, seg.flags)
    assert not [f for f in seg.flags if f.startswith("short_capture")], seg.flags


async def test_two_party_prospect_gets_the_agent_file_only(stack: Stack) -> None:
    call = await stack.place("auto", number=CA_NUMBER)
    assert call.decision.legs == "agent"
    rid = (await capturing(stack, call)).recording_id
    await asyncio.sleep(2.0)
    await stack.hangup(call)
    [seg] = stack.sink.segments
    assert set(seg.extra["copies"]) == {"agent"}
    holds(seg.extra["copies"]["agent"], AGENT_HZ, [CUSTOMER_HZ])
    # Nothing of the customer was ever written, not even a mixed file.
    assert not list(stack.asterisk.monitor_dir.glob(f"*{rid}*customer*"))
    assert not list(stack.asterisk.monitor_dir.glob(f"*{rid}.wav"))


async def test_pause_mutes_both_legs_for_exactly_the_pause(stack: Stack) -> None:
    call = await stack.place("auto")
    await capturing(stack, call)
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
    for leg, hz in (("agent", AGENT_HZ), ("customer", CUSTOMER_HZ)):
        track = seg.extra["copies"][leg]
        # Placed from the file's end, which is the stop (the tail is whole).
        end = seg.ended_at.timestamp()
        length = wav_seconds(track)
        p0 = length - (end - pause.started_at.timestamp())
        p1 = length - (end - pause.ended_at.timestamp())
        assert 1.7 < p1 - p0 < 3.5  # slept 2 s between the two API calls
        assert p0 > 0.7, (leg, p0)
        inside = tone_levels(track, [hz], start=p0 + 0.3, seconds=p1 - p0 - 0.6)
        before = tone_levels(track, [hz], start=p0 - 0.6, seconds=0.4)
        after = tone_levels(track, [hz], start=p1 + 0.3, seconds=0.8)
        assert before[hz] > 1e-4 and after[hz] > 1e-4, (leg, before, after)
        assert inside[hz] < before[hz] / 1000, (leg, inside, before)
        # Muted, not stopped: the paused stretch is in the file as silence.
        assert length > (end - pause.started_at.timestamp()) + 0.7, (leg, length)


async def test_autostart_captures_before_the_parties_hear_each_other(stack: Stack) -> None:
    """The head is whole: MixMonitor runs before the last party enters the bridge
    (Asterisk's clock), and the customer track (what the agent hears) opens on
    silence, so the first of the customer's audio the agent heard is in it."""
    times = AmiTimes(stack.ami)
    call = await stack.place("auto")
    await capturing(stack, call)
    await asyncio.sleep(1.5)
    agent, customer = call.channels["agent"], call.channels["customer"]
    [started] = times.at("MixMonitorStart", agent)
    entered = times.at("BridgeEnter", agent) + times.at("BridgeEnter", customer)
    assert len(entered) == 2, times.events
    assert started <= max(entered), (started, entered)
    gap = max(entered) - started  # how long the capture ran before the parties met
    await stack.hangup(call)
    [seg] = stack.sink.segments
    track = seg.extra["copies"]["customer"]
    later = tone_levels(track, [CUSTOMER_HZ], start=0.5, seconds=0.5)[CUSTOMER_HZ]
    assert later > 1e-4, later
    # The track opens on the silence of that gap (not less: the file began when
    # the capture did), then the customer as the agent first heard them, within a
    # few frames of the join. (The gap can be under one 20 ms frame: the join
    # follows the capture's start at once; measured 6-18 ms, the lead 25-45 ms.)
    step = 0.005
    lead = next(
        i * step
        for i in range(200)
        if tone_levels(track, [CUSTOMER_HZ], start=i * step, seconds=step)[CUSTOMER_HZ]
        > later / 10
    )
    assert gap - 0.025 < lead < gap + 0.08, (lead, gap)


async def test_agent_stop_and_start_by_api_gives_two_whole_segments(stack: Stack) -> None:
    call = await stack.place("demand")
    assert not call.recording
    await asyncio.sleep(1.0)  # a start mid-call, not at the answer
    status, _ = await stack.api("POST", f"/api/calls/{call.call_id}/recording/start")
    assert status == 200 and call.recording
    await asyncio.sleep(1.5)
    status, _ = await stack.api("POST", f"/api/calls/{call.call_id}/recording/stop")
    assert status == 200
    await stack.wait(lambda: len(stack.sink.segments) == 1, 10, "the first segment")
    status, _ = await stack.api("POST", f"/api/calls/{call.call_id}/recording/start")
    assert status == 200 and call.recording
    await asyncio.sleep(1.5)
    await stack.hangup(call)
    first, second = stack.sink.segments
    assert (first.segment_no, second.segment_no) == (1, 2)
    for seg in (first, second):
        holds(seg.extra["copies"]["agent"], AGENT_HZ, [CUSTOMER_HZ])
        holds(seg.extra["copies"]["customer"], CUSTOMER_HZ, [AGENT_HZ])
        span = seg.ended_at.timestamp() - seg.extra["capture_started"]["agent"]
        assert wav_seconds(seg.extra["copies"]["agent"]) >= 0.98 * span - 0.1, seg.flags
        assert not [f for f in seg.flags if f.startswith("short_capture")], seg.flags


async def test_snoops_too_record_before_the_parties_hear_each_other(snoopstack: Stack) -> None:
    """The same head ordering with the snoop backend: each leg's RecordingStarted
    (Asterisk's clock) comes before the last party's BridgeEnter."""
    from ari_app.capture import event_time

    stack = snoopstack
    assert stack.app is not None
    app = stack.app
    seen: list[dict[str, Any]] = []
    route = app._route

    def routed(event: dict[str, Any]) -> None:
        seen.append(event)
        route(event)

    app._route = routed  # type: ignore[method-assign]
    times = AmiTimes(stack.ami)
    call = await stack.place("auto")
    rid = (await capturing(stack, call)).recording_id
    await asyncio.sleep(1.0)
    starts = [
        event_time(e)
        for e in seen
        if e.get("type") == "RecordingStarted" and rid in e["recording"]["name"]
    ]
    assert len(starts) == 2, seen
    entered = times.at("BridgeEnter", call.channels["agent"])
    entered += times.at("BridgeEnter", call.channels["customer"])
    assert len(entered) == 2, times.events
    assert max(starts) <= max(entered) + 0.001, (starts, entered)  # ARI stamps are in ms
    await stack.hangup(call)
    assert len(stack.sink.segments) == 1


async def test_agent_hanging_up_closes_the_files_and_delivers(stack: Stack) -> None:
    """The channel MixMonitor runs on goes first: Asterisk closes the files itself
    (StopMixMonitor finds no channel) and the segment is delivered whole."""
    call = await stack.place("auto")
    seg = await capturing(stack, call)
    await asyncio.sleep(2.0)
    assert stack.app is not None
    await stack.app.client.hangup(call.channels["agent"])
    await stack.wait(lambda: stack.sink.segments, 15, "the segment")
    [done] = stack.sink.segments
    assert done.recording_id == seg.recording_id
    files = done.extra["copies"]
    holds(files["agent"], AGENT_HZ, [CUSTOMER_HZ])
    holds(files["customer"], CUSTOMER_HZ, [AGENT_HZ])
    span = done.ended_at.timestamp() - done.extra["capture_started"]["agent"]
    assert wav_seconds(files["agent"]) >= 0.98 * span - 0.1, (span, done.flags)
    assert not [f for f in done.flags if f.startswith(("short_capture", "header"))], done.flags


async def test_capture_switched_to_snoops_across_a_restart_keeps_the_running_segment(
    stack: Stack,
) -> None:
    """A segment MixMonitor started is stopped by MixMonitor after the app restarts
    with ``capture = "snoop"``; the next call is captured by snoops."""
    call = await stack.place("auto")
    await capturing(stack, call)
    await asyncio.sleep(1.0)
    await stack.stop_app()  # the service stops; Asterisk keeps recording
    stack.registry.unregister(call.call_id)
    stack.capture = "snoop"
    await stack.start_app()
    assert stack.app is not None
    recovered = stack.app.calls[call.call_id]
    assert recovered.recording
    await asyncio.sleep(1.0)
    await stack.hangup(recovered)
    [seg] = stack.sink.segments
    files = seg.extra["copies"]
    holds(files["agent"], AGENT_HZ, [CUSTOMER_HZ])
    holds(files["customer"], CUSTOMER_HZ, [AGENT_HZ])
    span = seg.ended_at.timestamp() - seg.extra["capture_started"]["agent"]
    assert span > 1.8 and wav_seconds(files["agent"]) >= 0.98 * span - 0.1, seg.flags
    assert not [f for f in seg.flags if f.startswith("short_capture")], seg.flags
    second = await stack.place("auto")
    live = await capturing(stack, second)
    assert all(c.snoop_id and parse_handle(c.handle) is None for c in live.captures.values())
    await stack.hangup(second)
    assert len(stack.sink.segments) == 2
