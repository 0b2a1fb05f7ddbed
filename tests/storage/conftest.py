"""Fixtures for the storage suite: both databases, a real sshd, WAV files."""

from __future__ import annotations

import uuid
import wave
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.config import OutboxConfig, StorageConfig, UploadTargetConfig
from storage.db import Database, open_database
from storage.segment import FinishedSegment, new_recording_id
from storage.service import StorageService
from tests.support.postgres import Postgres, PostgresError
from tests.support.sshd import Sshd

PG_TEMPLATE = "callrec_template"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One cluster for the session; a failure to start fails the tests (never skips)."""
    pg = Postgres()
    try:
        try:
            pg.start()
        except PostgresError as exc:
            pytest.fail(f"PostgreSQL could not start (never skipped): {exc}", pytrace=False)
        pg.create_database(PG_TEMPLATE)
        open_database(pg.url(PG_TEMPLATE)).dispose()  # migrate once, copy per test
        yield pg
    finally:
        pg.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'callrec.db'}"
    pg: Postgres = request.getfixturevalue("postgres")
    name = "t_" + uuid.uuid4().hex[:12]
    return pg.create_database(name, template=PG_TEMPLATE)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'callrec.db'}"


FAST_OUTBOX = OutboxConfig(
    lease_seconds=30, backoff_base_seconds=0.05, backoff_max_seconds=0.5, batch_size=4
)


def make_config(
    tmp_path: Path, db_url: str, upload: UploadTargetConfig | None = None, **kw: object
) -> StorageConfig:
    return StorageConfig(
        db_url=db_url,
        store_root=tmp_path / "store",
        upload=upload or UploadTargetConfig(type="local", local_dir=tmp_path / "platform"),
        outbox=FAST_OUTBOX,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> StorageConfig:
    return make_config(tmp_path, db_url)


@pytest.fixture
def db(config: StorageConfig) -> Iterator[Database]:
    d = open_database(config.db_url)
    yield d
    d.dispose()


@pytest.fixture
def service(db: Database, config: StorageConfig) -> StorageService:
    return StorageService(db, config)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    server = Sshd(tmp_path / "sshd")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def sftp_upload_config(server: Sshd, remote_dir: Path, **kw: object) -> UploadTargetConfig:
    return UploadTargetConfig(
        type="sftp",
        host="127.0.0.1",
        port=server.port,
        user=server.user,
        key_file=server.client_key,
        known_hosts=server.known_hosts,
        remote_dir=str(remote_dir),
        connect_timeout=3,
        **kw,  # type: ignore[arg-type]
    )


def write_wav(
    path: Path, seconds: float = 1.0, *, channels: int = 1, rate: int = 8000, tone: int = 0
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = int(seconds * rate)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        sample = (tone % 30000).to_bytes(2, "little", signed=True) * channels
        w.writeframes(sample * frames)
    return path


def crash_header(path: Path) -> None:
    """Zero the RIFF and data sizes, as a writer killed before close leaves them."""
    data = bytearray(path.read_bytes())
    data[4:8] = b"\0\0\0\0"
    idx = data.index(b"data")
    data[idx + 4 : idx + 8] = b"\0\0\0\0"
    path.write_bytes(bytes(data))


def make_segment(
    tmp_path: Path,
    *,
    number: str | None = "+1 (415) 555-0100",
    campaign: str | None = "sales",
    seconds: float = 1.0,
    legs: str = "both",
    started_at: datetime | None = None,
    call_id: str | None = None,
    segment_no: int = 1,
) -> FinishedSegment:
    rid = new_recording_id()
    src = tmp_path / "capture" / rid
    files = {"agent": write_wav(src / "a.wav", seconds, tone=1000)}
    if legs == "both":
        files["customer"] = write_wav(src / "c.wav", seconds, tone=2000)
        files["stereo"] = write_wav(src / "s.wav", seconds, channels=2, tone=3000)
    start = started_at or datetime.now(UTC) - timedelta(minutes=5)
    return FinishedSegment(
        recording_id=rid,
        call_id=call_id or "call-" + uuid.uuid4().hex[:8],
        segment_no=segment_no,
        source="ari",
        direction="outbound",
        agent="agent7",
        campaign=campaign,
        queue=None,
        lead_list=None,
        customer_number_raw=number,
        started_at=start,
        ended_at=start + timedelta(seconds=seconds),
        legs="both" if legs == "both" else "agent",
        files=files,
        decision={"legs": legs, "autostart": True},
        reasons=("jurisdiction.one_party", "mode.all_calls"),
        bridged_seconds=seconds,
    )
