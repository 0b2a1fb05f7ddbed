"""An attended transfer done by the agent's SIP phone (REFER with Replaces).

Agent a1 is a real SIP user agent (tests/support/sip_phone.py): it answers
the call placed through the console and sends 1000 Hz, calls agent a2
(1600 Hz) for a consultation, and completes the transfer as desk phones do.
Asterisk performs the transfer itself and links our bridge to the
consultation with a ``Local/_attended@transfer`` channel in place of a1; the
app must end a1's segment and decide a2's, named by the dialplan's
CALLREC_AGENT, with the customer (440 Hz) never cut off.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.ari.harness import Stack
from tests.support.audio import holds
from tests.support.sip_phone import SipPhone

pytestmark = pytest.mark.asterisk

AGENT_HZ, CUSTOMER_HZ, AGENT2_HZ = 1000.0, 440.0, 1600.0


@pytest.fixture
async def phone(stack: Stack) -> AsyncIterator[SipPhone]:
    assert stack.app is not None
    desk = SipPhone("a1", ("127.0.0.1", stack.asterisk.ports.sip), AGENT_HZ)
    await desk.start()
    # Agent a1 is reached over SIP on this phone; others stay simulated.
    simulated = stack.app.agent_endpoint
    stack.app.agent_endpoint = lambda agent: (
        f"PJSIP/sipp-test/{desk.uri}" if agent == "a1" else simulated(agent)
    )
    try:
        yield desk
    finally:
        desk.close()


@pytest.mark.parametrize("keep_recording", [False, True])
async def test_attended_transfer_from_a_sip_phone_gives_the_new_agent_a_segment(
    stack: Stack, phone: SipPhone, keep_recording: bool
) -> None:
    assert stack.app is not None
    call = await stack.place("auto")  # all_calls, then on_demand after a transfer
    first = await asyncio.wait_for(phone.incoming.get(), 10)
    customer_id, a1_channel = call.channels["customer"], call.channels["agent"]
    if keep_recording:  # a1 ticks "continue recording" before transferring
        await stack.app.client.set_variable(a1_channel, "CALLREC_CONTINUE_RECORDING", "1")
    await asyncio.sleep(1.5)
    consult = await phone.call("a2")
    await asyncio.sleep(1.0)
    reply = await phone.attended_transfer(first, consult)
    assert reply.status == 202, reply.first
    await phone.finish_transfer(first)  # NOTIFY 200, then BYE, as desk phones do
    await stack.wait(lambda: call.agent == "a2" and call.decision, 10, "a2's decision")
    await stack.wait(lambda: len(stack.sink.segments) == 1, 10, "a1's segment")
    assert call.phase == "post_transfer" and call.decision.mode == "on_demand"
    assert call.channels["customer"] == customer_id, "the customer was not cut off"
    assert call.channels["agent"] != a1_channel
    await stack.wait(lambda: consult.ended.is_set(), 10, "the consultation call released")
    if keep_recording:
        assert (
            call.decision.autostart and "transfer.continue_recording" in call.decision.reasons
        )
        await stack.wait(lambda: call.recording, 10, "a2's segment to start by itself")
    else:
        assert not call.decision.autostart
        status, body = await stack.api("POST", f"/api/calls/{call.call_id}/recording/start")
        assert status == 200, body
    await asyncio.sleep(2.0)
    await stack.hangup(call)
    # Nothing about the transfer is kept once it is done.
    assert not stack.app.translator.calls and not stack.app.translator._by_channel
    assert not [k for k in stack.app.waiters._futures if k[0] == "Transfer"]
    first_seg, second_seg = stack.sink.segments
    assert (first_seg.agent, first_seg.segment_no) == ("a1", 1)
    assert (second_seg.agent, second_seg.segment_no) == ("a2", 2)
    assert first_seg.call_id == second_seg.call_id == call.call_id
    assert "mode.post_transfer_campaign" in second_seg.reasons
    holds(first_seg.extra["copies"]["agent"], AGENT_HZ, [CUSTOMER_HZ, AGENT2_HZ])
    holds(first_seg.extra["copies"]["customer"], CUSTOMER_HZ, [AGENT_HZ, AGENT2_HZ])
    holds(second_seg.extra["copies"]["agent"], AGENT2_HZ, [AGENT_HZ, CUSTOMER_HZ])
    holds(second_seg.extra["copies"]["customer"], CUSTOMER_HZ, [AGENT_HZ, AGENT2_HZ])


async def test_abandoned_consultation_leaves_the_call_and_its_segment_alone(
    stack: Stack, phone: SipPhone
) -> None:
    call = await stack.place("auto")
    await asyncio.wait_for(phone.incoming.get(), 10)
    agent_channel = call.channels["agent"]
    await asyncio.sleep(1.0)
    consult = await phone.call("a2")
    await asyncio.sleep(1.0)
    await phone.hangup(consult)  # the agent changes their mind: back to the customer
    await asyncio.sleep(1.5)
    assert call.agent == "a1" and call.channels["agent"] == agent_channel
    assert call.recording and call.phase == "initial" and not stack.sink.segments
    await stack.hangup(call)
    [seg] = stack.sink.segments
    assert (seg.agent, seg.segment_no) == ("a1", 1)
    holds(seg.extra["copies"]["agent"], AGENT_HZ, [CUSTOMER_HZ, AGENT2_HZ])
