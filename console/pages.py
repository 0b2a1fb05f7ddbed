"""The browser pages: login, the agent console and the recordings views.

Pages are small HTML shells rendered here (user, navigation, CSRF token,
permissions); the data comes from the JSON API through static/*.js, so the
browser sees exactly what API clients see and is refused the same way.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from html import escape
from typing import Any

from aiohttp import web

from console import auth
from console.errors import ApiError
from console.recordings_api import VIEW, VIEW_UNASSIGNED
from console.routes import Param, Route
from console.users import ADMIN, CALLS, PERMISSIONS, User

log = logging.getLogger("callrec.auth")
LOGIN_COOKIE = "callrec_login"

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

NAV = (
    ("/console", "Console", CALLS),
    ("/recordings", "Recordings", VIEW),
    ("/unassigned", "Unassigned", VIEW_UNASSIGNED),
    ("/admin", "Admin", ADMIN),
)


def _json_script(element_id: str, data: Any) -> str:
    text = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def layout(
    request: web.Request,
    user: User | None,
    title: str,
    body: str,
    *,
    script: str = "",
    data: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    nav = ""
    if user is not None:
        links = "".join(
            f'<a href="{href}"{" aria-current=page" if request.path == href else ""}>{label}</a>'
            for href, label, perm in NAV
            if user.has(perm)
        )
        csrf = escape(str(request.get(auth.CSRF, "")))
        nav = (
            f'<nav aria-label="Main">{links}</nav>'
            f'<form class="logout" method="post" action="/logout">'
            f'<span class="who">{escape(user.name)}</span>'
            f'<input type="hidden" name="csrf" value="{csrf}">'
            f'<button type="submit">Log out</button></form>'
        )
    page_data = {
        "user": user.name if user else None,
        "permissions": sorted(p for p in PERMISSIONS if user and user.has(p)),
        "rules": RULE_TEXT,
        **(data or {}),
    }
    scripts = (
        '<script src="/static/common.js" defer></script>'
        + (f'<script src="/static/{script}" defer></script>' if script else "")
        if user
        else ""
    )
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{escape(str(request.get(auth.CSRF, "")))}">
<title>{escape(title)} · callrec</title>
<link rel="stylesheet" href="/static/style.css">{scripts}</head>
<body><header><a class="brand" href="/">callrec</a>{nav}</header>
<main id="main"><h1>{escape(title)}</h1>{body}</main>
{_json_script("page-data", page_data)}
</body></html>"""
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        headers={
            "Content-Security-Policy": "default-src 'self'; media-src 'self'; "
            "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store",
        },
    )


def forbidden_page(request: web.Request, user: User, permission: str) -> web.Response:
    needed = " or ".join(f"<code>{escape(p)}</code>" for p in permission.split("|"))
    body = (
        f'<p class="error" role="alert">You ({escape(user.name)}) are not allowed to see this '
        f"page: it needs the {needed} permission. Ask an administrator.</p>"
        '<p><a href="/">Back to the start page</a></p>'
    )
    return layout(request, user, "Not allowed", body, status=403)


# -- login ------------------------------------------------------------------------


def _safe_next(value: str | None) -> str:
    return auth.safe_next(value)


def _login_form(request: web.Request, token: str, nxt: str, message: str = "") -> str:
    alert = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    return f"""{alert}<form class="login card" method="post" action="/login">
<input type="hidden" name="token" value="{escape(token)}">
<input type="hidden" name="next" value="{escape(nxt)}">
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" class="primary">Log in</button></form>"""


def _login_response(
    request: web.Request, nxt: str, message: str = "", status: int = 200
) -> web.Response:
    token = secrets.token_urlsafe(16)
    resp = layout(request, None, "Log in", _login_form(request, token, nxt, message), status=status)
    resp.set_cookie(
        LOGIN_COOKIE, token, max_age=900, path="/login", httponly=True, samesite="Strict"
    )
    return resp


async def login_page(request: web.Request) -> web.StreamResponse:
    return _login_response(request, _safe_next(request.query.get("next")))


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    nxt = _safe_next(str(form.get("next", "/")))
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
        return web.Response(status=403, text="CSRF check failed")
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
    return layout(request, user, "callrec", "<p>Your account has no permissions yet.</p>")


# -- pages -----------------------------------------------------------------------------


