"""Supervisor view: every call in progress on this node, live over the events
websocket, with the alerts (uploads, verification gaps) on the same page.

``GET /api/alerts`` gives the alerts; the page polls it, the calls come from
``/api/events`` as in the agent console.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from console import alerts, auth
from console.recordings_api import storage
from console.render import page
from console.routes import Route
from console.schemas import ALERTS
from console.users import CALLS


async def alerts_api(request: web.Request) -> web.Response:
    svc = storage(request)
    return web.json_response(await asyncio.to_thread(alerts.read, svc.db))


async def supervisor_view(request: web.Request) -> web.StreamResponse:
    user = auth.require_user(request)
    return page(request, user, "supervisor.html", "Supervisor", script="supervisor.js")


ROUTES = [
    Route(
        "GET",
        "/api/alerts",
        alerts_api,
        CALLS,
        "Alerts for supervisors: upload alerts and failing uploads, verification gaps (24 h)",
        tag="calls",
        response_schema=ALERTS,
        errors=(503,),
    ),
    Route(
        "GET",
        "/supervisor",
        supervisor_view,
        CALLS,
        "Supervisor view: calls in progress (live) and alerts",
        tag="pages",
        response="text/html",
        page=True,
        errors=(403,),
    ),
]
