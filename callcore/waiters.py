"""Wait for an Asterisk event that a request (or a race) will cause, without polling.

The one waiter mechanism of both call paths. Register the waiter *before*
the request (we choose channel, snoop, recording and playback ids
ourselves), so an event that arrives before the REST or AMI answer is not
missed; the event handler resolves it by (kind, id). A waiter nobody needs
any more is discarded, so nothing is held for a call that ended.
"""

from __future__ import annotations

import asyncio
from typing import Any

Key = tuple[str, str]


class Waiters:
    def __init__(self) -> None:
        self._futures: dict[Key, asyncio.Future[dict[str, Any]]] = {}

    def expect(self, kind: str, ident: str) -> asyncio.Future[dict[str, Any]]:
        key = (kind, ident)
        fut = self._futures.get(key)
        if fut is None or fut.done():
            fut = asyncio.get_running_loop().create_future()
            self._futures[key] = fut
        return fut

    def resolve(self, kind: str, ident: str, event: dict[str, Any]) -> None:
        fut = self._futures.pop((kind, ident), None)
        if fut is not None and not fut.done():
            fut.set_result(event)

    def discard(self, kind: str, ident: str) -> None:
        """Forget a waiter nobody needs any more (its event may never come)."""
        fut = self._futures.pop((kind, ident), None)
        if fut is not None and not fut.done():
            fut.cancel()

    def fail_all(self, exc: BaseException) -> None:
        for fut in self._futures.values():
            if not fut.done():
                fut.set_exception(exc)
        self._futures.clear()

    async def wait(self, fut: asyncio.Future[dict[str, Any]], timeout: float) -> dict[str, Any]:
        return await asyncio.wait_for(asyncio.shield(fut), timeout)
