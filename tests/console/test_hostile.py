"""Hostile input gets a clear 4xx with the stable error shape; credentials never reach logs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.console.support import ADMIN, Env, basic, close_env, make_env

BF, MF, NI = "request.bad_field", "request.missing_field", "number.invalid"
BAD: list[tuple[str, str, Any, int, str]] = [
    ("GET", "/api/recordings/{assigned}/play?kind=../../etc/passwd", None, 400, "request.bad_kind"),
    ("GET", "/api/recordings/{assigned}/download?kind=stereo%00", None, 400, "request.bad_kind"),
    ("GET", "/api/recordings/..%2F..%2Fetc%2Fpasswd", None, 400, "request.bad_id"),
    ("GET", "/api/recordings/a.b", None, 400, "request.bad_id"),
    ("GET", "/api/recordings/" + "a" * 65, None, 400, "request.bad_id"),
    ("GET", "/api/recordings/%2e%2e/play", None, 404, "route.not_found"),
    ("GET", "/static/../console/users.py", None, 404, "route.not_found"),
    ("GET", "/static/%2e%2e/users.py", None, 404, "route.not_found"),
    ("GET", "/api/recordings?state=everything", None, 400, "request.bad_query"),
    ("GET", "/api/recordings?limit=100000", None, 400, "request.bad_query"),
    ("GET", "/api/recordings?limit=-1", None, 400, "request.bad_query"),
    ("GET", "/api/recordings?record_id=1;DROP", None, 400, "request.bad_query"),
    ("GET", "/api/recordings?number=not-a-number", None, 400, "number.invalid"),
    ("GET", "/api/records/abc", None, 400, "request.bad_id"),
    ("GET", "/api/records/99999", None, 404, "record.not_found"),
    ("GET", "/api/recordings/" + "0" * 32, None, 404, "recording.not_found"),
    ("POST", "/api/recordings/{near}/assign", {"record_id": "1"}, 400, "request.bad_field"),
    ("POST", "/api/recordings/{near}/assign", {"record_id": True}, 400, "request.bad_field"),
    ("POST", "/api/recordings/{near}/assign", {"record_id": -4}, 400, "request.bad_field"),
    ("POST", "/api/recordings/{near}/assign", {}, 400, "request.missing_field"),
    ("POST", "/api/recordings/{near}/assign", [1], 400, "request.bad_json"),
    ("POST", "/api/recordings/bulk-delete", {"ids": "all"}, 400, "request.bad_field"),
    ("POST", "/api/recordings/bulk-delete", {"ids": []}, 400, "request.bad_field"),
    ("POST", "/api/recordings/bulk-delete", {"ids": [1, 2]}, 400, "request.bad_field"),
    ("POST", "/api/recordings/bulk-delete", {"ids": ["../x"]}, 400, "request.bad_id"),
    ("POST", "/api/recordings/bulk-delete", {"ids": ["a"] * 1001}, 400, "request.bad_field"),
    ("DELETE", "/api/recordings/{unassigned}", {"reason": 5}, 400, "request.bad_field"),
    (
        "POST",
        "/api/calls/call-1/transfer",
        {"agent": "a2", "continue_recording": "yes"},
        400,
        "request.bad_field",
    ),
    ("POST", "/api/calls/call-1/transfer", {"agent": ["a2"]}, 400, "request.bad_field"),
    ("POST", "/api/calls/call-1/recording/explode", None, 404, "action.unknown"),
    ("POST", "/api/calls", {"agent": "a1", "number": 5}, 400, "request.bad_field"),
    ("GET", "/api/audit?recording_id=../../etc", None, 400, "request.bad_id"),
    ("GET", "/api/audit?recording_id=" + "a" * 65, None, 400, "request.bad_id"),
    ("GET", "/api/audit?limit=0", None, 400, "request.bad_query"),
    ("GET", "/api/audit?limit=501", None, 400, "request.bad_query"),
    ("GET", "/api/audit?limit=ten", None, 400, "request.bad_query"),
    ("GET", "/api/audit?offset=-1", None, 400, "request.bad_query"),
    ("POST", "/api/recordings/a.b/hold", {"on": True, "reason": "x"}, 400, "request.bad_id"),
    ("POST", "/api/recordings/{unassigned}/hold", {"on": "yes", "reason": "x"}, 400, BF),
    ("POST", "/api/recordings/{unassigned}/hold", {"on": 1, "reason": "x"}, 400, BF),
    ("POST", "/api/recordings/{unassigned}/hold", {"reason": "x"}, 400, MF),
    ("POST", "/api/recordings/{unassigned}/hold", {"on": True}, 400, MF),
    ("POST", "/api/recordings/{unassigned}/hold", {"on": True, "reason": "  "}, 400, MF),
    ("POST", "/api/recordings/{unassigned}/hold", {"on": True, "reason": 5}, 400, BF),
    ("POST", "/api/recordings/{unassigned}/hold", {"on": True, "reason": "x" * 501}, 400, BF),
    ("POST", "/api/recordings/{unassigned}/hold", [True], 400, "request.bad_json"),
    ("POST", "/api/recordings/{unassigned}/hold", "on", 400, "request.bad_json"),
    ("POST", "/api/holds", {"number": 2125550199, "on": True, "reason": "x"}, 400, BF),
    ("POST", "/api/holds", {"number": "1" * 65, "on": True, "reason": "x"}, 400, BF),
    ("POST", "/api/holds", {"on": True, "reason": "x"}, 400, MF),
    ("POST", "/api/holds", {"number": "+12125550199", "on": None, "reason": "x"}, 400, MF),
    ("POST", "/api/holds", {"number": "not-a-number", "on": True, "reason": "x"}, 400, NI),
    ("POST", "/api/holds", {"number": "' OR 1=1 --", "on": True, "reason": "x"}, 400, NI),
    ("POST", "/api/erasure", {"number": "+12125550199"}, 400, MF),
    ("POST", "/api/erasure", {"number": "+12125550199", "reason": ""}, 400, MF),
    ("POST", "/api/erasure", {"number": ["+12125550199"], "reason": "x"}, 400, BF),
    ("POST", "/api/erasure", {"number": "", "reason": "x"}, 400, MF),
    ("POST", "/api/erasure", {"number": "12", "reason": "x"}, 400, NI),
    ("POST", "/api/erasure", {"number": "+1212555\u0000199", "reason": "x"}, 400, NI),
    ("GET", "/api/erasure", None, 405, "route.method_not_allowed"),
    ("PUT", "/api/calls", None, 405, "route.method_not_allowed"),
    ("GET", "/api/nothing/here", None, 404, "route.not_found"),
]


@pytest.mark.parametrize("case", BAD, ids=lambda c: f"{c[0]} {c[1][:50]} {c[4]}")
async def test_hostile_input(shared_env: Env, case: tuple[str, str, Any, int, str]) -> None:
    method, path, body, want, code = case
    status, data = await shared_env.call(method, path.format(**shared_env.ids), "admin", body)
    assert status == want, data
    assert isinstance(data, dict) and set(data["error"]) >= {"code", "message"}, data
    assert data["error"]["code"] == code, data


async def test_not_json_and_oversized_bodies(tmp_path: Path) -> None:
    env = await make_env(tmp_path, max_body_bytes=1024)
    try:
        status, data = await env.call(
            "POST", "/api/calls/call-1/transfer", "admin", data="{not json"
        )
        assert status == 400 and data["error"]["code"] == "request.bad_json"
        status, data = await env.call(
            "POST", "/api/calls/call-1/transfer", "admin", data=b"\xff\xfe\x00"
        )
        assert status == 400 and data["error"]["code"] == "request.bad_json"
        big = {"ids": ["a" * 60] * 100}
        status, data = await env.call("POST", "/api/recordings/bulk-delete", "admin", big)
        assert status == 413 and data["error"]["code"] == "request.too_large"
        big_reason = {"number": "+12125550199", "reason": "x" * 2000}
        status, data = await env.call("POST", "/api/erasure", "admin", big_reason)
        assert status == 413 and data["error"]["code"] == "request.too_large"
        status, data = await env.call("POST", "/api/holds", "admin", data="{not json")
        assert status == 400 and data["error"]["code"] == "request.bad_json"
        # nothing of the number was touched by the refused requests
        rec = await env.storage.get_recording(ADMIN, env.ids["unassigned"])
        assert rec.state == "unassigned" and not rec.legal_hold
    finally:
        await close_env(env)


async def test_basic_state_change_needs_json_content_type(shared_env: Env) -> None:
    headers = basic("admin")
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    status, data = await shared_env.call("POST", "/api/rematch", None, headers=headers, data="a=b")
    assert status == 415 and data["error"]["code"] == "request.json_required"
    form = "number=%2B12125550199&reason=x"
    status, data = await shared_env.call("POST", "/api/erasure", None, headers=headers, data=form)
    assert status == 415 and data["error"]["code"] == "request.json_required"


async def test_bad_credentials_are_401_and_never_logged(
    shared_env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Tr0ub4dor-never-log-me"
    status, data = await shared_env.call(
        "GET", "/api/calls", "admin", headers=basic("admin", secret)
    )
    assert status == 401 and data["error"]["code"] == "auth.required"
    status, data = await shared_env.call(
        "GET", "/api/calls", None, headers={"Authorization": "Basic !!!notbase64"}
    )
    assert status == 401
    status, data = await shared_env.call(
        "GET", "/api/calls", None, headers={"Authorization": "Bearer " + secret}
    )
    assert status == 401
    async with shared_env.client.get("/login") as resp:
        token = resp.cookies["callrec_login"].value
    form = {"username": "admin", "password": secret, "token": token, "next": "/"}
    async with shared_env.client.post("/login", data=form, allow_redirects=False) as resp:
        assert resp.status == 401
    assert caplog.records, "the refusals should be logged"
    assert secret not in caplog.text
    for rec in caplog.records:
        assert secret not in str(rec.args)
