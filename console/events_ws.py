"""/api/events: live call updates for the console over a websocket.

Fed by ``registry.bus``; the first message is the current list of calls, then
every change as the registry publishes it (``call`` and ``call_ended``). A
user tied to an agent id gets that agent's calls only.
"""

from __future__ import annotations

import asyncio
import contextlib
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

SOCKETS = web.AppKey("websockets", set[web.WebSocketResponse])


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
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    async with registry.bus.subscribe() as queue:
        calls = [
            {**registry.snapshot(c), **live_fields(c)} for c in registry.all() if visible(agent, c)
        ]
        shown = {c["call_id"] for c in calls}
        await ws.send_json({"type": "calls", "calls": calls})
        reader = asyncio.create_task(_reader(ws))
        try:
            while not reader.done():
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
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
    request.app[SOCKETS].discard(ws)
    await ws.close()
    return ws


async def close_all(app: web.Application) -> None:
    sockets: set[web.WebSocketResponse] = app[SOCKETS]
    for ws in tuple(sockets):
        await ws.close(code=1001, message=b"server shutdown")


def setup(app: web.Application) -> None:
    app[SOCKETS] = set()
    app.on_shutdown.append(close_all)


ROUTES = [
    Route(
        "GET",
        "/api/events",
        events,
        CALLS,
        "Websocket of live call updates: {type: calls, call, call_ended}",
        tag="calls",
        response="websocket",
        errors=(401, 403),
    ),
]
