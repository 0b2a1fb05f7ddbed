"""Two nodes on one PostgreSQL: two Asterisk sandboxes, two `callrec serve`,
calls on both at once, every recording stored once; then the storage work
(outbox, rematch, retention) drained by both nodes' commands without doubles,
and a node killed mid-drain leaving its leased items to the other.

What is counted comes from outside callrec's own report: rows in PostgreSQL
(recordings, outbox attempts, assignments, audit), and the files in the
shared upload directory."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import create_engine, text

from ari_app.client import AriClient
from callrec import sandbox
from storage.config import StorageConfig, UploadTargetConfig
from storage.service import StorageService
from tests.ari.harness import POLICY, TX_NUMBER
from tests.operator.install import callrec
from tests.storage.conftest import make_segment
from tests.support.postgres import Postgres, running
from tests.support.wait import wait_for

pytestmark = [pytest.mark.asterisk, pytest.mark.postgres]

LEASE_SECONDS = 10


@dataclass
class Site:
    db_url: str
    root: Path  # shared by both nodes: the store and the upload target (an NFS mount, say)
    nodes: dict[str, Path]  # node name -> its service.toml
    asterisks: dict[str, sandbox.Instance]

    def sql(self, query: str) -> list[tuple]:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(query)).all()]
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with running() as server:
        yield server


def _write_settings(tmp: Path, name: str, inst: sandbox.Instance, db_url: str) -> Path:
    from console.users import hash_password

    node = tmp / name
    node.mkdir()
    (node / "callrec.toml").write_text(POLICY)
    (node / "users.toml").write_text(
        '[roles.ops]\npermissions = ["admin", "calls"]\n'
        f'[users.ops]\npassword_hash = "{hash_password("ops-pass")}"\nroles = ["ops"]\n'
    )
    (node / "service.toml").write_text(
        f"""
