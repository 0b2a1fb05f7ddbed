"""A party hangs up while the answer hook is starting MixMonitor.

The hangup races the AGI request that decides and starts the capture: the
call must still end, every channel go, nothing stay held for the call, and
whatever MixMonitor did record is handed off once, its files closed.
``early``: the hangup is asked for just before MixMonitor is (the answer
request is already running); otherwise just after the call is known.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from callcore.mixmonitor import wav_closed
from tests.agi.conftest import NY_NUMBER, AgiEnv, wait_for

pytestmark = pytest.mark.asterisk


@pytest.mark.parametrize("early", [False, True])
@pytest.mark.parametrize("party", ["customer", "agent"])
async def test_hangup_while_mixmonitor_starts(
    env: AgiEnv, party: str, early: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = len(env.sink.segments)
    controller = env.controller
    seen: dict[str, Any] = {}
    if early:
        start = controller._start

        async def hang_up_first(call: Any, chan: Any, number: int) -> None:
            seen["call"] = call
            channel = call.channels["agent"] if party == "agent" else call.channels["customer"]
            await env.ari.hangup(channel)
            await start(call, chan, number)

        monkeypatch.setattr(controller, "_start", hang_up_first)
    customer = await env.originate(
        "dial", CALLREC_AGENT="1001", CALLREC_CAMPAIGN="all_calls", CALLREC_NUMBER=NY_NUMBER
    )
    try:
        # The call exists as soon as the answer request began; its agent
        # channel is known just before the decision and MixMonitor.
        def started() -> object:
            for c in env.controller.calls.values():
                if c.channels.get("customer") == customer or c.agent_uniqueid:
                    return c
            return None

        if early:
            call = await wait_for(lambda: seen.get("call"), 10, "MixMonitor being started")
        else:
            call = await wait_for(started, 10, "the answer request")
        if early:
            pass  # hung up from inside the answer request
        elif party == "agent":
            await wait_for(lambda: call.channels.get("agent"), 10, "the agent channel")
            await env.hangup(call.channels["agent"])
        else:
            await env.hangup(customer)
        await wait_for(lambda: call.call_id not in env.controller.calls, 15, "the call to end")
    finally:
        await env.hangup(customer)
    await asyncio.sleep(0.5)  # a late hand-off would show up here
    segs = [s for s in env.sink.segments[before:] if s.call_id == call.call_id]
    assert len(segs) <= 1, "a segment delivered twice"
    for seg in segs:
        for path in seg.files.values():
            assert wav_closed(path), f"{path} not closed by MixMonitor"
