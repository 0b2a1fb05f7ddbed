"""`callrec serve` as a real process: a call recorded, the service killed -9
mid-call and restarted, the recording finished and delivered to storage."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from ari_app.client import AriClient
from callrec.sandbox import Instance
from storage.config import StorageConfig, UploadTargetConfig
from storage.permissions import Actor
from storage.service import StorageService
from tests.ari.harness import POLICY, TX_NUMBER, free_port
from tests.support.wait import wait_for

pytestmark = pytest.mark.asterisk

USERS = """
[roles.ops]
permissions = ["admin", "calls"]
[users.ops]
password_hash = "{hash}"
roles = ["ops"]
"""


def _settings(tmp: Path, inst: Instance) -> Path:
    from console.users import hash_password

    (tmp / "callrec.toml").write_text(POLICY)
    (tmp / "users.toml").write_text(USERS.format(hash=hash_password("ops-pass")))
    (tmp / "service.toml").write_text(
        f"""
policy_config = "callrec.toml"
state_dir = "state"
[asterisk]
instance = "{inst.name}"
[http]
port = 0
users_file = "users.toml"
[agi]
port = {free_port()}
[storage]
db_url = "sqlite:///callrec.db"
store_root = "store"
[storage.upload]
type = "local"
local_dir = "platform"
"""
    )
    return tmp / "service.toml"


def _start(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    ready = tmp / "ready"
    ready.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "callrec",
            "serve",
            "--settings",
            str(tmp / "service.toml"),
            "--ready-file",
            str(ready),
        ],
        stdout=(tmp / "serve.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None, (tmp / "serve.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "serve did not become ready"
        time.sleep(0.1)
    return proc, ready.read_text()


async def _call(http: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    async with http.get(url) as resp:
        return resp.status, await resp.json()


async def test_serve_killed_mid_call_then_restarted_delivers_the_recording(
    asterisk: Instance, tmp_path: Path, no_leaks: None
) -> None:
    _settings(tmp_path, asterisk)
    proc, base = _start(tmp_path)
    auth = aiohttp.BasicAuth("ops", "ops-pass")
    async with aiohttp.ClientSession(auth=auth) as http:
        try:
            async with http.post(
                f"{base}/api/calls", json={"agent": "a1", "number": TX_NUMBER, "campaign": "auto"}
            ) as resp:
                assert resp.status == 201, await resp.text()
                call_id = (await resp.json())["call_id"]

            async def recording() -> bool:
                status, body = await _call(http, f"{base}/api/calls/{call_id}")
                return status == 200 and body["recording"]

            await wait_for(recording, 15, "the recording to start")
            await asyncio.sleep(1.0)
            os.kill(proc.pid, signal.SIGKILL)  # no cleanup of any kind
            proc.wait()
            await asyncio.sleep(1.5)  # Asterisk keeps recording meanwhile
            proc, base = _start(tmp_path)
            await wait_for(recording, 15, "the restarted service to find the call")
            await asyncio.sleep(1.0)
            async with AriClient(
                asterisk.ari_url, asterisk.ari_user, asterisk.ari_password, "other"
            ) as raw:
                channels = await raw.list_channels()
                customer = [c for c in channels if c["id"] == f"{call_id}-c"]
                assert customer, [c["id"] for c in channels]
                await raw.hangup(customer[0]["id"])

            async def gone() -> bool:
                status, _ = await _call(http, f"{base}/api/calls/{call_id}")
                return status == 404

            await wait_for(gone, 15, "the call to end")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0, (tmp_path / "serve.log").read_text()[-3000:]
    cfg = StorageConfig(
        db_url=f"sqlite:///{tmp_path}/callrec.db",
        store_root=tmp_path / "store",
        upload=UploadTargetConfig(type="local", local_dir=tmp_path / "platform"),
    )
    storage = StorageService.open(cfg)
    try:
        recs = await storage.list_recordings(Actor.of("test", "admin"))
        [rec] = [r for r in recs if r.call_id == call_id]
        assert rec.legs == "both" and rec.duration_seconds > 3.0, rec
        assert {f.kind for f in rec.files} >= {"agent", "customer", "stereo"}
        assert not [f for f in rec.flags if f.startswith("short_capture")], rec.flags
    finally:
        storage.close()
