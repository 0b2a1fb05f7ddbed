"""The compliance admin's API: audit log paging, legal holds, erasure; actor = logged-in user."""

from __future__ import annotations

from typing import Any

from tests.console.support import ADMIN, Env, segment
from tests.console.test_auth import login


async def _audit(env: Env, query: str = "", user: str = "admin") -> dict[str, Any]:
    status, body = await env.call("GET", "/api/audit" + query, user)
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def test_audit_is_newest_first_filtered_and_paged(env: Env) -> None:
    rid = env.ids["unassigned"]
    for _ in range(5):
        await env.storage.get_recording(ADMIN, rid)  # five "view" entries by "setup"
    everything = await _audit(env, "?limit=500")
    ids = [e["id"] for e in everything["entries"]]
    assert ids == sorted(ids, reverse=True) and len(ids) >= 8
    assert everything["has_more"] is False and everything["offset"] == 0
    newest = everything["entries"][0]
    assert newest["action"] == "view" and newest["actor"] == "setup"
    assert newest["recording_id"] == rid and newest["at"].endswith("Z")

    # pages of 3 walk the same entries in the same order, without gaps or repeats
    seen: list[int] = []
    offset = 0
    while True:
        page = await _audit(env, f"?limit=3&offset={offset}")
        assert page["limit"] == 3 and len(page["entries"]) <= 3
        seen += [e["id"] for e in page["entries"]]
        if not page["has_more"]:
            break
        offset += 3
    assert seen == ids

    only = await _audit(env, f"?recording_id={rid}")
    assert {e["recording_id"] for e in only["entries"]} == {rid}
    assert [e["action"] for e in only["entries"]] == ["view"] * 5 + ["ingest"]
    assert (await _audit(env, "?recording_id=" + "f" * 32))["entries"] == []


async def test_recording_hold_blocks_delete_until_released(env: Env) -> None:
    rid = env.ids["unassigned"]
    status, body = await env.call(
        "POST", f"/api/recordings/{rid}/hold", "dpo", {"on": True, "reason": " case 2024-17 "}
    )
    assert status == 200 and body == {
        "recording_id": rid,
        "legal_hold": True,
        "reason": "case 2024-17",
    }
    assert (await env.storage.get_recording(ADMIN, rid)).legal_hold is True
    status, body = await env.call("DELETE", f"/api/recordings/{rid}", "deleter")
    assert status == 409 and body["error"]["code"] == "hold.active"
    status, body = await env.call(
        "POST", "/api/recordings/bulk-delete", "deleter", {"ids": [rid, env.ids["near"]]}
    )
    assert body == {"deleted": [env.ids["near"]], "refused": {rid: "hold.active"}}

    status, body = await env.call(
        "POST", f"/api/recordings/{rid}/hold", "admin", {"on": False, "reason": "case closed"}
    )
    assert status == 200 and body["legal_hold"] is False
    status, body = await env.call("DELETE", f"/api/recordings/{rid}", "deleter")
    assert status == 200

    entries = (await _audit(env, f"?recording_id={rid}"))["entries"]
    changes = [
        (e["actor"], e["action"], e["detail"].get("reason"))
        for e in entries
        if e["action"] in ("hold", "release_hold", "delete")
    ]
    assert changes == [
        ("deleter", "delete", "deleted by user"),
        ("admin", "release_hold", "case closed"),
        ("dpo", "hold", "case 2024-17"),
    ]


async def test_hold_on_missing_or_deleted_recording(env: Env) -> None:
    body_on = {"on": True, "reason": "case"}
    status, body = await env.call("POST", "/api/recordings/" + "0" * 32 + "/hold", "admin", body_on)
    assert status == 404 and body["error"]["code"] == "recording.not_found"
    await env.storage.delete_recording(ADMIN, env.ids["near"])
    status, body = await env.call(
        "POST", f"/api/recordings/{env.ids['near']}/hold", "admin", body_on
    )
    assert status == 410 and body["error"]["code"] == "recording.deleted"


