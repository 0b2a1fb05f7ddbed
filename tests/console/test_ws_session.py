"""The live websocket ends with the credentials it was opened with: a logout on this
node closes it at once; a logout on another node sharing the database, the user
removed, the password changed or the permission withdrawn close it within the
recheck interval; a socket whose credentials still hold stays open."""

from __future__ import annotations

import asyncio
import base64
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Page, expect
from sqlalchemy import Table, text

from callcore.registry import CallRegistry
from callcore.state import CallState
from console import events_ws
from console.app import build_app
from console.auth import SESSION_COOKIE
from console.users import UserStore, hash_password
from storage.config import StorageConfig, UploadTargetConfig
from storage.models import RevokedSession
from storage.service import StorageService
from tests.console.browser import login as browser_login
from tests.console.support import (
    Env,
    FakeController,
    basic,
    close_env,
    decision,
    make_env,
    password,
)
from tests.support.postgres import Postgres, running

RECHECK = 0.25  # the tests' interval; the service's is events_ws.RECHECK_SECONDS
SECRET = b"s" * 32  # both nodes sign sessions with it, as a shared session_secret_file


def users_toml(tmp: Path, **users: tuple[str, list[str]]) -> Path:
    """A users file: name -> (password, roles); roles "agent" (calls) and "none"."""
    lines = ['[roles.agent]\npermissions = ["calls"]\n', "[roles.none]\npermissions = []\n"]
    for name, (pw, roles) in users.items():
        quoted = ", ".join(f'"{r}"' for r in roles)
        lines.append(f'[users.{name}]\npassword_hash = "{HASHES[pw]}"\nroles = [{quoted}]\n')
    path = tmp / "users.toml"
    path.write_text("\n".join(lines))
    return path


HASHES = {pw: hash_password(pw) for pw in ("alice-pw", "bob-pw", "alice-new-pw")}


@dataclass
class Node:
    storage: StorageService
    registry: CallRegistry
    client: TestClient  # type: ignore[type-arg]


