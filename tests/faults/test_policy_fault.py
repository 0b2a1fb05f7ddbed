"""An admin saves the policy file as Latin-1 while calls are recorded."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callrec.policy_holder import PolicyHolder
from callrec.sandbox import Instance
from policy import Config
from tests.ari.harness import POLICY, Stack
from tests.faults.conftest import (
    TALK,
    accounted,
    collector,
    hang_up,
    outcomes,
    place_calls,
    since_now,
    spans_of,
)

pytestmark = pytest.mark.asterisk


class HeldStack(Stack):
    """The Stasis stack with its policy from a watched file (as ``callrec serve`` runs it)."""

    holder: PolicyHolder

    @property
    def policy(self) -> Config:
        return self.holder.config

    @policy.setter
    def policy(self, value: Config) -> None:
        self.holder = PolicyHolder(self.tmp / "callrec.toml", value)


def save(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    stamp = path.stat().st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


@pytest.fixture
async def held(asterisk: Instance, tmp_path: Path, no_leaks: None) -> AsyncIterator[Any]:
    s = HeldStack(asterisk, tmp_path)
    await s.start()
    try:
        yield s
    finally:
        await s.close()


async def test_non_utf8_policy_file(held: HeldStack, asterisk: Instance) -> None:
    since = since_now()
    truth = collector(held, asterisk)
    await truth.start()
    watcher = asyncio.create_task(held.holder.watch(interval=0.05))
    policy_file = held.tmp / "callrec.toml"
    try:
        calls = await place_calls(held)
        latin1 = (POLICY + '\n[agents.a1]\nname = "Jos\u00e9"\n').encode("latin-1")
        save(policy_file, latin1)
        await asyncio.sleep(TALK)
        assert not watcher.done(), "the watcher survives a file it cannot read"
        assert held.holder.generation == 0  # refused; the old config stays
        await hang_up(held, calls)
        await spans_of(held, calls)
        accounted(outcomes(held, calls, since))
        # A valid edit afterwards is still picked up: campaign "auto" stops recording.
        save(
            policy_file,
            POLICY.replace(
                '[campaigns.auto]\nmode = "all_calls"', '[campaigns.auto]\nmode = "never"'
            ).encode(),
        )
        for _ in range(100):
            if held.holder.generation == 1:
                break
            await asyncio.sleep(0.05)
        assert held.holder.generation == 1
        after = await place_calls(held, 1)
        decision = after[0].decision
        assert not after[0].recording and decision is not None and decision.legs == "none"
        await hang_up(held, after)
    finally:
        watcher.cancel()
        await truth.stop()
