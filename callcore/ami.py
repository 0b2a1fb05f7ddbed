"""AMI for what no AGI session or ARI request does: MixMonitor, console actions, transfers, hangups.

One panoramisk Manager per service. Actions are checked for a Success
response, so a refused action surfaces as an error instead of being lost.
The AMI user needs write classes ``call`` (StopMixMonitor, MixMonitorMute,
Redirect, Setvar, Getvar) and ``system`` (the MixMonitor action only; see
docs/DIALPLAN.md), and read class ``call`` for the events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from panoramisk import Manager

log = logging.getLogger("callrec.ami")

EventHandler = Callable[[dict[str, str]], Awaitable[None] | None]


class AmiError(RuntimeError):
    """An AMI action failed or AMI is not connected."""


@dataclass(frozen=True)
class AmiAddress:
    host: str
    port: int
    user: str
    secret: str


class Ami:
    def __init__(self, address: AmiAddress, timeout: float = 5.0) -> None:
        self.address = address
        self.timeout = timeout
        self.manager: Any = None
        self._handlers: dict[str, list[EventHandler]] = {}
        self._reconnect_handlers: list[Callable[[], Awaitable[object]]] = []
        self._logins = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def on(self, event: str, handler: EventHandler) -> None:
        """Call ``handler(event_fields)`` for every AMI event of that name."""
        first = event not in self._handlers
        self._handlers.setdefault(event, []).append(handler)
        if first and self.manager is not None:  # already connected: subscribe now
            self.manager.register_event(event, self._dispatch)

    def on_reconnect(self, handler: Callable[[], Awaitable[object]]) -> None:
        """Run ``handler()`` after each re-login: events sent meanwhile are lost."""
        self._reconnect_handlers.append(handler)

    def _logged_in(self, _manager: Any) -> None:
        self._logins += 1
        if self._logins == 1:
            return
        log.warning("AMI connection back; reconciling calls with Asterisk")
        for handler in self._reconnect_handlers:
            task = asyncio.ensure_future(_guarded(handler()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        self.manager = Manager(
            loop=loop,
            host=self.address.host,
            port=self.address.port,
            username=self.address.user,
            secret=self.address.secret,
            ping_delay=10,
            log=logging.getLogger("callrec.ami.manager"),
            on_login=self._logged_in,
        )
        for name in self._handlers:
            self.manager.register_event(name, self._dispatch)
        try:
            await asyncio.wait_for(self.manager.connect(), self.timeout)
        except (OSError, TimeoutError) as exc:
            raise AmiError(f"cannot reach AMI at {self.address.host}:{self.address.port}") from exc
        deadline = loop.time() + self.timeout
        while not self.manager.authenticated and loop.time() < deadline:
            pending = self.manager.authenticated_future
            if pending is not None:
                await asyncio.wait_for(asyncio.shield(pending), self.timeout)
            else:
                await asyncio.sleep(0.02)
        if not self.manager.authenticated:
            await self.close()
            raise AmiError("AMI login refused")

    def _dispatch(self, _manager: Any, event: Any) -> Awaitable[None] | None:
        fields = {str(k): str(v) for k, v in dict(event).items()}
        name = fields.get("Event", "")
        waits = [h(fields) for h in self._handlers.get(name, [])]
        coros = [w for w in waits if w is not None]
        if not coros:
            return None
        return _gather(coros)

    async def close(self) -> None:
        if self.manager is not None:
            self.manager.close()
            # panoramisk reconnects on connection_lost; stop it from trying.
            self.manager.connection_lost = lambda exc: None
            self.manager = None

    async def action(self, name: str, **fields: str) -> dict[str, str]:
        if self.manager is None:
            raise AmiError("AMI is not connected")
        # panoramisk 1.4 reads the "Async" field of any action whose reply says
        # "successfully queued" (PlayDTMF does) and drops the connection if it
        # is missing; "false" is also what we mean (none of ours is Originate).
        request = {"Action": name, "Async": "false", **fields}
        try:
            reply = await asyncio.wait_for(self.manager.send_action(request), self.timeout)
        except TimeoutError as exc:
            raise AmiError(f"{name}: no answer from AMI") from exc
        if isinstance(reply, list):
            reply = reply[0]
        out = {str(k): str(v) for k, v in dict(reply).items()}
        if out.get("Response", "").lower() != "success":
            raise AmiError(f"{name}: {out.get('Message', 'failed')}")
        return out

    async def getvar(self, channel: str, variable: str) -> str:
        reply = await self.action("Getvar", Channel=channel, Variable=variable)
        return reply.get("Value", "")

    async def setvar(self, channel: str, variable: str, value: str) -> None:
        await self.action("Setvar", Channel=channel, Variable=variable, Value=value)


async def _gather(coros: list[Awaitable[None]]) -> None:
    for result in await asyncio.gather(*coros, return_exceptions=True):
        if isinstance(result, BaseException):
            log.error("AMI event handler failed", exc_info=result)


async def _guarded(work: Awaitable[object]) -> None:
    try:
        await work
    except Exception:
        log.exception("AMI reconnect handler failed")