async def start_node(
    tmp: Path, users_file: Path, session_seconds: int = 3600, db_url: str | None = None
) -> Node:
    """A console app on the shared database (SQLite in ``tmp`` unless ``db_url``),
    users from the shared file."""
    cfg = StorageConfig(
        db_url=db_url or f"sqlite:///{tmp / 'callrec.db'}",
        store_root=tmp / "store",
        upload=UploadTargetConfig(type="none"),
    )
    storage = StorageService.open(cfg)
    registry = CallRegistry()
    app = build_app(
        registry,
        storage=storage,
        users=UserStore.load(users_file),
        session_secret=SECRET,
        session_seconds=session_seconds,
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    return Node(storage, registry, client)


async def stop_node(node: Node) -> None:
    await node.client.close()
    node.storage.close()


@pytest.fixture
def fast_recheck(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(events_ws, "RECHECK_SECONDS", RECHECK)
    return RECHECK


@pytest.fixture
async def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    """conftest's console env, with the recheck an hour away."""
    monkeypatch.setattr(events_ws, "RECHECK_SECONDS", 3600.0)
    e = await make_env(tmp_path)
    try:
        yield e
    finally:
        await close_env(e)


@pytest.fixture
async def nodes(tmp_path: Path, fast_recheck: float) -> AsyncIterator[tuple[Node, Node, Path]]:
    path = users_toml(tmp_path, alice=("alice-pw", ["agent"]), bob=("bob-pw", ["agent"]))
    a = await start_node(tmp_path, path)
    b = await start_node(tmp_path, path)
    try:
        yield a, b, path
    finally:
        await stop_node(a)
        await stop_node(b)


async def login(client: TestClient, user: str, pw: str) -> tuple[str, str]:  # type: ignore[type-arg]
    """The real login form; returns (session cookie, the pages' CSRF token)."""
    async with client.get("/login") as resp:
        token = re.search(r'name="token" value="([^"]+)"', await resp.text())
    assert token
    form = {"username": user, "password": pw, "token": token[1], "next": "/console"}
    async with client.post("/login", data=form, allow_redirects=False) as resp:
        assert resp.status == 303, await resp.text()
        cookie = resp.cookies[SESSION_COOKIE].value
    async with client.get("/console") as resp:
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', await resp.text())
    assert csrf
    return cookie, csrf[1]


async def logout(client: TestClient, cookie: str, csrf: str) -> None:  # type: ignore[type-arg]
    """The page's logout form, posted with the session cookie and its CSRF token."""
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
    async with client.post(
        "/logout", data={"csrf": csrf}, headers=headers, allow_redirects=False
    ) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/login"


async def open_ws(client: TestClient, headers: dict[str, str]) -> ClientWebSocketResponse:  # type: ignore[type-arg]
    ws = await client.ws_connect("/api/events", headers=headers)
    first = await asyncio.wait_for(ws.receive_json(), 5)
    assert first["type"] == "calls"
    return ws


def session(cookie: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={cookie}"}


async def closed(ws: ClientWebSocketResponse, within: float) -> tuple[int, str, float]:
    """Waits for the server's close frame: (code, reason, seconds taken)."""
    t0 = time.monotonic()
    msg = await asyncio.wait_for(ws.receive(), within)
    assert msg.type == WSMsgType.CLOSE, msg
    return int(msg.data), str(msg.extra), time.monotonic() - t0


async def still_open(ws: ClientWebSocketResponse, seconds: float) -> None:
    """Nothing arrives (no close frame) for ``seconds``."""
    with pytest.raises(TimeoutError):
        msg = await asyncio.wait_for(ws.receive(), seconds)
        pytest.fail(f"socket got {msg.type.name} {msg.data!r} {msg.extra!r}")


async def test_logout_on_this_node_closes_the_socket_at_once(env: Env) -> None:
    """The recheck is an hour away: only the logout itself can close the socket."""
    cookie, csrf = await login(env.client, "agent", password("agent"))
    ws = await open_ws(env.client, session(cookie))
    other = await open_ws(env.client, basic("agent"))  # same user, other credentials
    try:
        t0 = time.monotonic()
        await logout(env.client, cookie, csrf)
        code, reason, _ = await closed(ws, 1.5)
        assert (code, reason) == (events_ws.CLOSE_ENDED, "logged out")
        assert time.monotonic() - t0 < 1.5
        # the Basic socket of the same user is not this session: it stays
        env.registry.changed(env.registry.get("call-1"))
        ev = await asyncio.wait_for(other.receive_json(), 5)
        assert ev["type"] == "call"
    finally:
        await ws.close()
        await other.close()
    with pytest.raises(WSServerHandshakeError) as refused:
        await env.client.ws_connect("/api/events", headers=session(cookie))
    assert refused.value.status == 401


async def logout_elsewhere_closes(a: Node, b: Node) -> None:
    cookie, csrf = await login(a.client, "alice", "alice-pw")
    ws = await open_ws(a.client, session(cookie))
    try:
        await still_open(ws, 3 * RECHECK)
        await logout(b.client, cookie, csrf)
        code, reason, _ = await closed(ws, 10 * RECHECK + 2)
        assert (code, reason) == (events_ws.CLOSE_ENDED, "logged out")
    finally:
        await ws.close()


async def test_logout_on_another_node_closes_within_the_recheck(
    nodes: tuple[Node, Node, Path],
) -> None:
    a, b, _ = nodes
    await logout_elsewhere_closes(a, b)


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """A failure to start fails the test (never skips)."""
    with running() as pg:
        yield pg


@pytest.mark.postgres
async def test_logout_on_another_node_closes_on_postgresql(
    tmp_path: Path, fast_recheck: float, postgres: Postgres
) -> None:
    """The same on the database production nodes share."""
    url = postgres.create_database("ws_" + uuid.uuid4().hex[:12])
    path = users_toml(tmp_path, alice=("alice-pw", ["agent"]))
    a = await start_node(tmp_path / "a", path, db_url=url)
    b = await start_node(tmp_path / "b", path, db_url=url)
    try:
        await logout_elsewhere_closes(a, b)
    finally:
        await stop_node(a)
        await stop_node(b)


async def test_expired_session_closes(tmp_path: Path, fast_recheck: float) -> None:
    path = users_toml(tmp_path, alice=("alice-pw", ["agent"]))
    node = await start_node(tmp_path, path, session_seconds=3)
    try:
        cookie, _ = await login(node.client, "alice", "alice-pw")
        ws = await open_ws(node.client, session(cookie))
        try:
            code, reason, _ = await closed(ws, 3 + 10 * RECHECK + 2)
            assert (code, reason) == (events_ws.CLOSE_ENDED, "session expired")
        finally:
            await ws.close()
    finally:
        await stop_node(node)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"bob": ("bob-pw", ["agent"])}, "user removed"),
        ({"alice": ("alice-new-pw", ["agent"]), "bob": ("bob-pw", ["agent"])}, "password changed"),
    ],
)
async def test_users_file_change_closes_session_and_basic_sockets(
    nodes: tuple[Node, Node, Path], change: dict[str, tuple[str, list[str]]], reason: str
) -> None:
    """Alice's sockets (a session on node A, Basic on node B) end; Bob's stays open."""
    a, b, path = nodes
    cookie, _ = await login(a.client, "alice", "alice-pw")
    by_session = await open_ws(a.client, session(cookie))
    by_basic = await open_ws(b.client, basic("alice", "alice-pw"))
    bob = await open_ws(a.client, basic("bob", "bob-pw"))
    try:
        await still_open(by_session, 3 * RECHECK)
        users_toml(path.parent, **change)
        for ws in (by_session, by_basic):
            code, got, _ = await closed(ws, 10 * RECHECK + 2)
            assert (code, got) == (events_ws.CLOSE_ENDED, reason)
        await still_open(bob, 4 * RECHECK)
    finally:
        for ws in (by_session, by_basic, bob):
            await ws.close()


