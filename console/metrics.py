"""/metrics in the Prometheus text exposition format (version 0.0.4), by hand."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

from console.keys import REGISTRY, STORAGE
from console.routes import Route
from console.users import METRICS

REQUESTS = web.AppKey("http_requests", Counter[tuple[str, int]])
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    counter = request.app[REQUESTS]
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        counter[(request.method, exc.status)] += 1
        raise
    except BaseException:
        counter[(request.method, 500)] += 1
        raise
    counter[(request.method, response.status)] += 1
    return response


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    lines = [
        "# HELP callrec_calls_in_progress Calls the service is controlling now.",
        "# TYPE callrec_calls_in_progress gauge",
    ]
    calls = app[REGISTRY].all()
    lines.append(f"callrec_calls_in_progress {len(calls)}")
    lines += [
        "# HELP callrec_calls_recording Calls in progress with a recording running.",
        "# TYPE callrec_calls_recording gauge",
        f"callrec_calls_recording {sum(1 for c in calls if c.recording)}",
    ]
    svc = app.get(STORAGE)
    if svc is not None:
        counts = await svc.counts()
        lines += [
            "# HELP callrec_recordings Stored recordings by state.",
            "# TYPE callrec_recordings gauge",
        ]
        for state in sorted({"assigned", "unassigned", "deleted", *counts}):
            lines.append(f'callrec_recordings{{state="{_label(state)}"}} {counts.get(state, 0)}')
        status = await svc.outbox_status()
        lines += [
            "# HELP callrec_outbox_pending Upload/delete items waiting in the outbox.",
            "# TYPE callrec_outbox_pending gauge",
            f"callrec_outbox_pending {status.pending}",
            "# HELP callrec_outbox_in_flight Outbox items being worked on now.",
            "# TYPE callrec_outbox_in_flight gauge",
            f"callrec_outbox_in_flight {status.in_flight}",
            "# HELP callrec_upload_alerts Active upload alerts (e.g. host key mismatch).",
            "# TYPE callrec_upload_alerts gauge",
            f"callrec_upload_alerts {len(status.alerts)}",
        ]
    lines += [
        "# HELP callrec_http_requests_total HTTP requests answered, by method and status.",
        "# TYPE callrec_http_requests_total counter",
    ]
    for (method, code), n in sorted(app[REQUESTS].items()):
        lines.append(
            f'callrec_http_requests_total{{method="{_label(method)}",status="{code}"}} {n}'
        )
    return web.Response(
        text="\n".join(lines) + "\n",
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )


def setup(app: web.Application) -> None:
    app[REQUESTS] = Counter()


ROUTES = [
    Route(
        "GET",
        "/metrics",
        metrics,
        METRICS,
        "Prometheus metrics: calls, recordings by state, outbox, HTTP requests by status",
        tag="service",
        response="text/plain",
        errors=(401, 403),
    ),
]
