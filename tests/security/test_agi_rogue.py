"""A process on the host that reaches the FastAGI port but lacks the secret changes nothing.

Against the real sandbox Asterisk and a live, recording call: a rogue client
claiming the real agent's channel sends "pause" and "answer" with no secret
and with a wrong one; each is refused before any route runs (no AGI command
is even sent back), logged, and the call is as it was. The same client with
the install's secret does pause the call, which shows the rogue requests were
otherwise well-formed enough to do harm.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.agi.conftest import CA_NUMBER, AgiEnv
from tests.security.rogue_agi import rogue_request

pytestmark = pytest.mark.asterisk


async def test_rogue_fastagi_client_cannot_change_a_live_call(
    env: AgiEnv, caplog: pytest.LogCaptureFixture
) -> None:
    customer = await env.originate(
        "dial", CALLREC_AGENT="1001", CALLREC_CAMPAIGN="all_calls", CALLREC_NUMBER=CA_NUMBER
    )
    try:
        call = await env.call_for(customer)
        assert call.segment is not None and not call.paused
        agent_uid = call.channels["agent"]
        agent_name = call.agent_channel_name
        port = env.service.port
        by_channel = dict(env.controller._by_channel)
        calls_before = set(env.controller.calls)
        state_files = set(env.controller.store.directory.iterdir())
        claim = {"uniqueid": agent_uid, "channel": agent_name}
        fake_vars = {"CALLREC_CALL_ID": call.call_id}

        caplog.set_level(logging.WARNING, logger="callrec.agi.server")
        for args in ((), ("0" * 48,), (env.asterisk.agi_secret[:-1] + "x",)):
            for script in ("pause", "toggle", "answer"):
                sent = await rogue_request(port, script, **claim, variables=fake_vars, args=args)
                assert sent == [], f"{script} with args {args!r} got commands {sent}"
        # A fake call claiming the real call's channels, with a real call's id.
        fake_customer = {"CALLREC_CALL_ID": call.call_id, "CALLREC_AGENT": "1001"}
        sent = await rogue_request(port, "answer", **claim, variables=fake_customer)
        assert sent == []

        await asyncio.sleep(0.3)
        assert not call.paused and not call.segment.pauses
        assert call.segment is not None and call.recording
        assert env.controller._by_channel == by_channel
        assert set(env.controller.calls) == calls_before
        assert set(env.controller.store.directory.iterdir()) == state_files
        assert env.controller.calls[call.call_id] is call
        refusals = [r for r in caplog.records if "refused" in r.getMessage()]
        assert len(refusals) >= 10
        assert all(env.asterisk.agi_secret not in r.getMessage() for r in caplog.records)
        assert env.service.guard.refused.get("secret", 0) >= 10

        # With the secret (a leaked one) but a channel Asterisk does not have, or
        # the real channel with another unique id: refused after asking Asterisk.
        secret = (env.asterisk.agi_secret,)
        for fake in (
            {"uniqueid": "1700000000.999", "channel": "PJSIP/ghost-00000001"},
            {"uniqueid": "1700000000.999", "channel": agent_name},
        ):
            sent = await rogue_request(port, "pause", **fake, variables=fake_vars, args=secret)
            assert sent == [], f"a channel Asterisk does not have was served: {fake}"
        assert env.service.guard.refused.get("channel", 0) >= 2
        assert not call.paused

        # Control: the same client with the install's secret is obeyed, so the
        # refusals above are the guard's doing, not a malformed request.
        sent = await rogue_request(
            port, "pause", **claim, variables=fake_vars, args=(env.asterisk.agi_secret,)
        )
        assert sent, "the secret-bearing request was not served"
        assert call.paused
    finally:
        await env.hangup(customer)


async def test_the_real_dialplan_presents_the_secret(env: AgiEnv) -> None:
    """The dialplan's own requests still work (CALLREC_AGI_SECRET from the globals)."""
    refused = dict(env.service.guard.refused)
    customer = await env.originate(
        "dial", CALLREC_AGENT="1001", CALLREC_CAMPAIGN="all_calls", CALLREC_NUMBER=CA_NUMBER
    )
    try:
        call = await env.call_for(customer)
        assert call.recording
        assert env.service.guard.refused == refused
    finally:
        await env.hangup(customer)
