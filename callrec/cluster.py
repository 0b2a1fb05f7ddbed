"""This node's view of the other nodes' calls, kept fresh through the database.

Every ``every`` seconds the node publishes its calls in progress (the API's
snapshots) and reads the other nodes' (``storage.live_calls``). The registry
asks this cache, never the database, so an API request does not wait on it:
another node's new call is seen within about ``every`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from callcore.registry import CallRegistry
from storage import live_calls
from storage.db import Database

log = logging.getLogger("callrec.cluster")


class Cluster:
    def __init__(self, db: Database, registry: CallRegistry, node_id: str) -> None:
        self.db = db
        self.registry = registry
        self.node_id = node_id
        self.node_url = ""
        self._others: dict[str, live_calls.RemoteCall] = {}
        self._idle = False

    def owner(self, call_id: str) -> tuple[str, str] | None:
        found = self._others.get(call_id)
        return (found.node_id, found.node_url) if found is not None else None

    def calls(self) -> list[dict[str, Any]]:
        return [
            {**c.snapshot, "node": c.node_id, "node_url": c.node_url} for c in self._others.values()
        ]

    def sync(self) -> None:
        """Publish ours, read theirs (blocking: run in a thread)."""
        ours = [
            {**self.registry.snapshot(call), "node": self.node_id, "node_url": self.node_url}
            for call in self.registry.all()
        ]
        if ours or not self._idle:  # an idle node writes once, not every second
            live_calls.publish(self.db, self.node_id, self.node_url, ours)
        self._idle = not ours
        self._others = {c.call_id: c for c in live_calls.others(self.db, self.node_id)}

    async def run(self, stop: asyncio.Event, every: float = 1.0) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.sync)
            except Exception:  # the database may blink: keep the last view, try again
                log.exception("could not share live calls with the other nodes")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(live_calls.publish, self.db, self.node_id, self.node_url, [])
