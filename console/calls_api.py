"""Live-call endpoints: place a call, control its recording, transfer it.

Everything goes through :class:`callcore.registry.CallRegistry`, so the same
endpoints drive Stasis and dialplan calls, and the same refusals (409 with the
policy's rule id) reach the console as reach the agent's DTMF.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web
from callcore.actions import ActionRefused
from callcore.registry import CallNotFound, CallRegistry
from callcore.state import CallState

from console.errors import ApiError, read_json, str_field

ACTIONS = ("start", "stop", "pause", "resume")
REGISTRY = web.AppKey("registry", CallRegistry)


class Originator(Protocol):
    async def originate_call(
        self,
        *,
        agent: str,
        number: str,
        campaign: str | None = None,
        lead_list: str | None = None,
        prospect_state: str | None = None,
    ) -> CallState: ...


ORIGINATOR = web.AppKey("originator", Originator)


def _registry(request: web.Request) -> CallRegistry:
    return request.app[REGISTRY]


async def list_calls(request: web.Request) -> web.Response:
    reg = _registry(request)
    return web.json_response({"calls": [reg.snapshot(c) for c in reg.all()]})


async def get_call(request: web.Request) -> web.Response:
    reg = _registry(request)
    try:
        call = reg.get(request.match_info["call_id"])
    except CallNotFound as exc:
        raise ApiError(404, exc.code, str(exc)) from None
    return web.json_response(reg.snapshot(call))


async def create_call(request: web.Request) -> web.Response:
    data = await read_json(request)
    originator = request.app.get(ORIGINATOR)
    if originator is None:
        raise ApiError(503, "calls.unavailable", "the Stasis application is not running")
    try:
        call = await originator.originate_call(
            agent=str_field(data, "agent") or "",
            number=str_field(data, "number") or "",
            campaign=str_field(data, "campaign", required=False),
            lead_list=str_field(data, "lead_list", required=False),
            prospect_state=str_field(data, "prospect_state", required=False),
        )
    except ValueError as exc:
        raise ApiError(400, getattr(exc, "code", "call.bad_request"), str(exc)) from None
    return web.json_response(_registry(request).snapshot(call), status=201)


async def recording_action(request: web.Request) -> web.Response:
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise ApiError(404, "action.unknown", f"unknown action {action!r}; use {ACTIONS}")
    reg = _registry(request)
    try:
        call = await reg.act(request.match_info["call_id"], action)
    except CallNotFound as exc:
        raise ApiError(404, exc.code, str(exc)) from None
    except ActionRefused as exc:
        raise ApiError(409, exc.code, str(exc), rule=exc.rule, action=action) from None
    return web.json_response(reg.snapshot(call))


async def transfer(request: web.Request) -> web.Response:
    data = await read_json(request)
    agent = str_field(data, "agent") or ""
    cont: Any = data.get("continue_recording", False)
    if not isinstance(cont, bool):
        raise ApiError(400, "request.bad_field", "'continue_recording' must be true or false")
    reg = _registry(request)
    try:
        call = await reg.transfer(request.match_info["call_id"], agent, cont)
    except CallNotFound as exc:
        raise ApiError(404, exc.code, str(exc)) from None
    except ValueError as exc:
        raise ApiError(400, getattr(exc, "code", "transfer.bad_request"), str(exc)) from None
    return web.json_response(reg.snapshot(call), status=202)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/calls", list_calls)
    app.router.add_post("/api/calls", create_call)
    app.router.add_get("/api/calls/{call_id}", get_call)
    app.router.add_post("/api/calls/{call_id}/recording/{action}", recording_action)
    app.router.add_post("/api/calls/{call_id}/transfer", transfer)
