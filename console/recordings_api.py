"""Recordings, CRM records and unassigned matching, over :class:`StorageService`.

Storage checks permissions and audits every access itself; the route table
checks them again here so a refusal never reaches the database. Ids and file
kinds are validated before use: file paths come from storage only.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from console import auth
from console.errors import ApiError, int_field, read_json
from console.keys import STORAGE
from console.routes import Param, Route
from console.schemas import RECORDING, RECORDINGS
from console.users import User
from storage import coverage, crypto, search
from storage.errors import FileMissing
from storage.permissions import Permission
from storage.service import RecordingView, StorageService

RECORDING_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
KINDS = ("stereo", "agent", "customer")
STATES = ("assigned", "unassigned", "deleted")
CONTENT_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "opus": "audio/ogg", "mp3": "audio/mpeg"}
MAX_BULK = 1000
LEAP_SECOND = re.compile(r"(T\d\d:\d\d:)60")
SECONDS = re.compile(r"\d{1,7}(\.\d{1,3})?")

VIEW = Permission.VIEW_HISTORY.value
VIEW_UNASSIGNED = Permission.VIEW_UNASSIGNED.value
ASSIGN = Permission.ASSIGN.value
DELETE = Permission.DELETE_UNASSIGNED.value
ANY_VIEW = "view_history|view_unassigned"


def storage(request: web.Request) -> StorageService:
    svc = request.app.get(STORAGE)
    if svc is None:
        raise ApiError(503, "storage.unavailable", "no recording storage is configured")
    return svc


def _user(request: web.Request) -> User:
    return auth.require_user(request)


def recording_id(value: str) -> str:
    if not RECORDING_ID.fullmatch(value):
        raise ApiError(400, "request.bad_id", "recording ids are 1-64 letters, digits, '-' or '_'")
    return value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value is not None else None


def recording_json(view: RecordingView) -> dict[str, Any]:
    data = asdict(view)
    for key in ("started_at", "ended_at", "deleted_at"):
        data[key] = _iso(getattr(view, key))
    data["files"] = [asdict(f) for f in view.files]
    return data


def _query_int(request: web.Request, key: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(key)
    if raw is None:
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise ApiError(400, "request.bad_query", f"{key!r} must be an integer in {lo}..{hi}")
    return int(raw)


# -- reading ----------------------------------------------------------------------


def _query_float(request: web.Request, key: str) -> float | None:
    raw = request.query.get(key)
    if raw is None:
        return None
    if not SECONDS.fullmatch(raw):
        raise ApiError(400, "request.bad_query", f"{key!r} must be seconds, e.g. 30 or 2.5")
    return float(raw)


def _query_time(request: web.Request, key: str) -> datetime | None:
    """An ISO 8601 date or date-time; with an offset it is converted, without it is UTC."""
    raw = request.query.get(key)
    if raw is None:
        return None
    try:
        if len(raw) > 40:
            raise ValueError
        # RFC 3339 allows a leap second; Python does not: read :60 as :59.
        value = datetime.fromisoformat(LEAP_SECOND.sub(r"\g<1>59", raw.upper()))
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        # a month of margin either way, so ranges computed from it stay in datetime's span
        if not datetime(1, 2, 1) <= value <= datetime(9999, 12, 1):
            raise ValueError
    except (ValueError, OverflowError):
        raise ApiError(
            400, "request.bad_query", f"{key!r} must be an ISO 8601 date or date-time"
        ) from None
    return value


def search_filter(request: web.Request) -> search.SearchFilter:
    """The filters of a search request; every value is checked before any query runs."""
    q = request.query
    record_id = q.get("record_id")
    filt = search.SearchFilter(
        started_from=_query_time(request, "from"),
        started_to=_query_time(request, "to"),
        agent=q.get("agent"),
        campaign=q.get("campaign"),
        queue=q.get("queue"),
        direction=q.get("direction"),
        number=q.get("number") or None,
        number_contains=q.get("number_contains"),
        min_duration=_query_float(request, "min_duration"),
        max_duration=_query_float(request, "max_duration"),
        state=q.get("state"),
        flag=q.get("flag"),
        outcome=q.get("outcome"),
        record_id=_query_int(request, "record_id", 0, 1, 2**62) if record_id else None,
    )
    try:
        filt.validate()
    except search.BadSearch as exc:
        raise ApiError(400, "request.bad_query", str(exc)) from None
    return filt


def _sort(request: web.Request) -> str:
    sort = request.query.get("sort", "-started_at")
    if sort not in search.SORTS:
        raise ApiError(400, "request.bad_query", f"'sort' must be one of {search.SORTS}")
    return sort


async def list_recordings(request: web.Request) -> web.Response:
    """Search: filters, sort, keyset pages (``next_cursor`` -> ``cursor``)."""
    filt = search_filter(request)
    cursor = request.query.get("cursor")
    svc = storage(request)
    try:
        page = await asyncio.to_thread(
            search.search,
            svc.db,
            _user(request).actor(),
            filt,
            sort=_sort(request),
            limit=_query_int(request, "limit", 100, 1, search.MAX_LIMIT),
            cursor=cursor,
            region=svc.cfg.default_region,
        )
    except search.BadSearch as exc:
        raise ApiError(400, "request.bad_cursor", str(exc)) from None
    out = []
    for view in page.recordings:
        item = recording_json(view)
        item["verification"] = page.outcomes.get(view.id)
        out.append(item)
    return web.json_response({"recordings": out, "next_cursor": page.next_cursor})


async def export_csv(request: web.Request) -> web.StreamResponse:
    """The whole result of a search as CSV, streamed one keyset batch at a time."""
    filt = search_filter(request)
    sort = _sort(request)
    svc, actor = storage(request), _user(request).actor()
    batches = search.export_rows(svc.db, actor, filt, sort=sort, region=svc.cfg.default_region)
    # The first batch is read before the headers go out, so a refusal (permission,
    # bad number) is still an ordinary JSON error rather than a cut-off CSV.
    first: list[list[str]] = await asyncio.to_thread(next, batches, [])
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="recordings.csv"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        }
    )
    await resp.prepare(request)
    await resp.write(_csv_text([list(search.CSV_COLUMNS)]))
    batch: list[list[str]] | None = first
    while batch:
        await resp.write(_csv_text(batch))
        batch = await asyncio.to_thread(next, batches, None)
    await resp.write_eof()
    return resp


async def get_coverage(request: web.Request) -> web.Response:
    """Calls, decided to record, verified, problems and gaps per day, campaign or agent."""
    group = request.query.get("group", "day")
    if group not in coverage.GROUPS:
        raise ApiError(400, "request.bad_query", f"'group' must be one of {coverage.GROUPS}")
    end = _query_time(request, "to") or datetime.now(UTC).replace(tzinfo=None)
    start = _query_time(request, "from") or end - timedelta(days=30)
    svc = storage(request)

    def run() -> coverage.Coverage:
        with svc.db.session() as s:
            return coverage.coverage(s, start, end, group)

    try:
        result = await asyncio.to_thread(run)
    except ValueError as exc:
        raise ApiError(400, "request.bad_query", str(exc)) from None
    return web.json_response(
        {
            "from": _iso(result.start),
            "to": _iso(result.end),
            "group": result.group,
            "rows": [r.as_dict() for r in result.rows],
            "totals": result.totals.as_dict(),
        }
    )


def _csv_text(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


async def get_recording(request: web.Request) -> web.Response:
    rid = recording_id(request.match_info["recording_id"])
    view = await storage(request).get_recording(_user(request).actor(), rid)
    return web.json_response(recording_json(view))


async def _file(request: web.Request, purpose: str) -> web.StreamResponse:
    rid = recording_id(request.match_info["recording_id"])
    kind = request.query.get("kind", "auto")
    if kind not in (*KINDS, "auto"):
        raise ApiError(400, "request.bad_kind", f"'kind' must be one of {(*KINDS, 'auto')}")
    svc, actor = storage(request), _user(request).actor()
    if kind == "auto":
        view = await svc.get_recording(actor, rid)
        present = {f.kind for f in view.files if f.present}
        kind = next((k for k in KINDS if k in present), "stereo")
    path = await svc.open_file(actor, rid, kind, purpose)  # type: ignore[arg-type]
    ext = crypto.plain_name(path).rsplit(".", 1)[-1].lower()
    headers = {
        "Content-Type": CONTENT_TYPES.get(ext, "application/octet-stream"),
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if purpose == "download":
        headers["Content-Disposition"] = f'attachment; filename="{rid}.{kind}.{ext}"'
    if crypto.is_encrypted(path):  # decrypted in memory, on a node holding a key
        return web.Response(body=await svc.decrypt(path), headers=headers)
    if not path.is_file():
        raise FileMissing(f"{kind} file of recording {rid} is gone from the store")
    return web.FileResponse(path, headers=headers)


async def play(request: web.Request) -> web.StreamResponse:
    return await _file(request, "play")


async def download(request: web.Request) -> web.StreamResponse:
    return await _file(request, "download")


async def get_record(request: web.Request) -> web.Response:
    raw = request.match_info["record_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(400, "request.bad_id", "CRM record ids are positive integers")
    svc, actor = storage(request), _user(request).actor()
    record = await svc.get_record(actor, int(raw))
    views = await svc.list_recordings(actor, record_id=record.id, state="assigned")
    return web.json_response(
        {
            "record": {
                "id": record.id,
                "kind": record.kind,
                "external_id": record.external_id,
                "name": record.name,
                "phones": [{"field": f, "e164": e, "raw": r} for f, e, r in record.phones],
            },
            "recordings": [recording_json(v) for v in views],
        }
    )


# -- candidates ---------------------------------------------------------------------


async def candidates_for(
    svc: StorageService, user: User, view: RecordingView
) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await svc.candidates(user.actor(), view.id)
    return result


async def candidates(request: web.Request) -> web.Response:
    rid = recording_id(request.match_info["recording_id"])
    svc = storage(request)
    user = _user(request)
    view = await svc.get_recording(user.actor(), rid)
    return web.json_response(
        {"recording_id": rid, "candidates": await candidates_for(svc, user, view)}
    )


async def unassigned(request: web.Request) -> web.Response:
    """Unassigned recordings, newest first, in keyset pages (``next_cursor`` -> ``cursor``)."""
    if "offset" in request.query:
        raise ApiError(400, "request.bad_query", "'offset' is gone: page with 'cursor'")
    user = _user(request)
    svc = storage(request)
    try:
        page = await asyncio.to_thread(
            search.search,
            svc.db,
            user.actor(),
            search.SearchFilter(state="unassigned"),
            limit=_query_int(request, "limit", 100, 1, search.MAX_LIMIT),
            cursor=request.query.get("cursor"),
            region=svc.cfg.default_region,
        )
    except search.BadSearch as exc:
        raise ApiError(400, "request.bad_cursor", str(exc)) from None
    out = []
    for view in page.recordings:
        item = recording_json(view)
        if user.has(ASSIGN):
            item["candidates"] = await candidates_for(svc, user, view)
        out.append(item)
    return web.json_response({"recordings": out, "next_cursor": page.next_cursor})


# -- changes ------------------------------------------------------------------------


async def assign(request: web.Request) -> web.Response:
    rid = recording_id(request.match_info["recording_id"])
    data = await read_json(request)
    record_id = int_field(data, "record_id", minimum=1)
    svc, actor = storage(request), _user(request).actor()
    await svc.assign(actor, rid, record_id)
    # Not the recording itself: once assigned, seeing it takes view_history.
    return web.json_response({"recording_id": rid, "record_id": record_id, "state": "assigned"})


def _reason(data: dict[str, Any]) -> str:
    reason = data.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 500:
        raise ApiError(400, "request.bad_field", "'reason' must be a string (max 500)")
    return reason


async def delete(request: web.Request) -> web.Response:
    rid = recording_id(request.match_info["recording_id"])
    data = await read_json(request)
    await storage(request).delete_recording(_user(request).actor(), rid, _reason(data))
    return web.json_response({"deleted": [rid]})


async def bulk_delete(request: web.Request) -> web.Response:
    data = await read_json(request)
    ids = data.get("ids")
    if not isinstance(ids, list) or not ids or len(ids) > MAX_BULK:
        raise ApiError(400, "request.bad_field", f"'ids' must be a list of 1..{MAX_BULK} ids")
    if not all(isinstance(i, str) for i in ids):
        raise ApiError(400, "request.bad_field", "'ids' must hold strings")
    checked = list(dict.fromkeys(recording_id(i) for i in ids))
    outcome = await storage(request).delete_unassigned(
        _user(request).actor(), checked, _reason(data)
    )
    refused = {rid: code for rid, code in outcome.refused.items()}
    return web.json_response({"deleted": sorted(outcome.deleted), "refused": refused})


async def rematch(request: web.Request) -> web.Response:
    n = await storage(request).rematch(_user(request).actor())
    return web.json_response({"assigned": n})


ID_SCHEMA = {"pattern": "^[A-Za-z0-9_-]{1,64}$", "minLength": 1, "maxLength": 64}
RID = Param(
    "recording_id",
    "path",
    description="recording id (letters, digits, - and _)",
    schema=ID_SCHEMA,
)
LIMIT = Param(
    "limit", "query", "integer", "1..500, default 100", schema={"minimum": 1, "maximum": 500}
)
OFFSET = Param("offset", "query", "integer", schema={"minimum": 0, "maximum": 10**9})
RECORD_ID = {"minimum": 0, "maximum": 10**18 - 1}
KIND = Param("kind", "query", enum=(*KINDS, "auto"), description="which file; auto = best")
REASON = {"reason": {"type": "string", "maxLength": 500}}
NAME_SCHEMA = {"minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9_.@:+-]+$"}
SEARCH_PARAMS = (
    Param("from", "query", description="started at or after (ISO 8601; no offset = UTC)"),
    Param("to", "query", description="started before (ISO 8601; no offset = UTC)"),
    Param("agent", "query"),
    Param("campaign", "query"),
    Param("queue", "query"),
    Param("direction", "query", enum=search.DIRECTIONS),
    Param("number", "query", description="customer number, exact (any format)"),
    Param("number_contains", "query", description="3-15 digits anywhere in the number"),
    Param("min_duration", "query", description="seconds"),
    Param("max_duration", "query", description="seconds"),
    Param("state", "query", enum=STATES),
    Param("flag", "query", description="recordings carrying this flag"),
    Param("outcome", "query", enum=search.OUTCOMES, description="capture verification"),
    Param("record_id", "query", "integer", "assigned to this CRM record"),
    Param("sort", "query", enum=search.SORTS, description="'-' = descending; default -started_at"),
)
SEARCH_SCHEMAS: dict[str, dict[str, object]] = {
    "from": {"format": "date-time", "maxLength": 40},
    "to": {"format": "date-time", "maxLength": 40},
    "agent": NAME_SCHEMA,
    "campaign": NAME_SCHEMA,
    "queue": NAME_SCHEMA,
    "number": {"minLength": 1, "maxLength": 64},
    "number_contains": {"pattern": "^[0-9]{3,15}$"},
    "min_duration": {"pattern": "^[0-9]{1,7}([.][0-9]{1,3})?$"},
    "max_duration": {"pattern": "^[0-9]{1,7}([.][0-9]{1,3})?$"},
    "flag": {"pattern": "^[a-z0-9_.-]{1,64}$"},
    "record_id": {"minimum": 1, "maximum": 2**62},
}

ROUTES = [
    Route(
        "GET",
        "/api/recordings",
        list_recordings,
        ANY_VIEW,
        "Search the recordings the user may see: filters, sort, keyset pages",
        tag="recordings",
        response_schema=RECORDINGS,
        semantic_400="a number that does not read as a phone number is refused (number.invalid)",
        params=(
            *SEARCH_PARAMS,
            Param("limit", "query", "integer", "page size, 1..500, default 100"),
            Param("cursor", "query", description="next_cursor of the previous page"),
        ),
        errors=(400, 401, 403),
        extra={
            "param_schemas": SEARCH_SCHEMAS
            | {
                "limit": {"minimum": 1, "maximum": search.MAX_LIMIT},
                "cursor": {"maxLength": 256, "pattern": "^[A-Za-z0-9_-]+$"},
            }
        },
    ),
    Route(
        "GET",
        "/api/recordings.csv",
        export_csv,
        ANY_VIEW,
        "The whole result of a search as CSV (streamed; same filters, no pages)",
        tag="recordings",
        semantic_400="a number that does not read as a phone number is refused (number.invalid)",
        params=SEARCH_PARAMS,
        response="text/csv",
        errors=(400, 401, 403),
        extra={"param_schemas": SEARCH_SCHEMAS},
    ),
    Route(
        "GET",
        "/api/coverage",
        get_coverage,
        ANY_VIEW,
        "Recording coverage per day, campaign or agent, from the capture verification",
        tag="recordings",
        semantic_400="a range that ends before it starts, or dates beyond what can be stored",
        params=(
            Param("from", "query", description="calls started at or after (default: to - 30 days)"),
            Param("to", "query", description="calls started before (default: now)"),
            Param("group", "query", enum=coverage.GROUPS, description="default day"),
        ),
        errors=(400, 401, 403),
        extra={"param_schemas": {k: SEARCH_SCHEMAS[k] for k in ("from", "to")}},
    ),
    Route(
        "GET",
        "/api/recordings/{recording_id}",
        get_recording,
        ANY_VIEW,
        "One recording's metadata (view_history if assigned, view_unassigned if not)",
        tag="recordings",
        response_schema=RECORDING,
        params=(RID,),
        errors=(400, 401, 403, 404),
    ),
    Route(
        "GET",
        "/api/recordings/{recording_id}/play",
        play,
        ANY_VIEW,
        "Stream a recording file (audited as a play; supports Range)",
        tag="recordings",
        params=(RID, KIND),
        response="audio/wav",
        errors=(400, 401, 403, 404, 410),
    ),
    Route(
        "GET",
        "/api/recordings/{recording_id}/download",
        download,
        ANY_VIEW,
        "Download a recording file (audited as a download)",
        tag="recordings",
        params=(RID, KIND),
        response="audio/wav",
        errors=(400, 401, 403, 404, 410),
    ),
    Route(
        "GET",
        "/api/recordings/{recording_id}/candidates",
        candidates,
        ASSIGN,
        "CRM records whose phones equal or nearly equal the recording's number",
        tag="recordings",
        params=(RID,),
        errors=(400, 401, 403, 404),
    ),
    Route(
        "POST",
        "/api/recordings/{recording_id}/assign",
        assign,
        ASSIGN,
        "Assign a recording to a CRM record (additive)",
        tag="recordings",
        params=(RID,),
        body={
            "type": "object",
            "required": ["record_id"],
            "properties": {"record_id": {"type": "integer", "minimum": 1, "maximum": 2**62}},
        },
        errors=(400, 401, 403, 404, 410, 413, 415),
    ),
    Route(
        "DELETE",
        "/api/recordings/{recording_id}",
        delete,
        DELETE,
        "Delete an unassigned recording (409 if assigned or on hold)",
        tag="recordings",
        params=(RID,),
        body={"type": "object", "properties": REASON},
        errors=(400, 401, 403, 404, 409, 410, 415),
    ),
    Route(
        "POST",
        "/api/recordings/bulk-delete",
        bulk_delete,
        DELETE,
        "Delete many unassigned recordings; refused ids come back with their codes",
        tag="recordings",
        body={
            "type": "object",
            "required": ["ids"],
            "properties": {
                "ids": {
                    "type": "array",
                    "items": {"type": "string", **ID_SCHEMA},
                    "minItems": 1,
                    "maxItems": MAX_BULK,
                },
                **REASON,
            },
        },
        errors=(400, 401, 403, 413, 415),
    ),
    Route(
        "GET",
        "/api/unassigned",
        unassigned,
        VIEW_UNASSIGNED,
        "Unassigned recordings, with candidate CRM matches when the user may assign",
        tag="recordings",
        response_schema=RECORDINGS,
        semantic_400="a cursor this list did not hand out is refused (request.bad_cursor)",
        params=(LIMIT, Param("cursor", "query", description="next_cursor of the previous page")),
        errors=(400, 401, 403),
        extra={"param_schemas": {"cursor": {"maxLength": 256, "pattern": "^[A-Za-z0-9_-]+$"}}},
    ),
    Route(
        "GET",
        "/api/records/{record_id}",
        get_record,
        VIEW,
        "A CRM record and its assigned recordings",
        tag="recordings",
        params=(Param("record_id", "path", "integer", schema=RECORD_ID),),
        errors=(400, 401, 403, 404),
    ),
    Route(
        "POST",
        "/api/rematch",
        rematch,
        ASSIGN,
        "Match unassigned recordings against the CRM again now",
        tag="recordings",
        errors=(401, 403, 415),
    ),
]
