"""Password guessing is slowed: 429 with Retry-After after repeated failures from one address."""

from __future__ import annotations

import re

from console.auth import Throttle
from tests.console.support import Env, basic, password


def test_throttle_backoff_and_success_reset() -> None:
    """Per (user, address) pair; the full behaviour is in tests/security/test_login.py."""
    t = Throttle(free=3, max_wait=60, window=600)
    key = "bob\x0010.0.0.1"
    for i in range(3):
        assert t.wait(key, now=100 + i) == 0
        t.failed(key, now=100 + i)
    assert t.wait(key, now=102) == 1  # one second after the third failure
    assert t.wait(key, now=103) == 0
    t.failed(key, now=200)
    t.succeeded(key)
    assert t.wait(key, now=201) == 0


async def test_basic_auth_is_throttled_per_user(env: Env) -> None:
    for _ in range(3):
        status, body = await env.call("GET", "/api/calls", None, headers=basic("qa", "wrong"))
        assert status == 401 and body["error"]["code"] == "auth.required"
    async with env.client.get("/api/calls", headers=basic("qa")) as resp:
        assert resp.status == 429  # even the right password, until the backoff passes
        assert int(resp.headers["Retry-After"]) > 0
        assert (await resp.json())["error"]["code"] == "auth.throttled"
    status, _ = await env.call("GET", "/api/calls", "agent")  # other users unaffected
    assert status == 200


async def test_login_form_is_throttled(env: Env) -> None:
    async def attempt(pw: str) -> int:
        async with env.client.get("/login") as resp:
            token = re.search(r'name="token" value="([^"]+)"', await resp.text())
        assert token
        form = {"username": "history", "password": pw, "token": token[1], "next": "/"}
        async with env.client.post("/login", data=form, allow_redirects=False) as resp:
            return resp.status

    assert [await attempt("nope") for _ in range(3)] == [401] * 3
    assert await attempt(password("history")) == 429  # backing off from this address