async def test_permission_withdrawn_closes_with_4403(nodes: tuple[Node, Node, Path]) -> None:
    a, _, path = nodes
    ws = await open_ws(a.client, basic("alice", "alice-pw"))
    try:
        users_toml(path.parent, alice=("alice-pw", ["none"]), bob=("bob-pw", ["agent"]))
        code, reason, _ = await closed(ws, 10 * RECHECK + 2)
        assert (code, reason) == (events_ws.CLOSE_FORBIDDEN, "permission withdrawn")
    finally:
        await ws.close()


async def test_valid_session_stays_open_and_keeps_streaming(
    nodes: tuple[Node, Node, Path],
) -> None:
    """Several rounds pass (Bob's removal proves they run) and Alice's socket lives on."""
    a, _, path = nodes
    cookie, _ = await login(a.client, "alice", "alice-pw")
    alice = await open_ws(a.client, session(cookie))
    bob = await open_ws(a.client, basic("bob", "bob-pw"))
    try:
        users_toml(path.parent, alice=("alice-pw", ["agent"]))
        code, _, _ = await closed(bob, 10 * RECHECK + 2)
        assert code == events_ws.CLOSE_ENDED
        await still_open(alice, 6 * RECHECK)
        a.registry.register(
            CallState("call-9", "ari", "outbound", "a1", decision=decision("on_demand")),
            FakeController(),
        )
        ev = await asyncio.wait_for(alice.receive_json(), 5)
        assert ev["type"] == "call" and ev["call"]["call_id"] == "call-9"
    finally:
        await alice.close()
        await bob.close()


async def test_a_failing_check_keeps_the_socket_and_the_loop(
    nodes: tuple[Node, Node, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """The revocation table gone (a database fault): sockets stay, the loop goes on,
    and once the table is back a logout elsewhere still ends the socket."""
    a, b, _ = nodes
    cookie, csrf = await login(a.client, "alice", "alice-pw")
    ws = await open_ws(a.client, session(cookie))
    try:
        with a.storage.db.session() as s:
            s.execute(text(f"DROP TABLE {RevokedSession.__tablename__}"))
        await still_open(ws, 4 * RECHECK)
        assert "not rechecked (kept open): 1 of 1 (OperationalError)" in caplog.text
        payload = cookie.split(".")[0]
        sid = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).split(b"|")[3]
        assert sid.decode() not in caplog.text and cookie not in caplog.text
        with a.storage.db.session() as s:
            table = RevokedSession.__table__
            assert isinstance(table, Table)
            table.create(s.connection())
        await logout(b.client, cookie, csrf)
        code, reason, _ = await closed(ws, 10 * RECHECK + 2)
        assert (code, reason) == (events_ws.CLOSE_ENDED, "logged out")
    finally:
        await ws.close()


@pytest.mark.browser
@pytest.mark.parametrize("path", ["/console", "/supervisor"])
async def test_live_page_shows_logged_out_after_logout_in_another_tab(
    env: Env, page: Page, path: str
) -> None:
    base = str(env.client.make_url("")).rstrip("/")
    await browser_login(page, base, "agent", password("agent"), path)
    await expect(page.locator("#live")).to_have_text("Live")
    other = await page.context.new_page()
    try:
        await other.goto(base + "/console")
        await other.get_by_role("button", name="Log out").click()
        await other.wait_for_url(re.compile(r"/login"))
    finally:
        await other.close()
    await expect(page.locator("#live")).to_contain_text("Logged out (logged out)")
    await expect(page.locator("#live a")).to_have_attribute(
        "href", "/login?next=" + quote(path, safe="")
    )
    await expect(page.locator("#live")).to_have_attribute("data-ended", "4401")
    await asyncio.sleep(2.5)  # past the old 2 s reconnect: still the logged-out state
    await expect(page.locator("#live")).to_contain_text("Logged out")
