"""The ARI websocket or the AMI connection cut mid-call (the kernel aborts the sockets).

Each: three recorded calls up; every connection to that Asterisk port is
killed (``ss -K``); the clients reconnect, the calls end verified against
Asterisk's record (CEL), none lost or stored twice, and a new call is taken.
"""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from callcore.state import CallState
from callrec.sandbox import Instance
from tests.ari.harness import Stack
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
from tests.support.wait import wait_for

pytestmark = pytest.mark.asterisk


def capturing(call: CallState) -> bool:
    seg = call.segment
    return (
        seg is not None and bool(seg.captures) and all(c.started_at for c in seg.captures.values())
    )


def cut(port: int) -> None:
    """Abort every established connection to ``port`` on loopback, as a network fault would."""
    done = subprocess.run(
        ["ss", "-K", "dst", "127.0.0.1", "dport", "=", f":{port}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:  # a part that cannot be had fails loudly
        pytest.fail(f"cannot cut connections with ss -K: {done.stderr}", pytrace=False)


async def test_ari_websocket_dropped_mid_call(stack: Stack, asterisk: Instance) -> None:
    since = since_now()
    truth = collector(stack, asterisk)
    await truth.start()
    try:
        calls = await place_calls(stack)
        await wait_for(lambda: all(capturing(c) for c in calls), 15, "every capture running")
        await asyncio.sleep(0.5)  # no request in flight: the cut hits the idle links
        assert stack.app is not None
        stack.app.connected.clear()
        cut(asterisk.ports.http)
        await wait_for(stack.app.connected.is_set, 20, "the app to reconnect and reconcile")
        assert all(c.recording for c in calls), "the recordings went on"
        await asyncio.sleep(TALK)
        await hang_up(stack, calls)
        await spans_of(stack, calls)
        accounted(outcomes(stack, calls, since))
        after = await place_calls(stack, 1)
        await hang_up(stack, after)
    finally:
        await truth.stop()


async def test_ami_dropped_mid_call(stack: Stack, asterisk: Instance) -> None:
    since = since_now()
    truth = collector(stack, asterisk)
    await truth.start()
    try:
        calls = await place_calls(stack)
        first = truth.ami.manager
        cut(asterisk.ports.ami)

        def relogged() -> bool:
            manager = truth.ami.manager
            return bool(manager is first and manager.authenticated and manager.protocol)

        await asyncio.sleep(1.0)
        await wait_for(relogged, 20, "the CEL collector's AMI login again")
        await asyncio.sleep(TALK)
        await hang_up(stack, calls)
        await spans_of(stack, calls)
        accounted(outcomes(stack, calls, since))
        after = await place_calls(stack, 1)
        await hang_up(stack, after)
    finally:
        await truth.stop()
