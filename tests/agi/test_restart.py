"""A restart of the service mid-call: nothing recorded by MixMonitor is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agi_scripts.controller import AgiController
from callcore.ami import Ami, AmiAddress
from callcore.finish import Handoff
from callcore.registry import CallRegistry
from tests.agi.conftest import AGENT_HZ, CUSTOMER_HZ, NY_NUMBER, AgiEnv, host_file, wait_for
from tests.support.audio import tone_levels

pytestmark = pytest.mark.asterisk


async def _restarted(env: AgiEnv, call_id: str, tmp: Path) -> tuple[AgiController, Ami]:
    """The old process dies (forgets the call); a new controller starts on the same state."""
    old = env.controller
    old.calls.pop(call_id, None)  # and all else that process held for the call
    old._locks.pop(call_id, None)
    for channel in [c for c, owner in old._by_channel.items() if owner == call_id]:
        old._by_channel.pop(channel, None)
    ami = Ami(AmiAddress("127.0.0.1", env.asterisk.ports.ami, env.asterisk.ami_user,
                         env.asterisk.ami_secret))  # fmt: skip
    await ami.connect()
    new = AgiController(
        policy=lambda: env.holder["config"],
        registry=CallRegistry(),
        handoff=Handoff(env.sink, tmp / "pending"),
        store=old.store,
        monitor=old.monitor,
        ami=ami,
        agent_dial=lambda agent: None,
    )
    return new, ami


@pytest.mark.parametrize("hangup_while_down", [False, True])
async def test_restart_mid_call_delivers_the_recording(
    env: AgiEnv, tmp_path: Path, hangup_while_down: bool
) -> None:
    customer = await env.originate(
        "dial", CALLREC_AGENT="1001", CALLREC_CAMPAIGN="all_calls", CALLREC_NUMBER=NY_NUMBER
    )
    ami = None
    try:
        call = await env.call_for(customer)
        assert call.recording
        await asyncio.sleep(1.5)
        if hangup_while_down:
            env.controller.calls.pop(call.call_id, None)
            await env.hangup(customer)
            await asyncio.sleep(1.0)
        new, ami = await _restarted(env, call.call_id, tmp_path)
        assert await new.recover() >= 1
        if not hangup_while_down:
            recovered = new.calls[call.call_id]
            assert recovered.recording and recovered is not call
            await asyncio.sleep(1.0)
            await env.hangup(customer)
        (seg,) = await env.segments_of(call.call_id, 1)
        await wait_for(lambda: call.call_id not in new.calls, 10, "the call to be forgotten")
        assert seg.legs == "both"
        levels = tone_levels(host_file(seg, "agent"), [AGENT_HZ, CUSTOMER_HZ], start=0.2)
        assert levels[AGENT_HZ] > 1e-4 and levels[CUSTOMER_HZ] < levels[AGENT_HZ] / 1000
    finally:
        await env.hangup(customer)
        if ami is not None:
            await ami.close()