CONSOLE = """
<div class="columns">
<section class="card" aria-labelledby="calls-h"><h2 id="calls-h">Calls in progress</h2>
<p id="live" class="muted" role="status">Connecting…</p>
<ul id="call-list" class="call-list"></ul>
<p id="no-calls" class="muted">No calls in progress.</p></section>
<section id="call" class="card" aria-labelledby="call-h" hidden>
<h2 id="call-h">Call with agent <span id="call-agent"></span></h2>
<dl class="facts">
<dt>Campaign</dt><dd id="call-campaign"></dd>
<dt>Direction</dt><dd id="call-direction"></dd>
<dt>Recording mode</dt><dd id="call-mode"></dd>
<dt>Recorded sides</dt><dd id="call-legs"></dd>
<dt>Phase</dt><dd id="call-phase"></dd>
<dt>After a transfer</dt><dd id="call-post"></dd>
</dl>
<p id="rec-state" class="rec-state" aria-live="polite"></p>
<div class="controls">
<div class="control"><button id="btn-record" type="button" class="primary"
 aria-describedby="record-reason"></button>
<p id="record-reason" class="reason"></p></div>
<div class="control"><button id="btn-pause" type="button" aria-describedby="pause-reason">
</button><p id="pause-reason" class="reason"></p></div>
<div class="control"><button id="btn-transfer" type="button">Transfer…</button></div>
</div>
<p id="message" class="message" role="status" aria-live="polite"></p>
</section></div>
<dialog id="transfer-dialog" aria-labelledby="transfer-h">
<form id="transfer-form" method="dialog">
<h2 id="transfer-h">Transfer the call</h2>
<label for="transfer-agent">To agent</label>
<input id="transfer-agent" name="agent" required maxlength="128">
<div class="check"><input type="checkbox" id="transfer-continue" aria-describedby="transfer-note">
<label for="transfer-continue">Continue recording after the transfer</label></div>
<p id="transfer-note" class="reason"></p>
<div class="buttons"><button type="button" id="transfer-cancel">Cancel</button>
<button type="submit" id="transfer-ok" class="primary">Transfer</button></div>
</form></dialog>
"""

RECORDINGS = """
<form id="filter" class="filter card" role="search">
<label for="number">Customer number</label>
<input id="number" name="number" inputmode="tel" maxlength="64">
<button type="submit">Filter</button></form>
<p id="message" class="message" role="status" aria-live="polite"></p>
<table id="recordings" class="recordings"><caption class="sr-only">Assigned recordings</caption>
<thead><tr><th scope="col">Started (UTC)</th><th scope="col">Agent</th>
<th scope="col">Campaign</th><th scope="col">Number</th><th scope="col">Length</th>
<th scope="col">CRM records</th><th scope="col">Listen</th></tr></thead>
<tbody></tbody></table>
<p id="empty" class="muted" hidden>No recordings.</p>
"""

RECORD = """
<section class="card"><dl class="facts" id="record-facts"></dl></section>
<p id="message" class="message" role="status" aria-live="polite"></p>
<h2>Call recordings</h2>
<table id="recordings" class="recordings"><caption class="sr-only">Recordings</caption>
<thead><tr><th scope="col">Started (UTC)</th><th scope="col">Agent</th>
<th scope="col">Campaign</th><th scope="col">Number</th><th scope="col">Length</th>
<th scope="col">Listen</th></tr></thead><tbody></tbody></table>
<p id="empty" class="muted" hidden>No recordings for this record.</p>
"""

UNASSIGNED = """
<div class="toolbar">
<div class="check"><input type="checkbox" id="select-all">
<label for="select-all">Select all</label></div>
<button type="button" id="bulk-delete" class="danger" disabled>Delete selected</button>
</div>
<p id="message" class="message" role="status" aria-live="polite"></p>
<table id="recordings" class="recordings"><caption class="sr-only">Unassigned recordings</caption>
<thead><tr><th scope="col"><span class="sr-only">Select</span></th>
<th scope="col">Started (UTC)</th><th scope="col">Agent</th><th scope="col">Campaign</th>
<th scope="col">Number</th><th scope="col">Length</th><th scope="col">Listen</th>
<th scope="col">Assign to</th><th scope="col">Delete</th></tr></thead><tbody></tbody></table>
<p id="empty" class="muted" hidden>No unassigned recordings.</p>
<dialog id="confirm" aria-labelledby="confirm-h"><form method="dialog">
<h2 id="confirm-h">Delete recordings?</h2><p id="confirm-text"></p>
<div class="buttons"><button value="cancel" id="confirm-cancel" autofocus>Cancel</button>
<button value="ok" id="confirm-ok" class="danger">Delete</button></div></form></dialog>
"""


