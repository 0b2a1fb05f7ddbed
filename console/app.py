"""The aiohttp application: API routes, pages, auth, error shape, body limits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from callcore.registry import CallRegistry
from callcore.state import CallState
from console import (
    admin_api,
    calls_api,
    events_ws,
    keys,
    metrics,
    openapi,
    pages,
    recordings_api,
    render,
    views,
)
from console.auth import AUTH, Auth, StoredRevocations, auth_middleware
from console.errors import error_middleware
from console.routes import register
from console.users import UserStore
from policy import Config
from storage.service import StorageService
from storage.sessions import RevokedSessions

STATIC = Path(__file__).parent / "static"


def _post_transfer(policy: Config | Callable[[], Config]) -> Callable[[CallState], str]:
    def mode(call: CallState) -> str:
        cfg = policy() if callable(policy) else policy
        return str(cfg.post_transfer_mode_for(call.campaign, call.lead_list))

    return mode


def build_app(
    registry: CallRegistry,
    originator: calls_api.Originator | None = None,
    *,
    storage: StorageService | None = None,
    users: UserStore | None = None,
    policy: Config | Callable[[], Config] | None = None,
    max_body_bytes: int = 64 * 1024,
    session_secret: bytes | None = None,
    secure_cookies: bool = False,
    session_seconds: int = 8 * 3600,
) -> web.Application:
    """The console service. ``users=None`` refuses everything but /api/health (401).

    ``policy`` (a Config, or a callable returning the current one after reloads)
    gives each call's post-transfer mode to the console's transfer dialog, unless
    the registry already has ``post_transfer_mode`` set.
    """
    app = web.Application(
        middlewares=[metrics.count_requests, error_middleware, auth_middleware],
        client_max_size=max_body_bytes,
    )
    auth_kw: dict[str, Any] = {"session_seconds": session_seconds, "secure_cookie": secure_cookies}
    if session_secret is not None:
        auth_kw["secret"] = session_secret
    if storage is not None:
        auth_kw["revoked"] = StoredRevocations(RevokedSessions(storage.db))
    app[AUTH] = Auth(users if users is not None else UserStore({}), **auth_kw)
    app[keys.REGISTRY] = registry
    if originator is not None:
        app[calls_api.ORIGINATOR] = originator
    if storage is not None:
        app[keys.STORAGE] = storage
    if policy is not None:
        app[keys.POLICY] = policy if callable(policy) else (lambda: policy)
    if policy is not None and registry.post_transfer_mode is None:
        registry.post_transfer_mode = _post_transfer(policy)
    render.setup(app)
    events_ws.setup(app)
    metrics.setup(app)
    calls_api.add_routes(app)
    register(
        app,
        [
            *pages.ROUTES,
            *views.ROUTES,
            *recordings_api.ROUTES,
            *admin_api.ROUTES,
            *events_ws.ROUTES,
            *metrics.ROUTES,
            *openapi.OPENAPI_ROUTES,
        ],
    )
    app.router.add_static("/static", STATIC, follow_symlinks=False, append_version=False)
    app.on_response_prepare.append(_no_banner)
    return app


async def _no_banner(_request: web.Request, response: web.StreamResponse) -> None:
    """aiohttp would announce its and Python's versions in ``Server``; name no version."""
    response.headers["Server"] = "callrec"
