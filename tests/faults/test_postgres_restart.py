"""PostgreSQL restarted while finished calls are being delivered.

Three recorded calls end while the database is down: their segments are kept
for retry and the CEL collector keeps Asterisk's spans; when it is back every
call is stored once, uploaded once and verified.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
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
from tests.storage.conftest import PG_TEMPLATE, postgres  # noqa: F401 - fixture
from tests.support.postgres import PG_BIN, Postgres
from tests.support.wait import wait_for

pytestmark = [pytest.mark.asterisk, pytest.mark.postgres]


def pg_ctl(pg: Postgres, action: str) -> None:
    opts = (
        f"-p {pg.port} -k {pg.sock} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    args = [str(PG_BIN / "pg_ctl"), "-D", str(pg.data), "-w", "-t", "60"]
    if action == "start":
        args += ["-o", opts, "-l", str(pg.dir / "server.log"), "start"]
    else:
        args += ["-m", "fast", "stop"]
    pg._run(*args)


@pytest.fixture
async def pg_stack(
    asterisk: Instance,
    tmp_path: Path,
    postgres: Postgres,  # noqa: F811
    no_leaks: None,
) -> AsyncIterator[Stack]:
    url = postgres.create_database("f_" + uuid.uuid4().hex[:12], template=PG_TEMPLATE)
    stack = Stack(asterisk, tmp_path)
    stack.storage.close()
    stack.storage = StorageService.open(
        StorageConfig(
            db_url=url,
            store_root=tmp_path / "store",
            upload=UploadTargetConfig(type="local", local_dir=tmp_path / "platform"),
        )
    )
    stack.sink.storage = stack.storage
    stack.handoff.sink = stack.storage  # straight to storage, as in the service
    await stack.start()
    try:
        yield stack
    finally:
        await stack.close()


async def test_postgres_restarted_during_delivery(
    pg_stack: Stack,
    asterisk: Instance,
    postgres: Postgres,  # noqa: F811
    tmp_path: Path,
) -> None:
    stack = pg_stack
    since = since_now()
    truth = collector(stack, asterisk)
    await truth.start()
    try:
        calls = await place_calls(stack)
        await asyncio.sleep(TALK)
        pg_ctl(postgres, "stop")
        try:
            await hang_up(stack, calls)
            await asyncio.sleep(1.0)
            pending = list((tmp_path / "state" / "pending").glob("*.json"))
            assert len(pending) == len(calls), "every segment kept while the database is down"
        finally:
            pg_ctl(postgres, "start")
        assert await stack.handoff.retry_pending() == len(calls)
        await spans_of(stack, calls)  # the collector's retries got through
        await wait_for(lambda: truth.saved >= len(calls), 20, "the spans written")
        for _ in range(50):
            await stack.storage.drain_outbox()
            if status(stack.storage.db).pending == 0:
                break
            await asyncio.sleep(0.2)
        sent = remote_files(tmp_path / "platform")
        assert len(sent) == 3 * len(calls) and set(sent.values()) == {1}
        accounted(outcomes(stack, calls, since))
        after = await place_calls(stack, 1)
        await hang_up(stack, after)
    finally:
        await truth.stop()
