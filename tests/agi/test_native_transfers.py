"""Transfers done inside Asterisk on dialplan-routed calls, end to end.

Agent 1001 (1000 Hz) answered the customer (440 Hz) through the route
``callrec-agi-test,xfer`` (Dial with option t, so the agent may transfer with
Asterisk's own features); Asterisk then transfers the customer to the
extension ``2002`` of the same context, which dials agent 2002 (1600 Hz)
through the answer hook, as a site's agent extension does. The transfers are
Asterisk's: AMI BlindTransfer (what "##" and a SIP REFER without Replaces do)
and AMI Atxfer (the features.conf attended transfer a phone's key starts),
completed by the transferring agent hanging up, or cancelled with AMI
CancelAtxfer.

Campaign ``xfer_demand``: all_calls before the transfer, on_demand after it,
so the new agent's segment starts by itself only through the transferring
agent's CALLREC_CONTINUE_RECORDING.
"""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from callcore.mixmonitor import wav_closed
from callcore.state import CallState
from storage.segment import FinishedSegment
from tests.agi.conftest import (
    AGENT2_HZ,
    AGENT_HZ,
    CUSTOMER_HZ,
    NY_NUMBER,
    AgiEnv,
    host_file,
    wait_for,
)
from tests.support.audio import tone_levels

pytestmark = pytest.mark.asterisk

CONTEXT, TARGET = "callrec-agi-test", "2002"
# Generous: a shared 2-core machine answers in its own time.
STEP = 15.0


def holds(path: Path, present: float, absent: list[float], start: float = 0.5) -> None:
    """``present`` is in the window and every ``absent`` tone at least 30 dB below it."""
    levels = tone_levels(path, [present, *absent], start=start)
    assert levels[present] > 1e-4, (path.name, start, levels)
    for freq in absent:
        assert levels[freq] < levels[present] / 1000, (path.name, start, levels)


def tail_start(path: Path, seconds: float = 1.0, margin: float = 0.7) -> float:
    """Start of the last ``seconds`` of audio before MixMonitor's lost tail."""
    with wave.open(str(path), "rb") as wav:
        duration = wav.getnframes() / wav.getframerate()
    start = duration - seconds - margin
    assert start > 0.5, f"{path.name} too short ({duration:.2f}s)"
    return start


async def customer_up(env: AgiEnv, customer: str) -> bool:
    return any(c["id"] == customer for c in await env.ari.list_channels())


async def channel_id(env: AgiEnv, name: str) -> str:
    for chan in await env.ari.list_channels():
        if chan["name"] == name:
            return str(chan["id"])
    raise AssertionError(f"no channel {name}")


async def start_call(env: AgiEnv, keep_recording: bool) -> tuple[str, CallState, str]:
    """Customer to agent 1001, recording both sides; 1001's checkbox set or not."""
    customer = await env.originate(
        "xfer", CALLREC_AGENT="1001", CALLREC_CAMPAIGN="xfer_demand", CALLREC_NUMBER=NY_NUMBER
    )
    call = await env.call_for(customer)
    # The decision is set before MixMonitor starts (same AGI request): wait for it.
    await wait_for(lambda: call.recording, STEP, "autostart")
    assert call.agent == "1001"
    first_agent = call.agent_channel_name
    if keep_recording:  # the transferring agent ticks "continue recording"
        await env.service.ami.setvar(first_agent, "CALLREC_CONTINUE_RECORDING", "1")
    return customer, call, first_agent


async def finished(env: AgiEnv, call: CallState, count: int) -> list[FinishedSegment]:
    """The call's segments once it is over: all handed off, every file closed."""
    segs: list[FinishedSegment] = await env.segments_of(call.call_id, count, timeout=30)
    await wait_for(lambda: call.call_id not in env.controller.calls, STEP, "the call forgotten")
    assert not env.controller._by_channel, "channels still watched after the call"
    for seg in segs:
        for path in seg.files.values():
            assert wav_closed(path), f"{path} not closed by MixMonitor"
    return segs


def assert_second_segment(
    first: FinishedSegment, second: FinishedSegment, keep_recording: bool
) -> None:
    assert (first.segment_no, first.agent) == (1, "1001")
    assert (second.segment_no, second.agent) == (2, "2002")
    assert first.legs == second.legs == "both"
    assert "mode.campaign" in first.reasons
    # Decided as a post-transfer segment: the campaign's post_transfer mode.
    assert "mode.post_transfer_campaign" in second.reasons
    assert second.decision["mode"] == "on_demand"
    assert ("transfer.continue_recording" in second.reasons) is keep_recording
    assert second.decision["autostart"] is keep_recording
    # Who is on which track: agent 1001 then 2002, the customer throughout.
    holds(host_file(first, "agent"), AGENT_HZ, [CUSTOMER_HZ, AGENT2_HZ])
    holds(host_file(first, "customer"), CUSTOMER_HZ, [AGENT_HZ, AGENT2_HZ])
    holds(host_file(second, "agent"), AGENT2_HZ, [AGENT_HZ, CUSTOMER_HZ])
    holds(host_file(second, "customer"), CUSTOMER_HZ, [AGENT_HZ, AGENT2_HZ])


