"""/api/events: live call updates for the console over a websocket.

Fed by ``registry.bus``; the first message is the current list of calls, then
every change as the registry publishes it (``call`` and ``call_ended``). A
user tied to an agent id gets that agent's calls only.

A socket lives no longer than the credentials it was opened with: a logout on
this node closes the session's sockets at once; every ``RECHECK_SECONDS`` the
credentials of every open socket are checked again as a request's would be
(a logout on another node, the session's expiry, the user removed or their
password changed), and a socket whose credentials no longer hold is closed
with ``CLOSE_ENDED`` (4401), or ``CLOSE_FORBIDDEN`` (4403) when its user lost
the permission. The console pages stop reconnecting on those codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from callcore.registry import CallNotFound, CallRegistry
from callcore.state import CallState
from console import auth
from console.calls_api import visible
from console.errors import ApiError
from console.keys import REGISTRY
from console.routes import Route
from console.users import CALLS

log = logging.getLogger("callrec.console")

RECHECK_SECONDS = 5.0  # read at each round: a logout elsewhere ends a socket within this
CLOSE_ENDED = 4401  # the credentials no longer hold: log in again
CLOSE_FORBIDDEN = 4403  # the user may no longer watch calls


@dataclass
class Watch:
    """An open socket's credentials and how it is told to end (code, reason)."""

    creds: auth.Credentials
    ended: asyncio.Future[tuple[int, str]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def end(self, code: int, reason: str) -> None:
        if not self.ended.done():
            self.ended.set_result((code, reason))


SOCKETS = web.AppKey("websockets", dict[web.WebSocketResponse, Watch])


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser
    return origin.split("://", 1)[-1] == request.host


async def _reader(ws: web.WebSocketResponse) -> None:
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            break


def _wanted(agent: str | None, event: dict[str, Any], shown: set[str]) -> bool:
    if agent is None:
        return True
    if event.get("type") == "call":
        call = event.get("call") or {}
        if call.get("agent") == agent:
            shown.add(str(call.get("call_id")))
            return True
        return False
    return str(event.get("call_id")) in shown


def live_fields(call: CallState) -> dict[str, Any]:
    """What the supervisor view shows beside the snapshot: since when, which
    sides, which mode, and the recording state in one word."""
    seg = call.segment
    state = "paused" if call.paused else "recording" if call.recording else "not recording"
    return {
        "since": call.created_at,
        "legs": seg.legs if seg else call.decision.legs if call.decision else None,
        "mode": call.decision.mode if call.decision else None,
        "segment_since": seg.started_at if seg else None,
        "recording_state": state,
    }


def _enriched(registry: CallRegistry, event: dict[str, Any]) -> dict[str, Any]:
    if event.get("type") != "call":
        return event
    snap = event.get("call") or {}
    try:
        call = registry.get(str(snap.get("call_id")))
    except CallNotFound:
        return event
    return {**event, "call": {**snap, **live_fields(call)}}  # shared: never mutated


async def events(request: web.Request) -> web.StreamResponse:
    user = auth.require_user(request)
    if not _same_origin(request):
        raise ApiError(403, "origin.refused", "websocket from another origin")
    agent = None if user.has("admin") else user.agent
    registry = request.app[REGISTRY]
    creds = request.app[auth.AUTH].credentials(request)
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
    await ws.prepare(request)
    watch = Watch(creds)
    request.app[SOCKETS][ws] = watch
    code, reason = 1000, ""
    try:
        async with registry.bus.subscribe() as queue:
            calls = [
                {**registry.snapshot(c), **live_fields(c)}
                for c in registry.all()
                if visible(agent, c)
            ]
            shown = {c["call_id"] for c in calls}
            await ws.send_json({"type": "calls", "calls": calls})
            reader = asyncio.create_task(_reader(ws))
            try:
                while not reader.done() and not watch.ended.done():
                    getter = asyncio.create_task(queue.get())
                    waits: set[asyncio.Future[Any]] = {getter, reader, watch.ended}
                    done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                    if getter not in done:
                        getter.cancel()
                        break
                    event = getter.result()
                    if _wanted(agent, event, shown):
                        await ws.send_json(_enriched(registry, event))
            except ConnectionResetError:
                pass
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
    finally:
        request.app[SOCKETS].pop(ws, None)
    if watch.ended.done():
        code, reason = watch.ended.result()
        log.info("websocket of user %s closed: %s", creds.name, reason)
    await ws.close(code=code, message=reason.encode())
    return ws


def _session_ended(app: web.Application, sid: str) -> None:
    """A logout on this node: its sockets end now, not at the next check."""
    for watch in tuple(app[SOCKETS].values()):
        if watch.creds.sid == sid:
            watch.end(CLOSE_ENDED, "logged out")


async def recheck(app: web.Application) -> None:
    """One round: each distinct credential of the open sockets checked once.

    A failing check (the database away) is logged and the sockets kept: they are
    checked again next round, and a blip must not drop every supervisor."""
    groups: dict[auth.Credentials, list[Watch]] = {}
    for watch in tuple(app[SOCKETS].values()):
        groups.setdefault(watch.creds, []).append(watch)
    failed: list[str] = []
    for creds, watches in groups.items():
        try:
            now = await app[auth.AUTH].recheck(creds)
        except Exception as exc:  # the error's text may quote a session id: its type only
            failed.append(type(exc).__name__)
            continue
        if isinstance(now, str):
            for watch in watches:
                watch.end(CLOSE_ENDED, now)
        elif not now.has(CALLS):
            for watch in watches:
                watch.end(CLOSE_FORBIDDEN, "permission withdrawn")
    if failed:
        log.warning(
            "websocket credentials not rechecked (kept open): %d of %d (%s)",
            len(failed),
            len(groups),
            ", ".join(sorted(set(failed))),
        )


async def _rechecking(app: web.Application) -> AsyncIterator[None]:
    async def loop() -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            try:
                await recheck(app)
            except Exception:  # never let the loop die: sockets would outlive logouts
                log.exception("websocket recheck round failed")

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def close_all(app: web.Application) -> None:
    for ws in list(app[SOCKETS].keys()):
        await ws.close(code=1001, message=b"server shutdown")


def setup(app: web.Application) -> None:
    """Needs ``auth.AUTH`` set: logouts on this node are heard through it."""
    app[SOCKETS] = {}
    app[auth.AUTH].session_ended.append(lambda sid: _session_ended(app, sid))
    app.on_shutdown.append(close_all)
    app.cleanup_ctx.append(_rechecking)


ROUTES = [
    Route(
        "GET",
        "/api/events",
        events,
        CALLS,
        "Websocket of live call updates: {type: calls, call, call_ended}; "
        "closed 4401 when its credentials end, 4403 when the permission is withdrawn",
        tag="calls",
        response="websocket",
        errors=(401, 403),
    ),
]
