"""The FastAGI path on the real Asterisk: our server on the sandbox's AGI port.

The service is the real one (FastAGI server, AMI, controller, hand-off); only
the storage sink is a fake that keeps the FinishedSegments it is given.
Calls are originated into dialplan/callrec-agi.conf's test routes with the
simulated parties: customer 440 Hz, agent 1000 Hz, agent2 1600 Hz.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agi_scripts.service import AgiService
from ari_app.client import AriClient
from callcore.ami import AmiAddress
from callcore.finish import Handoff
from callcore.registry import CallRegistry
from callcore.state import CallState
from callcore.state_store import StateStore
from callrec.sandbox import Instance
from callrec.settings import EndpointSettings, ServiceSettings
from policy import Config, load_config
from storage.segment import FinishedSegment
from tests.support.event_recorder import Tape, TapeSwitch, fixture_path, tap_agi_service
from tests.support.wait import wait_for

CUSTOMER_HZ, AGENT_HZ, AGENT2_HZ = 440.0, 1000.0, 1600.0

# Agents in a one-party state; a 212 (NY) prospect allows both sides, a 415
# (CA, two-party) prospect only the agent's. One campaign per mode.
POLICY_TOML = """
[org]
default_mode = "on_demand"
post_transfer = "on_demand"

[campaigns.never]
mode = "never"
[campaigns.on_demand]
mode = "on_demand"
[campaigns.all_calls]
mode = "all_calls"
[campaigns.all_force]
mode = "all_force"
[campaigns.xfer]
mode = "all_calls"
post_transfer = "all_force"
[campaigns.xfer_demand]
mode = "all_calls"
post_transfer = "on_demand"

[agents.1001]
state = "NY"
[agents.2002]
state = "NY"
"""
NY_NUMBER = "+12125550100"
CA_NUMBER = "+14155550100"


class MemorySink:
    """Keeps what the hand-off gives it (the fake: storage is tested elsewhere)."""

    def __init__(self) -> None:
        self.segments: list[FinishedSegment] = []

    async def accept_segment(self, segment: FinishedSegment) -> str:
        self.segments.append(segment)
        return segment.recording_id


@dataclass
class AgiEnv:
    asterisk: Instance
    ari: AriClient
    service: AgiService
    sink: MemorySink
    registry: CallRegistry
    holder: dict[str, Config] = field(default_factory=dict)
    tapes: TapeSwitch = field(default_factory=TapeSwitch)

    @property
    def controller(self) -> Any:
        return self.service.controller

    async def originate(self, route: str, **variables: str) -> str:
        """Customer (440 Hz) into callrec-agi-test,<route>; returns its channel id."""
        inherited = {f"__{k}": v for k, v in variables.items()}
        channel = await self.ari.originate(
            "Local/customer@callrec-sim/n",
            context="callrec-agi-test",
            extension=route,
            priority=1,
            variables=inherited,
        )
        return str(channel["id"])

    async def call_for(self, customer_id: str, timeout: float = 10.0) -> CallState:
        """The call once callrec decided it (its customer channel is ``customer_id``)."""
        return await wait_for(
            lambda: next(
                (
                    c
                    for c in self.controller.calls.values()
                    if c.channels.get("customer") == customer_id and c.decision
                ),
                None,
            ),
            timeout,
            f"no decision for customer channel {customer_id}",
        )

    async def segments_of(self, call_id: str, count: int, timeout: float = 15.0) -> list[Any]:
        def found() -> list[FinishedSegment] | None:
            segs = [s for s in self.sink.segments if s.call_id == call_id]
            return segs if len(segs) >= count else None

        segs = await wait_for(found, timeout, f"{count} segment(s) of call {call_id}")
        return sorted(segs, key=lambda s: s.segment_no)

    async def hangup(self, channel_id: str) -> None:
        # Already gone is fine: the point is that nothing stays.
        with contextlib.suppress(Exception):
            await self.ari.hangup(channel_id)

    async def agent_var(self, call: CallState, name: str) -> str:
        return await self.service.ami.getvar(call.channels["agent"], name)

    async def press(self, call: CallState, digits: str) -> None:
        """Play DTMF as if the agent pressed it: written to the agent's Local ;2 half,
        it is read by the ;1 half (the agent's channel in the bridge, which has
        DYNAMIC_FEATURES), so the feature fires there."""
        half2 = call.agent_channel_name.replace(";1", ";2")
        for digit in digits:
            await self.service.ami.action("PlayDTMF", Channel=half2, Digit=digit, Duration="120")
            await asyncio.sleep(0.25)


async def no_channels(asterisk: Instance, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = await asyncio.to_thread(asterisk.cli, "core show channels count")
        if out.startswith("0 active channels"):
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"channels left behind: {out}")


@pytest.fixture(scope="session")
async def agi_env(
    asterisk: Instance, ari: AriClient, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AgiEnv]:
    base = tmp_path_factory.mktemp("agi")
    policy_file = base / "callrec.toml"
    policy_file.write_text(POLICY_TOML)
    holder = {"config": load_config(policy_file)}
    settings = ServiceSettings(
        endpoints=EndpointSettings(agents={"2002": "Local/agent2@callrec-sim/n"}),
    )
    sink = MemorySink()
    registry = CallRegistry()
    service = AgiService(
        settings,
        lambda: holder["config"],
        registry,
        Handoff(sink, base / "pending"),
        StateStore(base / "state"),
        asterisk.monitor_dir,
        f"{asterisk.ast_dir}/spool/monitor",
        AmiAddress("127.0.0.1", asterisk.ports.ami, asterisk.ami_user, asterisk.ami_secret),
        agi_port=asterisk.ports.agi,
        agi_secret=asterisk.agi_secret,
    )
    env = AgiEnv(asterisk, ari, service, sink, registry, holder)
    if fixture_path() is not None:  # recording replay fixtures (tests/replay)
        tap_agi_service(service, env.tapes)
    await service.start()
    yield env
    await service.stop()


@pytest.fixture
async def env(agi_env: AgiEnv) -> AsyncIterator[AgiEnv]:
    """Per test: the shared service, and no channel left behind afterwards."""
    path = fixture_path()
    agi_env.tapes.tape = Tape(path) if path is not None else None
    yield agi_env
    await no_channels(agi_env.asterisk)
    agi_env.tapes.tape = None
    # Nothing held per call once its calls ended (hangup notes expire by age).
    controller = agi_env.controller

    def held() -> dict[str, object]:
        parts = {
            "calls": controller.calls,
            "locks": controller._locks,
            "finishing": controller._finishing,
            "by_channel": controller._by_channel,
            "waiters": controller.waiters._futures,
        }
        return {name: value for name, value in parts.items() if value}

    deadline = time.monotonic() + 15
    while held() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not held(), f"per-call objects left after the test: {held()}"


def host_file(segment: FinishedSegment, leg: str) -> Path:
    path = segment.files[leg]
    assert path.exists(), f"{leg} file missing at {path}"
    return path
