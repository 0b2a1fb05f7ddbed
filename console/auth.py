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

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

from aiohttp import web

from console.errors import ApiError
from console.users import User, UsersError, UserStore
from storage.sessions import RevokedSessions

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
    """Slows password guessing without letting anyone lock a user out.

    Failures are counted per (user name, client address) pair: after ``free``
    failures each further attempt from that pair must wait twice as long as
    the last (1 s, 2 s, 4 s ... up to ``max_wait``). An attacker guessing the
    admin's password from one address is slowed to a crawl, while the real
    admin, from any other address, is never affected; many people behind one
    proxy address are throttled each on their own name, never all together.
    A pair is forgotten ``window`` seconds after its last failure, or on
    success. In memory on purpose: it guards this process, and forgetting it
    on restart loses nothing that must survive."""

    def __init__(self, free: int = 3, max_wait: float = 900.0, window: float = 3600.0) -> None:
        self.free = free
        self.max_wait = max_wait
        self.window = window
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (count, last failure)

    def _delay(self, count: int) -> float:
        if count < self.free:
            return 0.0
        return float(min(self.max_wait, 2.0 ** min(count - self.free, 30)))

    def wait(self, key: str, now: float | None = None) -> float:
        """Seconds to wait before another attempt from this pair (0: go ahead)."""
        now = time.time() if now is None else now
        entry = self._failures.get(key)
        if entry is None:
            return 0.0
        count, last = entry
        if now - last > self.window:
            del self._failures[key]
            return 0.0
        return max(0.0, last + self._delay(count) - now)

    def failed(self, key: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        count, _ = self._failures.pop(key, (0, now))
        self._failures[key] = (count + 1, now)  # re-inserted: the dict stays oldest-first
        if len(self._failures) > 10_000:  # bounded: drop the oldest entries
            for old in list(self._failures)[: len(self._failures) - 10_000]:
                del self._failures[old]

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


def throttle_key(request: web.Request, name: str) -> str:
    """The pair a failure counts against: user name and client address."""
    return f"{name[:128]}\0{request.remote or '-'}"


def throttled(seconds: float) -> ApiError:
    err = ApiError(429, "auth.throttled", "too many failed logins; try again later")
    err.headers = {"Retry-After": str(max(1, int(seconds + 0.999)))}
    return err


class Revocations(Protocol):
    async def revoke(self, sid: str, expires_at: datetime) -> None: ...
    async def is_revoked(self, sid: str) -> bool: ...


class MemoryRevocations:
    """Ended sessions of a console without a database (tests, a lone demo node)."""

    def __init__(self) -> None:
        self._ended: dict[str, datetime] = {}

    async def revoke(self, sid: str, expires_at: datetime) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        self._ended = {k: v for k, v in self._ended.items() if v > now}
        self._ended[sid] = expires_at

    async def is_revoked(self, sid: str) -> bool:
        return sid in self._ended


class StoredRevocations:
    """Ended sessions in the shared database (storage.sessions), off the event loop."""

    def __init__(self, store: RevokedSessions) -> None:
        self.store = store

    async def revoke(self, sid: str, expires_at: datetime) -> None:
        await asyncio.to_thread(self.store.revoke, sid, expires_at)

    async def is_revoked(self, sid: str) -> bool:
        return await asyncio.to_thread(self.store.is_revoked, sid)


@dataclass(frozen=True)
class Credentials:
    """How a request was let in: a session cookie (``secret`` is the token, ``sid``
    its id) or Basic (``secret`` is the user's password hash then). Kept in memory
    only, never logged (no repr of the secret)."""

    via: str
    name: str
    secret: str = field(repr=False)
    sid: str | None = None


def busy() -> ApiError:
    err = ApiError(503, "auth.busy", "too many logins in progress; try again shortly")
    err.headers = {"Retry-After": "1"}
    return err


# scrypt is CPU- and memory-heavy by design: it runs in threads (it releases the
# GIL), a few at a time, so the event loop the call paths share never waits on it.
# Half the cores, so the loop keeps one.
HASH_THREADS = max(1, (os.cpu_count() or 2) // 2)
HASH_QUEUE = 64


def _lower_priority() -> None:
    """A hashing thread yields the CPU to the event loop's thread (Linux: per-thread nice)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICE)


HASH_NICE = 10


@dataclass
class Auth:
    users: UserStore
    throttle: Throttle = field(default_factory=Throttle)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    session_seconds: int = 8 * 3600
    secure_cookie: bool = False
    _basic_cache: OrderedDict[bytes, tuple[str, str]] = field(default_factory=OrderedDict)
    _hashers: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(
            HASH_THREADS, thread_name_prefix="scrypt", initializer=_lower_priority
        )
    )
    _queued: int = 0
    revoked: Revocations = field(default_factory=lambda: MemoryRevocations())
    # Called with a session id when this node ends that session (console.events_ws).
    session_ended: list[Callable[[str], None]] = field(default_factory=list)

    def _mac(self, data: bytes) -> bytes:
        return hmac.new(self.secret, data, hashlib.sha256).digest()

    async def authenticate(self, name: str, password: str) -> User | None:
        """The scrypt check in a worker thread; refused (503) when too many wait."""
        if self._queued >= HASH_QUEUE:
            raise busy()
        self._queued += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._hashers, self.users.authenticate, name[:128], password[:1024]
            )
        finally:
            self._queued -= 1

    async def attempt(self, request: web.Request, name: str, password: str) -> User | None:
        """One throttled password check; raises ``throttled`` while the pair must wait."""
        key = throttle_key(request, name)
        wait = self.throttle.wait(key)
        if wait:
            log.warning("login for user %r throttled", name[:64])
            raise throttled(wait)
        user = await self.authenticate(name, password)
        if user is None:
            self.throttle.failed(key)
            log.warning("failed login for user %r", name[:64])
        else:
            self.throttle.succeeded(key)
        return user

    async def basic(self, request: web.Request, name: str, password: str) -> User | None:
        await self.refresh_users()
        key = self._mac(b"basic\0" + name.encode() + b"\0" + password.encode())
        hit = self._basic_cache.get(key)
        user = self.users.get(name)
        if hit is not None and user is not None and hit == (user.name, user.password_hash):
            self._basic_cache.move_to_end(key)
            return user
        user = await self.attempt(request, name, password)
        if user is not None:
            self._basic_cache[key] = (user.name, user.password_hash)
            while len(self._basic_cache) > 1024:
                self._basic_cache.popitem(last=False)
        return user

    def _fingerprint(self, user: User) -> str:
        """Ties a session to the password it was opened with: a new password ends it."""
        return self._mac(b"password\0" + user.password_hash.encode()).hex()[:16]

    def make_session(self, user: User) -> tuple[str, str]:
        csrf = secrets.token_urlsafe(24)
        sid = secrets.token_hex(16)
        expiry = int(time.time()) + self.session_seconds
        payload = f"{user.name}|{expiry}|{csrf}|{sid}|{self._fingerprint(user)}".encode()
        sig = self._mac(b"session\0" + payload)
        token = _b64(payload) + "." + _b64(sig)
        return token, csrf

    def _parse_session(self, token: str) -> tuple[str, int, str, str, str] | None:
        try:
            p64, s64 = token.split(".", 1)
            payload, sig = _unb64(p64), _unb64(s64)
        except (ValueError, binascii.Error):
            return None
        if not hmac.compare_digest(sig, self._mac(b"session\0" + payload)):
            return None
        try:
            name, expiry, csrf, sid, fp = payload.decode().split("|")
            return name, int(expiry), csrf, sid, fp
        except ValueError:
            return None

    async def session_state(self, token: str) -> tuple[User, str] | str:
        """The session's user and CSRF token, or why the session is refused: forged,
        expired, the user removed or their password changed since (the users file is
        re-read on change), or ended by a logout on any node sharing the database."""
        parsed = self._parse_session(token)
        if parsed is None:
            return "session invalid"
        name, expiry, csrf, sid, fp = parsed
        if expiry < time.time():
            return "session expired"
        await self.refresh_users()
        user = self.users.get(name)
        if user is None:
            return "user removed"
        if not hmac.compare_digest(fp, self._fingerprint(user)):
            return "password changed"
        if await self.revoked.is_revoked(sid):
            return "logged out"
        return user, csrf

    async def read_session(self, token: str) -> tuple[User, str] | None:
        """The session's user and CSRF token; None when refused (see ``session_state``)."""
        state = await self.session_state(token)
        return None if isinstance(state, str) else state

    async def end_session(self, token: str) -> None:
        """Logout: the session is refused from now on, on every node sharing the database;
        this node's listeners (its open websockets) hear of it at once."""
        parsed = self._parse_session(token)
        if parsed is not None:
            _, expiry, _, sid, _ = parsed
            await self.revoked.revoke(sid, datetime.fromtimestamp(expiry, UTC).replace(tzinfo=None))
            for listener in tuple(self.session_ended):
                try:
                    listener(sid)
                except Exception:  # a listener's fault must not fail the logout
                    log.exception("session-ended listener failed")

    def credentials(self, request: web.Request) -> Credentials:
        """What this request was let in with, to check again later (a long-lived websocket)."""
        user = require_user(request)
        if request.get(VIA) == "session":
            token = request.cookies.get(SESSION_COOKIE, "")
            parsed = self._parse_session(token)
            return Credentials("session", user.name, token, parsed[3] if parsed else None)
        return Credentials("basic", user.name, user.password_hash, None)

    async def recheck(self, creds: Credentials) -> User | str:
        """The user behind ``creds`` now, or why they no longer hold: a session as on
        each request; Basic credentials while the user exists with the same password
        hash (the password itself is not kept, so it is not re-verified)."""
        if creds.via == "session":
            state = await self.session_state(creds.secret)
            return state if isinstance(state, str) else state[0]
        await self.refresh_users()
        user = self.users.get(creds.name)
        if user is None:
            return "user removed"
        if not hmac.compare_digest(user.password_hash.encode(), creds.secret.encode()):
            return "password changed"
        return user

    async def refresh_users(self) -> None:
        if self.users.stale():
            try:
                await asyncio.to_thread(self.users.reload)
            except UsersError as exc:
                log.error("users file not reloaded (the previous users stay): %s", exc)

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


def safe_next(value: str | None) -> str:
    """``value`` when it is a path on this site, else "/" (no open redirect).

    Browsers drop tabs and line breaks from URLs and read a backslash as a
    slash, so ``/\\t/evil.example`` (a tab) would become ``//evil.example``, another
    host: anything with a control character, space or backslash is refused
    before the ``//`` check."""
    if not value or any(ord(c) < 0x21 or c in "\x7f\\" for c in value):
        return "/"
    if not value.startswith("/") or value.startswith("//"):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


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
        user = await auth.basic(request, *creds) if creds else None
        if user is None:
            log.warning("rejected Basic credentials on %s %r", request.method, request.path)
            raise _unauthorized("bad credentials")
        request[USER] = user
        request[VIA] = "basic"
        if request.method in UNSAFE and request.content_type != "application/json":
            raise ApiError(
                415,
                "request.json_required",
                "state-changing requests must be sent as application/json",
            )
    else:
        session = await auth.read_session(request.cookies.get(SESSION_COOKIE, ""))
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
