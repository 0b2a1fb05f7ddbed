"""Signed webhooks end to end: real storage (SQLite and PostgreSQL), a real receiver on loopback.

The receiver verifies signatures with its own HMAC code and counts events by
id; the tests count what it accepted, never what callrec says it sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from storage.config import OutboxConfig, WebhooksConfig, load_storage_config
from storage.db import open_database
from storage.errors import ConfigInvalid
from storage.models import DONE, PENDING, CrmRecord, OutboxItem
from storage.permissions import Actor
from storage.service import StorageService
from storage.timeutil import utcnow
from storage.verification import Outcome, store_outcome
from storage.webhooks import WebhookWorker, collect
from tests.storage.conftest import make_config, make_segment
from tests.webhooks.receiver import Receiver

SECRET = "whsec-0123456789abcdef"
ADMIN = Actor.of("admin", "admin")
FAST = OutboxConfig(lease_seconds=30, backoff_base_seconds=0.05, backoff_max_seconds=0.2)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver(SECRET.encode())
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


def hooks(*urls: str, secret: str = SECRET) -> WebhooksConfig:
    return WebhooksConfig(urls=urls, secret=SecretStr(secret))


@pytest.fixture
def svc(tmp_path: Path, db_url: str, receiver: Receiver) -> AsyncIterator[StorageService]:
    cfg = make_config(tmp_path, db_url, webhooks=hooks(receiver.url))
    s = StorageService.open(cfg)
    collect(s.db, cfg.webhooks)  # the receiver is configured now: later events only
    yield s  # type: ignore[misc]
    s.close()


async def lifecycle(svc: StorageService, tmp_path: Path) -> str:
    """Stored, verified, assigned (manually) and deleted: one of each event."""
    rid = await svc.accept_segment(make_segment(tmp_path, number="+1 415 555 0177"))
    with svc.db.session() as s:
        store_outcome(s, Outcome("verified", "bridged 1 s", recording_id=rid), utcnow())
    (tmp_path / "crm.csv").write_text("id,cell_phone\nx9,+1 212 555 0100\n")
    await svc.import_crm(ADMIN, tmp_path / "crm.csv", "individual")
    with svc.db.session() as s:
        record_id = s.scalars(select(CrmRecord.id)).one()
    await svc.assign(ADMIN, rid, record_id)
    return rid


async def test_each_event_arrives_signed_once(
    svc: StorageService, receiver: Receiver, tmp_path: Path
) -> None:
    rid = await lifecycle(svc, tmp_path)
    other = await svc.accept_segment(make_segment(tmp_path, number="+1 415 555 0188"))
    await svc.delete_recording(ADMIN, other, "test call")
    worker = WebhookWorker(svc.db, svc.cfg.webhooks, FAST)
    result = await worker.drain()
    assert result.failed == 0 and receiver.refused == []
    kinds = ("stored", "verified", "assigned", "stored", "deleted")
    assert receiver.types() == sorted(f"recording.{k}" for k in kinds)
    assert len(receiver.deliveries) == len(receiver.events) == 5
    by_type = {(e["type"], e["data"]["recording_id"]): e for e in receiver.events.values()}
    assigned = by_type["recording.assigned", rid]["data"]
    assert assigned["how"] == "manual" and assigned["record_id"] and assigned["agent"] == "agent7"
    assert by_type["recording.verified", rid]["data"]["outcome"] == "verified"
    assert by_type["recording.deleted", other]["data"]["state"] == "deleted"
    for h in receiver.headers:
        assert h["Callrec-Event"] in {e["type"] for e in receiver.events.values()}
        assert h["Content-Type"] == "application/json"
    # metadata only: no audio, no file names, no store paths
    text = json.dumps(list(receiver.events.values()))
    assert ".wav" not in text and "RIFF" not in text and str(svc.cfg.store_root) not in text
    # nothing more on the next pass
    again = await worker.drain()
    assert again.queued == again.delivered == 0 and len(receiver.deliveries) == 5


async def test_a_rematch_run_announces_each_assignment_once(
    svc: StorageService, receiver: Receiver, tmp_path: Path
) -> None:
    """One audit entry for the run, one recording.assigned per pair it made."""
    rids = [
        await svc.accept_segment(make_segment(tmp_path, number=f"+1 415 555 01{n}"))
        for n in (11, 12, 13)
    ]
    (tmp_path / "late.csv").write_text(
        "id,cell_phone,home_phone\nx1,+1 415 555 0111,\nx2,+1 415 555 0112,+1 415 555 0111\n"
    )
    await svc.import_crm(ADMIN, tmp_path / "late.csv", "individual")
    assert await svc.rematch() == 2  # 0111 -> x1 and x2, 0112 -> x2, 0113 -> nobody
    with svc.db.session() as s:
        ext = {i: e for i, e in s.execute(select(CrmRecord.id, CrmRecord.external_id))}
    worker = WebhookWorker(svc.db, svc.cfg.webhooks, FAST)
    result = await worker.drain()
    assert result.failed == 0 and receiver.refused == []
    got = sorted(
        (e["data"]["recording_id"], ext[e["data"]["record_id"]], e["data"]["how"])
        for e in receiver.events.values()
        if e["type"] == "recording.assigned"
    )
    want = [(rids[0], "x1", "rematch"), (rids[0], "x2", "rematch"), (rids[1], "x2", "rematch")]
    assert got == sorted(want)
    assert len({e["id"] for e in receiver.events.values()}) == len(receiver.events)
    again = await worker.drain()  # the run entry is re-read (RESCAN): nothing queued twice
    assert again.queued == again.delivered == 0


async def test_receiver_outage_is_retried_with_backoff_exactly_once(
    svc: StorageService, receiver: Receiver, tmp_path: Path
) -> None:
    await receiver.stop()  # the receiver is down
    worker = WebhookWorker(svc.db, svc.cfg.webhooks, FAST)
    await lifecycle(svc, tmp_path)
    first = await worker.drain()
    assert first.delivered == 0 and first.failed == first.queued == 3
    with svc.db.session() as s:
        items = s.scalars(select(OutboxItem).where(OutboxItem.op == "webhook")).all()
        assert {i.state for i in items} == {PENDING}
        assert all(i.attempts == 1 and i.next_attempt_at > utcnow() for i in items)
    # up again, but answering 503 to the first two requests (a rolling restart)
    receiver.fail_next = 2
    await receiver.start()
    delivered = 0
    for _ in range(40):
        await asyncio.sleep(0.1)  # the backoff of the failed items
        delivered += (await worker.drain()).delivered
        if delivered == 3:
            break
    assert delivered == 3
    assert len(receiver.events) == 3 and len(receiver.deliveries) == 3
    with svc.db.session() as s:
        items = s.scalars(select(OutboxItem).where(OutboxItem.op == "webhook")).all()
        assert {i.state for i in items} == {DONE}
        assert max(i.attempts for i in items) >= 2


async def test_several_nodes_deliver_each_event_once(
    svc: StorageService, receiver: Receiver, tmp_path: Path
) -> None:
    """Two nodes with the same receiver collect and drain at once: one delivery per event."""
    for i in range(6):
        await svc.accept_segment(make_segment(tmp_path, number=f"+1 415 555 01{i:02d}"))
    second = open_database(svc.cfg.db_url)
    try:
        workers = [
            WebhookWorker(db, svc.cfg.webhooks, FAST) for db in (svc.db, second, svc.db, second)
        ]
        await asyncio.gather(*(w.drain() for w in workers))
    finally:
        second.dispose()
    assert len(receiver.events) == 6 and len(receiver.deliveries) == 6


async def test_a_wrong_secret_is_refused_and_kept_pending(
    tmp_path: Path, db_url: str, receiver: Receiver
) -> None:
    cfg = make_config(tmp_path, db_url, webhooks=hooks(receiver.url, secret="not-the-right-secret"))
    svc = StorageService.open(cfg)
    try:
        collect(svc.db, cfg.webhooks)
        await svc.accept_segment(make_segment(tmp_path))
        result = await WebhookWorker(svc.db, cfg.webhooks, FAST).drain()
        assert result.failed == 1 and receiver.events == {} and len(receiver.refused) == 1
        assert "HTTP 401" in result.errors[0] and "not-the-right" not in result.errors[0]
    finally:
        svc.close()


async def test_each_receiver_gets_its_own_delivery(
    tmp_path: Path, db_url: str, receiver: Receiver
) -> None:
    other = Receiver(SECRET.encode())
    await other.start()
    cfg = make_config(tmp_path, db_url, webhooks=hooks(receiver.url, other.url))
    svc = StorageService.open(cfg)
    try:
        collect(svc.db, cfg.webhooks)
        await svc.accept_segment(make_segment(tmp_path))
        await WebhookWorker(svc.db, cfg.webhooks, FAST).drain()
        assert receiver.types() == other.types() == ["recording.stored"]
        assert set(receiver.events) == set(other.events)  # one event id, two receivers
    finally:
        svc.close()
        await other.stop()


def test_config_refuses_what_cannot_work(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        WebhooksConfig(urls=("http://127.0.0.1:9/x",))  # no secret
    with pytest.raises(ValidationError):
        WebhooksConfig(urls=("ftp://example/x",), secret=SecretStr(SECRET))
    with pytest.raises(ValidationError):
        WebhooksConfig(urls=("http://127.0.0.1:9/x",), secret=SecretStr("short"))
    with pytest.raises(ValidationError):
        WebhooksConfig(events=("recording.played",))
    toml = tmp_path / "node.toml"
    (tmp_path / "hook.key").write_text(SECRET + "\n")
    (tmp_path / "hook.key").chmod(0o600)
    toml.write_text(
        "[storage.webhooks]\n"
        'urls = ["http://127.0.0.1:8089/hooks"]\n'
        'secret_file = "hook.key"\n'
        'events = ["recording.stored", "recording.deleted"]\n'
    )
    cfg = load_storage_config(toml).webhooks
    assert cfg.secret_bytes() == SECRET.encode()
    assert cfg.events == ("recording.stored", "recording.deleted")
    (tmp_path / "hook.key").chmod(0o644)
    with pytest.raises(ConfigInvalid, match="world-readable"):
        cfg.secret_bytes()
    toml.write_text('[storage.webhooks]\nurls = ["http://127.0.0.1:8089/hooks"]\n')
    with pytest.raises(ConfigInvalid) as err:
        load_storage_config(toml)
    assert "webhooks" in str(err.value)
    assert SECRET not in repr(WebhooksConfig(secret=SecretStr(SECRET)))
