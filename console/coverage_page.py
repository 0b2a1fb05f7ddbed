"""Coverage page ``/coverage``: a table per day, campaign and agent and a
chart per day (inline SVG drawn here: no script, no CDN)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from console import auth, coverage
from console.errors import ApiError
from console.recordings_api import storage
from console.render import VIEW, page
from console.routes import Param, Route

SERIES = (  # key, label, CSS colour
    ("calls", "Calls", "#94a3b8"),
    ("decided", "Decided to record", "#2563eb"),
    ("verified", "Verified", "#16a34a"),
    ("gaps", "Gaps", "#dc2626"),
)
NAME = {"maxLength": 128}


def _day(raw: str | None, default: date, key: str) -> date:
    if not raw:
        return default
    try:
        if len(raw) != len("YYYY-MM-DD"):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "request.bad_query", f"{key!r} must be a date, YYYY-MM-DD") from None


def chart(days: list[dict[str, Any]], width: int = 760, height: int = 220) -> dict[str, Any]:
    """Bar geometry: one group of four bars per day, scaled to the largest count."""
    top = max([int(d["calls"]) for d in days] + [1])
    left, bottom, pad = 40, 30, 8
    plot_w, plot_h = width - left - pad, height - bottom - pad
    group = plot_w / max(len(days), 1)
    bar = max(min(group / (len(SERIES) + 1), 24), 2)
    bars, labels = [], []
    for i, d in enumerate(days):
        x0 = left + i * group + (group - bar * len(SERIES)) / 2
        for j, (key, label, colour) in enumerate(SERIES):
            h = plot_h * int(d[key]) / top
            bars.append(
                {
                    "x": round(x0 + j * bar, 1),
                    "y": round(pad + plot_h - h, 1),
                    "w": round(bar - 1, 1),
                    "h": round(h, 1),
                    "colour": colour,
                    "title": f"{d['day']}: {label} {d[key]}",
                }
            )
        labels.append({"x": round(left + (i + 0.5) * group, 1), "text": str(d["day"])[5:]})
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "labels": labels,
        "top": top,
        "axis_y": pad + plot_h,
        "left": left,
        "series": SERIES,
    }


async def coverage_view(request: web.Request) -> web.StreamResponse:
    user = auth.require_user(request)
    today = datetime.now(UTC).date()
    q = request.query
    campaign, agent = q.get("campaign") or None, q.get("agent") or None
    try:
        end = _day(q.get("to"), today, "to")
        start = _day(q.get("from"), end - timedelta(days=13), "from")
        if start > end or (end - start).days >= coverage.MAX_DAYS:
            raise ApiError(
                400, "request.bad_query", f"'from'..'to' must span 1..{coverage.MAX_DAYS} days"
            )
        if any(len(v or "") > 128 for v in (campaign, agent)):
            raise ApiError(400, "request.bad_query", "campaign and agent are at most 128 long")
    except ApiError as exc:
        return page(
            request,
            user,
            "coverage.html",
            "Coverage",
            status=400,
            error=exc.message,
            values=dict(q),
            rows=[],
            days=[],
            chart=None,
        )
    svc = storage(request)
    rows = await asyncio.to_thread(
        coverage.read, svc.db, start, end, campaign=campaign, agent=agent
    )
    days = coverage.per_day(rows, start, end)
    values = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "campaign": campaign or "",
        "agent": agent or "",
    }
    return page(
        request,
        user,
        "coverage.html",
        "Coverage",
        error="",
        values=values,
        rows=rows,
        days=days,
        chart=chart(days) if rows else None,
    )


ROUTES = [
    Route(
        "GET",
        "/coverage",
        coverage_view,
        VIEW,
        "Coverage per day, campaign and agent (calls, decided, verified, gaps) with a chart",
        tag="pages",
        params=(
            Param(
                "from",
                "query",
                description="first day, YYYY-MM-DD (default 13 days before to)",
                schema={"maxLength": 10},
            ),
            Param(
                "to",
                "query",
                description="last day, YYYY-MM-DD (default today, UTC)",
                schema={"maxLength": 10},
            ),
            Param("campaign", "query", schema=NAME),
            Param("agent", "query", schema=NAME),
        ),
        response="text/html",
        page=True,
        errors=(400, 403),
        semantic_400="from/to must be dates spanning at most 31 days",
    ),
]
