"""One route table: registration, permission checks and the OpenAPI text all read it.

Each module lists its routes as :class:`Route` rows with the permission they
need; :func:`register` wraps every handler with that check, so no handler can
be added without one, and :mod:`console.openapi` describes exactly these rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from console import auth, render

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # "path" | "query"
    type: str = "string"  # "string" | "integer" | "boolean"
    description: str = ""
    enum: tuple[str, ...] = ()
    # What the handler enforces (pattern, minimum, maximum, maxLength…), so the
    # description allows exactly what the code accepts.
    schema: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    permission: str  # a permission, auth.AUTHENTICATED or auth.PUBLIC
    summary: str
    tag: str = "api"
    params: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None  # JSON schema of the request body
    body_media: str = "application/json"
    response: str = "application/json"
    response_schema: dict[str, Any] | None = None  # of the success answer (console.schemas)
    ok: int = 200  # the success status
    errors: tuple[int, ...] = ()
    page: bool = False  # HTML page: login redirect / 403 page instead of JSON
    extra: dict[str, Any] = field(default_factory=dict)
    # Generated input the schema cannot rule out but the handler rightly refuses
    # (a phone number that does not parse): the conformance test knows why.
    semantic_400: str = ""


ROUTES = web.AppKey("routes", list[Route])


def register(app: web.Application, routes: Iterable[Route]) -> None:
    table = app.setdefault(ROUTES, [])
    for route in routes:
        table.append(route)
        app.router.add_route(route.method, route.path, _guarded(route))


def _guarded(route: Route) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            refusal = auth.check(request, route.permission, page=route.page)
        except auth.PageForbidden as exc:
            return render.forbidden_page(request, exc.user, exc.permission)
        if refusal is not None:
            return refusal
        return await route.handler(request)

    handler.__name__ = getattr(route.handler, "__name__", "handler")
    return handler
