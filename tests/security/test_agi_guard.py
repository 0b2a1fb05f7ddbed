"""The FastAGI guard on a real server socket: secret, peers, session cap and lifetime."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from agi_scripts.agi import AgiChannel
from agi_scripts.agi_auth import AgiAuthError, AgiGuard
from agi_scripts.server import AgiServer
from tests.security.rogue_agi import rogue_request

SECRET = "5ec2e7" * 8


async def _server(guard: AgiGuard) -> tuple[AgiServer, list[str]]:
    served: list[str] = []

    async def route(chan: AgiChannel) -> None:
        served.append(chan.uniqueid)
        await chan.set("CALLREC_STATUS", "ok")

    server = AgiServer("127.0.0.1", 0, deadline=1.0, guard=guard)
    server.route("answer", route)
    await server.start()
    assert server._server is not None
    server.port = server._server.sockets[0].getsockname()[1]
    return server, served


async def test_only_the_secret_is_served() -> None:
    guard = AgiGuard(SECRET)
    server, served = await _server(guard)
    try:
        claim = {"uniqueid": "1.1", "channel": "PJSIP/x"}
        assert await rogue_request(server.port, "answer", **claim) == []
        assert await rogue_request(server.port, "answer", **claim, args=(SECRET[:-1],)) == []
        assert await rogue_request(server.port, "answer", **claim, args=(SECRET + "0",)) == []
        assert served == []
        sent = await rogue_request(server.port, "answer", **claim, args=(SECRET,))
        assert sent == ['SET VARIABLE CALLREC_STATUS "ok"'] and served == ["1.1"]
        assert guard.refused == {"secret": 3}
    finally:
        await server.stop()


async def test_peer_allowlist() -> None:
    server, served = await _server(AgiGuard(SECRET, frozenset({"10.0.0.0/8"})))
    try:
        sent = await rogue_request(server.port, "answer", uniqueid="1", channel="c", args=(SECRET,))
        assert sent == [] and served == []
    finally:
        await server.stop()
    guard = AgiGuard(SECRET, frozenset({"127.0.0.0/8", "::1"}))
    assert guard.peer_allowed("127.0.0.1") and guard.peer_allowed("::ffff:127.0.0.1")
    assert not guard.peer_allowed("192.0.2.1") and not guard.peer_allowed("junk")


async def test_session_cap_and_lifetime() -> None:
    guard = AgiGuard(SECRET, max_sessions=3, max_lifetime=0.5)
    server, served = await _server(guard)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for _ in range(3):  # connect and say nothing: each holds a session
            idle.append(await asyncio.open_connection("127.0.0.1", server.port))
        await asyncio.sleep(0.1)
        assert guard.active == 3
        sent = await rogue_request(server.port, "answer", uniqueid="1", channel="c", args=(SECRET,))
        assert sent == [] and guard.refused.get("busy") == 1
        # Lifetime: the idle sessions are closed by the server, and the slots freed.
        for reader, _ in idle:
            assert await asyncio.wait_for(reader.read(), 3.0) == b""
        assert guard.active == 0
        sent = await rogue_request(server.port, "answer", uniqueid="2", channel="c", args=(SECRET,))
        assert sent and served == ["2"]
    finally:
        for _, writer in idle:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        await server.stop()


def test_a_guard_needs_a_real_secret() -> None:
    with pytest.raises(AgiAuthError):
        AgiGuard.build(None)
    with pytest.raises(AgiAuthError):
        AgiGuard("short")
