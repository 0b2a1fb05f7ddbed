"""What-if: an administrator enters call facts and sees the decision and its
explanation under the policy in force, as ``callrec explain`` prints them.

Page ``/what-if`` (a GET form, so nothing changes and it can be bookmarked)
and ``GET /api/what-if``; both build the facts with ``CallFacts.from_dict``,
the same checks the CLI applies. Sampling depends on the call id: a fixed one
is used unless given, so the same facts give the same answer.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from console import auth
from console.errors import ApiError
from console.keys import POLICY
from console.render import page
from console.routes import Param, Route
from console.schemas import WHAT_IF
from console.users import ADMIN
from policy import CallFacts, CallFactsError, decide
from policy import reasons as r
from policy.explain import deciding_rule, explain

FIELDS = ("agent", "number", "campaign", "queue", "lead_list", "state", "direction", "call_id")
MAX_LEN = 128
WHAT_IF_CALL = "what-if"


def _facts(query: Any) -> CallFacts:
    for key in FIELDS:
        if len(query.get(key, "")) > MAX_LEN:
            raise ApiError(400, "request.bad_query", f"{key!r} is longer than {MAX_LEN}")
    data = {
        "call_id": query.get("call_id") or WHAT_IF_CALL,
        "direction": query.get("direction") or "outbound",
        "agent": query.get("agent"),
        "campaign": query.get("campaign") or None,
        "lead_list": query.get("lead_list") or None,
        "queue": query.get("queue") or None,
        "prospect": {"number": query.get("number") or None, "state": query.get("state") or None},
    }
    try:
        return CallFacts.from_dict(data)
    except CallFactsError as exc:
        raise ApiError(400, "facts.invalid", str(exc)) from None


def answer(request: web.Request) -> dict[str, Any]:
    getter = request.app.get(POLICY)
    if getter is None:
        raise ApiError(503, "policy.unavailable", "no policy is loaded in this service")
    policy = getter()
    facts = _facts(request.query)
    decision = decide(policy, facts)
    rule = deciding_rule(decision)
    return {
        "facts": facts.to_dict(),
        "decision": decision.to_dict(),
        "decided_by": rule,
        "decided_by_text": r.DESCRIPTIONS.get(rule, ""),
        "explanation": explain(policy, facts, decision),
    }


async def what_if_api(request: web.Request) -> web.Response:
    return web.json_response(answer(request))


async def what_if_view(request: web.Request) -> web.StreamResponse:
    user = auth.require_user(request)
    values = {k: request.query.get(k, "") for k in FIELDS}
    result, error, status = None, "", 200
    if request.query.get("agent") is not None:
        try:
            result = answer(request)
        except ApiError as exc:
            error, status = exc.message, exc.status
    return page(
        request,
        user,
        "what_if.html",
        "What if",
        values=values,
        result=result,
        error=error,
        status=status,
    )


PARAMS = (
    Param("agent", "query", description="agent id (required)", schema={"maxLength": MAX_LEN}),
    Param("number", "query", description="customer number", schema={"maxLength": MAX_LEN}),
    Param("campaign", "query", schema={"maxLength": MAX_LEN}),
    Param("queue", "query", schema={"maxLength": MAX_LEN}),
    Param("lead_list", "query", schema={"maxLength": MAX_LEN}),
    Param("state", "query", description="prospect state", schema={"maxLength": MAX_LEN}),
    Param("direction", "query", enum=("outbound", "inbound")),
    Param("call_id", "query", description="for sampling; default fixed", schema={"maxLength": 128}),
)

ROUTES = [
    Route(
        "GET",
        "/api/what-if",
        what_if_api,
        ADMIN,
        "The decision and its explanation for given call facts under the policy in force",
        tag="admin",
        response_schema=WHAT_IF,
        params=PARAMS,
        errors=(400, 503),
        semantic_400="an agent id is required and ids must not be blank (facts.invalid)",
    ),
    Route(
        "GET",
        "/what-if",
        what_if_view,
        ADMIN,
        "What-if page: call facts in, decision and explanation out",
        tag="pages",
        params=PARAMS,
        response="text/html",
        page=True,
        errors=(400, 403, 503),
        semantic_400="an agent id is required and ids must not be blank (facts.invalid)",
    ),
]
