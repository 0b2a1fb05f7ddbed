"""A full Stasis stack on the real sandbox Asterisk: policy, app, storage, HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from ari_app.app import StasisApp
from ari_app.capturers import CaptureKind
from ari_app.client import AriClient
from callcore.ami import Ami, AmiAddress
from callcore.finish import Handoff
from callcore.mixmonitor import MonitorDir
from callcore.registry import CallRegistry
from callcore.state import CallState
from callcore.state_store import StateStore
from callrec.sandbox import Instance
from console.app import build_app
from console.users import PERMISSIONS, UserStore
from policy import Config, load_config
from storage.config import StorageConfig, UploadTargetConfig
from storage.segment import FinishedSegment
from storage.service import StorageService
from tests.support import ami
from tests.support.event_recorder import (
    RecordingAriClient,
    Tape,
    fixture_path,
    tap_app,
    tap_registry,
)
from tests.support.wait import wait_for

POLICY = """
[org]
default_mode = "on_demand"

[campaigns.auto]
mode = "all_calls"
post_transfer = "on_demand"

[campaigns.force]
mode = "all_force"
post_transfer = "all_force"

[campaigns.demand]
mode = "on_demand"

[campaigns.nope]
mode = "never"
post_transfer = "never"

[campaigns.announced]
mode = "all_calls"
announcement = "beep"

[queues.support]
record_percent = 100
announcement = "beep"

[agents.a1]
state = "TX"

[agents.a2]
state = "TX"
"""

API_USER, API_PASSWORD = "tester", "tester-password"  # all permissions, for tests only
TX_NUMBER = "+15125550142"  # Texas: one-party consent -> both legs
CA_NUMBER = "+14155550142"  # California: two-party -> agent side only


@dataclass
class KeepingSink:
    """Real storage behind a tap that keeps a copy of each segment's files."""

    storage: StorageService
    copies: Path
    segments: list[FinishedSegment] = field(default_factory=list)

    async def accept_segment(self, segment: FinishedSegment) -> str:
        target = self.copies / segment.recording_id
        target.mkdir(parents=True)
        kept = {leg: Path(shutil.copy2(p, target / p.name)) for leg, p in segment.files.items()}
        segment.extra["copies"] = kept
        stored = await self.storage.accept_segment(segment)
        # Listed once stored: hand-offs run in the background, so a test that
        # saw it here may read it from storage at once.
        self.segments.append(segment)
        return stored


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def per_call_leftovers(app: StasisApp | None) -> dict[str, Any]:
    """What the app still holds per call (locks, channel map, matchers, waiters)."""
    if app is None:
        return {}
    held: dict[str, Any] = {
        "calls": app.calls,
        "locks": app._locks,
        "translator calls": app.translator.calls,
        "translator channels": app.translator._by_channel,
        "matchers": app.translator._matchers,
        "inbound": {c: c for c in app.translator._inbound},
        "recapturing": {c: c for c in app._recapturing},
        "rechecking": {c: c for c in app._rechecking},
        "machines": app.machines,
        "waiters": app.waiters._futures,
    }
    return {name: dict(value) for name, value in held.items() if value}


