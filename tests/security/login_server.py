"""A console app served on a real loopback socket, reached from chosen loopback addresses.

Linux routes all of 127.0.0.0/8 to loopback, so a client bound to 127.0.0.2
and one bound to 127.0.0.3 are two distinct addresses to the server: enough
to tell an attacker from the real user without any proxy header.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web

from callcore.registry import CallRegistry
from console.app import build_app
from console.users import UserStore


@asynccontextmanager
async def serve_console(users: UserStore, **kw: Any) -> AsyncIterator[str]:
    app = build_app(CallRegistry(), users=users, **kw)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = getattr(site, "_server", None)
    assert server is not None
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def client(source: str) -> aiohttp.ClientSession:
    """An HTTP client whose connections come from loopback address ``source``."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=(source, 0), force_close=True),
        cookie_jar=aiohttp.CookieJar(unsafe=True),
    )


def basic(name: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": "Basic " + token}


async def form_login(
    session: aiohttp.ClientSession, url: str, name: str, password: str, nxt: str = "/"
) -> tuple[int, str]:
    """POST /login as a browser would; returns (status, Location)."""
    async with session.get(f"{url}/login") as resp:
        token = re.search(r'name="token" value="([^"]+)"', await resp.text())
    assert token, "no login form token"
    form = {"username": name, "password": password, "token": token[1], "next": nxt}
    async with session.post(f"{url}/login", data=form, allow_redirects=False) as resp:
        return resp.status, resp.headers.get("Location", "")
