"""What a client without credentials learns: liveness only, no versions."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from callrec.sandbox import Instance
from tests.security.login_server import basic, client, serve_console
from tests.security.test_login import ADMIN_PW, _users


async def test_health_is_liveness_only_without_credentials() -> None:
    async with serve_console(_users()) as url, client("127.0.0.13") as http:
        async with http.get(f"{url}/api/health") as resp:
            assert resp.status == 200 and await resp.json() == {"status": "ok"}
            server = resp.headers.get("Server", "")
            assert "aiohttp" not in server and "Python" not in server, server
            assert not any(c.isdigit() for c in server), server
        async with http.get(f"{url}/api/health", headers=basic("admin", ADMIN_PW)) as resp:
            assert (await resp.json()) == {"status": "ok", "calls": 0}
        async with http.get(f"{url}/no/such/page") as resp:
            assert "aiohttp" not in resp.headers.get("Server", "")


@pytest.mark.asterisk
def test_asterisk_http_names_no_version(asterisk: Instance) -> None:
    try:
        urllib.request.urlopen(f"{asterisk.ari_url}/asterisk/info", timeout=5)
        raise AssertionError("ARI answered without credentials")
    except urllib.error.HTTPError as err:
        assert err.code == 401
        assert "Asterisk" not in (err.headers.get("Server") or ""), err.headers.get("Server")
