"""Live-call endpoints: place a call, control its recording, transfer it.

Everything goes through :class:`callcore.registry.CallRegistry`, so the same
endpoints drive Stasis and dialplan calls, and the same refusals (409 with the
policy's rule id) reach the console as reach the agent's DTMF.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from callcore.actions import ActionRefused
from callcore.registry import CallNotFound, CallPathUnavailable, CallRegistry
from callcore.state import CallState
from console import auth
from console.errors import ApiError, read_json, str_field
from console.keys import REGISTRY
from console.routes import Param, Route, register
from console.schemas import CALL, CALL_LIST
from console.users import CALLS

ACTIONS = ("start", "stop", "pause", "resume")


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


def visible(user_agent: str | None, call: CallState) -> bool:
    """A user tied to an agent id sees that agent's calls only; others see all."""
    return user_agent is None or call.agent == user_agent


def _agent_filter(request: web.Request) -> str | None:
    user = auth.current_user(request)
    if user is None or user.has("admin"):
        return None
    return user.agent


def _call(request: web.Request) -> CallState:
    reg = _registry(request)
    call_id = request.match_info["call_id"]
    try:
        call = reg.get(call_id)
    except CallNotFound as exc:
        raise ApiError(404, exc.code, str(exc)) from None
    if not visible(_agent_filter(request), call):
        raise ApiError(404, CallNotFound.code, f"no call {call_id!r} in progress")
    return call


async def list_calls(request: web.Request) -> web.Response:
    reg = _registry(request)
    agent = _agent_filter(request)
    calls = [reg.snapshot(c) for c in reg.all() if visible(agent, c)]
    # Other nodes' calls (multi-node sites), each with its "node" and "node_url".
    calls += [c for c in reg.remote() if agent is None or c.get("agent") == agent]
    return web.json_response({"calls": calls})


async def get_call(request: web.Request) -> web.Response:
    return web.json_response(_registry(request).snapshot(_call(request)))


async def create_call(request: web.Request) -> web.Response:
    data = await read_json(request)
    agent = str_field(data, "agent") or ""
    scope = _agent_filter(request)
    if scope is not None and agent != scope:
        # A user tied to an agent places calls as that agent only.
        raise ApiError(
            403,
            "permission.agent_scope",
            f"you may place calls as agent {scope!r} only",
            permission="agent_scope",
        )
    number = str_field(data, "number") or ""
    campaign = str_field(data, "campaign", required=False)
    lead_list = str_field(data, "lead_list", required=False)
    prospect_state = str_field(data, "prospect_state", required=False)
    originator = request.app.get(ORIGINATOR)
    if originator is None:
        raise ApiError(503, "calls.unavailable", "the Stasis application is not running")
    try:
        call = await originator.originate_call(
            agent=agent,
            number=number,
            campaign=campaign,
            lead_list=lead_list,
            prospect_state=prospect_state,
        )
    except ValueError as exc:
        raise ApiError(400, getattr(exc, "code", "call.bad_request"), str(exc)) from None
    except CallPathUnavailable as exc:
        raise ApiError(503, exc.code, str(exc)) from None
    return web.json_response(_registry(request).snapshot(call), status=201)


async def recording_action(request: web.Request) -> web.Response:
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise ApiError(404, "action.unknown", f"unknown action {action!r}; use {ACTIONS}")
    reg = _registry(request)
    _call(request)
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
    _call(request)
    try:
        call = await reg.transfer(request.match_info["call_id"], agent, cont)
    except CallNotFound as exc:
        raise ApiError(404, exc.code, str(exc)) from None
    except ValueError as exc:
        raise ApiError(400, getattr(exc, "code", "transfer.bad_request"), str(exc)) from None
    return web.json_response(reg.snapshot(call), status=202)


CALL_ID = Param("call_id", "path", description="the call id from GET /api/calls")
# Ids that may reach a dial string or file name (the call paths refuse others).
SAFE_ID = {"type": "string", "pattern": "^[A-Za-z0-9_.@-]{1,64}$", "maxLength": 64}
CALL_SCHEMA = {
    "type": "object",
    "required": ["agent", "number"],
    "properties": {
        "agent": SAFE_ID,
        "number": {"type": "string", "minLength": 1, "maxLength": 128},
        "campaign": SAFE_ID,
        "lead_list": SAFE_ID,
        "prospect_state": {"type": "string", "maxLength": 128},
    },
}
TRANSFER_SCHEMA = {
    "type": "object",
    "required": ["agent"],
    "properties": {
        "agent": SAFE_ID,
        "continue_recording": {"type": "boolean"},
    },
}

ROUTES = [
    Route(
        "GET",
        "/api/calls",
        list_calls,
        CALLS,
        "Calls in progress with recording state and allowed actions",
        tag="calls",
        response_schema=CALL_LIST,
        errors=(401, 403),
    ),
    Route(
        "POST",
        "/api/calls",
        create_call,
        CALLS,
        "Place an outbound call (Stasis path)",
        tag="calls",
        response_schema=CALL,
        ok=201,
        body=CALL_SCHEMA,
        errors=(400, 401, 403, 413, 415, 503),
        semantic_400="a number that does not read as a phone number is refused (number.invalid)",
    ),
    Route(
        "GET",
        "/api/calls/{call_id}",
        get_call,
        CALLS,
        "One call in progress",
        tag="calls",
        response_schema=CALL,
        params=(CALL_ID,),
        errors=(401, 403, 404),
    ),
    Route(
        "POST",
        "/api/calls/{call_id}/recording/{action}",
        recording_action,
        CALLS,
        "Start, stop, pause or resume recording; 409 with error.rule when the decision forbids it",
        tag="calls",
        response_schema=CALL,
        params=(CALL_ID, Param("action", "path", enum=ACTIONS)),
        errors=(401, 403, 404, 409, 415),
    ),
    Route(
        "POST",
        "/api/calls/{call_id}/transfer",
        transfer,
        CALLS,
        "Blind transfer to another agent, with the continue-recording choice",
        tag="calls",
        response_schema=CALL,
        ok=202,
        params=(CALL_ID,),
        body=TRANSFER_SCHEMA,
        errors=(400, 401, 403, 404, 413, 415),
    ),
]


def add_routes(app: web.Application) -> None:
    register(app, ROUTES)
