"""Nightly jobs: rematch and retention at configured local times.

Every node runs the scheduler; the job lease and the per-day run key in
``job_leases`` make one node do the work each night, and a node that was down
at the set time catches up when it starts (the key of today is missing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from storage.lease import claim_job, last_run_key, release_job
from storage.permissions import SYSTEM
from storage.service import StorageService

log = logging.getLogger(__name__)


def next_run(now: datetime, hhmm: str) -> datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    at = now.replace(hour=h, minute=m, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


def _due_key(now: datetime, hhmm: str) -> str | None:
    """The date key of the run due by ``now`` (today's if the time has passed)."""
    h, m = (int(x) for x in hhmm.split(":"))
    at = now.replace(hour=h, minute=m, second=0, microsecond=0)
    return at.strftime("%Y-%m-%d") if now >= at else None


async def run_once_if_due(
    service: StorageService,
    name: str,
    hhmm: str,
    job: Callable[[], Awaitable[object]],
    now: datetime | None = None,
) -> bool:
    """Run ``job`` if today's run is due and no node has done it yet."""
    now = now or datetime.now()
    key = _due_key(now, hhmm)
    if key is None:
        return False
    owner = service.node + ":nightly:" + name
    lease_name = "nightly:" + name
    with service.db.session() as s:
        if last_run_key(s, lease_name) == key or not claim_job(s, lease_name, owner, 6 * 3600):
            return False
    ok = False
    try:
        await job()
        ok = True
    finally:
        with service.db.session() as s:
            release_job(s, lease_name, owner, run_key=key if ok else None)
    log.info("nightly %s done for %s", name, key)
    return True


async def run_nightly(service: StorageService, stop: asyncio.Event | None = None) -> None:
    """Scheduler coroutine: rematch at ``rematch_at``, retention at ``retention_at``."""
    stop = stop or asyncio.Event()
    cfg = service.cfg

    async def rematch() -> None:
        n = await service.rematch(SYSTEM)
        log.info("rematch assigned %d recording(s)", n)

    async def retention() -> None:
        out = await service.run_retention(SYSTEM)
        log.info("retention deleted %d recording(s)", len(out.deleted))

    while not stop.is_set():
        try:
            await run_once_if_due(service, "rematch", cfg.rematch_at, rematch)
            if cfg.retention:
                await run_once_if_due(service, "retention", cfg.retention_at, retention)
        except Exception:  # keep the scheduler alive across a database hiccup
            log.exception("nightly job failed; will retry")
        now = datetime.now()
        wake = min(next_run(now, cfg.rematch_at), next_run(now, cfg.retention_at))
        delay = min(max((wake - now).total_seconds(), 1.0), 300.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
