"""Sessions: Secure flag, a key shared by nodes, logout that ends the session
server-side (on every node), and users removed or re-keyed lose access at once."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from callrec.settings import load_settings
from console.users import add_user
from storage.config import StorageConfig, UploadTargetConfig
from storage.service import StorageService
from tests.security.login_server import basic, client, form_login, serve_console

KEY = b"k" * 48


def _users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.toml"
    path.write_text('[roles.agent]\npermissions = ["calls"]\n')
    add_user(path, "ann", ["agent"], "ann-password-1")
    add_user(path, "bob", ["agent"], "bob-password-1")
    return path


def _storage(tmp_path: Path) -> StorageService:
    return StorageService.open(
        StorageConfig(
            db_url=f"sqlite:///{tmp_path / 'shared.db'}",
            store_root=tmp_path / "store",
            upload=UploadTargetConfig(type="none"),
        )
    )


def _cookie(session: aiohttp.ClientSession) -> str:
    for morsel in session.cookie_jar:
        if morsel.key == "callrec_session":
            return morsel.value
    raise AssertionError("no session cookie")


async def _with_cookie(url: str, token: str) -> int:
    async with (
        client("127.0.0.9") as other,
        other.get(f"{url}/api/calls", headers={"Cookie": f"callrec_session={token}"}) as resp,
    ):
        return resp.status


async def _logout(session: aiohttp.ClientSession, url: str) -> None:
    async with session.get(f"{url}/console") as resp:
        csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
    assert csrf, "no logout form"
    async with session.post(f"{url}/logout", data={"csrf": csrf[1]}, allow_redirects=False) as resp:
        assert resp.status == 303


async def test_secure_cookie_setting(tmp_path: Path) -> None:
    from console.users import UserStore

    settings = tmp_path / "service.toml"
    settings.write_text(
        '[asterisk]\ninstance = "t"\n[http]\nsecure_cookies = true\nsession_secret_file = "key"\n'
    )
    (tmp_path / "key").write_bytes(KEY)
    http = load_settings(settings).http
    assert http.secure_cookies and http.session_secret() == KEY
    users = UserStore.load(_users_file(tmp_path))
    async with serve_console(users, secure_cookies=True) as url, client("127.0.0.7") as browser:
        async with browser.get(f"{url}/login") as resp:
            token = re.search(r'name="token" value="([^"]+)"', await resp.text())
        assert token
        form = {"username": "ann", "password": "ann-password-1", "token": token[1], "next": "/"}
        async with browser.post(f"{url}/login", data=form, allow_redirects=False) as resp:
            cookie = resp.headers.getall("Set-Cookie")
        session = [c for c in cookie if c.startswith("callrec_session=")]
        assert session and "Secure" in session[0] and "HttpOnly" in session[0]


async def test_logout_ends_the_session_on_every_node(tmp_path: Path) -> None:
    from console.users import UserStore

    path = _users_file(tmp_path)
    svc_a, svc_b = _storage(tmp_path), _storage(tmp_path)  # two nodes, one database
    try:
        async with (
            serve_console(UserStore.load(path), storage=svc_a, session_secret=KEY) as node_a,
            serve_console(UserStore.load(path), storage=svc_b, session_secret=KEY) as node_b,
            client("127.0.0.8") as browser,
        ):
            assert (await form_login(browser, node_a, "ann", "ann-password-1"))[0] == 303
            copied = _cookie(browser)
            assert await _with_cookie(node_a, copied) == 200
            assert await _with_cookie(node_b, copied) == 200  # the shared key
            await _logout(browser, node_a)
            assert await _with_cookie(node_a, copied) == 401
            assert await _with_cookie(node_b, copied) == 401  # ended everywhere
    finally:
        svc_a.close()
        svc_b.close()


async def test_a_removed_user_loses_access_at_once(tmp_path: Path) -> None:
    from console.users import UserStore

    path = _users_file(tmp_path)
    async with serve_console(UserStore.load(path)) as url, client("127.0.0.10") as browser:
        assert (await form_login(browser, url, "bob", "bob-password-1"))[0] == 303
        assert (await form_login(browser, url, "ann", "ann-password-1"))[0] == 303
        ann = _cookie(browser)
        assert await _with_cookie(url, ann) == 200
        creds = basic("ann", "ann-password-1")
        async with client("127.0.0.11") as api, api.get(f"{url}/api/calls", headers=creds) as resp:
            assert resp.status == 200
        text = path.read_text()
        start = text.index("[users.ann]")
        end = text.find("[users.", start + 1)
        path.write_text(text[:start] + (text[end:] if end != -1 else ""))
        assert await _with_cookie(url, ann) == 401
        async with client("127.0.0.11") as api, api.get(f"{url}/api/calls", headers=creds) as resp:
            assert resp.status == 401


async def test_a_new_password_ends_old_sessions(tmp_path: Path) -> None:
    from console.users import UserStore

    path = _users_file(tmp_path)
    async with serve_console(UserStore.load(path)) as url, client("127.0.0.12") as browser:
        assert (await form_login(browser, url, "bob", "bob-password-1"))[0] == 303
        bob = _cookie(browser)
        assert await _with_cookie(url, bob) == 200
        add_user(path, "bob", ["agent"], "bob-password-2")
        assert await _with_cookie(url, bob) == 401
