"""`callrec serve` killed with SIGKILL while several recorded calls are up.

The service is a real process (its own CEL collector included); it is killed
mid-call with no cleanup, restarted, and the calls are hung up. Every call's
recording is delivered once and verifies against Asterisk's record; the
restarted service takes a new call.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from ari_app.client import AriClient
from callrec.sandbox import Instance
from storage.db import open_database
from storage.models import CallSpan, Recording, Verification
from storage.verification import verify
from tests.ari.harness import TX_NUMBER
from tests.support.wait import wait_for
from tests.test_serve import _settings, _start

pytestmark = pytest.mark.asterisk
CALLS = 3


async def _status(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, object]]:
    async with http.get(url) as resp:
        return resp.status, await resp.json()


async def _place(http: aiohttp.ClientSession, base: str) -> str:
    body = {"agent": "a1", "number": TX_NUMBER, "campaign": "auto"}
    async with http.post(f"{base}/api/calls", json=body) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["call_id"])


async def test_serve_sigkilled_with_calls_up(
    asterisk: Instance, tmp_path: Path, no_leaks: None
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    _settings(tmp_path, asterisk)
    proc, base = _start(tmp_path)
    auth = aiohttp.BasicAuth("ops", "ops-pass")
    async with aiohttp.ClientSession(auth=auth) as http:
        try:
            ids = [await _place(http, base) for _ in range(CALLS)]

            async def all_recording() -> bool:
                for call_id in ids:
                    status, body = await _status(http, f"{base}/api/calls/{call_id}")
                    if status != 200 or not body["recording"]:
                        return False
                return True

            await wait_for(all_recording, 20, "the recordings to start")
            await asyncio.sleep(1.0)
            os.kill(proc.pid, signal.SIGKILL)  # no cleanup of any kind
            proc.wait()
            await asyncio.sleep(1.5)  # Asterisk keeps the calls and the recordings
            proc, base = _start(tmp_path)
            await wait_for(all_recording, 20, "the restarted service to find the calls")
            await asyncio.sleep(1.0)
            async with AriClient(
                asterisk.ari_url, asterisk.ari_user, asterisk.ari_password, "other"
            ) as raw:
                for call_id in ids:
                    await raw.hangup(f"{call_id}-c")

            async def all_gone() -> bool:
                for call_id in ids:
                    status, _ = await _status(http, f"{base}/api/calls/{call_id}")
                    if status != 404:
                        return False
                return True

            await wait_for(all_gone, 20, "the calls to end")
            db = open_database(f"sqlite:///{tmp_path}/callrec.db", migrate=False)
            try:

                def delivered() -> bool:
                    with db.session() as s:
                        recs = set(s.scalars(select(Recording.call_id)))
                        ended = set(
                            s.scalars(
                                select(CallSpan.call_id).where(CallSpan.ended_at.is_not(None))
                            )
                        )
                    return set(ids) <= recs and set(ids) <= ended

                await wait_for(delivered, 20, "recordings and Asterisk's spans")
                verify(db, tmp_path / "store", since=since)
                with db.session() as s:
                    recs = list(s.scalars(select(Recording)))
                    per_call = Counter(r.call_id for r in recs)
                    rows = {v.recording_id: v for v in s.scalars(select(Verification))}
                for call_id in ids:
                    assert per_call[call_id] == 1, "delivered once"
                    rec = next(r for r in recs if r.call_id == call_id)
                    v = rows[rec.id]
                    assert v.details.get("expected_from") == "Asterisk CEL bridged span", v.details
                    # Asterisk's unflushed write buffer of a killed call may be lost: then
                    # the call must be flagged short with its figures, never pass silently.
                    assert v.outcome in ("verified", "short"), v.reason
                    if v.outcome == "short":
                        assert v.captured_seconds is not None and "%" in v.reason
            finally:
                db.dispose()
            new = await _place(http, base)  # the restarted service takes calls
            async with AriClient(
                asterisk.ari_url, asterisk.ari_user, asterisk.ari_password, "other"
            ) as raw:
                await wait_for(lambda: _has(raw, f"{new}-c"), 15, "the new call's customer")
                await raw.hangup(f"{new}-c")

            async def new_gone() -> bool:
                return (await _status(http, f"{base}/api/calls/{new}"))[0] == 404

            await wait_for(new_gone, 20, "the new call to end")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0, (tmp_path / "serve.log").read_text()[-3000:]


async def _has(raw: AriClient, channel_id: str) -> bool:
    return any(c["id"] == channel_id for c in await raw.list_channels())
