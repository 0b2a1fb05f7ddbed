"""The agent's DTMF features (*1 record, *2 pause) on a real bridged call.

DTMF is played with AMI PlayDTMF on the agent's Local ;2 half: what is
written to ;2 is read by ;1, the agent's channel in the bridge, whose
DYNAMIC_FEATURES (set by callrec-agi-answer) makes features.conf run the
callrec feature there. A refusal is answered with a short tone and leaves
the recording as it was.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.agi.conftest import AGENT_HZ, CA_NUMBER, CUSTOMER_HZ, AgiEnv, host_file, wait_for
from tests.support.audio import tone_levels

pytestmark = pytest.mark.asterisk


async def dtmf_result(env: AgiEnv, call_id: str, digits: str, expected_prefix: str) -> str:
    call = env.controller.calls[call_id]
    await env.agent_var(call, "CALLREC_DTMF_RESULT")
    await env.service.ami.setvar(call.channels["agent"], "CALLREC_DTMF_RESULT", "")
    await env.press(call, digits)

    async def probe() -> str:
        return await env.agent_var(call, "CALLREC_DTMF_RESULT")

    for _ in range(40):
        value = await probe()
        if value:
            assert value.startswith(expected_prefix), value
            return value
        await asyncio.sleep(0.1)
    pytest.fail(f"no DTMF result after {digits}")


async def test_toggle_record_and_pause_by_dtmf(env: AgiEnv) -> None:
    customer = await env.originate(
        "dial", CALLREC_AGENT="1001", CALLREC_CAMPAIGN="on_demand", CALLREC_NUMBER=CA_NUMBER
    )
    try:
        call = await env.call_for(customer)
        assert call.segment is None  # on_demand, not sampled: the agent starts it
        await dtmf_result(env, call.call_id, "*1", "start")
        assert call.segment is not None
        await asyncio.sleep(1.5)
        await dtmf_result(env, call.call_id, "*2", "pause")
        assert call.paused
        await asyncio.sleep(1.5)
        await dtmf_result(env, call.call_id, "*2", "resume")
        assert not call.paused
        await asyncio.sleep(1.0)
        await dtmf_result(env, call.call_id, "*1", "stop")
        (seg,) = await env.segments_of(call.call_id, 1)
        assert len(seg.pauses) == 1 and seg.pauses[0].ended_at is not None
        pause_len = (seg.pauses[0].ended_at - seg.pauses[0].started_at).total_seconds()
        assert 1.0 < pause_len < 3.0
        path = host_file(seg, "agent")
        levels = tone_levels(path, [AGENT_HZ, CUSTOMER_HZ], start=0.2, seconds=0.8)
        assert levels[AGENT_HZ] > 1e-4 and levels[CUSTOMER_HZ] < levels[AGENT_HZ] / 1000
        # The pause wrote silence in place: the file keeps the call's timeline.
        offset = (seg.pauses[0].started_at - seg.started_at).total_seconds()
        muted = tone_levels(path, [AGENT_HZ], start=offset + 0.2, seconds=0.6)
        assert muted[AGENT_HZ] < 1e-6, muted
    finally:
        await env.hangup(customer)


@pytest.mark.parametrize(("campaign", "digits"), [("all_force", "*1"), ("never", "*1")])
async def test_forbidden_toggle_is_refused(env: AgiEnv, campaign: str, digits: str) -> None:
    customer = await env.originate(
        "dial", CALLREC_AGENT="1001", CALLREC_CAMPAIGN=campaign, CALLREC_NUMBER=CA_NUMBER
    )
    try:
        call = await env.call_for(customer)
        was_recording = call.recording
        result = await dtmf_result(env, call.call_id, digits, "refused:")
        assert result.split(":", 1)[1].startswith("action."), result
        assert call.recording == was_recording  # nothing changed
        if campaign == "never":
            # *2 is refused too: nothing may be captured at all. (Wait out the
            # refusal tone first: keys pressed while a feature runs are not seen.)
            await asyncio.sleep(1.0)
            await dtmf_result(env, call.call_id, "*2", "refused:")
    finally:
        await env.hangup(customer)
    if was_recording:
        await env.segments_of(call.call_id, 1)
    await wait_for(lambda: call.call_id not in env.controller.calls, 10, "call forgotten")
