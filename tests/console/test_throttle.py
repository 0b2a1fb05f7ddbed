"""Password guessing is slowed: 429 with Retry-After after repeated failures."""

from __future__ import annotations

import re

from console.auth import Throttle
from tests.console.support import Env, basic, password


def test_throttle_window_and_success_reset() -> None:
    t = Throttle({"user": 3, "addr": 10}, window=60)
    keys = ("user:bob", "addr:10.0.0.1")
    for i in range(3):
        assert t.wait(keys, now=100 + i) == 0
        t.failed(keys, now=100 + i)
    assert t.wait(keys, now=103) == 57  # until the first failure leaves the window
    assert t.wait(keys, now=161) == 0  # the window passed
    t.failed(keys, now=200)
    t.succeeded(keys[:1])
    assert t.wait(keys, now=201) == 0


async def test_basic_auth_is_throttled_per_user(env: Env) -> None:
    for _ in range(5):
        status, body = await env.call("GET", "/api/calls", None, headers=basic("qa", "wrong"))
        assert status == 401 and body["error"]["code"] == "auth.required"
    async with env.client.get("/api/calls", headers=basic("qa")) as resp:
        assert resp.status == 429  # even the right password, until the window passes
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

    assert [await attempt("nope") for _ in range(5)] == [401] * 5
    assert await attempt(password("history")) == 429
