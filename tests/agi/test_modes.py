"""Each campaign mode through Dial- and Queue-routed calls, end to end.

The decision lands on the agent's channel as CALLREC_* variables, MixMonitor
runs when (and only when) the decision autostarts, and the finished segment
reaches the hand-off with the call's metadata.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.agi.conftest import CA_NUMBER, AgiEnv

pytestmark = pytest.mark.asterisk

EXPECT = {
    # mode: (CALLREC_LEGS, CALLREC_AUTOSTART, a reason that must be there)
    "never": ("none", "0", "mode.never"),
    "on_demand": ("agent", "0", "mode.on_demand"),
    "all_calls": ("agent", "1", "mode.all_calls"),
    "all_force": ("agent", "1", "mode.all_force"),
}


@pytest.mark.parametrize("route", ["dial", "queue"])
@pytest.mark.parametrize("mode", list(EXPECT))
async def test_mode_decides_and_records(env: AgiEnv, route: str, mode: str) -> None:
    legs, autostart, reason = EXPECT[mode]
    # The queue route learns the agent from the member's name (1001).
    agent = {"CALLREC_AGENT": "1001"} if route == "dial" else {}
    facts = {"CALLREC_CAMPAIGN": mode, "CALLREC_NUMBER": CA_NUMBER, "CALLREC_DIRECTION": "outbound"}
    customer = await env.originate(route, **facts, **agent)
    try:
        call = await env.call_for(customer)
        assert call.agent == "1001"
        assert await env.agent_var(call, "CALLREC_STATUS") == "ok"
        assert await env.agent_var(call, "CALLREC_LEGS") == legs
        assert await env.agent_var(call, "CALLREC_AUTOSTART") == autostart
        assert await env.agent_var(call, "CALLREC_MODE") == mode
        assert await env.agent_var(call, "CALLREC_CALL_ID") == call.call_id
        assert reason in (await env.agent_var(call, "CALLREC_REASONS")).split(",")
        recording_id = await env.agent_var(call, "CALLREC_RECORDING_ID")
        assert bool(recording_id) == (autostart == "1")
        assert env.registry.get(call.call_id) is call  # the API can drive it
        if route == "queue":
            assert call.queue == "callrec-agi-test"
        await asyncio.sleep(1.5)
    finally:
        await env.hangup(customer)
    if autostart == "1":
        (seg,) = await env.segments_of(call.call_id, 1)
        assert seg.recording_id == recording_id
        assert seg.source == "agi" and seg.legs == legs and seg.agent == "1001"
        assert seg.campaign == mode and seg.direction == "outbound"
        assert seg.customer_number_raw == CA_NUMBER
        assert seg.decision["mode"] == mode and reason in seg.reasons
        assert seg.files["agent"].exists()
    else:
        await asyncio.sleep(0.5)
        assert not [s for s in env.sink.segments if s.call_id == call.call_id]
    # The call is forgotten once it ended and its segments were handed off.
    await asyncio.sleep(0.3)
    assert call.call_id not in env.controller.calls
