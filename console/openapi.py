"""/api/openapi.json, generated from the route table (so it cannot drift)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from console import auth
from console.routes import ROUTES as ROUTE_TABLE
from console.routes import Route

ERROR_TEXT = {
    400: "bad input (error.code names what)",
    401: "authentication required",
    403: "permission denied or CSRF check failed",
    404: "not found",
    409: "refused: the decision forbids it (error.rule), or assigned / on hold",
    410: "the recording was deleted",
    413: "request body too large",
    415: "state-changing requests must be application/json",
    429: "too many failed logins for this user or address; wait (Retry-After)",
    503: "the service part is not running",
}
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A state-changing request without a body of its own still goes as JSON (the CSRF rule).
EMPTY_BODY = {
    "type": "object",
    "maxProperties": 0,
    "description": "no fields; send {} as application/json",
}


def statuses(route: Route) -> list[int]:
    """What the route can answer besides success: its own errors plus those the
    middleware gives every route of its kind (auth, throttle, CSRF, body size)."""
    out = set(route.errors)
    if route.permission != auth.PUBLIC:
        out |= {401, 429}
        if route.permission != auth.AUTHENTICATED:
            out.add(403)
        if route.method in UNSAFE:
            out |= {400, 413, 415}
    elif route.body is not None:
        out.add(413)
    return sorted(out)


def _body(route: Route) -> dict[str, Any] | None:
    if route.body is None and route.method in UNSAFE and route.permission != auth.PUBLIC:
        return {"required": True, "content": {"application/json": {"schema": EMPTY_BODY}}}
    if route.body is None:
        return None
    # Under HTTP Basic a state-changing request must be JSON, so its body is required.
    return {
        "required": route.method in UNSAFE or bool(route.body.get("required")),
        "content": {route.body_media: {"schema": route.body}},
    }


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "rule": {"type": "string"},
            },
        }
    },
}


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": route.summary,
        "tags": [route.tag],
        "operationId": f"{route.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', route.path)}".strip(
            "_"
        ),
    }
    if route.permission == auth.PUBLIC:
        op["security"] = []
    else:
        op["x-permission"] = route.permission
    params = []
    # Patterns and limits the handler enforces, so the description allows no
    # input the code refuses (Route.extra["param_schemas"]: name -> schema keys).
    extra_schemas: dict[str, dict[str, Any]] = route.extra.get("param_schemas", {})
    for p in route.params:
        schema: dict[str, Any] = {"type": p.type, **p.schema, **extra_schemas.get(p.name, {})}
        if p.enum:
            schema["enum"] = list(p.enum)
        schema.update(extra_schemas.get(p.name, {}))
        params.append(
            {
                "name": p.name,
                "in": p.where,
                "required": p.where == "path",
                "description": p.description,
                "schema": schema,
            }
        )
    if params:
        op["parameters"] = params
    body = _body(route)
    if body is not None:
        op["requestBody"] = body
    if route.semantic_400:
        op["x-semantic-400"] = route.semantic_400
    body_schema = {"schema": route.response_schema} if route.response_schema else {}
    responses: dict[str, Any] = {
        str(route.ok): {"description": "success", "content": {route.response: body_schema}}
    }
    for status in statuses(route):
        # A page's own refusals are pages; the middleware's (auth, throttle) are JSON.
        html = route.page and (status in route.errors or status == 403)
        content: dict[str, Any] = (
            {"text/html": {}}
            if html
            else {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        )
        responses[str(status)] = {
            "description": ERROR_TEXT.get(status, "error"),
            "content": content,
        }
        if status == 429 and not html:
            responses["429"]["headers"] = {
                "Retry-After": {"schema": {"type": "string"}, "description": "seconds"}
            }
    if route.page:
        responses["303"] = {
            "description": "redirect: to /login without a session, or onward after a form",
            "headers": {"Location": {"schema": {"type": "string"}}},
        }
    op["responses"] = responses
    return op


def document(routes: list[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "callrec console API",
            "version": "1",
            "description": "Live-call control and recordings. Errors are "
            '{"error": {"code", "message"}}; x-permission names what each operation needs.',
        },
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "session": {"type": "apiKey", "in": "cookie", "name": auth.SESSION_COOKIE},
            },
            "schemas": {"Error": ERROR_SCHEMA},
        },
        "security": [{"basic": []}, {"session": []}],
        "paths": paths,
    }


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document(request.app[ROUTE_TABLE]))


OPENAPI_ROUTES = [
    Route(
        "GET",
        "/api/openapi.json",
        openapi,
        auth.AUTHENTICATED,
        "This description",
        tag="service",
        errors=(401,),
    ),
]


def markdown_table(routes: list[Route]) -> str:
    """The route table for docs/CONSOLE.md (a test keeps the committed copy equal)."""
    lines = ["| method | path | permission | errors | what |", "|---|---|---|---|---|"]
    for r in routes:
        errors = ", ".join(str(e) for e in r.errors) or "—"
        perm = r.permission.replace("|", " or ")
        summary = r.summary.replace("|", "\\|")
        lines.append(f"| {r.method} | `{r.path}` | {perm} | {errors} | {summary} |")
    return "\n".join(lines) + "\n"
