"""A node's concurrent outbox workers (`[storage.outbox] workers`, `callrec serve`)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.config import StorageConfig, load_storage_config
from storage.errors import ConfigInvalid
from storage.models import OutboxItem, Recording
from storage.outbox import run_workers
from storage.service import StorageService
from storage.targets import LocalDirTarget, TargetSession, UploadJob
from tests.storage.conftest import make_segment


class WatchedTarget:
    """The real local target, watched: sessions opened, uploads in flight at once, files sent."""

    def __init__(self, inner: LocalDirTarget, delay: float = 0.0) -> None:
        self.inner, self.name, self.delay = inner, inner.name, delay
        self.opened = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.sent: Counter[str] = Counter()

    async def open(self) -> TargetSession:
        self.opened += 1
        return _Watched(self, await self.inner.open())


class _Watched:
    def __init__(self, target: WatchedTarget, inner: TargetSession) -> None:
        self.t, self.inner = target, inner

    async def upload(self, job: UploadJob) -> bool:
        self.t.in_flight += 1
        self.t.most_in_flight = max(self.t.most_in_flight, self.t.in_flight)
        try:
            await asyncio.sleep(self.t.delay)  # a slow link: uploads overlap if they can
            sent = await self.inner.upload(job)
        finally:
            self.t.in_flight -= 1
        if sent:
            self.t.sent[job.remote_name] += 1
        return sent

    async def delete(self, remote_name: str) -> None:
        await self.inner.delete(remote_name)

    async def close(self) -> None:
        await self.inner.close()


def _states(service: StorageService) -> Counter[str]:
    with service.db.session() as s:
        return Counter(s.scalars(select(OutboxItem.state)))


async def test_workers_upload_side_by_side_and_each_file_once(
    service: StorageService, config: StorageConfig, tmp_path: Path
) -> None:
    """Four workers of one node share a burst: up to four uploads at once, each
    file sent once, every item done once, every recording marked uploaded."""
    target = WatchedTarget(LocalDirTarget(config.upload.local_dir, verify_hash=True), 0.2)
    service.target = target
    stop = asyncio.Event()
    workers = asyncio.create_task(
        run_workers(service.outbox_worker, 4, stop, service.outbox_wake, poll_seconds=3600)
    )
    try:
        await asyncio.sleep(0.2)  # every worker found nothing and sleeps until woken
        ids = [await service.accept_segment(make_segment(tmp_path)) for _ in range(4)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while _states(service) != {"done": 12} and loop.time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(workers, 10)
    assert _states(service) == {"done": 12}
    assert len(target.sent) == 12 and set(target.sent.values()) == {1}
    assert target.most_in_flight == 4, f"at most {target.most_in_flight} upload(s) at once"
    with service.db.session() as s:
        assert {s.get_one(Recording, rid).upload_state for rid in ids} == {"uploaded"}
        assert set(s.scalars(select(OutboxItem.owner))) == {None}, "no item is left leased"


async def test_one_worker_uploads_one_file_at_a_time(
    service: StorageService, config: StorageConfig, tmp_path: Path
) -> None:
    """The contrast: with ``workers = 1`` nothing overlaps (what serve did before)."""
    target = WatchedTarget(LocalDirTarget(config.upload.local_dir), 0.05)
    service.target = target
    for _ in range(2):
        await service.accept_segment(make_segment(tmp_path))
    stop = asyncio.Event()
    workers = asyncio.create_task(run_workers(service.outbox_worker, 1, stop, poll_seconds=3600))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while _states(service) != {"done": 6} and loop.time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(workers, 10)
    assert _states(service) == {"done": 6}
    assert target.most_in_flight == 1 and len(target.sent) == 6


async def test_one_target_session_serves_a_whole_drain(
    service: StorageService, config: StorageConfig, tmp_path: Path
) -> None:
    """Batches of one drain share one session (one SFTP connection), not one each."""
    target = WatchedTarget(LocalDirTarget(config.upload.local_dir))
    service.target = target
    for _ in range(4):
        await service.accept_segment(make_segment(tmp_path))  # 12 items, batches of 4
    result = await service.outbox_worker().drain()
    assert result.uploaded == 12 and target.opened == 1
    result = await service.outbox_worker().drain(claim_size=1)
    assert result.uploaded == 0 and target.opened == 1, "nothing due: no session opened"


@pytest.mark.parametrize("value", ["0", "65", '"four"'])
def test_workers_out_of_range_is_refused_by_name(tmp_path: Path, value: str) -> None:
    path = tmp_path / "service.toml"
    path.write_text(f"[storage.outbox]\nworkers = {value}\n")
    with pytest.raises(ConfigInvalid, match=r"storage\.outbox\.workers"):
        load_storage_config(path)
