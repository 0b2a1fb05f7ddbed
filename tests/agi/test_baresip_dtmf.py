"""The agent's DTMF features on the dialplan path, pressed on a real softphone.

Agent 1001's phone is Debian's baresip (tests/support/baresip.py) on the
sandbox's loopback PJSIP endpoint ``sipp-test`` (``dtmf_mode = rfc4733``):
the customer (440 Hz) is originated into callrec-agi-test,phone, whose Dial
reaches baresip; baresip answers by itself and sends a 1300 Hz tone. Its own
RFC 4733 ``*2`` is what Asterisk's feature detection sees on the agent's
channel (DYNAMIC_FEATURES set by callrec-agi-answer), not DTMF played
through AMI.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.agi.conftest import CUSTOMER_HZ, NY_NUMBER, AgiEnv, host_file
from tests.support.audio import holds
from tests.support.baresip import Baresip
from tests.support.baresip_audio import assert_one_pause
from tests.support.wait import wait_for

pytestmark = [pytest.mark.asterisk, pytest.mark.baresip]

PHONE_HZ = 1300.0


@pytest.fixture
async def phone(env: AgiEnv, tmp_path: Path) -> AsyncIterator[Baresip]:
    softphone = Baresip("1001", tmp_path / "baresip", PHONE_HZ)
    await softphone.start()
    try:
        yield softphone
    finally:
        try:
            for call in list(softphone.calls.values()):
                await softphone.hangup(call)
        finally:
            await softphone.close()
            print(softphone.trace()[-20000:])  # shown only when the test failed


async def test_baresip_dtmf_pauses_and_resumes_a_dialplan_recording(
    env: AgiEnv, phone: Baresip
) -> None:
    customer = await env.originate(
        "phone",
        CALLREC_AGENT="1001",
        CALLREC_CAMPAIGN="all_calls",
        CALLREC_NUMBER=NY_NUMBER,
        CALLREC_TEST_PHONE=f"PJSIP/sipp-test/{phone.uri}",
    )
    try:
        answered = await phone.answered()
        call = await env.call_for(customer)
        await wait_for(lambda: call.recording, 10, "the recording to start by itself")
        assert call.agent_channel_name.startswith("PJSIP/sipp-test-"), call.agent_channel_name
        await asyncio.sleep(2.0)
        await phone.send_dtmf(answered, "*2")
        await wait_for(lambda: call.paused, 5, "baresip's *2 to pause the recording")
        await asyncio.sleep(3.0)
        assert call.recording and call.paused
        await phone.send_dtmf(answered, "*2")
        await wait_for(lambda: not call.paused, 5, "baresip's second *2 to resume it")
        await asyncio.sleep(2.0)
    finally:
        await env.hangup(customer)
    (seg,) = await env.segments_of(call.call_id, 1)
    [pause] = seg.pauses
    assert pause.ended_at is not None
    paused_for = (pause.ended_at - pause.started_at).total_seconds()
    assert 2.5 < paused_for < 6.0, paused_for
    paused_at = (pause.started_at - seg.started_at).total_seconds()
    agent = host_file(seg, "agent")
    holds(agent, PHONE_HZ, [CUSTOMER_HZ])  # the agent's track is the phone's
    assert_one_pause(agent, PHONE_HZ, paused_at, paused_for)
