"""The ARI link lost while a call's capture is being set up.

Three recorded calls are placed at once; the websocket (and every REST
connection) to Asterisk is cut (``ss -K``) at the moment the first call asks
for its snoops, so the snoops' and recordings' events are lost. No call may
lose its recording: a capture that runs though its events were lost is kept,
and a capture that could not start is started again once the link is back,
its segment flagged with the seconds missing at its head. Every call keeps
its recording (a leg lost with the link is delivered as it is, flagged, and
the capture started again), each segment stored once, verified against
Asterisk's record (CEL) or flagged short with its figures, and a new call is
taken afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ari_app.client import AriClient
from callcore.state import CallState
from callrec.sandbox import Instance
from storage.models import Recording, Verification
from storage.verification import verify
from tests.ari.harness import TX_NUMBER, Stack, free_port
from tests.faults.conftest import (
    CALLS,
    TALK,
    collector,
    hang_up,
    place_calls,
    since_now,
    spans_of,
)
from tests.faults.test_link_drops import capturing, cut
from tests.support.wait import wait_for

pytestmark = pytest.mark.asterisk

Snoop = Callable[..., Awaitable[Any]]


@pytest.fixture
async def stack(asterisk: Instance, tmp_path: Path, no_leaks: None) -> AsyncIterator[Stack]:
    """These faults are the snoops' own (``[ari] capture = "snoop"``): MixMonitor,
    the default, starts over AMI and never waits for an ARI event."""
    s = Stack(asterisk, tmp_path, capture="snoop")
    await s.start()
    try:
        yield s
    finally:
        await s.close()


async def place_at_once(stack: Stack) -> list[CallState]:
    """Place the calls without waiting for their captures (those are what is cut)."""

    async def one() -> CallState:
        status, body = await stack.api(
            "POST", "/api/calls", {"agent": "a1", "number": TX_NUMBER, "campaign": "auto"}
        )
        assert status == 201, body
        return stack.registry.get(body["call_id"])

    return list(await asyncio.gather(*(one() for _ in range(CALLS))))


def cut_at_first_snoop(stack: Stack, asterisk: Instance, lose_request: bool) -> list[str]:
    """Cut the link when the first call asks for a snoop; return that call's id.

    With ``lose_request`` that call's snoop requests meet the link down too
    until the app has reconnected: they go to a loopback port nothing listens
    on (a real refused connection).
    """
    assert stack.app is not None
    client = stack.app.client
    real: Snoop = client.snoop
    hit: list[str] = []
    dead = AriClient(
        f"http://127.0.0.1:{free_port()}/ari",
        asterisk.ari_user,
        asterisk.ari_password,
        asterisk.app,
        request_timeout=2.0,
    )

    async def snoop(channel_id: str, **kwargs: Any) -> Any:
        call_id = str(kwargs.get("app_args", "")).split(",")[1]
        if not hit:
            hit.append(call_id)
            stack.app.connected.clear()  # type: ignore[union-attr]
            cut(asterisk.ports.http)
        if lose_request and call_id == hit[0] and not stack.app.connected.is_set():  # type: ignore[union-attr]
            try:
                return await dead.snoop(channel_id, **kwargs)
            finally:
                await dead.close()
        return await real(channel_id, **kwargs)

    client.snoop = snoop  # type: ignore[method-assign]
    return hit


async def run(stack: Stack, asterisk: Instance, lose_request: bool) -> tuple[str, dict[str, str]]:
    since = since_now()
    truth = collector(stack, asterisk)
    await truth.start()
    try:
        hit = cut_at_first_snoop(stack, asterisk, lose_request)
        calls = await place_at_once(stack)
        assert stack.app is not None
        await wait_for(lambda: hit, 20, "the first snoop request")
        await wait_for(stack.app.connected.is_set, 30, "the app to reconnect and reconcile")
        await wait_for(lambda: all(capturing(c) for c in calls), 40, "every capture running")
        await asyncio.sleep(TALK)
        await hang_up(stack, calls)
        await stack.app.drain()  # hand-offs run in the background
        await spans_of(stack, calls)
        results = every_segment(stack, calls, since)
        after = await place_calls(stack, 1)
        await hang_up(stack, after)
        return hit[0], results
    finally:
        await truth.stop()


def every_segment(stack: Stack, calls: list[CallState], since: datetime) -> dict[str, str]:
    """Verify; every segment of every call verified or flagged short, none stored twice.

    A capture that lost one leg with the link is delivered as it is (flagged)
    and the call's capture started again: a call may hold two segments then.
    Returns the outcome of each call's last segment.
    """
    verify(stack.storage.db, stack.storage.cfg.store_root, since=since)
    ids = [s.recording_id for s in stack.sink.segments]
    assert len(ids) == len(set(ids)), "a segment was handed to storage twice"
    with stack.storage.db.session() as s:
        recs = list(s.scalars(select(Recording).where(Recording.deleted_at.is_(None))))
        rows = {v.recording_id: v for v in s.scalars(select(Verification))}
        last: dict[str, str] = {}
        for call in calls:
            mine = sorted(
                (r for r in recs if r.call_id == call.call_id), key=lambda r: r.segment_no
            )
            assert mine, f"call {call.call_id}: its recording was lost"
            for rec in mine:
                v = rows[rec.id]
                assert v.reason and str(v.details.get("expected_from", "")).startswith("Asterisk")
                assert v.outcome in ("verified", "short"), (call.call_id, v.outcome, v.reason)
            last[call.call_id] = rows[mine[-1].id].outcome
    return last


def missing_head(stack: Stack, call_id: str) -> float | None:
    """The seconds flagged missing at the head of the call's last segment, if any."""
    seg = [s for s in stack.sink.segments if s.call_id == call_id][-1]
    heads = [f for f in seg.flags if f.startswith("audio_missing:head:")]
    assert len(heads) <= 1, seg.flags
    if not heads:
        return None
    return float(heads[0].removeprefix("audio_missing:head:").removesuffix("s"))