class Stack:
    def __init__(
        self,
        asterisk: Instance,
        tmp: Path,
        policy_text: str = POLICY,
        capture: CaptureKind = "mixmonitor",  # the service's default ([ari] capture)
    ) -> None:
        self.asterisk = asterisk
        self.tmp = tmp
        self.capture: CaptureKind = capture
        self.capture_ami: Ami | None = None  # the app's own AMI link (MixMonitor capture)
        (tmp / "callrec.toml").write_text(policy_text)
        self.policy: Config = load_config(tmp / "callrec.toml")
        cfg = StorageConfig(
            db_url=f"sqlite:///{tmp}/callrec.db",
            store_root=tmp / "store",
            upload=UploadTargetConfig(type="local", local_dir=tmp / "platform"),
        )
        self.storage = StorageService.open(cfg)
        (tmp / "copies").mkdir()
        self.sink = KeepingSink(self.storage, tmp / "copies")
        self.registry = CallRegistry()
        tape_path = fixture_path()  # recording replay fixtures (see event_recorder)
        self.tape = Tape(tape_path) if tape_path else None
        if self.tape:
            tap_registry(self.registry, self.tape)
        self.store = StateStore(tmp / "state")
        self.handoff = Handoff(self.sink, tmp / "state" / "pending")
        self.app: StasisApp | None = None
        self.http: aiohttp.ClientSession | None = None
        self.runner: web.AppRunner | None = None
        self.ami: Any = None
        self.base = ""

    def new_app(self) -> StasisApp:
        client = (RecordingAriClient if self.tape else AriClient)(
            self.asterisk.ari_url, self.asterisk.ari_user, self.asterisk.ari_password,
            self.asterisk.app,
        )
        if isinstance(client, RecordingAriClient) and self.tape:
            client.tape = self.tape
        app = StasisApp(
            client,
            config=lambda: self.policy,
            registry=self.registry,
            store=self.store,
            handoff=self.handoff,
            recording_dir=self.asterisk.recording_dir,
            agent_endpoint=lambda agent: (
                "Local/agent2@callrec-sim/n" if agent == "a2" else "Local/agent@callrec-sim/n"
            ),
            customer_endpoint=lambda number: "Local/customer@callrec-sim/n",
            capture=self.capture,
            ami=self.capture_ami,
            monitor=self.monitor,
        )
        if self.tape:
            tap_app(app)
        return app

    async def start(self) -> None:
        await self.start_app()
        port = free_port()
        self.users = UserStore.single(API_USER, API_PASSWORD, PERMISSIONS)
        app = build_app(
            self.registry, self, storage=self.storage, users=self.users,
            policy=lambda: self.policy,
        )
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.base = f"http://127.0.0.1:{port}"
        token = base64.b64encode(f"{API_USER}:{API_PASSWORD}".encode()).decode()
        self.http = aiohttp.ClientSession(headers={"Authorization": "Basic " + token})
        self.ami = await ami.connect(self.asterisk)

    @property
    def monitor(self) -> MonitorDir:
        return MonitorDir(self.asterisk.monitor_dir, f"{self.asterisk.ast_dir}/spool/monitor")

    async def start_app(self) -> None:
        if self.capture == "mixmonitor" and self.capture_ami is None:
            inst = self.asterisk
            address = AmiAddress("127.0.0.1", inst.ports.ami, inst.ami_user, inst.ami_secret)
            self.capture_ami = Ami(address)
            await self.capture_ami.connect()
        self.app = self.new_app()
        await self.app.start()
        await asyncio.wait_for(self.app.connected.wait(), 10)

    async def stop_app(self) -> None:
        assert self.app is not None
        await self.app.stop()
        await self.app.client.close()
        self.app = None

    async def originate_call(self, **kwargs: Any) -> CallState:  # Originator for the API
        assert self.app is not None
        return await self.app.originate_call(**kwargs)

    async def close(self) -> None:
        if self.app is not None:
            for call in list(self.app.calls.values()):
                for channel in call.channels.values():
                    try:
                        await self.app.client.hangup(channel)
                    except Exception:
                        pass
            await self.wait(lambda: not self.app or not self.app.calls, 10, "calls to end")
            # Nothing is held for a call once it ended: no memory grows per call.
            try:
                await self.wait(lambda: not per_call_leftovers(self.app), 5, "objects freed")
            except BaseException:
                print("per-call objects left:", per_call_leftovers(self.app))
                raise
            await self.stop_app()
        if self.http:
            await self.http.close()
        if self.runner:
            await self.runner.cleanup()
        if self.ami:
            self.ami.close()
        if self.capture_ami is not None:
            await self.capture_ami.close()
        self.storage.close()

    # ---------------------------------------------------------------- helpers

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        assert self.http is not None
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"}
        async with self.http.request(method, self.base + path, data=data, headers=headers) as resp:
            return resp.status, await resp.json()

    async def wait(
        self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
    ) -> Any:
        return await wait_for(predicate, timeout, what)

    async def place(self, campaign: str | None, number: str = TX_NUMBER,
                    agent: str = "a1") -> CallState:
        status, body = await self.api(
            "POST", "/api/calls", {"agent": agent, "number": number, "campaign": campaign}
        )
        assert status == 201, body
        call = self.registry.get(body["call_id"])
        await self.wait(lambda: call.decision, 15, "the call to be bridged and decided")
        if call.decision and call.decision.autostart:
            await self.wait(lambda: call.recording, 10, "autostart")
        return call

    async def press(self, call: CallState, digits: str) -> None:
        assert self.app is not None
        info = await self.app.client.get_channel(call.channels["agent"])
        await ami.press(self.ami, info["name"].replace(";1", ";2"), digits)

    async def hangup(self, call: CallState) -> None:
        assert self.app is not None
        done = len(self.sink.segments) + (1 if call.recording else 0)
        await self.app.client.hangup(call.channels["customer"])
        await self.wait(lambda: call.call_id not in self.app.calls, 15, "call end")  # type: ignore[union-attr]
        await self.wait(lambda: len(self.sink.segments) >= done, 15, "segment hand-off")
