"""One JSON error shape for every API failure, with a stable code.

``{"error": {"code": "...", "message": "...", "rule": "..."}}``: clients
branch on ``code`` (and ``rule`` for refusals), never on message text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from storage.errors import StorageError

log = logging.getLogger("callrec.http")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra
        self.headers: dict[str, str] = {}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    body = {"error": {"code": code, "message": message, **extra}}
    return web.json_response(body, status=status, headers=headers)


# Storage's stable codes -> HTTP status (docs/STORAGE.md); anything else is a 500.
STORAGE_STATUS = {
    "recording.not_found": 404,
    "record.not_found": 404,
    "permission.denied": 403,
    "recording.assigned": 409,
    "hold.active": 409,
    "recording.deleted": 410,
    "number.invalid": 400,
    "crm.import_failed": 400,
    "file.missing": 404,
    "file.truncated": 422,
    "recording.encrypted": 409,
}


def storage_error(exc: StorageError) -> ApiError:
    return ApiError(STORAGE_STATUS.get(exc.code, 500), exc.code, exc.message)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(
            exc.status, exc.code, exc.message, headers=exc.headers or None, **exc.extra
        )
    except StorageError as exc:
        err = storage_error(exc)
        if err.status >= 500:
            log.error("storage error on %s %r: %s", request.method, request.path, exc.code)
        return error_response(err.status, err.code, err.message)
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "request.too_large", "request body too large")
    except web.HTTPException as exc:
        if exc.status >= 400:
            code = {404: "route.not_found", 405: "route.method_not_allowed"}.get(
                exc.status, "http.error"
            )
            # A 405 must say what is allowed (RFC 9110 15.5.6); aiohttp puts it on the exception.
            allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            return error_response(exc.status, code, exc.reason, headers=allow)
        raise
    except Exception:
        log.exception("unhandled error on %s %r", request.method, request.path)
        return error_response(500, "internal", "internal error; see the service log")


async def read_json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "request.bad_json", "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request.bad_json", "body must be a JSON object")
    return data


def int_field(data: dict[str, Any], key: str, *, minimum: int = 0, maximum: int = 2**62) -> int:
    value = data.get(key)
    if value is None:
        raise ApiError(400, "request.missing_field", f"{key!r} is required")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON has one number type: 7.0 is the integer 7
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ApiError(400, "request.bad_field", f"{key!r} must be an integer >= {minimum}")
    return value


def str_field(data: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ApiError(400, "request.missing_field", f"{key!r} is required")
        return None
    if not isinstance(value, str) or len(value) > 128:
        raise ApiError(400, "request.bad_field", f"{key!r} must be a string (max 128)")
    return value


def bool_field(data: dict[str, Any], key: str) -> bool:
    value = data.get(key)
    if value is None:
        raise ApiError(400, "request.missing_field", f"{key!r} is required")
    if not isinstance(value, bool):
        raise ApiError(400, "request.bad_field", f"{key!r} must be true or false")
    return value


def text_field(data: dict[str, Any], key: str, *, max_len: int) -> str:
    """A required, non-blank string of at most ``max_len`` characters (stripped)."""
    value = data.get(key)
    if value is None:
        raise ApiError(400, "request.missing_field", f"{key!r} is required")
    if not isinstance(value, str) or len(value) > max_len:
        raise ApiError(400, "request.bad_field", f"{key!r} must be a string (max {max_len})")
    value = value.strip()
    if not value:
        raise ApiError(400, "request.missing_field", f"{key!r} must not be empty")
    return value
