"""Outbox with the local-directory target: protocol, leases, many workers."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from storage.config import StorageConfig
from storage.db import Database, open_database
from storage.errors import UploadError
from storage.models import Alert, OutboxItem, Recording
from storage.outbox import Outbox, raise_alert, status
from storage.service import StorageService
from storage.targets import LocalDirTarget, TargetSession, UploadJob
from storage.timeutil import utcnow
from tests.storage.conftest import FAST_OUTBOX, make_segment


class CountingTarget:
    """Wraps a target and counts the files actually sent (not the idempotent skips)."""

    def __init__(self, inner: LocalDirTarget, sent: Counter[str]) -> None:
        self.inner, self.sent, self.name = inner, sent, inner.name

    async def open(self) -> TargetSession:
        return _Counting(await self.inner.open(), self.sent)


class _Counting:
    def __init__(self, inner: TargetSession, sent: Counter[str]) -> None:
        self.inner, self.sent = inner, sent

    async def upload(self, job: UploadJob) -> bool:
        await asyncio.sleep(0.001)  # let other workers interleave
        sent = await self.inner.upload(job)
        if sent:
            self.sent[job.remote_name] += 1
        return sent

    async def delete(self, remote_name: str) -> None:
        await self.inner.delete(remote_name)

    async def close(self) -> None:
        await self.inner.close()


async def test_drain_uploads_every_file(
    service: StorageService, config: StorageConfig, tmp_path: Path
) -> None:
    ids = [await service.accept_segment(make_segment(tmp_path)) for _ in range(3)]
    result = await service.drain_outbox()
    assert result.uploaded == 9 and result.failed == 0
    platform = config.upload.local_dir
    uploaded = sorted(p.name for p in platform.rglob("*") if p.is_file())
    assert len(uploaded) == 9 and not any(n.endswith(".part") for n in uploaded)
    for rid in ids:
        with service.db.session() as s:
            assert s.get_one(Recording, rid).upload_state == "uploaded"
    st = status(service.db)
    assert st.pending == 0 and st.done == 9


async def test_many_workers_on_many_nodes_upload_each_item_once(
    service: StorageService, config: StorageConfig, tmp_path: Path
) -> None:
    for _ in range(12):
        await service.accept_segment(make_segment(tmp_path))  # 36 items
    sent: Counter[str] = Counter()
    target = CountingTarget(LocalDirTarget(config.upload.local_dir), sent)
    # Eight workers, each with its own engine, as on separate nodes.
    dbs = [open_database(config.db_url, migrate=False) for _ in range(4)]
    workers = [
        Outbox(dbs[i % 4], target, config.store_root, FAST_OUTBOX, owner=f"node{i % 4}-w{i}")
        for i in range(8)
    ]
    results = await asyncio.gather(*(w.drain() for w in workers))
    for d in dbs:
        d.dispose()
    assert sum(r.uploaded for r in results) == 36
    assert len(sent) == 36 and set(sent.values()) == {1}
    assert sum(1 for r in results if r.uploaded) > 1, "work was shared"
    with service.db.session() as s:
        states = Counter(s.scalars(select(OutboxItem.state)))
    assert states == {"done": 36}


async def test_expired_lease_of_a_dead_worker_is_taken_over(
    service: StorageService, config: StorageConfig, tmp_path: Path
) -> None:
    await service.accept_segment(make_segment(tmp_path, legs="agent"))
    target = LocalDirTarget(config.upload.local_dir)
    dead = Outbox(service.db, target, config.store_root, FAST_OUTBOX, owner="dead")
    assert len(dead.claim()) == 1  # claims, then "crashes"
    live = Outbox(service.db, target, config.store_root, FAST_OUTBOX, owner="live")
    assert live.claim() == [], "a live lease is respected"
    with service.db.session() as s:
        s.execute(update(OutboxItem).values(lease_until=utcnow() - timedelta(seconds=1)))
    result = await live.drain()
    assert result.uploaded == 1
    # The dead worker wakes up late: its completion is refused, nothing doubles.
    assert len(dead.claim()) == 0


async def test_final_file_already_there_is_marked_done_without_sending(
    service: StorageService, config: StorageConfig, tmp_path: Path
) -> None:
    await service.accept_segment(make_segment(tmp_path, legs="agent"))
    first = await service.drain_outbox()
    assert first.uploaded == 1
    # Simulate a crash after the rename but before success was recorded.
    with service.db.session() as s:
        s.execute(update(OutboxItem).values(state="pending", done_at=None))
    sent: Counter[str] = Counter()
    target = CountingTarget(LocalDirTarget(config.upload.local_dir), sent)
    again = await Outbox(service.db, target, config.store_root, FAST_OUTBOX).drain()
    assert again.already_present == 1 and not sent


async def test_pending_items_survive_a_restart(
    config: StorageConfig, db: Database, tmp_path: Path
) -> None:
    svc = StorageService(db, config)
    await svc.accept_segment(make_segment(tmp_path))
    db.dispose()  # the process "stops" with three pending uploads
    svc2 = StorageService(open_database(config.db_url), config)
    result = await svc2.drain_outbox()
    assert result.uploaded == 3
    svc2.close()


async def test_missing_local_file_stays_pending_with_error(
    service: StorageService, config: StorageConfig, tmp_path: Path
) -> None:
    await service.accept_segment(make_segment(tmp_path, legs="agent"))
    for p in config.store_root.rglob("*.wav"):
        p.unlink()
    result = await service.drain_outbox(workers=1)
    assert result.failed == 1
    st = status(service.db)
    assert st.pending == 1 and "file.missing" in st.last_errors[0][3]


async def test_a_failed_item_waits_for_the_next_drain(
    service: StorageService, config: StorageConfig, tmp_path: Path
) -> None:
    """Even with a backoff shorter than the drain, one drain tries each item once."""
    await service.accept_segment(make_segment(tmp_path))
    for p in config.store_root.rglob("*.wav"):
        p.unlink()
    tiny = FAST_OUTBOX.model_copy(update={"backoff_base_seconds": 0.000001})
    target = LocalDirTarget(config.upload.local_dir)
    result = await Outbox(service.db, target, config.store_root, tiny).drain()
    assert result.failed == 3 and status(service.db).max_attempts == 1


class DownTarget:
    """The platform is unreachable: every connection attempt fails at once."""

    name = "down"

    async def open(self) -> TargetSession:
        raise UploadError("cannot connect: refused")


async def test_many_workers_try_each_failing_item_once_per_drain(
    service: StorageService, config: StorageConfig, tmp_path: Path
) -> None:
    """A worker must not re-claim an item another worker failed and released meanwhile."""
    for _ in range(4):
        await service.accept_segment(make_segment(tmp_path))  # 12 items
    tiny = FAST_OUTBOX.model_copy(update={"backoff_base_seconds": 0.000001, "batch_size": 1})
    dbs = [open_database(config.db_url, migrate=False) for _ in range(4)]
    workers = [
        Outbox(dbs[i % 4], DownTarget(), config.store_root, tiny, owner=f"w{i}") for i in range(8)
    ]
    results = await asyncio.gather(*(w.drain() for w in workers))
    for d in dbs:
        d.dispose()
    assert sum(r.failed for r in results) == 12
    assert status(service.db).max_attempts == 1


def test_one_active_alert_per_code_under_concurrent_raises(
    db: Database, config: StorageConfig
) -> None:
    """Workers on several nodes raising the same alert at once leave one active row."""
    engines = [open_database(config.db_url, migrate=False) for _ in range(4)]
    barrier = threading.Barrier(8)

    def raise_one(d: Database) -> None:
        barrier.wait()
        with d.session() as s:
            raise_alert(s, "upload.hostkey_mismatch", "x")

    threads = [threading.Thread(target=raise_one, args=(engines[i % 4],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for d in engines:
        d.dispose()
    assert [a[0] for a in status(db).alerts] == ["upload.hostkey_mismatch"]
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(Alert(code="upload.hostkey_mismatch", message="y", raised_at=utcnow()))


async def test_worker_uploads_a_stored_segment_at_once(
    service: StorageService, tmp_path: Path
) -> None:
    """A segment stored on this node wakes its outbox worker: uploaded well
    before the worker's next poll (an hour here), not at it."""
    stop = asyncio.Event()
    worker = asyncio.create_task(
        service.outbox_worker().run_forever(stop, poll_seconds=3600, wake=service.outbox_wake)
    )
    try:
        await asyncio.sleep(0.2)  # the first drain found nothing and is asleep
        rid = await service.accept_segment(make_segment(tmp_path))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            with service.db.session() as s:  # a new snapshot each time
                query = select(OutboxItem.state).where(OutboxItem.recording_id == rid)
                states = set(s.scalars(query))
            if states == {"done"} or loop.time() > deadline:
                break
            await asyncio.sleep(0.05)
        assert states == {"done"}, states
    finally:
        stop.set()
        await asyncio.wait_for(worker, 5)
