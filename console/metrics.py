"""/metrics through prometheus-client, one registry per app (so two apps in one
process, as in tests, never share counts).

Call and storage gauges are read when scraped; HTTP requests are counted by a
middleware, by method (unknown methods as ``other``, so hostile clients cannot
grow the label set) and status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import prometheus_client
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from console.keys import REGISTRY, STORAGE
from console.routes import Route
from console.users import METRICS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATES = ("assigned", "unassigned", "deleted")

# The *_created series say when a process started counting: noise for us.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """The app's collectors; storage gauges only when storage is configured."""

    def __init__(self, with_storage: bool) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls = Gauge(
            "callrec_calls_in_progress", "Calls the service is controlling now.", registry=r
        )
        self.recording = Gauge(
            "callrec_calls_recording", "Calls in progress with a recording running.", registry=r
        )
        self.requests = Counter(
            "callrec_http_requests",
            "HTTP requests answered, by method and status.",
            ["method", "status"],
            registry=r,
        )
        self.storage = with_storage
        if with_storage:
            self.recordings = Gauge(
                "callrec_recordings", "Stored recordings by state.", ["state"], registry=r
            )
            self.outbox_pending = Gauge(
                "callrec_outbox_pending", "Upload/delete items waiting in the outbox.", registry=r
            )
            self.outbox_in_flight = Gauge(
                "callrec_outbox_in_flight", "Outbox items being worked on now.", registry=r
            )
            self.upload_alerts = Gauge(
                "callrec_upload_alerts",
                "Active upload alerts (e.g. host key mismatch).",
                registry=r,
            )
            self.verifications = Gauge(
                "callrec_capture_verifications",
                "Recordings and gaps checked, by outcome (docs/VERIFICATION.md).",
                ["outcome"],
                registry=r,
            )

    def count(self, method: str, status: int) -> None:
        self.requests.labels(method if method in METHODS else "other", str(status)).inc()


METRICS_KEY = web.AppKey("metrics", Metrics)


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    m = request.app[METRICS_KEY]
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        m.count(request.method, exc.status)
        raise
    except BaseException:
        m.count(request.method, 500)
        raise
    m.count(request.method, response.status)
    return response


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    m = app[METRICS_KEY]
    calls = app[REGISTRY].all()
    m.calls.set(len(calls))
    m.recording.set(sum(1 for c in calls if c.recording))
    svc = app.get(STORAGE)
    if m.storage and svc is not None:
        counts = await svc.counts()
        for state in sorted({*STATES, *counts}):
            m.recordings.labels(state).set(counts.get(state, 0))
        status = await svc.outbox_status()
        m.outbox_pending.set(status.pending)
        m.outbox_in_flight.set(status.in_flight)
        m.upload_alerts.set(len(status.alerts))
        from storage.verification import OUTCOMES, counts

        found = await asyncio.to_thread(counts, svc.db)
        for outcome in sorted({*OUTCOMES, *found}):
            m.verifications.labels(outcome).set(found.get(outcome, 0))
    return web.Response(
        body=prometheus_client.generate_latest(m.registry),
        headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST},
    )


def setup(app: web.Application) -> None:
    """Call after the storage service is set on the app (it decides the gauges)."""
    app[METRICS_KEY] = Metrics(with_storage=app.get(STORAGE) is not None)


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
