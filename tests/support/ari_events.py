"""Collect ARI events in a test and wait for the one you need."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from ari_app.client import AriClient

Event = dict[str, Any]


class EventLog:
    """Runs the client's event stream in a task; tests wait on predicates."""

    def __init__(self, client: AriClient) -> None:
        self.client = client
        self.events: list[Event] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._pump())
        await self.wait_for(lambda e: e["type"] == "CallrecConnected", timeout=10)

    async def _pump(self) -> None:
        async for event in self.client.events():
            async with self._changed:
                self.events.append(event)
                self._changed.notify_all()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_for(
        self, predicate: Callable[[Event], bool], timeout: float = 10.0, since: int = 0
    ) -> Event:
        async def scan() -> Event:
            seen = since
            async with self._changed:
                while True:
                    for event in self.events[seen:]:
                        if predicate(event):
                            return event
                    seen = len(self.events)
                    await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    def mark(self) -> int:
        return len(self.events)
