"""The search API and CSV export over a real console app and SQLite store."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.search import CSV_COLUMNS
from tests.console.support import Env, close_env, make_env, segment


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = await make_env(tmp_path)
    for i in range(12):
        agent = "a2" if i % 3 == 0 else "a1"
        await e.storage.accept_segment(
            segment(tmp_path, f"+1646555{i:04d}", agent=agent, minutes_ago=20 + i)
        )
    try:
        yield e
    finally:
        await close_env(e)


async def test_pages_follow_the_cursor_to_the_end(env: Env) -> None:
    seen: list[str] = []
    path = "/api/recordings?limit=4"
    while True:
        status, body = await env.call("GET", path, "qa")
        assert status == 200, body
        seen += [r["id"] for r in body["recordings"]]
        if body["next_cursor"] is None:
            break
        path = f"/api/recordings?limit=4&cursor={body['next_cursor']}"
    assert len(seen) == len(set(seen)) == 15  # 12 here + 3 from the base environment
    status, body = await env.call("GET", "/api/recordings?limit=100", "qa")
    assert [r["id"] for r in body["recordings"]] == seen
    starts = [r["started_at"] for r in body["recordings"]]
    assert starts == sorted(starts, reverse=True)


async def test_filters_reach_the_search(env: Env) -> None:
    status, body = await env.call("GET", "/api/recordings?agent=a2&number_contains=6465", "qa")
    assert status == 200
    assert {r["agent"] for r in body["recordings"]} == {"a2"}
    assert len(body["recordings"]) == 4
    assert all("verification" in r for r in body["recordings"])
    status, body = await env.call(
        "GET", "/api/recordings?from=2020-01-01T00:00:00%2B02:00&to=2020-01-02", "qa"
    )
    assert status == 200 and body["recordings"] == []


@pytest.mark.parametrize(
    "query,code",
    [
        ("agent=a%27%20OR%201=1", "request.bad_query"),
        ("from=yesterday", "request.bad_query"),
        ("min_duration=-3", "request.bad_query"),
        ("number_contains=12", "request.bad_query"),
        ("outcome=great", "request.bad_query"),
        ("sort=agent", "request.bad_query"),
        ("limit=501", "request.bad_query"),
        ("cursor=bm9wZQ", "request.bad_cursor"),
        ("number=not-a-number", "number.invalid"),
    ],
)
async def test_bad_search_input_is_a_clear_400(env: Env, query: str, code: str) -> None:
    status, body = await env.call("GET", f"/api/recordings?{query}", "qa")
    assert status == 400 and body["error"]["code"] == code, body
    status, body = await env.call("GET", f"/api/recordings.csv?{query}", "qa")
    if query.startswith(("cursor", "limit")):
        assert status == 200  # the export has no pages: those parameters mean nothing there
    else:
        assert status == 400 and body["error"]["code"] == code, body


async def test_csv_export_streams_the_whole_result(env: Env) -> None:
    status, raw = await env.call("GET", "/api/recordings.csv?agent=a1", "qa")
    assert status == 200
    lines = list(csv.reader(io.StringIO(raw)))
    assert tuple(lines[0]) == CSV_COLUMNS
    status, body = await env.call("GET", "/api/recordings?agent=a1", "qa")
    assert [line[0] for line in lines[1:]] == [r["id"] for r in body["recordings"]]
    assert len(lines) - 1 == 8 + 3  # the base environment's three are a1's too


async def test_csv_export_respects_permissions(env: Env) -> None:
    status, body = await env.call("GET", "/api/recordings.csv", "agent")
    assert status == 403
    status, raw = await env.call("GET", "/api/recordings.csv", "unassigned")
    assert status == 200
    states = {dict(zip(CSV_COLUMNS, line, strict=True))["state"] for line in
              list(csv.reader(io.StringIO(raw)))[1:]}  # fmt: skip
    assert states <= {"unassigned", "deleted"} and states
    status, body = await env.call("GET", "/api/recordings.csv?state=assigned", "unassigned")
    assert status == 403 and body["error"]["code"] == "permission.denied"


@pytest.mark.parametrize(
    "query,status",
    [
        ("from=0001-01-01T00:00:00%2B01:00", 400),  # before datetime's span once in UTC
        ("to=9999-12-31T23:59:59-01:00", 400),
        ("from=2016-12-31T23:59:60Z&to=2017-01-05", 200),  # a leap second, valid RFC 3339
        ("from=2020-01-01t00:00:00.123456789z&to=2020-02-01", 200),
    ],
)
async def test_edge_date_times_never_fail_the_server(env: Env, query: str, status: int) -> None:
    for path in ("/api/recordings", "/api/recordings.csv", "/api/coverage"):
        got, body = await env.call("GET", f"{path}?{query}", "qa")
        assert got == status, (path, body)


async def test_unassigned_pages_by_cursor_not_offset(env: Env) -> None:
    with env.storage.db.session() as s:
        want = [
            str(r)
            for (r,) in s.execute(
                text(
                    "SELECT id FROM recordings WHERE state = 'unassigned' "
                    "ORDER BY started_at DESC, id DESC"
                )
            )
        ]
    assert len(want) > 4
    seen: list[str] = []
    path = "/api/unassigned?limit=2"
    while True:
        status, body = await env.call("GET", path, "assigner")
        assert status == 200, body
        assert all("candidates" in r for r in body["recordings"])
        seen += [r["id"] for r in body["recordings"]]
        if body["next_cursor"] is None:
            break
        path = f"/api/unassigned?limit=2&cursor={body['next_cursor']}"
    assert seen == want
    status, body = await env.call("GET", "/api/unassigned?offset=2", "assigner")
    assert status == 400 and "cursor" in body["error"]["message"], body
    status, body = await env.call("GET", "/api/unassigned?cursor=bm9wZQ", "assigner")
    assert status == 400 and body["error"]["code"] == "request.bad_cursor", body
