"""Nothing said on a FastAGI-path call is missing from its tracks, proven with timed tones.

The parties of ``callrec-agi-bench-timed`` play a sequence of one-second tones
(dialplan/callrec-sim-timed.conf), so which second of a party's audio a
stretch of a track holds is known (bench/common.py's analysis), and Asterisk's
CEL says when the parties were bridged. The answer hook starts MixMonitor on
the agent's channel before Dial bridges the parties: each track must open at
or before the bridge (nothing lost at the head), hold every second in order
(no gaps; judged by the stricter of its length and the speech it holds
intact) and close at the bridge exit, whichever side hangs up, or at the
console's stop request. On an idle machine head and tail measure 0.00-0.05 s;
the bounds below leave room for a loaded one, not for a capture that starts
after the bridge or stops early.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.agi.conftest import NY_NUMBER, AgiEnv, host_file
from tests.support import bench_common

pytestmark = pytest.mark.asterisk

HEAD_MAX = 0.1  # seconds missing before the first sample
TAIL_MAX = 0.15  # seconds missing after the last one
TALK = 8.0  # long enough that a loaded host's ~0.15 s tail is under 2 %; a 0.5 s loss is not


common = bench_common.load()
PREFIX = {"agent": "Local/agent-timed", "customer": "Local/customer-timed"}


async def timed_call(env: AgiEnv) -> tuple[str, Any]:
    """A timed customer into callrec-agi-bench-timed (both sides recorded): (its ;1 id, call)."""
    channel = await env.ari.originate(
        "Local/customer-timed@callrec-sim/n",
        context="callrec-agi-bench-timed",
        extension="dial",
        priority=1,
        variables={
            "__CALLREC_AGENT": "1001",
            "__CALLREC_CAMPAIGN": "all_calls",
            "__CALLREC_NUMBER": NY_NUMBER,
        },
        formats="slin",  # the tones' own format: no transcoding
    )
    customer = str(channel["id"])
    call = await env.call_for(customer)
    assert call.decision is not None and call.decision.legs == "both"
    assert call.segment is not None
    return customer, call


async def hang_up_phone(env: AgiEnv, prefix: str, call_name: str) -> None:
    """The party's phone (the ;2 half of its Local channel) hangs up."""
    half = call_name.replace(";1", ";2")
    for channel in await env.ari.list_channels():
        if channel.get("name") == half and half.startswith(prefix):
            await env.ari.hangup(channel["id"])
            return
    pytest.fail(f"no channel {half}")


async def run_and_judge(env: AgiEnv, ending: str) -> list[Any]:
    """One timed call ended by ``ending``; each track judged against CEL (or the stop)."""
    asterisk = env.asterisk
    truth = common.CelTruth("127.0.0.1", asterisk.ports.ami, asterisk.ami_user,
                            asterisk.ami_secret)  # fmt: skip
    await truth.start()
    customer = ""
    try:
        customer, call = await timed_call(env)
        await asyncio.sleep(TALK)
        stopped_at = None
        if ending == "stop":
            stopped_at = time.time()
            await env.registry.act(call.call_id, "stop")
            await asyncio.sleep(1.0)  # the parties talk on, unrecorded
        if ending == "agent":
            await hang_up_phone(env, PREFIX["agent"], call.agent_channel_name)
        else:
            await hang_up_phone(env, PREFIX["customer"], await _name(env, customer))
        (seg,) = await env.segments_of(call.call_id, 1)
        await asyncio.sleep(1.0)  # the CEL bridge exits
        results = []
        for leg in ("agent", "customer"):
            loss = await asyncio.to_thread(
                common.analyse_track, host_file(seg, leg), common.TONES[leg]
            )
            party = truth.party(call.call_id, PREFIX[leg])
            expected = truth.expectation(party) if party else None
            assert expected is not None, f"no CEL span for the {leg}"
            if stopped_at is not None:
                found = truth.by_name(party)
                tone_zero = found[0].bridged_at - expected[1]
                expected = (stopped_at - found[0].bridged_at, expected[1], stopped_at - tone_zero)
            results.append(common.judge("callrec", leg, loss, expected))
        return results
    finally:
        await truth.close()
        if customer:
            await env.hangup(customer)


async def _name(env: AgiEnv, channel_id: str) -> str:
    for channel in await env.ari.list_channels():
        if channel.get("id") == channel_id:
            return str(channel["name"])
    pytest.fail(f"no channel {channel_id}")


@pytest.mark.parametrize("ending", ["customer", "agent", "stop"])
async def test_every_second_said_is_in_the_tracks(env: AgiEnv, ending: str) -> None:
    results = await run_and_judge(env, ending)
    for r in results:
        detail = r.describe()
        assert r.head <= HEAD_MAX, f"lost at the head ({ending}): {detail}"
        assert r.loss.gap_seconds == 0, f"gaps ({ending}): {detail}"
        assert r.tail <= TAIL_MAX, f"lost at the tail ({ending}): {detail}"
        assert r.strict >= 0.98, f"short ({ending}): {detail}"
