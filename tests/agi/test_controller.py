"""The console's actions and transfers on dialplan-routed calls, through the registry.

The HTTP API calls ``CallRegistry.act`` / ``transfer``; for these calls the
registry hands them to the AGI path's controller, which uses AMI
(MixMonitor, MixMonitorMute, StopMixMonitor, Setvar, Redirect).
"""

from __future__ import annotations

import asyncio

import pytest

from callcore.actions import ActionRefused
from tests.agi.conftest import (
    AGENT2_HZ,
    AGENT_HZ,
    CA_NUMBER,
    CUSTOMER_HZ,
    NY_NUMBER,
    AgiEnv,
    host_file,
    wait_for,
)
from tests.support.audio import tone_levels

pytestmark = pytest.mark.asterisk


async def test_console_start_pause_resume_stop(env: AgiEnv) -> None:
    customer = await env.originate(
        "dial", CALLREC_AGENT="1001", CALLREC_CAMPAIGN="on_demand", CALLREC_NUMBER=CA_NUMBER
    )
    try:
        call = await env.call_for(customer)
        with pytest.raises(ActionRefused) as refused:
            await env.registry.act(call.call_id, "stop")
        assert refused.value.rule == "action.not_recording"
        await env.registry.act(call.call_id, "start")
        assert call.recording
        await asyncio.sleep(1.2)
        await env.registry.act(call.call_id, "pause")
        await asyncio.sleep(1.0)
        await env.registry.act(call.call_id, "resume")
        await asyncio.sleep(0.8)
        await env.registry.act(call.call_id, "stop")
        (seg,) = await env.segments_of(call.call_id, 1)
        assert len(seg.pauses) == 1
        levels = tone_levels(host_file(seg, "agent"), [AGENT_HZ, CUSTOMER_HZ], start=0.2)
        assert levels[AGENT_HZ] > 1e-4 and levels[CUSTOMER_HZ] < levels[AGENT_HZ] / 1000
        # Start again: a second segment of the same call.
        await env.registry.act(call.call_id, "start")
        await asyncio.sleep(0.5)
    finally:
        await env.hangup(customer)
    segs = await env.segments_of(call.call_id, 2)
    assert [s.segment_no for s in segs] == [1, 2]


async def test_console_refusals_follow_the_decision(env: AgiEnv) -> None:
    customer = await env.originate("queue", CALLREC_CAMPAIGN="all_force", CALLREC_NUMBER=CA_NUMBER)
    try:
        call = await env.call_for(customer)
        assert call.recording
        with pytest.raises(ActionRefused) as refused:
            await env.registry.act(call.call_id, "stop")
        assert refused.value.rule.startswith("action.")
        await env.registry.act(call.call_id, "pause")  # card numbers: pause is allowed
        await env.registry.act(call.call_id, "resume")
    finally:
        await env.hangup(customer)
    await env.segments_of(call.call_id, 1)


async def test_blind_transfer_gives_two_segments_with_their_decisions(env: AgiEnv) -> None:
    # Campaign xfer: all_calls before the transfer, all_force after it.
    customer = await env.originate(
        "dial", CALLREC_AGENT="1001", CALLREC_CAMPAIGN="xfer", CALLREC_NUMBER=NY_NUMBER
    )
    try:
        call = await env.call_for(customer)
        first_agent_channel = call.channels["agent"]
        await asyncio.sleep(1.5)
        await env.registry.transfer(call.call_id, "2002", continue_recording=False)
        await wait_for(
            lambda: call.channels.get("agent") not in ("", first_agent_channel) and call.segment,
            10,
            "the new agent's segment",
        )
        assert await env.agent_var(call, "CALLREC_MODE") == "all_force"
        await asyncio.sleep(1.5)
    finally:
        await env.hangup(customer)
    first, second = await env.segments_of(call.call_id, 2)
    assert (first.segment_no, first.agent, first.decision["mode"]) == (1, "1001", "all_calls")
    assert "mode.campaign" in first.reasons
    assert (second.segment_no, second.agent, second.decision["mode"]) == (2, "2002", "all_force")
    assert "mode.post_transfer_campaign" in second.reasons
    assert first.legs == second.legs == "both"
    levels = tone_levels(host_file(second, "agent"), [AGENT2_HZ, AGENT_HZ, CUSTOMER_HZ])
    assert levels[AGENT2_HZ] > 1e-4, levels
    assert max(levels[AGENT_HZ], levels[CUSTOMER_HZ]) < levels[AGENT2_HZ] / 1000, levels
    customer_levels = tone_levels(host_file(second, "customer"), [AGENT2_HZ, CUSTOMER_HZ])
    assert customer_levels[CUSTOMER_HZ] > 1e-4, customer_levels


async def test_transfer_continue_recording_starts_the_new_segment(env: AgiEnv) -> None:
    # on_demand before and (org post_transfer) after: only the checkbox starts it.
    customer = await env.originate(
        "dial", CALLREC_AGENT="1001", CALLREC_CAMPAIGN="on_demand", CALLREC_NUMBER=CA_NUMBER
    )
    try:
        call = await env.call_for(customer)
        await env.registry.act(call.call_id, "start")
        await asyncio.sleep(1.0)
        await env.registry.transfer(call.call_id, "2002", continue_recording=True)
        await wait_for(lambda: call.agent == "2002" and call.segment, 10, "new segment")
        await asyncio.sleep(1.0)
    finally:
        await env.hangup(customer)
    first, second = await env.segments_of(call.call_id, 2)
    assert first.agent == "1001" and second.agent == "2002"
    assert second.decision["autostart"] is True
    assert "transfer.continue_recording" in second.reasons
