"""A hangup sent while the AMI link was down is not lost: the call is reconciled.

Asterisk does not replay AMI events; before the reconcile a customer who
hung up during a blip left the call "live" (and its recording undelivered)
until callrec restarted.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.agi.conftest import NY_NUMBER, AgiEnv, wait_for

pytestmark = pytest.mark.asterisk


async def test_hangup_during_an_ami_blip_ends_the_call_and_delivers(env: AgiEnv) -> None:
    customer = await env.originate(
        "dial", CALLREC_AGENT="1001", CALLREC_CAMPAIGN="all_calls", CALLREC_NUMBER=NY_NUMBER
    )
    try:
        call = await env.call_for(customer)
        assert call.recording
        await asyncio.sleep(1.0)
        manager = env.service.ami.manager
        manager.protocol.transport.abort()  # the link drops, as in a network blip
        await env.hangup(customer)  # its Hangup event goes nowhere
        await asyncio.sleep(0.5)
        assert call.call_id in env.controller.calls and not call.ended  # missed, for now
        (seg,) = await env.segments_of(call.call_id, 1, timeout=20)
        await wait_for(lambda: call.call_id not in env.controller.calls, 10, "the call to go")
        assert seg.agent == "1001" and "agent" in seg.files
        assert env.service.ami.manager.authenticated  # and the link is back for what follows
    finally:
        await env.hangup(customer)
