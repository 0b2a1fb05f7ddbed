"""The browser pages: login, the agent console and the recordings views.

Pages are jinja2 templates (console/templates/) rendered through
:mod:`console.render` (user, navigation, CSRF token, permissions); the data
comes from the JSON API through static/*.js, so the browser sees exactly what
API clients see and is refused the same way.
"""

from __future__ import annotations

import hmac
import logging
import secrets

from aiohttp import web

from console import auth
from console.errors import ApiError
from console.keys import REGISTRY
from console.render import NAV, RULE_TEXT, VIEW, VIEW_UNASSIGNED, not_found_page, page
from console.routes import Param, Route
from console.schemas import HEALTH
from console.users import ADMIN, CALLS

__all__ = ["ROUTES", "RULE_TEXT"]

log = logging.getLogger("callrec.auth")
LOGIN_COOKIE = "callrec_login"
# Capture-verification outcomes the search can filter on (storage's search contract).
OUTCOMES = ("verified", "short", "missing", "silent_leg", "not_recorded_by_decision", "gap")


# -- login ------------------------------------------------------------------------


def _login_response(
    request: web.Request, nxt: str, message: str = "", status: int = 200
) -> web.Response:
    token = secrets.token_urlsafe(16)
    resp = page(
        request, None, "login.html", "Log in", status=status, token=token, next=nxt, message=message
    )
    resp.set_cookie(
        LOGIN_COOKIE, token, max_age=900, path="/login", httponly=True, samesite="Strict"
    )
    return resp


async def login_page(request: web.Request) -> web.StreamResponse:
    return _login_response(request, auth.safe_next(request.query.get("next")))


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    nxt = auth.safe_next(str(form.get("next", "/")))
    token, cookie = str(form.get("token", "")), request.cookies.get(LOGIN_COOKIE, "")
    if not token or not hmac.compare_digest(token.encode(), cookie.encode()):
        return _login_response(request, nxt, "The login form expired; try again.", 400)
    try:
        user = await request.app[auth.AUTH].attempt(request, name, password)
    except ApiError as err:
        if err.status != 429:
            raise
        return _login_response(
            request, nxt, "Too many failed logins. Wait a few minutes and try again.", 429
        )
    if user is None:
        return _login_response(request, nxt, "Wrong user name or password.", 401)
    log.info("user %s logged in", user.name)
    session, _ = request.app[auth.AUTH].make_session(user)
    resp = web.HTTPSeeOther(nxt)
    request.app[auth.AUTH].set_cookie(resp, session)
    resp.del_cookie(LOGIN_COOKIE, path="/login")
    raise resp


