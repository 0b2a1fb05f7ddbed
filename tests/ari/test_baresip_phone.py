"""The agent's DTMF toggle and an attended transfer, from a real softphone.

Agent a1's phone is Debian's baresip (tests/support/baresip.py), on the
sandbox's loopback PJSIP endpoint ``sipp-test`` (``dtmf_mode = rfc4733``):
callrec's Stasis app dials it for a console-placed call, baresip answers by
itself and sends a 1300 Hz tone. The keys the agent presses are baresip's
own RFC 4733 telephone-events, not DTMF injected through AMI; the transfer is
baresip's own REFER with Replaces. The customer is the simulated 440 Hz
party, agent a2 the simulated 1600 Hz one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.ari.harness import Stack
from tests.support.audio import holds
from tests.support.baresip import Baresip
from tests.support.baresip_audio import assert_one_pause

pytestmark = [pytest.mark.asterisk, pytest.mark.baresip]

PHONE_HZ, CUSTOMER_HZ, AGENT2_HZ = 1300.0, 440.0, 1600.0


@pytest.fixture
async def phone(stack: Stack, tmp_path: Path) -> AsyncIterator[Baresip]:
    assert stack.app is not None
    softphone = Baresip("a1", tmp_path / "baresip", PHONE_HZ)
    await softphone.start()
    # Agent a1 is reached over SIP on baresip; others stay simulated.
    simulated = stack.app.agent_endpoint
    stack.app.agent_endpoint = lambda agent: (
        f"PJSIP/sipp-test/{softphone.uri}" if agent == "a1" else simulated(agent)
    )
    try:
        yield softphone
    finally:
        try:
            for call in list(softphone.calls.values()):
                await softphone.hangup(call)
        finally:
            await softphone.close()
            print(softphone.trace()[-20000:])  # shown only when the test failed


async def test_baresip_dtmf_pauses_and_resumes_the_recording(stack: Stack, phone: Baresip) -> None:
    call = await stack.place("auto")  # all_calls: recording starts by itself
    answered = await phone.answered()
    assert call.recording and not call.paused and call.agent == "a1"
    await asyncio.sleep(2.0)
    await phone.send_dtmf(answered, "*2")
    await stack.wait(lambda: call.paused, 5, "baresip's *2 to pause the recording")
    await asyncio.sleep(3.0)
    assert call.recording and call.paused
    await phone.send_dtmf(answered, "*2")
    await stack.wait(lambda: not call.paused, 5, "baresip's second *2 to resume it")
    await asyncio.sleep(2.0)
    await stack.hangup(call)
    # callrec's record: one segment with exactly one closed pause, stored so.
    [seg] = stack.sink.segments
    [pause] = seg.pauses
    assert pause.ended_at is not None
    paused_for = (pause.ended_at - pause.started_at).total_seconds()
    assert 2.5 < paused_for < 6.0, paused_for
    paused_at = (pause.started_at - seg.started_at).total_seconds()
    status, body = await stack.api("GET", f"/api/recordings/{seg.recording_id}/story")
    assert status == 200, body
    stored = body["story"]["pauses"]
    assert len(stored) == 1 and stored[0]["started_at"] and stored[0]["ended_at"], stored
    # The audio: baresip's tone, then silence for the pause, then the tone again.
    agent = seg.extra["copies"]["agent"]
    holds(agent, PHONE_HZ, [CUSTOMER_HZ, AGENT2_HZ])  # the agent's track is the phone's
    assert_one_pause(agent, PHONE_HZ, paused_at, paused_for)


async def test_baresip_attended_transfer_gives_the_second_agent_a_segment(
    stack: Stack, phone: Baresip
) -> None:
    assert stack.app is not None
    call = await stack.place("auto")  # all_calls, then on_demand after a transfer
    first = await phone.answered()
    customer_id, a1_channel = call.channels["customer"], call.channels["agent"]
    await asyncio.sleep(1.5)
    a2 = f"sip:a2@127.0.0.1:{stack.asterisk.ports.sip}"
    consult = await phone.dial(a2)  # the consultation call to agent a2
    await asyncio.sleep(1.0)
    transfers: list[dict[str, str]] = []  # what Asterisk says it did with the REFER
    for kind in ("AttendedTransfer", "BlindTransfer"):
        stack.ami.register_event(kind, lambda _m, event: transfers.append(dict(event)))
    await phone.attended_transfer(first, consult, a2)
    # baresip hangs up its first call on the NOTIFY's 200; Asterisk ends the
    # consultation dialog it replaced.
    await asyncio.wait_for(first.closed.wait(), 10)
    assert "transfer" in first.close_reason.lower(), first.close_reason
    await asyncio.wait_for(consult.closed.wait(), 10)
    await stack.wait(lambda: transfers, 10, "Asterisk's report of the transfer")
    [xfer] = transfers
    assert xfer["Event"] == "AttendedTransfer" and xfer["Result"] == "Success", xfer
    # Both of the transferring legs are baresip's own dialogs.
    assert xfer["OrigTransfererChannel"].startswith("PJSIP/sipp-test-"), xfer
    assert xfer["SecondTransfererChannel"].startswith("PJSIP/sipp-test-"), xfer
    await stack.wait(lambda: call.agent == "a2" and call.decision, 10, "a2's decision")
    await stack.wait(lambda: len(stack.sink.segments) == 1, 10, "a1's segment")
    assert call.decision is not None and call.phase == "post_transfer"
    assert call.decision.mode == "on_demand"
    assert call.channels["customer"] == customer_id, "the customer was not cut off"
    assert call.channels["agent"] != a1_channel
    assert not call.decision.autostart  # a1 left no continue-recording flag
    status, body = await stack.api("POST", f"/api/calls/{call.call_id}/recording/start")
    assert status == 200, body
    await asyncio.sleep(2.0)
    await stack.hangup(call)
    first_seg, second_seg = stack.sink.segments
    assert (first_seg.agent, first_seg.segment_no) == ("a1", 1)
    assert (second_seg.agent, second_seg.segment_no) == ("a2", 2)
    assert first_seg.call_id == second_seg.call_id == call.call_id
    assert "mode.post_transfer_campaign" in second_seg.reasons
    holds(first_seg.extra["copies"]["agent"], PHONE_HZ, [CUSTOMER_HZ, AGENT2_HZ])
    holds(first_seg.extra["copies"]["customer"], CUSTOMER_HZ, [PHONE_HZ, AGENT2_HZ])
    holds(second_seg.extra["copies"]["agent"], AGENT2_HZ, [PHONE_HZ, CUSTOMER_HZ])
    holds(second_seg.extra["copies"]["customer"], CUSTOMER_HZ, [PHONE_HZ, AGENT2_HZ])
