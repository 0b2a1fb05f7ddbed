"""Who is asking: HTTP Basic for API clients, a signed session cookie for browsers.

* Basic credentials are checked against the users file on each request (the
  scrypt result is cached in memory under an HMAC of the credentials, never
  the password itself).
* The session cookie holds ``user|expiry|csrf`` signed with HMAC-SHA256 under
  a per-process random secret (or a configured one, to share sessions across
  nodes). It is HttpOnly and SameSite=Strict.
* CSRF: a state-changing request on a cookie session must carry the session's
  token in ``X-CSRF-Token``; on Basic auth it must be sent as
  ``application/json`` (a cross-site form cannot, and no CORS preflight is
  ever approved).

Credentials are never logged: only the user name and the outcome.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from console.errors import ApiError
from console.users import User, UserStore

log = logging.getLogger("callrec.auth")

PUBLIC = "public"
AUTHENTICATED = "authenticated"
SESSION_COOKIE = "callrec_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
USER = web.RequestKey("user", User)
VIA = web.RequestKey("auth_via", str)
CSRF = web.RequestKey("csrf", str)


class Throttle:
    """Slows password guessing: after too many failures for one user name (or
    one client address) within ``window`` seconds, further attempts are
    refused until the window has passed. In memory on purpose: it guards this
    process, and forgetting it on restart loses nothing that must survive."""

    def __init__(self, limits: dict[str, int] | None = None, window: float = 300.0) -> None:
        # Per user name 5; per address more, since many people share a NAT.
        self.limits = limits or {"user": 5, "addr": 30}
        self.window = window
        self._failures: dict[str, list[float]] = {}

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, []) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def wait(self, keys: tuple[str, ...], now: float | None = None) -> float:
        """Seconds to wait before another attempt (0: go ahead)."""
        now = time.time() if now is None else now
        waits = [
            self.window - (now - times[0])
            for key, times in ((k, self._recent(k, now)) for k in keys)
            if len(times) >= self.limits.get(key.split(":", 1)[0], 5)
        ]
        return max(waits, default=0.0)

    def failed(self, keys: tuple[str, ...], now: float | None = None) -> None:
        now = time.time() if now is None else now
        for key in keys:
            self._failures.setdefault(key, []).append(now)
        if len(self._failures) > 10_000:  # bounded: drop the oldest entries
            for key in list(self._failures)[: len(self._failures) - 10_000]:
                del self._failures[key]

    def succeeded(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            self._failures.pop(key, None)


def throttle_keys(request: web.Request, name: str) -> tuple[str, ...]:
    return (f"user:{name[:128]}", f"addr:{request.remote or '-'}")


def throttled(seconds: float) -> ApiError:
    err = ApiError(429, "auth.throttled", "too many failed logins; try again later")
    err.headers = {"Retry-After": str(max(1, int(seconds + 0.999)))}
    return err


@dataclass
class Auth:
    users: UserStore
    throttle: Throttle = field(default_factory=Throttle)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    session_seconds: int = 8 * 3600
    secure_cookie: bool = False
    _basic_cache: OrderedDict[bytes, tuple[str, str]] = field(default_factory=OrderedDict)

    def _mac(self, data: bytes) -> bytes:
        return hmac.new(self.secret, data, hashlib.sha256).digest()

    def basic(self, name: str, password: str) -> User | None:
        key = self._mac(b"basic\0" + name.encode() + b"\0" + password.encode())
        hit = self._basic_cache.get(key)
        user = self.users.get(name)
        if hit is not None and user is not None and hit == (user.name, user.password_hash):
            self._basic_cache.move_to_end(key)
            return user
        user = self.users.authenticate(name, password)
        if user is not None:
            self._basic_cache[key] = (user.name, user.password_hash)
            while len(self._basic_cache) > 1024:
                self._basic_cache.popitem(last=False)
        return user

    def make_session(self, user: User) -> tuple[str, str]:
        csrf = secrets.token_urlsafe(24)
        expiry = int(time.time()) + self.session_seconds
        payload = f"{user.name}|{expiry}|{csrf}".encode()
        sig = self._mac(b"session\0" + payload)
        token = _b64(payload) + "." + _b64(sig)
        return token, csrf

    def read_session(self, token: str) -> tuple[User, str] | None:
        try:
            p64, s64 = token.split(".", 1)
            payload, sig = _unb64(p64), _unb64(s64)
        except (ValueError, binascii.Error):
            return None
        if not hmac.compare_digest(sig, self._mac(b"session\0" + payload)):
            return None
        try:
            name, expiry, csrf = payload.decode().split("|")
            if int(expiry) < time.time():
                return None
        except ValueError:
            return None
        user = self.users.get(name)
        return (user, csrf) if user is not None else None

    def set_cookie(self, response: web.StreamResponse, token: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=self.session_seconds,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=self.secure_cookie,
        )


AUTH = web.AppKey("auth", Auth)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _parse_basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, password = decoded.partition(":")
    return (name, password) if sep else None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    auth = request.app[AUTH]
    header = request.headers.get("Authorization")
    if header is not None:
        creds = _parse_basic(header)
        keys = throttle_keys(request, creds[0] if creds else "")
        wait = auth.throttle.wait(keys)
        if wait:
            raise throttled(wait)
        user = auth.basic(*creds) if creds else None
        if user is None:
            auth.throttle.failed(keys)
            log.warning("rejected Basic credentials on %s %s", request.method, request.path)
            raise _unauthorized("bad credentials")
        auth.throttle.succeeded(keys[:1])
        request[USER] = user
        request[VIA] = "basic"
        if request.method in UNSAFE and request.content_type != "application/json":
            raise ApiError(
                415,
                "request.json_required",
                "state-changing requests must be sent as application/json",
            )
    else:
        session = auth.read_session(request.cookies.get(SESSION_COOKIE, ""))
        if session is not None:
            request[USER], request[CSRF] = session
            request[VIA] = "session"
            # /login and /logout carry their own form tokens.
            if request.method in UNSAFE and request.path not in ("/login", "/logout"):
                sent = request.headers.get(CSRF_HEADER, "")
                if not hmac.compare_digest(sent.encode(), session[1].encode()):
                    raise ApiError(403, "csrf.failed", f"missing or wrong {CSRF_HEADER} header")
    return await handler(request)


class PageForbidden(Exception):
    """A page the user may not see: the route guard answers with the 403 page
    (rendering lives above this module, so it is raised rather than built here)."""

    def __init__(self, user: User, permission: str) -> None:
        super().__init__(permission)
        self.user = user
        self.permission = permission


def _unauthorized(message: str) -> ApiError:
    err = ApiError(401, "auth.required", message)
    err.headers = {"WWW-Authenticate": 'Basic realm="callrec", charset="UTF-8"'}
    return err


def current_user(request: web.Request) -> User | None:
    user = request.get(USER)
    return user if isinstance(user, User) else None


def require_user(request: web.Request) -> User:
    user = current_user(request)
    if user is None:
        raise _unauthorized("log in first")
    return user


def check(request: web.Request, permission: str, *, page: bool) -> web.StreamResponse | None:
    """None when the request may go on; otherwise the refusal (or raise one for the API)."""
    if permission == PUBLIC:
        return None
    user = current_user(request)
    if user is None:
        if page:
            from urllib.parse import quote

            raise web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe="/"))
        raise _unauthorized("authentication required (HTTP Basic or a session)")
    if permission == AUTHENTICATED or user.has(permission):
        return None
    if page:
        raise PageForbidden(user, permission)
    raise ApiError(
        403,
        "permission.denied",
        f"{user.name} lacks permission '{permission}'",
        permission=permission,
    )
