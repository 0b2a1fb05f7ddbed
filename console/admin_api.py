"""The compliance administrator's API: the audit log, legal holds and erasure requests.

Everything here needs ``admin``. Storage checks that permission again and
writes the audit entries itself (holds, releases, erasures) under the logged-in
user's name; the console only validates input and shapes the answers.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from console.errors import bool_field, read_json, text_field
from console.recordings_api import (
    ID_SCHEMA,
    OFFSET,
    RID,
    _iso,
    _query_int,
    _user,
    recording_id,
    storage,
)
from console.routes import Param, Route
from storage import audit
from storage.permissions import Permission

ADMIN = Permission.ADMIN.value
MAX_REASON = 500
MAX_NUMBER = 64
MAX_PAGE = 500


def _entry_json(entry: audit.AuditRecord) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": _iso(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "recording_id": entry.recording_id,
        "record_id": entry.record_id,
        "detail": entry.detail,
    }


async def audit_log(request: web.Request) -> web.Response:
    raw = request.query.get("recording_id")
    rid = recording_id(raw) if raw else None
    limit = _query_int(request, "limit", 100, 1, MAX_PAGE)
    offset = _query_int(request, "offset", 0, 0, 10**9)
    svc, actor = storage(request), _user(request).actor()
    # One more than asked tells whether there is a next page.
    rows: list[audit.AuditRecord] = await svc.audit_log(
        actor, rid, limit=limit + 1, offset=offset, newest_first=True
    )
    return web.json_response(
        {
            "entries": [_entry_json(e) for e in rows[:limit]],
            "limit": limit,
            "offset": offset,
            "has_more": len(rows) > limit,
        }
    )


def _number(data: dict[str, Any]) -> str:
    return text_field(data, "number", max_len=MAX_NUMBER)


def _reason(data: dict[str, Any]) -> str:
    return text_field(data, "reason", max_len=MAX_REASON)


async def recording_hold(request: web.Request) -> web.Response:
    rid = recording_id(request.match_info["recording_id"])
    data = await read_json(request)
    on, reason = bool_field(data, "on"), _reason(data)
    await storage(request).set_hold(_user(request).actor(), rid, on, reason)
    return web.json_response({"recording_id": rid, "legal_hold": on, "reason": reason})


async def number_hold(request: web.Request) -> web.Response:
    data = await read_json(request)
    number, on, reason = _number(data), bool_field(data, "on"), _reason(data)
    e164 = await storage(request).set_number_hold(_user(request).actor(), number, on, reason)
    return web.json_response({"number": e164, "on": on, "reason": reason})


async def erasure(request: web.Request) -> web.Response:
    data = await read_json(request)
    number, reason = _number(data), _reason(data)
    result = await storage(request).erase_number(_user(request).actor(), number, reason)
    return web.json_response(
        {"number": result.number, "deleted": list(result.deleted), "held": list(result.held)}
    )


# Stripped before use, so at least one non-space character.
REASON = {"type": "string", "minLength": 1, "maxLength": MAX_REASON, "pattern": "\\S"}
NUMBER = {"type": "string", "minLength": 1, "maxLength": MAX_NUMBER, "pattern": "\\S"}
NOT_A_PHONE = "a number that does not read as a phone number is refused (number.invalid)"

ROUTES = [
    Route(
        "GET",
        "/api/audit",
        audit_log,
        ADMIN,
        "Audit log entries, newest first, optionally for one recording",
        tag="admin",
        params=(
            Param(
                "recording_id",
                "query",
                description="only entries about this recording",
                schema=ID_SCHEMA,
            ),
            Param(
                "limit",
                "query",
                "integer",
                "1..500, default 100",
                schema={"minimum": 1, "maximum": MAX_PAGE},
            ),
            OFFSET,
        ),
        errors=(400, 401, 403),
    ),
    Route(
        "POST",
        "/api/recordings/{recording_id}/hold",
        recording_hold,
        ADMIN,
        "Put a legal hold on a recording, or release it (audited)",
        tag="admin",
        params=(RID,),
        body={
            "type": "object",
            "required": ["on", "reason"],
            "properties": {"on": {"type": "boolean"}, "reason": REASON},
        },
        errors=(400, 401, 403, 404, 410, 413, 415),
    ),
    Route(
        "POST",
        "/api/holds",
        number_hold,
        ADMIN,
        "Put a legal hold on everything of a customer number, or release it (audited)",
        tag="admin",
        body={
            "type": "object",
            "required": ["number", "on", "reason"],
            "properties": {"number": NUMBER, "on": {"type": "boolean"}, "reason": REASON},
        },
        errors=(400, 401, 403, 413, 415),
        semantic_400=NOT_A_PHONE,
    ),
    Route(
        "POST",
        "/api/erasure",
        erasure,
        ADMIN,
        "A customer's erasure request: delete the number's recordings that no hold keeps",
        tag="admin",
        body={
            "type": "object",
            "required": ["number", "reason"],
            "properties": {"number": NUMBER, "reason": REASON},
        },
        errors=(400, 401, 403, 413, 415),
        semantic_400=NOT_A_PHONE,
    ),
]