@pytest.mark.parametrize("keep_recording", [True, False])
async def test_native_blind_transfer_gives_the_new_agent_a_post_transfer_segment(
    env: AgiEnv, keep_recording: bool
) -> None:
    before = len(env.sink.segments)
    customer, call, first_agent = await start_call(env, keep_recording)
    try:
        await asyncio.sleep(2.5)
        await env.service.ami.action(
            "BlindTransfer", Channel=first_agent, Context=CONTEXT, Exten=TARGET
        )
        await wait_for(
            lambda: call.agent == "2002" and call.channels.get("agent"), STEP, "agent 2002's answer"
        )
        assert call.phase == "post_transfer"
        assert await customer_up(env, customer), "the customer was cut off"
        if keep_recording:
            await wait_for(lambda: call.recording, STEP, "2002's segment to start by itself")
        else:
            assert not call.recording, "on_demand after the transfer: nothing starts by itself"
            await env.registry.act(call.call_id, "start")
        assert await env.agent_var(call, "CALLREC_PHASE_DECIDED") == "post_transfer"
        await asyncio.sleep(2.5)
    finally:
        await env.hangup(customer)
    first, second = await finished(env, call, 2)
    assert_second_segment(first, second, keep_recording)
    assert len(env.sink.segments) - before == 2, "a segment too many"


async def test_native_attended_transfer_starts_the_new_segment_at_completion(
    env: AgiEnv,
) -> None:
    before = len(env.sink.segments)
    customer, call, first_agent = await start_call(env, keep_recording=True)
    first_agent_id = call.channels["agent"]
    try:
        await asyncio.sleep(2.5)
        # Agent 1001 consults 2002; the customer waits in the original bridge.
        await env.service.ami.action("Atxfer", Channel=first_agent, Context=CONTEXT, Exten=TARGET)
        consult = await wait_for(lambda: call.consult, STEP, "2002's answer")
        # A consultation is not a transfer yet: 1001's segment goes on.
        assert call.agent == "1001" and call.channels["agent"] == first_agent_id
        assert call.segment is not None and call.segment.segment_no == 1
        assert consult.agent == "2002"
        await asyncio.sleep(1.5)
        # 1001 hangs up: Asterisk completes the transfer (AMI AttendedTransfer).
        await env.hangup(await channel_id(env, first_agent))
        await wait_for(
            lambda: call.agent == "2002" and call.segment and call.segment.segment_no == 2,
            STEP,
            "2002's segment after the transfer completed",
        )
        assert call.channels["agent"] == consult.uniqueid
        assert call.phase == "post_transfer" and call.consult is None
        assert call.channels["customer"] == customer
        assert await customer_up(env, customer), "the customer was cut off"
        assert await env.agent_var(call, "CALLREC_RECORDING_ID") == call.segment.recording_id
        await asyncio.sleep(2.5)
        assert await customer_up(env, customer), "the customer was cut off"
    finally:
        await env.hangup(customer)
    first, second = await finished(env, call, 2)
    assert_second_segment(first, second, keep_recording=True)
    # The consultation belongs to 1001's segment: 1001 spoke, 2002 was heard.
    assert len(env.sink.segments) - before == 2, "the consultation made a call of its own"


async def test_abandoned_consultation_leaves_the_segment_running(env: AgiEnv) -> None:
    before = len(env.sink.segments)
    customer, call, first_agent = await start_call(env, keep_recording=True)
    first_agent_id = call.channels["agent"]
    assert call.segment is not None
    recording_id = call.segment.recording_id
    try:
        # Long enough that the first analysis window ends well before the
        # transfer starts (Asterisk plays its transfer prompt to 1001 then).
        await asyncio.sleep(2.5)
        await env.service.ami.action("Atxfer", Channel=first_agent, Context=CONTEXT, Exten=TARGET)
        await wait_for(lambda: call.consult, STEP, "2002's answer")
        await asyncio.sleep(1.0)
        # 1001 changes their mind and goes back to the customer.
        await env.service.ami.action("CancelAtxfer", Channel=first_agent)
        await wait_for(lambda: call.consult is None, STEP, "the consultation to end")
        assert call.agent == "1001" and call.channels["agent"] == first_agent_id
        assert call.segment is not None and call.segment.recording_id == recording_id
        assert call.phase == "initial"
        assert await customer_up(env, customer), "the customer was cut off"
        await asyncio.sleep(3.0)
    finally:
        await env.hangup(customer)
    (seg,) = await finished(env, call, 1)
    assert (seg.segment_no, seg.agent, seg.recording_id) == (1, "1001", recording_id)
    assert len(env.sink.segments) - before == 1, "a segment too many"
    agent, heard = host_file(seg, "agent"), host_file(seg, "customer")
    holds(agent, AGENT_HZ, [CUSTOMER_HZ, AGENT2_HZ])
    holds(heard, CUSTOMER_HZ, [AGENT_HZ, AGENT2_HZ])
    # After the cancel, the same segment holds 1001 and the customer again.
    holds(agent, AGENT_HZ, [CUSTOMER_HZ, AGENT2_HZ], start=tail_start(agent))
    holds(heard, CUSTOMER_HZ, [AGENT_HZ, AGENT2_HZ], start=tail_start(heard))
