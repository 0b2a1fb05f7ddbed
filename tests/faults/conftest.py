"""The fault matrix: real Asterisk, real storage, several concurrent recorded calls per fault."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from callcore.ami import AmiAddress
from callcore.state import CallState
from callrec.sandbox import Instance
from callrec.truth_collector import TruthCollector
from storage.models import CallSpan, Recording, Verification
from storage.verification import verify
from tests.ari.harness import Stack
from tests.support.wait import wait_for

CALLS = 3  # concurrent recorded calls per fault
TALK = 3.0  # seconds each call stays bridged


def collector(stack: Stack, asterisk: Instance) -> TruthCollector:
    address = AmiAddress("127.0.0.1", asterisk.ports.ami, asterisk.ami_user, asterisk.ami_secret)
    return TruthCollector(address, stack.storage.db, stack.registry, flush_delay=0.3)


async def place_calls(stack: Stack, n: int = CALLS, campaign: str = "auto") -> list[CallState]:
    return list(await asyncio.gather(*(stack.place(campaign) for _ in range(n))))


async def hang_up(stack: Stack, calls: list[CallState]) -> None:
    """Hang every call up and wait until the app has finished them (delivered or kept)."""
    assert stack.app is not None
    app = stack.app
    for call in calls:
        await app.client.hangup(call.channels["customer"])
    await wait_for(lambda: not any(c.call_id in app.calls for c in calls), 20, "calls to end")
    await app.drain()  # their hand-offs run in the background: stored (or kept) by now


async def spans_of(stack: Stack, calls: list[CallState]) -> None:
    def have() -> bool:
        with stack.storage.db.session() as s:
            ids = set(s.scalars(select(CallSpan.call_id).where(CallSpan.ended_at.is_not(None))))
        return all(c.call_id in ids for c in calls)

    await wait_for(have, 20, "Asterisk's spans of the calls")


def outcomes(stack: Stack, calls: list[CallState], since: datetime) -> dict[str, str]:
    """Verify and return each call's outcome; every call must have exactly one recording."""
    verify(stack.storage.db, stack.storage.cfg.store_root, since=since)
    with stack.storage.db.session() as s:
        recs = list(s.scalars(select(Recording).where(Recording.deleted_at.is_(None))))
        per_call = Counter(r.call_id for r in recs)
        rows = {v.recording_id: v for v in s.scalars(select(Verification))}
        result = {}
        for call in calls:
            assert per_call[call.call_id] == 1, (
                f"call {call.call_id}: {per_call[call.call_id]} recordings"
            )
            rec = next(r for r in recs if r.call_id == call.call_id)
            v = rows[rec.id]
            assert v.reason, "every outcome carries its reason"
            assert str(v.details.get("expected_from", "")).startswith("Asterisk"), v.details
            if v.outcome == "short":
                assert "%" in v.reason and v.captured_seconds is not None, v.reason
            result[call.call_id] = v.outcome
    return result


def accounted(results: dict[str, str]) -> None:
    """Every call verified, or flagged short with its figures (a loaded machine loses
    the capture's tail; the check must say so, not hide it). Never missing or a gap."""
    assert results and set(results.values()) <= {"verified", "short"}, results


def since_now() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=5)


def remote_files(platform: Path) -> Counter[str]:
    return Counter(p.name for p in platform.rglob("*") if p.is_file())


@pytest.fixture
async def stack(asterisk: Instance, tmp_path: Path, no_leaks: None) -> AsyncIterator[Stack]:
    s = Stack(asterisk, tmp_path)
    await s.start()
    try:
        yield s
    finally:
        await s.close()
