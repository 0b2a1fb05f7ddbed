"""When the FastAGI service cannot be reached, the admin's fallback runs.

Nothing listens on the AGI port during these tests: AGI() ends with
AGISTATUS=FAILURE and callrec-agi-fallback either records the agent side
only (CALLREC_STASIS_FALLBACK=agent, the sandbox default) or nothing (here
chosen per call with CALLREC_AGI_FALLBACK=none), logging a WARNING.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from callcore.mixmonitor import wait_closed
from tests.agi.conftest import AGENT_HZ, CUSTOMER_HZ, AgiEnv, wait_for
from tests.support.audio import tone_levels

pytestmark = pytest.mark.asterisk


@pytest.fixture
async def agi_down(env: AgiEnv) -> AsyncIterator[AgiEnv]:
    server = env.service.server
    assert server is not None
    await server.stop()
    try:
        yield env
    finally:
        await server.start()


async def agent_channel(env: AgiEnv) -> str:
    async def find() -> str | None:
        for channel in await env.ari.list_channels():
            name = str(channel["name"])
            if name.startswith("Local/agent@callrec-sim-") and name.endswith(";1"):
                return str(channel["id"])
        return None

    for _ in range(100):
        found = await find()
        if found:
            return found
        await asyncio.sleep(0.05)
    pytest.fail("the agent was never dialled")


async def fallback_of(env: AgiEnv, channel: str) -> str:
    async def probe() -> str:
        return await env.service.ami.getvar(channel, "CALLREC_FALLBACK")

    for _ in range(100):
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.05)
    pytest.fail("the fallback branch did not run")


async def test_unreachable_service_records_agent_side_by_default(agi_down: AgiEnv) -> None:
    env = agi_down
    customer = await env.originate("dial", CALLREC_AGENT="1001")
    try:
        channel = await agent_channel(env)
        assert await fallback_of(env, channel) == "agent"
        assert await env.service.ami.getvar(channel, "AGISTATUS") == "FAILURE"
        assert await env.service.ami.getvar(channel, "CALLREC_LEGS") == "agent"
        recording_id = await env.service.ami.getvar(channel, "CALLREC_RECORDING_ID")
        assert re.fullmatch(r"[0-9a-f]{32}", recording_id)
        await asyncio.sleep(2.0)
    finally:
        await env.hangup(customer)
    path = env.asterisk.monitor_dir / f"callrec-fallback-{recording_id}-agent.wav"
    await wait_for(path.exists, 5, f"{path}")
    assert await wait_closed([path], 5)
    levels = tone_levels(path, [AGENT_HZ, CUSTOMER_HZ])
    assert levels[AGENT_HZ] > 1e-4 and levels[CUSTOMER_HZ] < levels[AGENT_HZ] / 1000
    log = env.asterisk.log_file.read_text(errors="replace")
    assert "callrec: FastAGI decision failed" in log


async def test_unreachable_service_with_fallback_none_records_nothing(agi_down: AgiEnv) -> None:
    env = agi_down
    before = set(env.asterisk.monitor_dir.glob("callrec-fallback-*"))
    customer = await env.originate("dial", CALLREC_AGENT="1001", CALLREC_AGI_FALLBACK="none")
    try:
        channel = await agent_channel(env)
        assert await fallback_of(env, channel) == "none"
        assert await env.service.ami.getvar(channel, "CALLREC_LEGS") == "none"
        assert await env.service.ami.getvar(channel, "CALLREC_RECORDING_ID") == ""
        await asyncio.sleep(1.0)
    finally:
        await env.hangup(customer)
    await asyncio.sleep(0.5)
    assert set(env.asterisk.monitor_dir.glob("callrec-fallback-*")) == before
