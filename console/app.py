"""The aiohttp application: API routes, error shape, body limits."""

from __future__ import annotations

from aiohttp import web
from callcore.registry import CallRegistry

from console import calls_api
from console.errors import error_middleware


def build_app(
    registry: CallRegistry,
    originator: calls_api.Originator | None = None,
    *,
    max_body_bytes: int = 64 * 1024,
) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=max_body_bytes)
    app[calls_api.REGISTRY] = registry
    if originator is not None:
        app[calls_api.ORIGINATOR] = originator
    calls_api.add_routes(app)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "calls": len(registry.all())})

    app.router.add_get("/api/health", health)
    return app
