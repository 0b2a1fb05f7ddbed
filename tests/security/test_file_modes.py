"""Files holding recordings, call state or the database are the service user's only.

Run with the permissive umask a service is often started with (022), so the
modes checked are the code's doing, not the test runner's.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from callcore.finish import Handoff
from callcore.state import CallState, Segment
from callcore.state_store import StateStore
from policy import Decision
from storage.config import StorageConfig, UploadTargetConfig
from storage.db import make_engine
from storage.service import StorageService
from tests.console.support import segment


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private(root: Path) -> None:
    """Every file under ``root`` is 0600 and every directory 0700."""
    seen = 0
    for path in [root, *root.rglob("*")]:
        seen += 1
        want = 0o700 if path.is_dir() else 0o600
        assert mode(path) == want, f"{path} is {mode(path):o}, want {want:o}"
    assert seen > 1, f"nothing under {root}"


async def test_stored_recordings_and_database_are_private(tmp_path: Path) -> None:
    cfg = StorageConfig(
        db_url=f"sqlite:///{tmp_path / 'db' / 'callrec.db'}",
        store_root=tmp_path / "store",
        upload=UploadTargetConfig(type="none"),
    )
    svc = StorageService.open(cfg)
    try:
        seg = segment(tmp_path, "+14155550100")
        for f in seg.files.values():
            f.chmod(0o644)  # as Asterisk leaves its captures
        await svc.accept_segment(seg)
        assert_private(tmp_path / "store")
        assert_private(tmp_path / "db")  # callrec.db and its -wal/-shm
        assert any(p.suffix == ".wav" for p in (tmp_path / "store").rglob("*"))
    finally:
        svc.close()


def test_sqlite_database_is_created_private(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x' / 'y.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (a INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert_private(tmp_path / "x")
    engine.dispose()


def test_call_state_files_are_private(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state" / "calls")
    call = CallState("ab" * 16, "agi", "inbound", "1001")
    store.save(call)
    assert_private(tmp_path / "state")


class _Refusing:
    async def accept_segment(self, _segment: object) -> str:
        raise RuntimeError("storage is down")


FORCE = Decision("both", True, False, False, False, "all_force", None, ("mode.all_force",))


async def test_pending_handoff_files_are_private(tmp_path: Path) -> None:
    handoff = Handoff(_Refusing(), tmp_path / "state" / "pending")  # type: ignore[arg-type]
    call = CallState("cd" * 16, "agi", "inbound", "1001")
    seg = Segment("ef" * 16, 1, "1001", "both", FORCE)
    assert await handoff.deliver(call, seg) is None
    assert list((tmp_path / "state" / "pending").glob("*.json"))
    assert_private(tmp_path / "state")
