"""With callrec's app down, an inbound call still goes through, agent side recorded."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from ari_app.client import AriClient, AriNotFound
from callrec.sandbox import Instance
from tests.support.audio import tone_levels

pytestmark = pytest.mark.asterisk


async def test_stasis_failed_falls_back_to_agent_side_mixmonitor(
    asterisk: Instance, ari: AriClient, no_leaks: None
) -> None:
    before = set(asterisk.monitor_dir.glob("callrec-stasis-fallback-*"))
    # Nobody is connected as the Stasis app: Stasis() returns FAILED at once.
    await ari.originate(
        "Local/customer@callrec-sim/n", extension="s", context="callrec-inbound-demo", priority=1
    )
    new: set = set()
    for _ in range(100):
        new = set(asterisk.monitor_dir.glob("callrec-stasis-fallback-*")) - before
        if new:
            break
        await asyncio.sleep(0.05)
    assert len(new) == 1, "the fallback MixMonitor did not start"
    await asyncio.sleep(2.5)
    for channel in await ari.list_channels():
        with contextlib.suppress(AriNotFound):
            await ari.hangup(channel["id"])
    await asyncio.sleep(0.5)
    [path] = new
    levels = tone_levels(path, [1000.0, 440.0])
    assert levels[1000.0] > 1e-4, levels
    assert levels[440.0] < levels[1000.0] / 1000, levels