async def test_number_hold_keeps_every_recording_of_the_number(env: Env) -> None:
    rid = env.ids["unassigned"]  # +12125550199
    status, body = await env.call(
        "POST", "/api/holds", "dpo", {"number": "(212) 555-0199", "on": True, "reason": "dispute"}
    )
    assert status == 200 and body == {"number": "+12125550199", "on": True, "reason": "dispute"}
    status, body = await env.call("DELETE", f"/api/recordings/{rid}", "admin")
    assert status == 409 and body["error"]["code"] == "hold.active"
    status, body = await env.call(
        "POST", "/api/holds", "dpo", {"number": "+1 212 555 0199", "on": False, "reason": "done"}
    )
    assert status == 200 and body["on"] is False
    status, body = await env.call("DELETE", f"/api/recordings/{rid}", "admin")
    assert status == 200
    entries = (await _audit(env, "?limit=20"))["entries"]
    holds = [e for e in entries if e["action"] in ("number_hold", "release_number_hold")]
    assert [(e["actor"], e["action"]) for e in holds] == [
        ("dpo", "release_number_hold"),
        ("dpo", "number_hold"),
    ]
    assert all(e["detail"]["number"].endswith("0199") for e in holds)
    assert all("212555" not in e["detail"]["number"] for e in holds)  # masked


async def test_erasure_deletes_unheld_recordings_assigned_or_not(env: Env) -> None:
    number = "+14155550100"  # the assigned recording's number
    held = await env.storage.accept_segment(segment(env.tmp, number))
    also = await env.storage.accept_segment(segment(env.tmp, "415-555-0100"))
    await env.storage.set_hold(ADMIN, held, True, "court order")
    status, body = await env.call(
        "POST", "/api/erasure", "dpo", {"number": "(415) 555-0100", "reason": "GDPR art. 17"}
    )
    assert status == 200, body
    assert body["number"] == number
    deleted = {env.ids["assigned"], also}
    assert set(body["deleted"]) == deleted and body["held"] == [held]
    for rid in deleted:
        rec = await env.storage.get_recording(ADMIN, rid)
        assert rec.state == "deleted" and rec.customer_e164 is None  # number scrubbed
    assert (await env.storage.get_recording(ADMIN, held)).state != "deleted"
    erasures = [e for e in (await _audit(env))["entries"] if e["action"] == "erasure"]
    assert len(erasures) == 1 and erasures[0]["actor"] == "dpo"
    assert erasures[0]["detail"]["reason"] == "GDPR art. 17"
    assert erasures[0]["detail"]["held"] == [held]

    # a second request finds nothing left to delete but still reports the hold
    status, body = await env.call(
        "POST", "/api/erasure", "admin", {"number": number, "reason": "repeat"}
    )
    assert status == 200 and body["deleted"] == [] and body["held"] == [held]


async def test_session_user_is_the_actor_and_csrf_is_required(env: Env) -> None:
    status, _, csrf = await login(env, "dpo", "/admin")
    assert status == 303 and csrf
    async with env.client.get("/admin") as resp:
        html = await resp.text()
        assert resp.status == 200 and 'href="/admin"' in html and "admin.js" in html
    rid = env.ids["unassigned"]
    body = {"on": True, "reason": "from the page"}
    async with env.client.post(f"/api/recordings/{rid}/hold", json=body) as resp:
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "csrf.failed"
    assert (await env.storage.get_recording(ADMIN, rid)).legal_hold is False
    headers = {"X-CSRF-Token": csrf}
    async with env.client.post(f"/api/recordings/{rid}/hold", json=body, headers=headers) as resp:
        assert resp.status == 200
    async with env.client.get(f"/api/audit?recording_id={rid}&limit=1") as resp:
        [entry] = (await resp.json())["entries"]
    assert (entry["actor"], entry["action"]) == ("dpo", "hold")


async def test_admin_link_only_for_admins(env: Env) -> None:
    status, _, _ = await login(env, "qa", "/unassigned")
    assert status == 303
    async with env.client.get("/unassigned") as resp:
        assert 'href="/admin"' not in await resp.text()
    async with env.client.get("/admin") as resp:
        assert resp.status == 403 and "admin" in await resp.text()
