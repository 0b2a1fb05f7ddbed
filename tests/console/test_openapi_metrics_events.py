"""OpenAPI covers every route; /metrics; the events websocket."""

from __future__ import annotations

import asyncio

from tests.console.support import Env, basic, route_table


async def test_openapi_describes_every_route(shared_env: Env) -> None:
    status, doc = await shared_env.call("GET", "/api/openapi.json", "nobody")
    assert status == 200 and doc["openapi"].startswith("3.")
    routes = route_table(shared_env.client.app)  # type: ignore[arg-type]
    assert len(routes) > 20
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert set(routes) == described
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["summary"] and op["responses"], (method, path)
            if path != "/api/health" and path not in ("/login", "/logout"):
                assert "x-permission" in op, (method, path)


async def test_metrics_exposition(env: Env) -> None:
    await env.call("GET", "/api/calls", "nobody")  # a 403 to count
    status, text = await env.call("GET", "/metrics", "metrics")
    assert status == 200
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    values = {k: float(v) for k, v in (line.rsplit(" ", 1) for line in lines)}
    assert values["callrec_calls_in_progress"] == 1
    assert values['callrec_recordings{state="assigned"}'] == 1
    assert values['callrec_recordings{state="unassigned"}'] == 2
    assert values["callrec_outbox_pending"] == 0
    assert values['callrec_http_requests_total{method="GET",status="403"}'] >= 1
    assert "# TYPE callrec_http_requests_total counter" in text


async def test_metrics_parse_with_the_prometheus_parser(env: Env) -> None:
    """What a Prometheus server reads: every family typed, no method label but known ones."""
    from prometheus_client.parser import text_string_to_metric_families

    await env.call("GET", "/api/calls", "nobody")
    status, _ = await env.call("PROPFIND", "/api/calls", "nobody")
    assert status in (401, 403, 405)
    status, text = await env.call("GET", "/metrics", "metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["callrec_http_requests"].type == "counter"
    assert families["callrec_calls_in_progress"].type == "gauge"
    methods = {s.labels["method"] for s in families["callrec_http_requests"].samples}
    assert "PROPFIND" not in methods and "other" in methods


async def test_events_websocket_pushes_changes(env: Env) -> None:
    ws = await env.client.ws_connect("/api/events", headers=basic("agent"))
    try:
        first = await asyncio.wait_for(ws.receive_json(), 5)
        assert first["type"] == "calls" and [c["call_id"] for c in first["calls"]] == ["call-1"]
        status, _ = await env.call("POST", "/api/calls/call-1/recording/stop", "agent")
        assert status == 200
        ev = await asyncio.wait_for(ws.receive_json(), 5)
        assert ev["type"] == "call" and ev["call"]["recording"] is False
        env.registry.unregister("call-1")
        ev = await asyncio.wait_for(ws.receive_json(), 5)
        assert ev == {"type": "call_ended", "call_id": "call-1"}
    finally:
        await ws.close()


async def test_events_refused_without_permission_or_from_other_origin(env: Env) -> None:
    status, data = await env.call("GET", "/api/events", "history")
    assert status == 403
    headers = {**basic("agent"), "Origin": "http://evil.example"}
    status, data = await env.call("GET", "/api/events", None, headers=headers)
    assert status == 403 and data["error"]["code"] == "origin.refused"


async def test_events_for_agent_bound_user_are_filtered(env: Env) -> None:
    env.add_call("call-2", agent="a2")
    ws = await env.client.ws_connect("/api/events", headers=basic("agent_a1"))
    try:
        first = await asyncio.wait_for(ws.receive_json(), 5)
        assert [c["call_id"] for c in first["calls"]] == ["call-1"]
        env.registry.changed(env.registry.get("call-2"))
        env.registry.changed(env.registry.get("call-1"))
        ev = await asyncio.wait_for(ws.receive_json(), 5)
        assert ev["call"]["call_id"] == "call-1"
    finally:
        await ws.close()
