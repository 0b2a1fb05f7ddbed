"""A restart of callrec in the middle of an attended consultation, on the real
Asterisk: the call is taken back consulting, and completing or cancelling the
transfer afterwards gives the same segments as without the restart
(``test_native_transfers.py``): 1001's segment runs through the consultation,
then 2002's starts at completion, or 1001's goes on after the cancel.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agi_scripts.controller import AgiController
from callcore.actions import ActionRefused
from callcore.mixmonitor import wav_closed
from callcore.state import CallState, TransferWait
from storage.segment import FinishedSegment
from tests.agi.conftest import AGENT2_HZ, AGENT_HZ, CUSTOMER_HZ, AgiEnv, host_file
from tests.agi.test_native_transfers import (
    CONTEXT,
    STEP,
    TARGET,
    assert_second_segment,
    channel_id,
    customer_up,
    holds,
    start_call,
    tail_start,
)
from tests.agi.test_restart import _restarted
from tests.support.wait import wait_for

pytestmark = pytest.mark.asterisk


async def _finished(
    env: AgiEnv, new: AgiController, call_id: str, count: int
) -> list[FinishedSegment]:
    segs: list[FinishedSegment] = await env.segments_of(call_id, count, timeout=30)
    await wait_for(lambda: call_id not in new.calls, STEP, "the call forgotten")
    for seg in segs:
        for path in seg.files.values():
            assert wav_closed(path), f"{path} not closed by MixMonitor"
    return segs


@pytest.mark.parametrize("ending", ["completed", "cancelled"])
async def test_restart_during_consultation_gives_the_same_segments(
    env: AgiEnv, tmp_path: Path, ending: str
) -> None:
    before = len(env.sink.segments)
    customer, old_call, first_agent = await start_call(env, keep_recording=True)
    call_id, first_agent_id = old_call.call_id, old_call.channels["agent"]
    assert old_call.segment is not None
    recording_id = old_call.segment.recording_id
    ami = None
    try:
        await asyncio.sleep(2.5)
        await env.service.ami.action("Atxfer", Channel=first_agent, Context=CONTEXT, Exten=TARGET)
        consult = await wait_for(lambda: old_call.consult, STEP, "2002's answer")
        await wait_for(lambda: old_call.consulting is not None, STEP, "the consulting state")
        new, ami = await _restarted(env, call_id, tmp_path)
        assert await new.recover() >= 1
        call: CallState = new.calls[call_id]
        assert call is not old_call
        assert new.machines[call_id].state.label == "consulting (segment runs)"
        # 1001's checkbox (ticked) was read at 2002's answer; 2002's provisional
        # decision is kept with the consultation.
        assert call.consulting == TransferWait("2002", True, consult=True)
        assert call.consult is not None and call.consult.decision is not None
        assert "transfer.continue_recording" in call.consult.decision.reasons
        assert call.segment is not None and call.segment.recording_id == recording_id
        # Consulting, as before the restart: the console's pause waits for the transfer.
        with pytest.raises(ActionRefused) as refused:
            await new.perform(call, "pause")
        assert refused.value.rule == "action.transfer_in_progress" and not call.paused
        await asyncio.sleep(1.5)
        if ending == "completed":
            # 1001 hangs up: Asterisk completes the transfer (AMI AttendedTransfer).
            await env.hangup(await channel_id(env, first_agent))
            await wait_for(
                lambda: call.agent == "2002" and call.segment and call.segment.segment_no == 2,
                STEP,
                "2002's segment after the transfer completed",
            )
            assert call.channels["agent"] == consult.uniqueid and call.consulting is None
            assert call.phase == "post_transfer" and call.consult is None
        else:
            await env.service.ami.action("CancelAtxfer", Channel=first_agent)
            await wait_for(lambda: call.consult is None, STEP, "the consultation to end")
            assert new.machines[call_id].state.name == "recording"
            assert call.agent == "1001" and call.channels["agent"] == first_agent_id
            assert call.segment is not None and call.segment.recording_id == recording_id
        assert await customer_up(env, customer), "the customer was cut off"
        await asyncio.sleep(2.5)
    finally:
        await env.hangup(customer)
    try:
        if ending == "completed":
            first, second = await _finished(env, new, call_id, 2)
            assert first.recording_id == recording_id
            assert_second_segment(first, second, keep_recording=True)
            assert len(env.sink.segments) - before == 2, "a segment too many"
        else:
            (seg,) = await _finished(env, new, call_id, 1)
            assert (seg.segment_no, seg.agent, seg.recording_id) == (1, "1001", recording_id)
            assert len(env.sink.segments) - before == 1, "a segment too many"
            agent, heard = host_file(seg, "agent"), host_file(seg, "customer")
            holds(agent, AGENT_HZ, [CUSTOMER_HZ, AGENT2_HZ])
            holds(heard, CUSTOMER_HZ, [AGENT_HZ, AGENT2_HZ])
            holds(agent, AGENT_HZ, [CUSTOMER_HZ, AGENT2_HZ], start=tail_start(agent))
            holds(heard, CUSTOMER_HZ, [AGENT_HZ, AGENT2_HZ], start=tail_start(heard))
    finally:
        if ami is not None:
            await ami.close()
