"""A small AMI helper for tests: inject DTMF as if a party pressed keys."""

from __future__ import annotations

import asyncio
from typing import Any

from panoramisk import Manager

from callrec.sandbox import Instance


async def connect(inst: Instance) -> Any:
    manager = Manager(
        loop=asyncio.get_running_loop(),
        host="127.0.0.1",
        port=inst.ports.ami,
        username=inst.ami_user,
        secret=inst.ami_secret,
        ping_delay=0,
        reconnect_timeout=1,
    )
    await manager.connect()
    return manager


async def press(manager: Any, channel_name: str, digits: str, gap: float = 0.15) -> None:
    """PlayDTMF on a Local ;2 half writes the digit towards its ;1 half, which
    then *receives* it: the same as the party on ;2 pressing the key."""
    for digit in digits:
        # "Async: false" works around panoramisk reading any "...successfully
        # queued" reply as the start of a multi-message answer.
        action = {
            "Action": "PlayDTMF",
            "Channel": channel_name,
            "Digit": digit,
            "Duration": "120",
            "Async": "false",
        }
        reply = await asyncio.wait_for(manager.send_action(action), 5)
        response = reply[0] if isinstance(reply, list) else reply
        assert response.success, f"PlayDTMF failed: {response}"
        await asyncio.sleep(gap)
