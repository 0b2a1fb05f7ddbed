"""Browser sessions: login form, signed HttpOnly SameSite=Strict cookie, CSRF token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcore.registry import CallRegistry
from console.app import build_app
from console.users import UserStore
from tests.console.support import Env, password


async def login(env: Env, user: str, nxt: str = "/") -> tuple[int, str, str]:
    """Returns (status, Location, csrf token of the page behind it)."""
    async with env.client.get("/login") as resp:
        html = await resp.text()
    token = re.search(r'name="token" value="([^"]+)"', html)
    assert token
    form = {"username": user, "password": password(user), "token": token[1], "next": nxt}
    async with env.client.post("/login", data=form, allow_redirects=False) as resp:
        status, location = resp.status, resp.headers.get("Location", "")
        cookie = resp.headers.get("Set-Cookie", "")
    if status == 303:
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie, cookie
    async with env.client.get("/console") as resp:
        page = await resp.text()
    csrf = re.search(r'name="csrf-token" content="([^"]*)"', page)
    return status, location, csrf[1] if csrf else ""


async def test_session_login_csrf_and_logout(env: Env) -> None:
    status, location, csrf = await login(env, "agent", "/console")
    assert status == 303 and location == "/console" and csrf
    async with env.client.get("/api/calls") as resp:
        assert resp.status == 200
    async with env.client.post("/api/calls/call-1/recording/pause", json={}) as resp:
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "csrf.failed"
    async with env.client.post(
        "/api/calls/call-1/recording/pause", json={}, headers={"X-CSRF-Token": "forged"}
    ) as resp:
        assert resp.status == 403
    async with env.client.post(
        "/api/calls/call-1/recording/pause", json={}, headers={"X-CSRF-Token": csrf}
    ) as resp:
        assert resp.status == 200 and (await resp.json())["paused"] is True
    async with env.client.get("/recordings") as resp:
        assert resp.status == 403 and "view_history" in await resp.text()
    async with env.client.post("/logout", data={"csrf": csrf}, allow_redirects=False) as resp:
        assert resp.status == 303
    async with env.client.get("/api/calls") as resp:
        assert resp.status == 401


async def test_tampered_or_foreign_cookie_is_refused(env: Env) -> None:
    await login(env, "history")
    cookie = env.client.session.cookie_jar.filter_cookies(env.client.make_url("/"))
    value = cookie["callrec_session"].value
    payload, sig = value.split(".")
    import base64

    forged = (
        base64.urlsafe_b64encode(
            base64.urlsafe_b64decode(payload + "==").replace(b"history", b"admin\x00\x00")
        )
        .decode()
        .rstrip("=")
    )
    env.client.session.cookie_jar.clear()
    async with env.client.get(
        "/api/recordings", headers={"Cookie": f"callrec_session={forged}.{sig}"}
    ) as resp:
        assert resp.status == 401


async def test_login_failures(env: Env) -> None:
    async with env.client.post("/login", data={"username": "admin", "password": "x"}) as resp:
        assert resp.status == 400  # no login form token
    status, _, _ = await login(env, "admin", "//evil.example/")
    assert status == 303
    async with env.client.get("/login") as resp:
        html = await resp.text()
    token = re.search(r'name="token" value="([^"]+)"', html)
    assert token
    form = {"username": "admin", "password": "wrong", "token": token[1]}
    async with env.client.post("/login", data=form) as resp:
        assert resp.status == 401 and "Wrong user name or password" in await resp.text()


async def test_open_redirect_is_refused(env: Env) -> None:
    status, location, _ = await login(env, "admin", "//evil.example/x")
    assert status == 303 and location == "/"


async def test_no_users_means_everything_but_health_is_401(tmp_path: Path) -> None:
    app = build_app(CallRegistry())
    async with TestClient(TestServer(app)) as client:
        async with client.get("/api/health") as resp:
            assert resp.status == 200
        for path in ("/api/calls", "/api/openapi.json", "/metrics", "/api/recordings"):
            async with client.get(path) as resp:
                assert resp.status == 401, path
                assert resp.headers["WWW-Authenticate"].startswith("Basic")
        async with client.get("/console", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"].startswith("/login")


@pytest.fixture
def tiny_app() -> web.Application:
    return build_app(CallRegistry(), users=UserStore({}))