ADMIN_PAGE = """
<section class="card" aria-labelledby="audit-h"><h2 id="audit-h">Audit log</h2>
<form id="audit-filter" class="filter" role="search">
<label for="audit-recording">Recording id</label>
<input id="audit-recording" name="recording_id" maxlength="64" autocomplete="off"
 pattern="[A-Za-z0-9_\\-]{1,64}" title="letters, digits, - and _">
<button type="submit">Filter</button>
<button type="button" id="audit-clear">Show all</button></form>
<p id="audit-message" class="message" role="status" aria-live="polite"></p>
<table id="audit" class="recordings"><caption class="sr-only">Audit log, newest first</caption>
<thead><tr><th scope="col">When (UTC)</th><th scope="col">Who</th><th scope="col">Action</th>
<th scope="col">Recording</th><th scope="col">Detail</th></tr></thead><tbody></tbody></table>
<p id="audit-empty" class="muted" hidden>No audit entries.</p>
<nav class="pager" aria-label="Audit log pages">
<button type="button" id="audit-prev" disabled>Previous</button>
<span id="audit-range" class="muted" aria-live="polite"></span>
<button type="button" id="audit-next" disabled>Next</button></nav>
</section>
<div class="columns even">
<section class="card" aria-labelledby="hold-h"><h2 id="hold-h">Legal hold</h2>
<form id="hold-form" class="stack">
<label for="hold-kind">Hold on</label>
<select id="hold-kind" name="kind">
<option value="recording">a recording (by id)</option>
<option value="number">a customer number (all its recordings)</option></select>
<label for="hold-target">Recording id or customer number</label>
<input id="hold-target" name="target" required maxlength="64" autocomplete="off">
<label for="hold-reason">Reason</label>
<input id="hold-reason" name="reason" required maxlength="500" autocomplete="off">
<div class="buttons start">
<button type="submit" id="hold-on" class="primary" value="on">Put on hold</button>
<button type="submit" id="hold-off" value="off">Release hold</button></div>
</form>
<p id="hold-message" class="message" role="status" aria-live="polite"></p>
</section>
<section class="card" aria-labelledby="erase-h"><h2 id="erase-h">Erasure request</h2>
<p class="muted">Deletes every recording of the customer number, assigned or not, except
those a legal hold keeps. It cannot be undone.</p>
<form id="erase-form" class="stack">
<label for="erase-number">Customer number</label>
<input id="erase-number" name="number" required maxlength="64" inputmode="tel"
 autocomplete="off">
<label for="erase-reason">Reason</label>
<input id="erase-reason" name="reason" required maxlength="500" autocomplete="off">
<div class="buttons start"><button type="submit" id="erase" class="danger">Erase…</button></div>
</form>
<p id="erase-message" class="message" role="status" aria-live="polite"></p>
<div id="erase-result" hidden>
<h3>Deleted</h3><ul id="erase-deleted" class="ids"></ul>
<h3>Kept by a legal hold</h3><ul id="erase-held" class="ids"></ul></div>
</section></div>
<dialog id="erase-confirm" aria-labelledby="erase-confirm-h"><form method="dialog">
<h2 id="erase-confirm-h">Erase this customer's recordings?</h2>
<p id="erase-confirm-text"></p>
<div class="buttons"><button value="cancel" id="erase-cancel" autofocus>Cancel</button>
<button value="ok" id="erase-ok" class="danger">Erase</button></div></form></dialog>
"""


async def console_page(request: web.Request) -> web.StreamResponse:
    user = auth.require_user(request)
    return layout(request, user, "Agent console", CONSOLE, script="console.js")


async def recordings_page(request: web.Request) -> web.StreamResponse:
    user = auth.require_user(request)
    return layout(
        request, user, "Recordings", RECORDINGS, script="recordings.js", data={"view": "history"}
    )


async def record_page(request: web.Request) -> web.StreamResponse:
    user = auth.require_user(request)
    raw = request.match_info["record_id"]
    if not raw.isdigit() or len(raw) > 18:
        return layout(
            request, user, "Not found", '<p class="error">No such record.</p>', status=404
        )
    return layout(
        request,
        user,
        "CRM record",
        RECORD,
        script="recordings.js",
        data={"view": "record", "record_id": int(raw)},
    )


async def unassigned_page(request: web.Request) -> web.StreamResponse:
    user = auth.require_user(request)
    return layout(
        request,
        user,
        "Unassigned recordings",
        UNASSIGNED,
        script="recordings.js",
        data={"view": "unassigned"},
    )


async def admin_page(request: web.Request) -> web.StreamResponse:
    user = auth.require_user(request)
    return layout(request, user, "Compliance administration", ADMIN_PAGE, script="admin.js")


async def health(request: web.Request) -> web.Response:
    from console.calls_api import REGISTRY

    # Liveness only for anyone; how busy the node is, only for someone logged in.
    body: dict[str, object] = {"status": "ok"}
    if auth.current_user(request) is not None:
        body["calls"] = len(request.app[REGISTRY].all())
    return web.json_response(body)


ROUTES = [
    Route("GET", "/api/health", health, auth.PUBLIC, "Liveness: no authentication", tag="service"),
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
        response="text/html",
        page=True,
        errors=(400, 401),
    ),
    Route(
        "POST",
        "/logout",
        logout,
        auth.PUBLIC,
        "Log out (form post with the CSRF token)",
        tag="pages",
        response="text/html",
        page=True,
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
        "Assigned recordings (history)",
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
        params=(Param("record_id", "path", "integer"),),
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
