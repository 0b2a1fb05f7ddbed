"""What reaches logs and disk: no forged log lines, no database password, private sandbox config."""

from __future__ import annotations

import logging
import stat

import pytest

from callrec.sandbox import Instance
from callrec.service import redact_url
from tests.security.login_server import basic, client, serve_console
from tests.security.test_login import _users


async def test_request_paths_cannot_forge_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with serve_console(_users()) as url, client("127.0.0.6") as http:
        forged = "/api/calls%0A2026-01-01 INFO callrec.auth user admin logged in"
        async with http.get(url + forged, headers=basic("admin", "wrong")) as resp:
            assert resp.status == 401
    messages = [r.getMessage() for r in caplog.records]
    assert any("rejected Basic credentials" in m for m in messages), messages
    assert all("\n" not in m and "\r" not in m for m in messages), messages


def test_database_password_is_never_printed() -> None:
    shown = redact_url("postgresql://callrec:s3cr%40t-pw@db.internal:5432/callrec")
    assert "s3cr" not in shown and "***" in shown and "db.internal" in shown
    assert (
        redact_url("sqlite:////var/lib/callrec/callrec.db")
        == "sqlite:////var/lib/callrec/callrec.db"
    )


@pytest.mark.asterisk
def test_sandbox_config_is_private(asterisk: Instance) -> None:
    etc = asterisk.host_dir / "etc"
    assert stat.S_IMODE(etc.stat().st_mode) == 0o700
    files = [p for p in etc.rglob("*") if p.is_file()]
    assert any(p.name == "manager.conf" for p in files)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in etc.rglob("*"):
        if path.is_dir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
