"""An upload target failing in a way the code does not expect never stalls the outbox.

Seen in an independent run: the local upload directory was replaced by a file,
the drain raised ``NotADirectoryError`` and every claimed item stayed "in
flight" for the lease's full 10 minutes after the directory came back.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from storage.config import StorageConfig
from storage.models import OutboxItem
from storage.outbox import status
from storage.service import StorageService
from tests.storage.conftest import make_segment


async def test_upload_dir_replaced_by_a_file_fails_items_back_to_backoff_at_once(
    service: StorageService, config: StorageConfig, tmp_path: Path
) -> None:
    assert config.outbox.lease_seconds >= 30  # a stalled item would stay leased this long
    for _ in range(4):
        await service.accept_segment(make_segment(tmp_path))  # 12 items
    platform = config.upload.local_dir
    assert platform is not None
    shutil.rmtree(platform, ignore_errors=True)
    platform.write_text("not a directory\n")

    result = await service.drain_outbox()
    assert result.uploaded == 0 and result.failed == 12
    assert any("upload.unexpected" in e and "NotADirectoryError" in e for e in result.errors)
    st = status(service.db)
    assert st.pending == 12 and st.in_flight == 0  # nothing left leased
    with service.db.session() as s:
        items = list(s.query(OutboxItem))
    assert all(i.owner is None and i.lease_until is None for i in items)
    assert all((i.last_error or "").startswith("upload.unexpected") for i in items)

    # The target comes back: the next drains (after the short backoff) deliver everything once.
    platform.unlink()
    platform.mkdir()
    for _ in range(100):
        await service.drain_outbox()
        if status(service.db).pending == 0:
            break
        await asyncio.sleep(0.05)
    st = status(service.db)
    assert st.pending == 0 and st.done == 12
    assert len([p for p in platform.rglob("*") if p.is_file()]) == 12
