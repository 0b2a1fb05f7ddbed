"""Faults around storage while calls are recorded: upload target, sshd, a full disk.

Each: several concurrent recorded calls on the real sandbox Asterisk; every
call ends verified (or flagged with its reason), none is lost or delivered
twice, and the service takes a new call afterwards.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from callrec.sandbox import Instance
from storage.config import StorageConfig, UploadTargetConfig
from storage.outbox import status
from storage.service import StorageService
from tests.ari.harness import Stack
from tests.faults.conftest import (
    TALK,
    accounted,
    collector,
    hang_up,
    outcomes,
    place_calls,
    remote_files,
    since_now,
    spans_of,
)
from tests.support.sshd import Sshd

pytestmark = pytest.mark.asterisk


async def drain_until_done(service: StorageService, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while status(service.db).pending and loop.time() < deadline:
        await service.drain_outbox()
        await asyncio.sleep(0.2)
    assert status(service.db).pending == 0, status(service.db).last_errors


async def test_upload_target_failing_unexpectedly(stack: Stack, asterisk: Instance) -> None:
    since = since_now()
    truth = collector(stack, asterisk)
    await truth.start()
    try:
        calls = await place_calls(stack)
        platform = stack.storage.cfg.upload.local_dir
        assert platform is not None
        shutil.rmtree(platform, ignore_errors=True)
        platform.parent.mkdir(parents=True, exist_ok=True)
        platform.write_text("the upload directory was replaced by a file\n")
        await asyncio.sleep(TALK)
        await hang_up(stack, calls)
        result = await stack.storage.drain_outbox()
        assert result.failed > 0 and result.uploaded == 0
        st = status(stack.storage.db)
        assert st.in_flight == 0, "a failed item goes back to its backoff at once"
        platform.unlink()
        platform.mkdir()
        await drain_until_done(stack.storage)
        sent = remote_files(platform)
        assert len(sent) == 3 * len(calls) and set(sent.values()) == {1}  # once each
        await spans_of(stack, calls)
        accounted(outcomes(stack, calls, since))
        after = await place_calls(stack, 1)  # the service still takes calls
        await hang_up(stack, after)
    finally:
        await truth.stop()


async def test_sshd_down_for_a_while(stack: Stack, asterisk: Instance, tmp_path: Path) -> None:
    since = since_now()
    server = Sshd(tmp_path / "sshd")
    server.start()
    remote = tmp_path / "remote"
    remote.mkdir()
    base = stack.storage.cfg
    sftp = StorageService.open(
        StorageConfig(
            db_url=base.db_url,
            store_root=base.store_root,
            upload=UploadTargetConfig(
                type="sftp",
                host="127.0.0.1",
                port=server.port,
                user=server.user,
                key_file=server.client_key,
                known_hosts=server.known_hosts,
                remote_dir=str(remote),
                connect_timeout=2,
                verify_hash=True,
            ),
            outbox=base.outbox,
        )
    )
    truth = collector(stack, asterisk)
    await truth.start()
    try:
        calls = await place_calls(stack)
        server.stop()  # the platform goes away mid-call
        await asyncio.sleep(TALK)
        await hang_up(stack, calls)
        result = await sftp.drain_outbox()
        assert result.failed > 0 and result.uploaded == 0
        assert status(sftp.db).in_flight == 0
        server.start()
        await drain_until_done(sftp, timeout=30)
        sent = remote_files(remote)
        assert len(sent) == 3 * len(calls) and set(sent.values()) == {1}
        await spans_of(stack, calls)
        accounted(outcomes(stack, calls, since))
        after = await place_calls(stack, 1)
        await hang_up(stack, after)
    finally:
        await truth.stop()
        sftp.close()
        server.stop()


@pytest.fixture
def small_store(tmp_path: Path) -> Iterator[Path]:
    """The store on a 4 MiB tmpfs, filled up during the calls."""
    store = tmp_path / "store"
    store.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(store)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:  # a part that cannot be had fails loudly
        pytest.fail(f"cannot mount a small tmpfs for the store: {done.stderr}", pytrace=False)
    yield store
    subprocess.run(["umount", "-l", str(store)], check=False)


async def test_local_disk_filling_up(
    asterisk: Instance, tmp_path: Path, small_store: Path, no_leaks: None
) -> None:
    stack = Stack(asterisk, tmp_path)
    await stack.start()
    stack.handoff.sink = stack.storage  # straight to storage, as in the service (no test tap)
    truth = collector(stack, asterisk)
    await truth.start()
    since = since_now()
    filler = small_store / "filler"
    try:
        calls = await place_calls(stack)
        # The disk fills up while the calls are recorded.
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
        assert shutil.disk_usage(small_store).free < 64 * 1024
        await asyncio.sleep(TALK)
        await hang_up(stack, calls)
        pending = list((tmp_path / "state" / "pending").glob("*.json"))
        assert len(pending) == len(calls), "every segment kept for a retry, none lost"
        filler.unlink()  # the admin frees space
        assert await stack.handoff.retry_pending() == len(calls)
        await spans_of(stack, calls)
        accounted(outcomes(stack, calls, since))
        after = await place_calls(stack, 1)
        await hang_up(stack, after)
    finally:
        filler.unlink(missing_ok=True)
        await truth.stop()
        await stack.close()
