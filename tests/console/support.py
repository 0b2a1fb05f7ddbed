"""A console app on a real SQLite StorageService with CRM records and recordings."""

from __future__ import annotations

import base64
import json
import wave
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcore.registry import CallRegistry
from callcore.state import CallState, Segment
from console.app import build_app
from console.calls_api import Originator
from console.users import UserStore, hash_password
from policy import Config, Decision
from storage.config import StorageConfig, UploadTargetConfig
from storage.permissions import Actor
from storage.segment import FinishedSegment, new_recording_id
from storage.service import StorageService

ROLES: dict[str, list[str]] = {
    "nobody": [],
    "agent": ["calls"],
    "history": ["view_history"],
    "unassigned": ["view_unassigned"],
    "assigner": ["view_unassigned", "assign"],
    "deleter": ["view_unassigned", "delete_unassigned"],
    "qa": ["view_history", "view_unassigned", "assign", "delete_unassigned"],
    "metrics": ["metrics"],
    "admin": ["admin"],
}
ADMIN = Actor.of("setup", "admin")
_USERS: UserStore | None = None


def password(name: str) -> str:
    return f"{name}-secret-pw"


def users() -> UserStore:
    """One user per role (named like the role); hashed once per session."""
    global _USERS
    if _USERS is None:
        _USERS = UserStore.from_dict(
            {
                "roles": {r: {"permissions": p} for r, p in ROLES.items()},
                "users": {
                    r: {"password_hash": hash_password(password(r)), "roles": [r]} for r in ROLES
                }
                | {
                    "agent_a1": {
                        "password_hash": hash_password(password("agent_a1")),
                        "roles": ["agent"],
                        "agent": "a1",
                    },
                    # a second administrator, so "the actor is the logged-in user" is visible
                    "dpo": {"password_hash": hash_password(password("dpo")), "roles": ["admin"]},
                },
            }
        )
    return _USERS


def basic(name: str, pw: str | None = None) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{pw or password(name)}".encode()).decode()
    return {"Authorization": "Basic " + token, "Content-Type": "application/json"}


def write_wav(path: Path, seconds: float = 0.5, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x10\x00" * channels * int(8000 * seconds))
    return path


def segment(tmp: Path, number: str, *, agent: str = "a1", minutes_ago: int = 5) -> FinishedSegment:
    rid = new_recording_id()
    src = tmp / "capture" / rid
    start = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return FinishedSegment(
        recording_id=rid,
        call_id="call-" + rid[:8],
        segment_no=1,
        source="ari",
        direction="outbound",
        agent=agent,
        campaign="sales",
        queue=None,
        lead_list=None,
        customer_number_raw=number,
        started_at=start,
        ended_at=start + timedelta(seconds=0.5),
        legs="both",
        files={
            "agent": write_wav(src / "a.wav"),
            "customer": write_wav(src / "c.wav"),
            "stereo": write_wav(src / "s.wav", channels=2),
        },
        decision={"legs": "both", "autostart": True},
        reasons=("mode.all_calls",),
        bridged_seconds=0.5,
    )


class FakeController:
    """Stands in for a call path: applies actions to the call state."""

    def __init__(self) -> None:
        self.transfers: list[tuple[str, bool]] = []

    async def perform(self, call: CallState, action: str) -> None:
        if action == "start":
            call.segments += 1
            call.segment = Segment(
                new_recording_id(), call.segments, call.agent, "both", call.current_decision()
            )
        elif action == "stop":
            call.segment = None
        elif action == "pause" and call.segment:
            call.segment.paused = True
        elif action == "resume" and call.segment:
            call.segment.paused = False

    async def transfer(self, call: CallState, agent: str, continue_recording: bool) -> None:
        self.transfers.append((agent, continue_recording))
        call.agent = agent


def decision(mode: str) -> Decision:
    force = mode == "all_force"
    return Decision(
        legs="both",
        autostart=mode in ("all_force", "all_calls"),
        agent_can_start=not force,
        agent_can_stop=not force,
        agent_can_pause=True,
        mode=mode,  # type: ignore[arg-type]
        announce=None,
        reasons=(f"mode.{mode}",),
    )


@dataclass
class Env:
    tmp: Path
    storage: StorageService
    registry: CallRegistry
    client: TestClient  # type: ignore[type-arg]
    ids: dict[str, Any] = field(default_factory=dict)
    controller: FakeController = field(default_factory=FakeController)

    async def call(
        self, method: str, path: str, user: str | None, body: Any = None, **kw: Any
    ) -> tuple[int, Any]:
        headers = basic(user) if user else {}
        headers.update(kw.pop("headers", {}))
        data = kw.pop("data", None if body is None else json.dumps(body))
        async with self.client.request(
            method, path, headers=headers, data=data, allow_redirects=False, **kw
        ) as resp:
            raw = await resp.read()
            if not resp.content_type.startswith(("application/json", "text/")):
                return resp.status, raw
            text = raw.decode("utf-8")
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    def add_call(
        self, call_id: str, mode: str = "all_calls", agent: str = "a1", campaign: str = "auto"
    ) -> CallState:
        call = CallState(
            call_id, "ari", "outbound", agent, campaign=campaign, decision=decision(mode)
        )
        if mode in ("all_calls", "all_force"):
            call.segments = 1
            call.segment = Segment(new_recording_id(), 1, agent, "both", decision(mode))
        self.registry.register(call, self.controller)
        return call


async def make_env(
    tmp: Path,
    *,
    max_body_bytes: int = 64 * 1024,
    user_store: UserStore | None = None,
    originator: Originator | None = None,
    policy: Config | None = None,
) -> Env:
    cfg = StorageConfig(
        db_url=f"sqlite:///{tmp / 'callrec.db'}",
        store_root=tmp / "store",
        upload=UploadTargetConfig(type="none"),
    )
    svc = StorageService.open(cfg)
    crm = tmp / "people.csv"
    crm.write_text(
        "id,name,business_phone,home_phone,cell_phone\n"
        "p1,Ann Archer,(415) 555-0100,,\n"
        "p2,Bob Baker,,(512) 555-0100,\n"
    )
    await svc.import_crm(ADMIN, crm, "individual")
    ids: dict[str, Any] = {}
    ids["assigned"] = await svc.accept_segment(segment(tmp, "+14155550100", minutes_ago=9))
    ids["unassigned"] = await svc.accept_segment(segment(tmp, "+12125550199", minutes_ago=8))
    ids["near"] = await svc.accept_segment(segment(tmp, "+13105550100", minutes_ago=7))
    [ann] = (await svc.get_recording(ADMIN, ids["assigned"])).record_ids
    ids["record"] = ann
    registry = CallRegistry()
    app = build_app(
        registry,
        originator,
        storage=svc,
        users=user_store or users(),
        policy=policy,
        max_body_bytes=max_body_bytes,
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    env = Env(tmp, svc, registry, client, ids)
    env.add_call("call-1")
    return env


async def close_env(env: Env) -> None:
    await env.client.close()
    env.storage.close()


def route_table(app: web.Application) -> list[tuple[str, str]]:
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path")
        if route.method == "HEAD" or path is None:
            continue
        out.append((route.method, path))
    return out