async def logout(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    sent, have = str(form.get("csrf", "")), str(request.get(auth.CSRF, ""))
    if have and not hmac.compare_digest(sent.encode(), have.encode()):
        return page(
            request,
            auth.current_user(request),
            "message.html",
            "Not logged out",
            status=403,
            message="The form's CSRF token did not match your session; reload and try again.",
        )
    # Ended on the server too: a copy of the cookie is refused from now on.
    await request.app[auth.AUTH].end_session(request.cookies.get(auth.SESSION_COOKIE, ""))
    resp = web.HTTPSeeOther("/login")
    resp.del_cookie(auth.SESSION_COOKIE, path="/")
    raise resp


async def index(request: web.Request) -> web.StreamResponse:
    user = auth.require_user(request)
    for href, _label, perm in NAV:
        if user.has(perm):
            raise web.HTTPSeeOther(href)
    return page(
        request, user, "message.html", "callrec", message="Your account has no permissions yet."
    )


# -- pages -----------------------------------------------------------------------------


async def console_page(request: web.Request) -> web.StreamResponse:
    user = auth.require_user(request)
    return page(request, user, "console.html", "Agent console", script="console.js")


async def recordings_page(request: web.Request) -> web.StreamResponse:
    user = auth.require_user(request)
    return page(
        request,
        user,
        "recordings.html",
        "Recordings",
        script="search.js",
        data={"view": "search"},
        outcomes=OUTCOMES,
    )


async def record_page(request: web.Request) -> web.StreamResponse:
    user = auth.require_user(request)
    raw = request.match_info["record_id"]
    if not raw.isdigit() or len(raw) > 18:
        return not_found_page(request, user, "No such record.")
    return page(
        request,
        user,
        "record.html",
        "CRM record",
        script="recordings.js",
        data={"view": "record", "record_id": int(raw)},
    )


async def unassigned_page(request: web.Request) -> web.StreamResponse:
    user = auth.require_user(request)
    return page(
        request,
        user,
        "unassigned.html",
        "Unassigned recordings",
        script="recordings.js",
        data={"view": "unassigned"},
    )


async def admin_page(request: web.Request) -> web.StreamResponse:
    user = auth.require_user(request)
    return page(request, user, "admin.html", "Compliance administration", script="admin.js")


async def health(request: web.Request) -> web.Response:
    # Liveness only for anyone; how busy the node is, only for someone logged in.
    body: dict[str, object] = {"status": "ok"}
    if auth.current_user(request) is not None:
        body["calls"] = len(request.app[REGISTRY].all())
    return web.json_response(body)


ROUTES = [
    Route(
        "GET",
        "/api/health",
        health,
        auth.PUBLIC,
        "Liveness: no authentication",
        tag="service",
        response_schema=HEALTH,
    ),
    Route(
        "GET",
        "/login",
        login_page,
        auth.PUBLIC,
        "Login form",
        tag="pages",
        params=(Param("next", "query"),),
        response="text/html",
        page=True,
    ),
    Route(
        "POST",
        "/login",
        login,
        auth.PUBLIC,
        "Log in (form post); sets the session cookie",
        tag="pages",
        body={
            "type": "object",
            "required": ["username", "password", "token"],
            "properties": {
                "username": {"type": "string"},
                "password": {"type": "string"},
                "token": {"type": "string", "description": "from the login form and its cookie"},
                "next": {"type": "string"},
            },
        },
        body_media="application/x-www-form-urlencoded",
        response="text/html",
        page=True,
        errors=(400, 401, 429),
        semantic_400="the form's one-time token must match its cookie (login.html)",
    ),
    Route(
        "POST",
        "/logout",
        logout,
        auth.PUBLIC,
        "Log out (form post with the CSRF token)",
        tag="pages",
        body={"type": "object", "properties": {"csrf": {"type": "string"}}},
        body_media="application/x-www-form-urlencoded",
        response="text/html",
        page=True,
        errors=(403,),
    ),
    Route(
        "GET",
        "/",
        index,
        auth.AUTHENTICATED,
        "Start page: redirects to the first permitted view",
        tag="pages",
        response="text/html",
        page=True,
    ),
    Route(
        "GET",
        "/console",
        console_page,
        CALLS,
        "Agent console: the live call",
        tag="pages",
        response="text/html",
        page=True,
        errors=(403,),
    ),
    Route(
        "GET",
        "/recordings",
        recordings_page,
        VIEW,
        "Recordings search: filters, sort, pages, CSV export (assigned by default)",
        tag="pages",
        response="text/html",
        page=True,
        errors=(403,),
    ),
    Route(
        "GET",
        "/records/{record_id}",
        record_page,
        VIEW,
        "A CRM record's recordings",
        tag="pages",
        params=(
            Param("record_id", "path", "integer", schema={"minimum": 0, "maximum": 10**18 - 1}),
        ),
        response="text/html",
        page=True,
        errors=(403, 404),
    ),
    Route(
        "GET",
        "/unassigned",
        unassigned_page,
        VIEW_UNASSIGNED,
        "Unassigned recordings: assign, delete, bulk delete",
        tag="pages",
        response="text/html",
        page=True,
        errors=(403,),
    ),
    Route(
        "GET",
        "/admin",
        admin_page,
        ADMIN,
        "Compliance administration: audit log, legal holds, erasure requests",
        tag="pages",
        response="text/html",
        page=True,
        errors=(403,),
    ),
]