async def test_ari_cut_as_captures_start(stack: Stack, asterisk: Instance) -> None:
    """Snoops asked for while the app is away die in Asterisk: started again, flagged."""
    call_id, results = await run(stack, asterisk, lose_request=False)
    missing = missing_head(stack, call_id)
    # Either the link was back before the snoop entered Stasis (whole), or
    # the capture ran late and says so; never a segment silently short.
    assert missing is not None or results[call_id] == "verified", (missing, results)


async def test_capture_that_could_not_start_is_started_again(
    stack: Stack, asterisk: Instance
) -> None:
    """The snoop requests fail with the link: started again once it is back, and flagged."""
    call_id, results = await run(stack, asterisk, lose_request=True)
    missing = missing_head(stack, call_id)
    assert missing is not None and missing > 0.3, missing  # the retry waited for the link
    assert results[call_id] in ("verified", "short")


async def test_party_dialled_while_the_app_is_away_ends_the_call(
    stack: Stack, asterisk: Instance
) -> None:
    """The customer is dialled as the link goes: it cannot enter Stasis, so it never
    arrives. The call must not stay listed for ever: after its setup grace it ends
    (nothing was bridged, so nothing was owed), and a new call is taken."""
    assert stack.app is not None
    app = stack.app
    app.setup_grace = 4.0
    client = app.client
    real = client.originate
    cutting: list[asyncio.Task[None]] = []

    async def keep_cutting(seconds: float) -> None:
        end = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < end:
            await asyncio.to_thread(cut, asterisk.ports.http)
            await asyncio.sleep(0.03)

    async def originate(endpoint: str, **kwargs: Any) -> Any:
        if str(kwargs.get("app_args", "")).endswith(",customer") and not cutting:
            app.connected.clear()
            await asyncio.to_thread(cut, asterisk.ports.http)
            cutting.append(asyncio.create_task(keep_cutting(2.5)))
        return await real(endpoint, **kwargs)

    client.originate = originate  # type: ignore[method-assign]
    status, body = await stack.api(
        "POST", "/api/calls", {"agent": "a1", "number": TX_NUMBER, "campaign": "auto"}
    )
    await wait_for(lambda: cutting, 10, "the customer to be dialled")
    await cutting[0]
    client.originate = real  # type: ignore[method-assign]
    await wait_for(app.connected.is_set, 30, "the app to reconnect and reconcile")
    assert not any(c.bridged_at for c in app.calls.values()), "the fault did not happen"
    await wait_for(lambda: not app.calls, 30, "the half-set-up call to end")
    assert not [s for s in stack.sink.segments], "nothing was bridged: nothing to deliver"
    after = await place_calls(stack, 1)
    await hang_up(stack, after)
    assert status in (201, 503, 500), body
