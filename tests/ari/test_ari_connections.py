"""The ARI client's REST connections stay bounded through bursts (the soak's descriptor growth).

aiohttp reuses pooled connections first in, first out, so under steady traffic
none ever idles out: whatever a burst opened stays open. Unbounded (aiohttp's
default of 100), a stall of Asterisk left serve holding ~90 connections for the
rest of the run, next to Asterisk's own HTTP session limit (100).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from ari_app.client import MAX_CONNECTIONS, AriClient
from callrec.sandbox import Instance

pytestmark = pytest.mark.asterisk


def _connections_to(port: int) -> int:
    """This process's established TCP connections to ``port`` (from /proc, not the client)."""
    inodes = set()
    for proto in ("tcp", "tcp6"):
        for line in Path(f"/proc/self/net/{proto}").read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "01" and int(f[2].rsplit(":", 1)[1], 16) == port:
                inodes.add(f[9])
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            ours.add(target[8:-1])
    return len(inodes & ours)


async def test_bursts_of_requests_share_a_bounded_pool(asterisk: Instance) -> None:
    port = asterisk.ports.http
    before = _connections_to(port)
    async with AriClient(
        asterisk.ari_url, asterisk.ari_user, asterisk.ari_password, "pool-test"
    ) as client:
        most = 0
        for _ in range(3):  # three stalls' worth of requests at once, then steady traffic
            results = await asyncio.gather(*(client.list_channels() for _ in range(150)))
            assert all(isinstance(r, list) for r in results)  # none refused by Asterisk
            most = max(most, _connections_to(port) - before)
            for _ in range(20):
                await client.list_channels()
        assert 1 <= most <= MAX_CONNECTIONS <= 20, f"{most} connections to ARI"
        assert _connections_to(port) - before <= MAX_CONNECTIONS
    for _ in range(50):  # closing the client closes them all
        if _connections_to(port) <= before:
            break
        await asyncio.sleep(0.05)
    assert _connections_to(port) <= before
