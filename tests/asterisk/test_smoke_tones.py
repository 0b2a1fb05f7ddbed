"""End to end on the real Asterisk: bridge, per-leg snoops, tone truth, stereo.

Customer plays 440 Hz, agent 1000 Hz. The agent-side snoop (spy=in on the
agent's channel) must hold 1000 Hz and never 440 Hz; the customer's the
reverse; the stereo file must put the agent left and the customer right.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from ari_app.client import AriClient
from callcore.audio import make_stereo, wav_seconds
from callrec.sandbox import Instance
from tests.support.ari_events import EventLog
from tests.support.audio import tone_levels

pytestmark = pytest.mark.asterisk

CUSTOMER_HZ, AGENT_HZ = 440.0, 1000.0


def started(args: list[str]):
    return lambda e: e["type"] == "StasisStart" and e.get("args") == args


async def test_agent_and_customer_tracks_hold_only_their_own_tone(
    asterisk: Instance, ari: AriClient, ari_events: EventLog, no_leaks: None
) -> None:
    run = uuid.uuid4().hex[:8]
    mark = ari_events.mark()
    customer = await ari.originate("Local/customer@callrec-sim/n", app_args=f"customer,{run}")
    agent = await ari.originate("Local/agent@callrec-sim/n", app_args=f"agent,{run}")
    await ari_events.wait_for(started(["customer", run]), since=mark)
    await ari_events.wait_for(started(["agent", run]), since=mark)
    bridge = await ari.create_bridge("mixing", name=f"smoke-{run}")
    await ari.add_channel(bridge["id"], [customer["id"], agent["id"]])

    # Snoops: record on each snoop's own StasisStart (acting earlier races).
    starts: dict[str, float] = {}
    names: dict[str, str] = {}
    for leg, channel in (("agent", agent), ("customer", customer)):
        snoop = await ari.snoop(channel["id"], spy="in", app_args=f"snoop,{leg},{run}")
        await ari_events.wait_for(started(["snoop", leg, run]), since=mark)
        names[leg] = f"smoke/{run}-{leg}"
        await ari.record(snoop["id"], names[leg], fmt="wav")
        starts[leg] = time.time()

    # Time the 3 s from when Asterisk really writes both files (on a loaded
    # machine RecordingStarted can lag the request by a good part of a second).
    for name in names.values():
        await ari_events.wait_for(
            lambda e, n=name: e["type"] == "RecordingStarted" and e["recording"]["name"] == n,
            since=mark,
        )
    await asyncio.sleep(3.0)
    for name in names.values():
        await ari.stop_recording(name)
        await ari_events.wait_for(
            lambda e, n=name: e["type"] == "RecordingFinished" and e["recording"]["name"] == n,
            since=mark,
        )
    for channel in (customer, agent):
        await ari.hangup(channel["id"])
    await ari.destroy_bridge(bridge["id"])

    files = {leg: asterisk.recording_dir / f"{name}.wav" for leg, name in names.items()}
    for leg, path in files.items():
        assert path.exists(), f"{leg} recording missing at {path}"
        assert wav_seconds(path) > 2.5

    agent_levels = tone_levels(files["agent"], [AGENT_HZ, CUSTOMER_HZ])
    customer_levels = tone_levels(files["customer"], [AGENT_HZ, CUSTOMER_HZ])
    assert agent_levels[AGENT_HZ] > 1e-4, agent_levels
    assert agent_levels[CUSTOMER_HZ] < agent_levels[AGENT_HZ] / 1000, agent_levels
    assert customer_levels[CUSTOMER_HZ] > 1e-4, customer_levels
    assert customer_levels[AGENT_HZ] < customer_levels[CUSTOMER_HZ] / 1000, customer_levels

    stereo = make_stereo(
        files["agent"],
        files["customer"],
        files["agent"].with_name(f"{run}-stereo.wav"),
        agent_start=starts["agent"],
        customer_start=starts["customer"],
    )
    left = tone_levels(stereo, [AGENT_HZ, CUSTOMER_HZ], channel=0)
    right = tone_levels(stereo, [AGENT_HZ, CUSTOMER_HZ], channel=1)
    assert left[AGENT_HZ] > 1e-4 and left[CUSTOMER_HZ] < left[AGENT_HZ] / 1000, left
    assert right[CUSTOMER_HZ] > 1e-4 and right[AGENT_HZ] < right[CUSTOMER_HZ] / 1000, right
