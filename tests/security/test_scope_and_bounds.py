"""Input bounds and agent scope: long caller ids, dial-string agent ids, scoped users."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from agi_scripts.facts import valid_agent_id
from callcore.ids import safe_id
from callcore.registry import CallRegistry
from callcore.state import CallState
from console.app import build_app
from console.users import UsersError, UserStore, hash_password
from storage.models import Recording
from storage.permissions import Actor
from storage.service import StorageService
from tests.console.support import basic, password, segment
from tests.storage.conftest import make_segment

ADMIN = Actor.of("setup", "admin")


async def test_a_long_caller_id_is_stored_not_retried(
    service: StorageService, tmp_path: Path
) -> None:
    """On PostgreSQL the 64-character column used to fail the insert, and the
    hand-off retried it forever; now the recording is stored, flagged."""
    seg = make_segment(tmp_path, number="4" * 200)
    object.__setattr__(seg, "campaign", "c" * 300)
    rid = await service.accept_segment(seg)
    with service.db.session() as s:
        rec = s.get(Recording, rid)
        assert rec is not None
        assert rec.customer_number_raw == "4" * 64 and rec.customer_e164 is None
        assert rec.campaign == "c" * 128
        assert {"number_truncated", "number_invalid", "campaign_truncated"} <= set(rec.flags)


@pytest.mark.parametrize(
    "agent", ["900123@trunk", "PJSIP/900123", "sip:9@evil", "a/b", "", "a" * 65]
)
def test_agent_ids_that_could_reach_a_dial_string_are_refused(agent: str) -> None:
    assert not valid_agent_id(agent)
    assert not safe_id(agent)
    with pytest.raises(UsersError):
        UserStore.from_dict(
            {
                "roles": {"r": {"permissions": ["calls"]}},
                "users": {
                    "u": {"password_hash": hash_password("x" * 12), "roles": ["r"], "agent": agent}
                },
            }
        )


def test_plain_agent_ids_still_work() -> None:
    for agent in ("1001", "agent_7", "j.doe", "team-2"):
        assert valid_agent_id(agent) and safe_id(agent)


class Originator:
    def __init__(self, registry: CallRegistry) -> None:
        self.registry = registry
        self.placed: list[str] = []

    async def originate_call(self, *, agent: str, number: str, **_: Any) -> CallState:
        self.placed.append(agent)
        call = CallState("f" * 32, "ari", "outbound", agent)
        self.registry.register(call, None)  # type: ignore[arg-type]
        return call


ROLES = {
    "agent": ["calls"],
    "viewer": ["view_history", "view_unassigned"],
    "deleter_only": ["delete_unassigned"],
    "assigner_only": ["assign"],
}


def _users() -> UserStore:
    def user(role: str, agent: str | None = None) -> dict[str, Any]:
        u: dict[str, Any] = {"password_hash": hash_password(password(role)), "roles": [role]}
        if agent:
            u["agent"] = agent
        return u

    return UserStore.from_dict(
        {
            "roles": {r: {"permissions": p} for r, p in ROLES.items()},
            "users": {
                "agent": user("agent", "a1"),
                "viewer": user("viewer", "b2"),
                "deleter_only": user("deleter_only"),
                "assigner_only": user("assigner_only"),
            },
        }
    )


@pytest.fixture
async def scoped(
    tmp_path: Path,
) -> AsyncIterator[tuple[TestClient, StorageService, dict[str, str], Originator]]:  # type: ignore[type-arg]
    from storage.config import StorageConfig, UploadTargetConfig

    svc = StorageService.open(
        StorageConfig(
            db_url=f"sqlite:///{tmp_path / 'callrec.db'}",
            store_root=tmp_path / "store",
            upload=UploadTargetConfig(type="none"),
        )
    )
    ids = {
        "a1": await svc.accept_segment(segment(tmp_path, "+12125550199", agent="a1")),
        "b2": await svc.accept_segment(segment(tmp_path, "+12125550198", agent="b2")),
    }
    registry = CallRegistry()
    originator = Originator(registry)
    app = build_app(registry, originator, storage=svc, users=_users())
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client, svc, ids, originator
    finally:
        await client.close()
        svc.close()


async def _call(
    client: TestClient, method: str, path: str, user: str, body: Any = None
) -> tuple[int, Any]:  # type: ignore[type-arg]
    async with client.request(
        method,
        path,
        headers=basic(user, password(user)),
        data=None if body is None else json.dumps(body),
    ) as resp:
        return resp.status, await resp.json()


async def test_a_user_scoped_to_a1_cannot_place_a_call_as_b2(scoped: Any) -> None:
    client, _, _, originator = scoped
    status, body = await _call(
        client, "POST", "/api/calls", "agent", {"agent": "b2", "number": "+12125550100"}
    )
    assert status == 403 and body["error"]["code"] == "permission.agent_scope"
    assert originator.placed == []
    status, _ = await _call(
        client, "POST", "/api/calls", "agent", {"agent": "a1", "number": "+12125550100"}
    )
    assert status == 201 and originator.placed == ["a1"]


async def test_recordings_api_is_filtered_by_agent_scope(scoped: Any) -> None:
    client, _, ids, _ = scoped
    status, body = await _call(client, "GET", "/api/recordings?state=unassigned", "viewer")
    assert status == 200
    assert [r["id"] for r in body["recordings"]] == [ids["b2"]]
    status, body = await _call(client, "GET", f"/api/recordings/{ids['a1']}", "viewer")
    assert status == 403 and body["error"]["code"] == "permission.denied"
    async with client.get(
        f"/api/recordings/{ids['a1']}/download?kind=stereo",
        headers=basic("viewer", password("viewer")),
    ) as resp:
        assert resp.status == 403
    status, _ = await _call(client, "GET", f"/api/recordings/{ids['b2']}", "viewer")
    assert status == 200


async def test_permission_edges_need_view(scoped: Any) -> None:
    client, svc, ids, _ = scoped
    status, body = await _call(
        client, "DELETE", f"/api/recordings/{ids['a1']}", "deleter_only", {"reason": "x"}
    )
    assert status == 403 and body["error"]["code"] == "permission.denied"
    outcome = await svc.delete_unassigned(
        Actor.of("deleter_only", "delete_unassigned"), [ids["a1"]]
    )
    assert outcome.deleted == [] and outcome.refused == {ids["a1"]: "permission.denied"}
    assert (await svc.get_recording(ADMIN, ids["a1"])).state == "unassigned"

    with pytest.raises(Exception) as err:
        await svc.assign(Actor.of("assigner_only", "assign"), ids["a1"], 1)
    assert getattr(err.value, "code", "") == "permission.denied"
