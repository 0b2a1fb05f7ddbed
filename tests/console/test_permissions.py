"""Every endpoint x every role: allowed where the role has the permission, 403 otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.support import ROLES, Env

MISSING = "0" * 32
NO_ROLE = None

# (method, path, body, needed): needed is a permission, "a|b" (either), "a&b" (both),
# "authenticated" or "public". Allowed writes target unknown ids so the data stays put.
ENDPOINTS: list[tuple[str, str, Any, str]] = [
    ("GET", "/api/health", None, "public"),
    ("GET", "/api/openapi.json", None, "authenticated"),
    ("GET", "/metrics", None, "metrics"),
    ("GET", "/api/calls", None, "calls"),
    ("POST", "/api/calls", {"agent": "a1", "number": "+15125550142"}, "calls"),
    ("GET", "/api/calls/call-1", None, "calls"),
    ("POST", "/api/calls/call-1/recording/pause", None, "calls"),
    ("POST", "/api/calls/nope/recording/stop", None, "calls"),
    ("POST", "/api/calls/nope/transfer", {"agent": "a2"}, "calls"),
    ("GET", "/api/events", None, "calls"),
    ("GET", "/api/recordings", None, "view_history|view_unassigned"),
    ("GET", "/api/recordings?state=assigned", None, "view_history"),
    ("GET", "/api/recordings?state=unassigned", None, "view_unassigned"),
    ("GET", "/api/recordings/{assigned}", None, "view_history"),
    ("GET", "/api/recordings/{unassigned}", None, "view_unassigned"),
    ("GET", "/api/recordings/{assigned}/play", None, "view_history"),
    ("GET", "/api/recordings/{unassigned}/play?kind=agent", None, "view_unassigned"),
    ("GET", "/api/recordings/{assigned}/download", None, "view_history"),
    ("GET", "/api/recordings/{unassigned}/download", None, "view_unassigned"),
    ("GET", "/api/recordings/{near}/candidates", None, "assign&view_unassigned"),
    ("POST", "/api/recordings/{near}/assign", {"record_id": 999999}, "assign"),
    ("DELETE", f"/api/recordings/{MISSING}", None, "delete_unassigned"),
    ("POST", "/api/recordings/bulk-delete", {"ids": [MISSING]}, "delete_unassigned"),
    ("GET", "/api/unassigned", None, "view_unassigned"),
    ("GET", "/api/records/{record}", None, "view_history"),
    ("POST", "/api/rematch", None, "assign"),
    ("GET", "/api/audit", None, "admin"),
    ("GET", "/api/audit?recording_id={unassigned}&limit=5&offset=0", None, "admin"),
    ("POST", f"/api/recordings/{MISSING}/hold", {"on": True, "reason": "case 1"}, "admin"),
    ("POST", "/api/holds", {"number": "+15125550111", "on": False, "reason": "none"}, "admin"),
    ("POST", "/api/erasure", {"number": "+15125550111", "reason": "request 7"}, "admin"),
    ("GET", "/console", None, "calls"),
    ("GET", "/recordings", None, "view_history"),
    ("GET", "/records/{record}", None, "view_history"),
    ("GET", "/unassigned", None, "view_unassigned"),
    ("GET", "/admin", None, "admin"),
    ("GET", "/", None, "authenticated"),
]


def allowed(role: str, needed: str) -> bool:
    perms = set(ROLES[role])
    if needed in ("public", "authenticated") or "admin" in perms:
        return True
    if "&" in needed:
        return all(p in perms for p in needed.split("&"))
    return any(p in perms for p in needed.split("|"))


def ids(endpoint: tuple[str, str, Any, str]) -> str:
    return f"{endpoint[0]} {endpoint[1]}"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
async def test_endpoint_for_every_role(
    shared_env: Env, endpoint: tuple[str, str, Any, str]
) -> None:
    method, path, body, needed = endpoint
    path = path.format(**shared_env.ids)
    page = not path.startswith(("/api", "/metrics"))
    for role in [NO_ROLE, *ROLES]:
        status, data = await shared_env.call(method, path, role, body)
        where = f"{method} {path} as {role}: {status} {str(data)[:200]}"
        if role is None:
            if needed == "public":
                assert status == 200, where
            elif page:
                assert status == 303, where  # to the login form
            else:
                assert status == 401, where
                assert data["error"]["code"] == "auth.required", where
        elif allowed(role, needed):
            assert status not in (401, 403), where
            assert status < 500 or status == 503, where
        else:
            assert status == 403, where
            if page:
                assert "not allowed" in data, where
            else:
                assert data["error"]["code"] == "permission.denied", where


async def test_allowed_actions_really_happen(env: Env) -> None:
    """The allowed side of the writes, with real effects."""
    ids = env.ids
    status, body = await env.call(
        "POST", f"/api/recordings/{ids['near']}/assign", "assigner", {"record_id": ids["record"]}
    )
    assert status == 200 and body["state"] == "assigned" and body["record_id"] == ids["record"]
    status, body = await env.call("GET", f"/api/recordings/{ids['near']}", "history")
    assert body["state"] == "assigned" and ids["record"] in body["record_ids"]
    status, body = await env.call("GET", f"/api/recordings/{ids['near']}", "assigner")
    assert status == 403
    status, body = await env.call("DELETE", f"/api/recordings/{ids['unassigned']}", "deleter")
    assert status == 200 and body == {"deleted": [ids["unassigned"]]}
    status, body = await env.call("GET", f"/api/recordings/{ids['unassigned']}", "deleter")
    assert status == 200 and body["state"] == "deleted"
    status, body = await env.call("GET", f"/api/recordings/{ids['unassigned']}/play", "deleter")
    assert status == 410 and body["error"]["code"] == "recording.deleted"


async def test_assigned_cannot_be_deleted_and_bulk_reports_refusals(env: Env) -> None:
    ids = env.ids
    status, body = await env.call("DELETE", f"/api/recordings/{ids['assigned']}", "admin")
    assert status == 409 and body["error"]["code"] == "recording.assigned"
    status, body = await env.call(
        "POST",
        "/api/recordings/bulk-delete",
        "deleter",
        {"ids": [ids["assigned"], ids["unassigned"], ids["near"], "f" * 32]},
    )
    assert status == 200, body
    assert body["deleted"] == sorted([ids["unassigned"], ids["near"]])
    assert body["refused"] == {
        ids["assigned"]: "recording.assigned",
        "f" * 32: "recording.not_found",
    }


async def test_hold_blocks_delete_with_409(env: Env) -> None:
    from tests.console.support import ADMIN

    await env.storage.set_hold(ADMIN, env.ids["unassigned"], True, "litigation")
    status, body = await env.call("DELETE", f"/api/recordings/{env.ids['unassigned']}", "admin")
    assert status == 409 and body["error"]["code"] == "hold.active"


async def test_play_streams_wav_with_range(env: Env) -> None:
    path = f"/api/recordings/{env.ids['assigned']}/play"
    async with env.client.get(path, headers={**_auth("history"), "Range": "bytes=0-11"}) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Type"] == "audio/wav"
        assert (await resp.read())[:4] == b"RIFF"
    async with env.client.get(path + "?kind=customer", headers=_auth("history")) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "audio/wav"
    dl = f"/api/recordings/{env.ids['assigned']}/download?kind=stereo"
    async with env.client.get(dl, headers=_auth("history")) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Disposition"].startswith("attachment;")
    log = await env.storage.audit_log(
        __import__("tests.console.support").console.support.ADMIN, env.ids["assigned"]
    )
    actions = [(a.actor, a.action) for a in log]
    assert ("history", "play") in actions and ("history", "download") in actions


async def test_unassigned_list_offers_candidates_only_to_assigners(env: Env) -> None:
    status, body = await env.call("GET", "/api/unassigned", "assigner")
    assert status == 200
    by_id = {r["id"]: r for r in body["recordings"]}
    assert set(by_id) == {env.ids["unassigned"], env.ids["near"]}
    near = by_id[env.ids["near"]]["candidates"]
    assert {c["name"] for c in near} == {"Ann Archer", "Bob Baker"}
    assert all(c["match"] == "near" for c in near)
    assert by_id[env.ids["unassigned"]]["candidates"] == []
    status, body = await env.call("GET", "/api/unassigned", "unassigned")
    assert status == 200 and all("candidates" not in r for r in body["recordings"])
    status, body = await env.call(
        "GET", f"/api/recordings/{env.ids['assigned']}/candidates", "admin"
    )
    assert next((c["name"], c["match"]) for c in body["candidates"]) == ("Ann Archer", "exact")


async def test_record_view_and_filters(env: Env) -> None:
    status, body = await env.call("GET", f"/api/records/{env.ids['record']}", "history")
    assert status == 200 and body["record"]["name"] == "Ann Archer"
    assert [r["id"] for r in body["recordings"]] == [env.ids["assigned"]]
    status, body = await env.call("GET", "/api/recordings?number=(212) 555-0199", "qa")
    assert [r["id"] for r in body["recordings"]] == [env.ids["unassigned"]]
    status, body = await env.call("GET", "/api/recordings", "history")
    assert {r["state"] for r in body["recordings"]} == {"assigned"}


async def test_agent_bound_user_sees_own_calls_only(env: Env) -> None:
    env.add_call("call-2", agent="a2")
    status, body = await env.call("GET", "/api/calls", "agent_a1")
    assert [c["call_id"] for c in body["calls"]] == ["call-1"]
    status, body = await env.call("POST", "/api/calls/call-2/recording/stop", "agent_a1")
    assert status == 404
    status, body = await env.call("GET", "/api/calls", "agent")
    assert {c["call_id"] for c in body["calls"]} == {"call-1", "call-2"}


async def test_forbidden_action_is_409_with_rule(env: Env) -> None:
    env.add_call("forced", mode="all_force", campaign="force")
    status, body = await env.call("POST", "/api/calls/forced/recording/stop", "agent")
    assert status == 409
    assert body["error"] == {
        "code": "action.refused",
        "message": body["error"]["message"],
        "rule": "action.stop_forbidden_all_force",
        "action": "stop",
    }
    status, body = await env.call("GET", "/api/calls/forced", "agent")
    assert body["allowed"]["stop"] == "action.stop_forbidden_all_force"
    status, body = await env.call(
        "POST", "/api/calls/forced/transfer", "agent", {"agent": "a2", "continue_recording": True}
    )
    assert status == 202 and env.controller.transfers == [("a2", True)]


def _auth(user: str) -> dict[str, str]:
    from tests.console.support import basic

    return basic(user)
