"""A small webhook receiver on loopback, as a customer's tool would write it.

It checks each signature with its own HMAC code (not callrec's), refuses stale
timestamps, and counts events by id: ``events`` holds each id once,
``deliveries`` every accepted request. ``fail_next`` makes it answer 503.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.sshd import free_port


@dataclass
class Receiver:
    secret: bytes
    port: int = field(default_factory=free_port)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    fail_next: int = 0
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/callrec"

    def _valid(self, header: str, body: bytes) -> bool:
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        try:
            ts = int(parts["t"])
        except (KeyError, ValueError):
            return False
        if abs(time.time() - ts) > 300:
            return False
        want = hmac.new(self.secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(want, parts.get("v1", ""))

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503)
        if not self._valid(request.headers.get("Callrec-Signature", ""), body):
            self.refused.append(request.headers.get("Callrec-Event-Id", ""))
            return web.Response(status=401)
        event = json.loads(body)
        self.deliveries.append(event["id"])
        self.headers.append(dict(request.headers))
        self.events.setdefault(event["id"], event)
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/callrec", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def types(self) -> list[str]:
        return sorted(e["type"] for e in self.events.values())
