"""Login: no lockout of the real user, no open redirect, scrypt off the event loop."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from agi_scripts.agi import AgiChannel
from agi_scripts.agi_auth import AgiGuard
from agi_scripts.server import AgiServer
from console.auth import Throttle
from console.users import UsersCostError, UserStore, hash_password, verify_password
from tests.security.login_server import basic, client, form_login, serve_console
from tests.security.rogue_agi import rogue_request

ADMIN_PW = "the-real-admin-password"


def _users() -> UserStore:
    return UserStore.from_dict(
        {
            "roles": {"admin": {"permissions": ["admin"]}, "agent": {"permissions": ["calls"]}},
            "users": {
                "admin": {"password_hash": hash_password(ADMIN_PW), "roles": ["admin"]},
                "ann": {"password_hash": hash_password("ann-password"), "roles": ["agent"]},
            },
        }
    )


async def test_an_attacker_cannot_lock_the_real_admin_out() -> None:
    async with (
        serve_console(_users()) as url,
        client("127.0.0.2") as attacker,
        client("127.0.0.3") as admin,
    ):
        statuses = [(await form_login(attacker, url, "admin", f"guess{i}"))[0] for i in range(8)]
        assert statuses[:3] == [401] * 3 and 429 in statuses  # the attacker is slowed
        async with attacker.get(f"{url}/api/calls", headers=basic("admin", "x")) as resp:
            assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
        # The real admin, from another address, is not affected at all.
        status, location = await form_login(admin, url, "admin", ADMIN_PW, "/console")
        assert (status, location) == (303, "/console")
        async with admin.get(f"{url}/api/calls", headers=basic("admin", ADMIN_PW)) as resp:
            assert resp.status == 200


async def test_one_proxy_address_does_not_lock_everyone() -> None:
    async with serve_console(_users()) as url, client("127.0.0.4") as proxy:
        for i in range(30):  # many people behind one proxy, all mistyping
            await form_login(proxy, url, f"user{i}", "wrong")
        for _ in range(5):
            await form_login(proxy, url, "admin", "wrong")
        status, _ = await form_login(proxy, url, "ann", "ann-password")
        assert status == 303


def test_backoff_doubles_per_pair_and_resets_on_success() -> None:
    t = Throttle(free=3, max_wait=60, window=600)
    key = "admin\0192.0.2.1"
    for _ in range(3):
        assert t.wait(key, now=100) == 0
        t.failed(key, now=100)
    waits = []
    for _ in range(8):
        waits.append(t.wait(key, now=100))
        t.failed(key, now=100)
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
    assert t.wait("admin\0192.0.2.2", now=100) == 0
    assert t.wait(key, now=100 + 601) == 0  # forgotten after the window
    t.failed(key, now=1000)
    t.succeeded(key)
    assert t.wait(key, now=1000) == 0


@pytest.mark.parametrize(
    "nxt",
    [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "/ /evil.example",
        " //evil.example",
        "javascript:alert(1)",
        "/\x00/evil.example",
    ],
)
async def test_login_never_redirects_off_site(nxt: str) -> None:
    async with serve_console(_users()) as url, client("127.0.0.5") as browser:
        status, location = await form_login(browser, url, "ann", "ann-password", nxt)
        assert status == 303
        parts = urlsplit(location)
        assert location.startswith("/") and not location.startswith("//"), location
        assert not parts.netloc and not parts.scheme
        assert not any(c in location for c in "\t\r\n\\ "), location


async def test_login_keeps_a_local_next() -> None:
    async with serve_console(_users()) as url, client("127.0.0.5") as browser:
        status, location = await form_login(browser, url, "ann", "ann-password", "/recordings?q=1")
        assert (status, location) == (303, "/recordings?q=1")


# The 30 browsers run in another process, as real clients would: the service's
# event loop then carries only what it carries in production (HTTP + FastAGI).
_LOGINS = """
import asyncio, json, sys
from tests.security.login_server import client, form_login

async def main(url):
    sessions = [client(f"127.0.1.{i + 1}") for i in range(30)]  # 30 addresses
    try:
        print("go", flush=True)
        results = await asyncio.gather(
            *(form_login(s, url, "admin", f"bad{i}") for i, s in enumerate(sessions))
        )
    finally:
        for s in sessions:
            await s.close()
    print(json.dumps([status for status, _ in results]), flush=True)

asyncio.run(main(sys.argv[1]))
"""


async def test_concurrent_bad_logins_do_not_delay_a_fastagi_decision() -> None:
    """30 bad logins at once, while FastAGI requests are answered on the same loop."""
    secret = "f" * 32

    async def decide(chan: AgiChannel) -> None:
        await chan.set("CALLREC_STATUS", "ok")

    agi = AgiServer("127.0.0.1", 0, deadline=3.0, guard=AgiGuard(secret))
    agi.route("answer", decide)
    await agi.start()
    assert agi._server is not None
    port = agi._server.sockets[0].getsockname()[1]
    try:
        async with serve_console(_users()) as url:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _LOGINS, url,
                stdout=asyncio.subprocess.PIPE, cwd=Path(__file__).parents[2],
            )  # fmt: skip
            assert proc.stdout is not None
            assert (await proc.stdout.readline()).strip() == b"go"
            latencies: list[float] = []
            while proc.returncode is None:
                started = time.perf_counter()
                sent = await rogue_request(
                    port, "answer", uniqueid="1.1", channel="PJSIP/a", args=(secret,)
                )
                latencies.append(time.perf_counter() - started)
                assert sent
                try:
                    await asyncio.wait_for(proc.wait(), 0.02)
                except TimeoutError:
                    pass
            out = (await proc.stdout.read()).decode()
        assert proc.returncode == 0 and json.loads(out) == [401] * 30, out
        print(f"FastAGI: {len(latencies)} requests, max {max(latencies) * 1000:.1f} ms")
        assert len(latencies) >= 5, "the logins ended before FastAGI was measured"
        assert max(latencies) < 0.2, f"FastAGI answered in up to {max(latencies) * 1000:.0f} ms"
    finally:
        await agi.stop()


def test_costly_hashes_work_or_are_refused_at_load() -> None:
    import base64
    import hashlib

    def encoded(pw: str, n: int, r: int) -> str:
        salt = b"0123456789abcdef"
        digest = hashlib.scrypt(pw.encode(), salt=salt, n=n, r=r, p=1, dklen=32, maxmem=2**30)
        b64 = base64.b64encode
        return f"scrypt${n}${r}$1${b64(salt).decode()}${b64(digest).decode()}"

    strong = encoded("pw", 2**16, 8)  # 64 MiB: past hashlib's default 32 MiB cap
    assert verify_password("pw", strong) and not verify_password("nope", strong)
    store = UserStore.from_dict(
        {
            "roles": {"a": {"permissions": []}},
            "users": {"u": {"password_hash": strong, "roles": ["a"]}},
        }
    )
    assert store.authenticate("u", "pw") is not None
    too_costly = strong.replace("$65536$8$", "$1048576$8$")
    with pytest.raises(UsersCostError) as err:
        UserStore.from_dict(
            {
                "roles": {"a": {"permissions": []}},
                "users": {"u": {"password_hash": too_costly, "roles": ["a"]}},
            }
        )
    assert err.value.code == "users.scrypt_too_costly" and "users.u" in str(err.value)
