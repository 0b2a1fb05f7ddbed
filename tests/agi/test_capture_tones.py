"""Which MixMonitor option is the agent, proven with tones on the real Asterisk.

MixMonitor runs on the agent's channel (the Dial/Queue callee). The agent
plays 1000 Hz, the customer 440 Hz. The agent-only file (``r()``) must hold
1000 Hz and no 440 Hz; with both sides the ``t()`` file holds only the
customer, and the stereo file puts the agent left and the customer right.
"""

from __future__ import annotations

import asyncio

import pytest

from callcore.audio import wav_seconds
from tests.agi.conftest import AGENT_HZ, CA_NUMBER, CUSTOMER_HZ, NY_NUMBER, AgiEnv, host_file
from tests.support.audio import tone_levels

pytestmark = pytest.mark.asterisk


def only(levels: dict[float, float], present: float, absent: float) -> None:
    assert levels[present] > 1e-4, levels
    assert levels[absent] < levels[present] / 1000, levels


async def test_agent_side_only_is_r_on_the_agent_channel(env: AgiEnv) -> None:
    customer = await env.originate(
        "dial", CALLREC_AGENT="1001", CALLREC_CAMPAIGN="all_calls", CALLREC_NUMBER=CA_NUMBER
    )
    try:
        call = await env.call_for(customer)
        assert call.decision.legs == "agent"
        assert "consent.prospect_two_party" in call.decision.reasons
        await asyncio.sleep(3.5)  # > 2 s recorded even without the first ~0.5 s (see below)
    finally:
        await env.hangup(customer)
    (seg,) = await env.segments_of(call.call_id, 1)
    assert seg.source == "agi" and seg.legs == "agent"
    assert set(seg.files) == {"agent"}, "agent side only: no customer track, no mixed file"
    path = host_file(seg, "agent")
    assert wav_seconds(path) > 2.0
    only(tone_levels(path, [AGENT_HZ, CUSTOMER_HZ]), AGENT_HZ, CUSTOMER_HZ)
    # Nothing else was written for this recording (a mixed file would hold the customer).
    written = sorted(p.name for p in env.asterisk.monitor_dir.glob(f"*{seg.recording_id}*"))
    assert written == [path.name], written


async def test_both_sides_are_separate_tracks_and_stereo(env: AgiEnv) -> None:
    customer = await env.originate(
        "dial", CALLREC_AGENT="1001", CALLREC_CAMPAIGN="all_calls", CALLREC_NUMBER=NY_NUMBER
    )
    try:
        call = await env.call_for(customer)
        assert call.decision.legs == "both"
        await asyncio.sleep(2.5)
    finally:
        await env.hangup(customer)
    (seg,) = await env.segments_of(call.call_id, 1)
    assert seg.legs == "both" and set(seg.files) == {"agent", "customer", "stereo"}
    only(tone_levels(host_file(seg, "agent"), [AGENT_HZ, CUSTOMER_HZ]), AGENT_HZ, CUSTOMER_HZ)
    only(tone_levels(host_file(seg, "customer"), [AGENT_HZ, CUSTOMER_HZ]), CUSTOMER_HZ, AGENT_HZ)
    stereo = host_file(seg, "stereo")
    only(tone_levels(stereo, [AGENT_HZ, CUSTOMER_HZ], channel=0), AGENT_HZ, CUSTOMER_HZ)
    only(tone_levels(stereo, [AGENT_HZ, CUSTOMER_HZ], channel=1), CUSTOMER_HZ, AGENT_HZ)
    # These steady-tone parties answer before they play, and Answer() waits up
    # to 0.5 s for media: the bridge's first half second carries no frames, so
    # the files are up to that much shorter than the bridged time (finish flags
    # it as short_capture on short calls). Here we only bound it;
    # test_capture_whole.py proves with timed parties that nothing said is lost.
    for leg in ("agent", "customer"):
        assert seg.bridged_seconds - wav_seconds(host_file(seg, leg)) < 0.7, seg.flags
