"""Page rendering: jinja2 templates (through aiohttp-jinja2) in the shared layout.

Every page is a template extending ``layout.html``; this module adds what each
one needs (user, navigation, CSRF token, permissions, rule texts as JSON for
static/*.js) and the security headers. It sits below the route table so the
route guard can answer a refused page without importing the pages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from console import auth
from console.users import ADMIN, CALLS, PERMISSIONS, User
from storage.permissions import Permission

TEMPLATES = Path(__file__).parent / "templates"
VIEW = Permission.VIEW_HISTORY.value
VIEW_UNASSIGNED = Permission.VIEW_UNASSIGNED.value

# Refusing rule ids (policy.reasons) in words an agent understands at a glance.
RULE_TEXT = {
    "action.stop_forbidden_all_force": "All Force: recording cannot be stopped",
    "action.start_forbidden_all_force": "All Force: recording starts by itself, it cannot be "
    "started by hand",
    "action.stop_forbidden": "This call's recording cannot be stopped",
    "action.start_forbidden": "Recording cannot be started on this call",
    "action.nothing_recordable": "Nothing may be recorded on this call (consent rules)",
    "action.already_recording": "Already recording",
    "action.not_recording": "Not recording",
    "action.pause_forbidden": "Pausing is not allowed here",
    "action.already_paused": "Already paused",
    "action.not_paused": "Not paused",
    "recording.assigned": "Assigned recordings cannot be deleted",
    "hold.active": "A legal hold blocks deletion",
    "recording.deleted": "Already deleted",
    "recording.not_found": "No such recording",
    "permission.denied": "You do not have permission",
    "number.invalid": "Not a valid phone number",
}

# (href, label, permission); "a|b" means either.
NAV = (
    ("/console", "Console", CALLS),
    ("/recordings", "Recordings", VIEW),
    ("/unassigned", "Unassigned", VIEW_UNASSIGNED),
    ("/supervisor", "Supervisor", CALLS),
    ("/coverage", "Coverage", VIEW),
    ("/what-if", "What-if", ADMIN),
    ("/admin", "Admin", ADMIN),
)

HEADERS = {
    "Content-Security-Policy": "default-src 'self'; media-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _json_script(data: Any) -> Markup:
    """JSON safe inside <script type=application/json> (no closing tag possible)."""
    text = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def setup(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"], default=True),
        undefined=jinja2.StrictUndefined,
        filters={"json_script": _json_script},
    )


def page(
    request: web.Request,
    user: User | None,
    template: str,
    title: str,
    *,
    script: str = "",
    data: dict[str, Any] | None = None,
    status: int = 200,
    **context: Any,
) -> web.Response:
    """Render ``template`` in the layout; ``data`` reaches the page's script as JSON."""
    nav = [
        {"href": href, "label": label, "current": request.path == href}
        for href, label, perm in NAV
        if user is not None and user.has(perm)
    ]
    page_data = {
        "user": user.name if user else None,
        "permissions": sorted(p for p in PERMISSIONS if user and user.has(p)),
        "rules": RULE_TEXT,
        **(data or {}),
    }
    response = aiohttp_jinja2.render_template(
        template,
        request,
        {
            "title": title,
            "user": user,
            "nav": nav,
            "csrf": str(request.get(auth.CSRF, "")),
            "script": script,
            "page_data": page_data,
            **context,
        },
        status=status,
    )
    response.headers.update(HEADERS)
    return response


def forbidden_page(request: web.Request, user: User, permission: str) -> web.Response:
    return page(
        request,
        user,
        "forbidden.html",
        "Not allowed",
        status=403,
        needed=permission.split("|"),
    )


def not_found_page(
    request: web.Request, user: User, what: str, *, status: int = 404
) -> web.Response:
    title = {400: "Bad request", 403: "Not allowed", 410: "Gone"}.get(status, "Not found")
    return page(request, user, "not_found.html", title, status=status, what=what)
