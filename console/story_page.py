"""The recording's story: page ``/recordings/{id}`` and ``GET /api/recordings/{id}/story``.

Both read :func:`console.story.build` after ``get_recording`` has checked the
user may see the recording (and audited the view), so the page shows exactly
what the API gives. The audit trail is shown to administrators only, as the
audit log is.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from console import auth, story
from console.errors import ApiError, storage_error
from console.keys import POLICY
from console.recordings_api import ANY_VIEW, KINDS, RID, recording_id, recording_json, storage
from console.render import not_found_page, page
from console.routes import Route
from console.schemas import STORY
from console.users import ADMIN
from storage.errors import StorageError


async def _story(request: web.Request) -> tuple[dict[str, object], story.Story]:
    user = auth.require_user(request)
    rid = recording_id(request.match_info["recording_id"])
    svc = storage(request)
    view = await svc.get_recording(user.actor(), rid)
    getter = request.app.get(POLICY)
    told = await asyncio.to_thread(
        story.build,
        svc.db,
        rid,
        policy=getter() if getter is not None else None,
        with_audit=user.has(ADMIN),
    )
    return recording_json(view), told


async def story_api(request: web.Request) -> web.Response:
    rec, told = await _story(request)
    return web.json_response({"recording": rec, "story": told.to_json()})


async def story_view(request: web.Request) -> web.StreamResponse:
    user = auth.require_user(request)
    try:
        rec, told = await _story(request)
    except ApiError as exc:
        return not_found_page(request, user, exc.message, status=exc.status)
    except StorageError as exc:
        err = storage_error(exc)
        return not_found_page(request, user, err.message, status=err.status)
    present = {f["kind"] for f in told.files if f["present"]}
    kinds = [k for k in KINDS if k in present]  # both sides first
    return page(
        request,
        user,
        "story.html",
        f"Recording {told.recording_id}",
        script="story.js",
        rec=rec,
        story=told,
        kinds=kinds,
    )


ROUTES = [
    Route(
        "GET",
        "/api/recordings/{recording_id}/story",
        story_api,
        ANY_VIEW,
        "A recording's story: decision in words, segments, pauses, flags, verification, "
        "hashes, upload, its audit trail (admins)",
        tag="recordings",
        response_schema=STORY,
        params=(RID,),
        errors=(400, 404),
    ),
    Route(
        "GET",
        "/recordings/{recording_id}",
        story_view,
        ANY_VIEW,
        "The recording's story page, with a player per leg",
        tag="pages",
        params=(RID,),
        response="text/html",
        page=True,
        errors=(400, 403, 404),
    ),
]