policy_config = "callrec.toml"
state_dir = "state"
node_id = "{name}"
[asterisk]
instance = "{inst.name}"
[http]
port = 0
users_file = "users.toml"
[storage]
db_url = "{db_url}"
store_root = "{tmp / "shared" / "store"}"
[storage.upload]
type = "local"
local_dir = "{tmp / "shared" / "platform"}"
[storage.outbox]
lease_seconds = {LEASE_SECONDS}
backoff_base_seconds = 0.2
backoff_max_seconds = 1
batch_size = 8
[[storage.retention]]
campaign = "*"
days = 1
"""
    )
    return node / "service.toml"


@pytest.fixture
def site(pg: Postgres, tmp_path: Path) -> Iterator[Site]:
    db_url = pg.create_database(f"two_nodes_{os.getpid()}_{int(time.time())}")
    (tmp_path / "shared").mkdir()
    insts: list[sandbox.Instance] = []
    try:
        for name in ("a", "b"):
            inst, _ = sandbox.up(f"node-{name}-{os.getpid()}", app=f"callrec-{name}")
            insts.append(inst)
        nodes = {
            name: _write_settings(tmp_path, name, inst, db_url)
            for name, inst in zip(("a", "b"), insts, strict=True)
        }
        yield Site(db_url, tmp_path / "shared", nodes, dict(zip(("a", "b"), insts, strict=True)))
    finally:
        for inst in insts:
            sandbox.stop(inst)


def _serve(settings: Path) -> tuple[subprocess.Popen[bytes], str]:
    ready = settings.parent / "ready"
    log = settings.parent / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "callrec", "serve", "--settings", str(settings),
         "--ready-file", str(ready), "--log-format", "json"],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "serve did not become ready"
        time.sleep(0.1)
    return proc, ready.read_text()


def _drain(settings: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "callrec", "outbox", "drain", "--settings", str(settings)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _uploaded(out: str) -> int:
    # "uploaded N, already present N, deleted N, failed N"
    return int(out.split("uploaded ", 1)[1].split(",", 1)[0])


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".part")]


async def test_two_nodes_share_the_work_without_doubles(site: Site, tmp_path: Path) -> None:
    a, b = site.nodes["a"], site.nodes["b"]
    assert callrec("db", "upgrade", "--settings", str(a)).returncode == 0

    # -- calls on both nodes at once; every recording stored once ---------------------
    procs = {name: _serve(path) for name, path in site.nodes.items()}
    try:
        auth = aiohttp.BasicAuth("ops", "ops-pass")
        async with aiohttp.ClientSession(auth=auth) as http:

            async def place(base: str) -> str:
                async with http.post(
                    f"{base}/api/calls",
                    json={"agent": "a1", "number": TX_NUMBER, "campaign": "auto"},
                ) as resp:
                    assert resp.status == 201, await resp.text()
                    return str((await resp.json())["call_id"])

            bases = [base for _, base in procs.values()]
            call_ids = await asyncio.gather(*(place(base) for base in bases for _ in range(2)))

            async def recording(base: str) -> bool:
                async with http.get(f"{base}/api/calls") as resp:
                    calls = (await resp.json())["calls"]
                return sum(1 for c in calls if c["recording"] and "node" not in c) == 2

            for base in bases:
                await wait_for(
                    lambda base=base: recording(base), 30, f"2 calls recording on {base}"
                )
            # Both nodes (the project's own sandbox set-up, PostgreSQL) check green.
            for name, settings in site.nodes.items():
                out = callrec("doctor", "--settings", str(settings), "--min-free-mb", "1")
                assert out.returncode == 0, f"node {name}:\n{out.stdout}{out.stderr}"
                assert "clock.db" in out.stdout and "postgresql" in out.stdout

            # Either node's API lists the calls of both; acting on the other node's call
            # answers with the node that owns it, and that node acts on it.
            (_, base_a), (_, base_b) = procs["a"], procs["b"]

            async def listing(base: str) -> dict[str, dict] | None:
                async with http.get(f"{base}/api/calls") as resp:
                    rows = {c["call_id"]: c for c in (await resp.json())["calls"]}
                return rows if set(rows) == set(call_ids) else None

            for base in (base_a, base_b):
                rows = await wait_for(lambda base=base: listing(base), 10, f"all calls on {base}")
                assert {rows[i].get("node") for i in call_ids[2:]} <= {None, "b"}
                assert {rows[i].get("node") for i in call_ids[:2]} <= {None, "a"}
            rows = await listing(base_a)
            assert rows is not None and all(rows[i]["node_url"] == base_b for i in call_ids[2:])
            b_call = call_ids[2]
            action = next(a for a, rule in rows[b_call]["allowed"].items() if rule is None)
            act = f"/api/calls/{b_call}/recording/{action}"
            async with http.post(f"{base_a}{act}", json={}) as resp:
                error = (await resp.json())["error"]
                assert resp.status == 404 and error["code"] == "call.other_node", error
                assert base_b in error["message"] and "'b'" in error["message"], error
            async with http.post(f"{base_b}{act}", json={}) as resp:
                assert resp.status == 200, await resp.text()
            async with http.get(f"{base_a}/api/calls/{'0' * 32}") as resp:
                assert (await resp.json())["error"]["code"] == "call.not_found"

            await asyncio.sleep(1.5)
            for name, inst in site.asterisks.items():
                ids = call_ids[:2] if name == "a" else call_ids[2:]
                async with AriClient(
                    inst.ari_url, inst.ari_user, inst.ari_password, "other"
                ) as raw:
                    for ch in await raw.list_channels():
                        if ch["id"] in {f"{i}-c" for i in ids}:
                            await raw.hangup(ch["id"])

            def stored() -> bool:
                return len(site.sql("SELECT id FROM recordings")) >= 4

            await wait_for(stored, 40, "4 recordings in PostgreSQL")
            # Both serve nodes run outbox workers: every upload done once.
            await wait_for(
                lambda: not site.sql("SELECT id FROM outbox WHERE state = 'pending'"),
                40,
                "the serve nodes to drain the outbox",
            )
    finally:
        for proc, _ in procs.values():
            proc.send_signal(signal.SIGTERM)
        for name, (proc, _) in procs.items():
            assert proc.wait(timeout=30) == 0, (site.nodes[name].parent / "serve.log").read_text()[
                -3000:
            ]
    rows = site.sql("SELECT call_id, segment_no FROM recordings")
    assert sorted(r[0] for r in rows) == sorted(call_ids), rows  # each call once, no double
    attempts = site.sql("SELECT attempts, state FROM outbox")
    assert attempts and all(r == (1, "done") for r in attempts), attempts
    assert len(_files(site.root / "platform")) == len(attempts)

    # -- a node killed mid-drain: its leased items wait for the lease, then go to the other --
    # Recordings of a third node's calls (the seeder ingests as a node does, queueing
    # uploads to the shared target; it drains nothing itself).
    cfg = StorageConfig(
        db_url=site.db_url,
        store_root=site.root / "store",
        upload=UploadTargetConfig(type="local", local_dir=site.root / "platform"),
    )
    seeder = StorageService.open(cfg)
    old = datetime.now(UTC) - timedelta(days=3)
    seeded: list[str] = []
    try:
        for i in range(40):
            seg = make_segment(
                tmp_path / "seed", number=f"+1415555{1000 + i:04d}", started_at=old, campaign="c"
            )
            seeded.append(await seeder.accept_segment(seg))
    finally:
        seeder.close()
    queued = site.sql("SELECT id FROM outbox WHERE state = 'pending'")
    assert len(queued) == 40 * 3, queued
    before = len(_files(site.root / "platform"))

    killed = _drain(a)
    await wait_for(
        lambda: len(_files(site.root / "platform")) > before, 30, "node a to upload a first file"
    )
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    orphans = site.sql(
        "SELECT id, lease_until FROM outbox WHERE state = 'pending' AND owner IS NOT NULL"
    )
    assert orphans, "node a held no lease when killed: the kill came too late to prove anything"
    done_by_a = len(_files(site.root / "platform")) - before

    first = _drain(b)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    still = {r[0] for r in site.sql("SELECT id FROM outbox WHERE state = 'pending'")}
    assert still == {r[0] for r in orphans}, "node b took leased items, or left others"
    expiry = max(r[1] for r in orphans)  # naive UTC, as the database keeps it
    await wait_for(
        lambda: datetime.now(UTC).replace(tzinfo=None) > expiry + timedelta(seconds=0.5),
        LEASE_SECONDS + 5,
        "node a's leases to expire",
        interval=0.2,
    )
    second = _drain(b)
    out2, err2 = second.communicate(timeout=60)
    assert second.returncode == 0, err2
    assert not site.sql("SELECT id FROM outbox WHERE state = 'pending'")
    assert _uploaded(out) + _uploaded(out2) + done_by_a >= 40 * 3
    lease_of = {r[0]: r[1] for r in orphans}
    for item_id, attempts, done_at in site.sql(
        "SELECT id, attempts, done_at FROM outbox WHERE op = 'upload'"
    ):
        if item_id in lease_of:
            assert attempts == 2 and done_at >= lease_of[item_id], (item_id, attempts, done_at)
        else:
            assert attempts == 1, (item_id, attempts)
    assert len(_files(site.root / "platform")) == before + 40 * 3

    # -- rematch run on both nodes at once: each match assigned once ------------------
    crm = tmp_path / "crm.csv"
    crm.write_text("id,cell_phone\n" + "".join(f"{i},+1415555{1000 + i:04d}\n" for i in range(20)))
    assert (
        callrec("crm", "import", str(crm), "--kind", "agent", "--settings", str(a)).returncode == 0
    )
    both = [
        subprocess.Popen(
            [sys.executable, "-m", "callrec", "rematch", "--settings", str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (a, b)
    ]
    results = [p.communicate(timeout=60) for p in both]
    assert all(p.returncode == 0 for p in both), results
    assert sorted(int(o.split()[1]) for o, _ in results) in ([0, 20],), results
    pairs = site.sql("SELECT recording_id, record_id FROM assignments")
    assert len(pairs) == len(set(pairs)) == 20, pairs
    runs = site.sql("SELECT detail FROM audit_log WHERE action = 'rematch'")
    assert len(runs) == 1 and runs[0][0]["assignments"] == 20, runs  # one entry for the run
    assert site.sql("SELECT DISTINCT run FROM assignments") == [(runs[0][0]["run"],)]

    # -- retention on both nodes at once, then both drain the deletes ------------------
    both = [
        subprocess.Popen(
            [sys.executable, "-m", "callrec", "retention", "run", "--settings", str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (a, b)
    ]
    results = [p.communicate(timeout=60) for p in both]
    assert all(p.returncode == 0 for p in both), results
    deleted = {r[0] for r in site.sql("SELECT id FROM recordings WHERE state = 'deleted'")}
    assert deleted == set(seeded[20:]), "retention deleted other recordings than the old unassigned"
    audit = site.sql("SELECT recording_id FROM audit_log WHERE action = 'delete'")
    assert sorted(r[0] for r in audit) == sorted(deleted), "a deletion audited twice"
    deletes = site.sql("SELECT remote_name FROM outbox WHERE op = 'delete'")
    assert len(deletes) == len(set(deletes)) == 3 * len(deleted), deletes
    drains = [_drain(n) for n in (a, b)]
    outs = [d.communicate(timeout=60) for d in drains]
    assert all(d.returncode == 0 for d in drains), outs
    assert sum(int(o.split("deleted ")[1].split(",")[0]) for o, _ in outs) == 3 * len(deleted)
    assert all(r == (1,) for r in site.sql("SELECT attempts FROM outbox WHERE op = 'delete'"))
    remaining = {p.name.split(".")[0] for p in _files(site.root / "platform")}
    assert not remaining & deleted
