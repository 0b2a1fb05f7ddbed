"""Asterisk restarted mid-call: gracefully (``core restart now``) and killed with SIGKILL.

Each on an instance of its own, with several recorded Stasis calls up. The
restart hangs every call up; the app finishes the calls and hands each
segment to storage exactly once (none lost, none twice), verified against
Asterisk's record or flagged with its reason, and once Asterisk is back (same
ports, same credentials) the app takes a new call.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from callcore.state import CallState
from callrec import sandbox
from storage.models import CallSpan, Recording
from tests.ari.harness import Stack
from tests.faults.conftest import (
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


@pytest.fixture
def own_asterisk() -> Iterator[sandbox.Instance]:
    try:
        inst, _ = sandbox.up(f"t-restart-{os.getpid()}", app="callrec-test")
    except sandbox.SandboxError as exc:
        pytest.fail(f"the Asterisk sandbox could not start [{exc.code}]: {exc}", pytrace=False)
    yield inst
    latest = sandbox.load_instance(inst.name) or inst
    sandbox.stop(latest)


@pytest.fixture
async def own_stack(own_asterisk: sandbox.Instance, tmp_path: Path) -> AsyncIterator[Stack]:
    s = Stack(own_asterisk, tmp_path)
    await s.start()
    try:
        yield s
    finally:
        await s.close()


def recordings_per_call(stack: Stack) -> Counter[str]:
    with stack.storage.db.session() as s:
        recs = s.scalars(select(Recording).where(Recording.deleted_at.is_(None)))
        return Counter(r.call_id for r in recs)


async def test_asterisk_restarted_gracefully_mid_call(
    own_stack: Stack, own_asterisk: sandbox.Instance
) -> None:
    stack, inst = own_stack, own_asterisk
    since = since_now()
    truth = collector(stack, inst)
    await truth.start()
    try:
        calls = await place_calls(stack)
        await asyncio.sleep(2.0)
        assert stack.app is not None
        app = stack.app
        app.connected.clear()
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            inst.cli("core restart now", timeout=5)
        await wait_for(app.connected.is_set, 90, "the app back on the restarted Asterisk")
        await wait_for(
            lambda: not any(c.call_id in app.calls for c in calls), 60, "the calls to be finished"
        )
        await app.drain()
        await spans_of(stack, calls)
        accounted(outcomes(stack, calls, since))  # one recording each, verified or flagged
        after = await place_calls(stack, 1)
        await hang_up(stack, after)
        await app.drain()  # hand-offs run in the background
        assert recordings_per_call(stack)[after[0].call_id] == 1
    finally:
        await truth.stop()


async def test_asterisk_sigkilled_mid_call(
    own_stack: Stack, own_asterisk: sandbox.Instance
) -> None:
    """No hangup reaches the app: the calls are found gone on reconnect and finished.

    Asterisk logs no end of the calls either: each is verified against the
    bridge start it logged, to the end callrec saw (said in the outcome).
    """
    stack, inst = own_stack, own_asterisk
    since = since_now()
    truth = collector(stack, inst)
    await truth.start()
    try:
        calls = await place_calls(stack)
        await wait_for(lambda: bridged_spans(stack, calls), 20, "Asterisk's bridge starts")
        await asyncio.sleep(2.0)
        assert stack.app is not None
        app = stack.app
        app.connected.clear()
        os.killpg(inst.pid, signal.SIGKILL)  # no cleanup of any kind
        await wait_for(lambda: not inst.alive(), 10, "Asterisk to die")
        await asyncio.sleep(1.0)
        again, started = await asyncio.to_thread(sandbox.up, inst.name, app="callrec-test")
        assert started and again.ports == inst.ports and again.ari_password == inst.ari_password
        await wait_for(app.connected.is_set, 60, "the app back on the restarted Asterisk")
        await wait_for(
            lambda: not any(c.call_id in app.calls for c in calls), 60, "the calls to be finished"
        )
        await app.drain()
        results = outcomes(stack, calls, since)  # exactly one recording each
        accounted(results)
        for call in calls:
            (seg,) = [s for s in stack.sink.segments if s.call_id == call.call_id]
            assert seg.files, f"call {call.call_id}: no file delivered"
        after = await place_calls(stack, 1)
        await hang_up(stack, after)
        await app.drain()
        assert recordings_per_call(stack)[after[0].call_id] == 1
    finally:
        await truth.stop()


def bridged_spans(stack: Stack, calls: list[CallState]) -> bool:
    with stack.storage.db.session() as s:
        ids = set(s.scalars(select(CallSpan.call_id).where(CallSpan.bridged_at.is_not(None))))
    return all(c.call_id in ids for c in calls)
