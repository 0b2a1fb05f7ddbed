"""Recording search on SQLite and PostgreSQL: every filter, sorts, keyset pages, CSV.

The expected answers are computed in Python from the generated rows, never by
the SQL under test.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from storage.db import Database, open_database
from storage.errors import PermissionDenied
from storage.models import AuditEntry
from storage.permissions import Actor
from storage.search import (
    CSV_COLUMNS,
    BadSearch,
    Cursor,
    SearchFilter,
    build_query,
    export_rows,
    search,
)
from tests.storage.conftest import PG_TEMPLATE
from tests.storage.search_data import BASE, Row, load, make_rows
from tests.support.postgres import Postgres

QA = Actor.of("qa", "view_history", "view_unassigned")
HISTORY = Actor.of("hist", "view_history")
UNASSIGNED_ONLY = Actor.of("ua", "view_unassigned")
N = 240


@pytest.fixture
def rows(db: Database) -> list[Row]:
    data = make_rows(N)
    load(db, data)
    return data


def walk(db: Database, actor: Actor, filt: SearchFilter, sort: str, limit: int) -> list[str]:
    """Every id of a search, page by page through the cursors."""
    ids: list[str] = []
    cursor = None
    for _ in range(N + 2):
        page = search(db, actor, filt, sort=sort, limit=limit, cursor=cursor)
        assert len(page.recordings) <= limit
        ids += [v.id for v in page.recordings]
        cursor = page.next_cursor
        if cursor is None:
            return ids
    raise AssertionError("pagination did not end")


def expected(rows: list[Row], keep: Callable[[Row], bool], sort: str = "-started_at") -> list[str]:
    col = "started_at" if "started_at" in sort else "duration"
    picked = [r for r in rows if keep(r)]
    picked.sort(key=lambda r: (getattr(r, col), r.id), reverse=sort.startswith("-"))
    return [r.id for r in picked]


FILTERS: list[tuple[str, SearchFilter, Callable[[Row], bool]]] = [
    ("none", SearchFilter(), lambda r: True),
    ("agent", SearchFilter(agent="a2"), lambda r: r.agent == "a2"),
    ("campaign", SearchFilter(campaign="sales"), lambda r: r.campaign == "sales"),
    ("queue", SearchFilter(queue="q1"), lambda r: r.queue == "q1"),
    ("direction", SearchFilter(direction="inbound"), lambda r: r.direction == "inbound"),
    (
        "number exact, other format",
        SearchFilter(number="(415) 555-0006"),
        lambda r: r.e164 == "+14155550006",
    ),
    ("number partial", SearchFilter(number_contains="5550"), lambda r: "5550" in (r.e164 or "")),
    ("number partial 2", SearchFilter(number_contains="2125"), lambda r: "2125" in (r.e164 or "")),
    (
        "duration range",
        SearchFilter(min_duration=15, max_duration=120),
        lambda r: 15 <= r.duration <= 120,
    ),
    ("state", SearchFilter(state="deleted"), lambda r: r.state == "deleted"),
    ("flag", SearchFilter(flag="fallback"), lambda r: "fallback" in r.flags),
    ("flag prefix is not a match", SearchFilter(flag="short"), lambda r: False),
    ("outcome", SearchFilter(outcome="silent_leg"), lambda r: r.outcome == "silent_leg"),
    (
        "date range",
        SearchFilter(started_from=BASE + timedelta(days=3), started_to=BASE + timedelta(days=9)),
        lambda r: BASE + timedelta(days=3) <= r.started_at < BASE + timedelta(days=9),
    ),
    (
        "combined",
        SearchFilter(agent="a1", direction="outbound", outcome="verified", min_duration=10),
        lambda r: (
            r.agent == "a1"
            and r.direction == "outbound"
            and r.outcome == "verified"
            and r.duration >= 10
        ),
    ),
]


@pytest.mark.parametrize("name,filt,keep", FILTERS, ids=[f[0] for f in FILTERS])
def test_each_filter_returns_exactly_the_matching_rows(
    db: Database, rows: list[Row], name: str, filt: SearchFilter, keep: Callable[[Row], bool]
) -> None:
    want = expected(rows, keep)
    assert name == "flag prefix is not a match" or want, "the data set must exercise the filter"
    assert walk(db, QA, filt, "-started_at", 17) == want


@pytest.mark.parametrize("sort", ["-started_at", "started_at", "-duration", "duration"])
def test_keyset_pages_cover_every_row_once_in_order(
    db: Database, rows: list[Row], sort: str
) -> None:
    for limit in (1, 7, 500):
        assert walk(db, QA, SearchFilter(), sort, limit) == expected(rows, lambda r: True, sort)


def test_rows_added_while_paging_repeat_no_row(db: Database, rows: list[Row]) -> None:
    first = search(db, QA, SearchFilter(), limit=20)
    newer = make_rows(5, seed=99)
    load(db, [Row(**{**r.__dict__, "started_at": datetime(2027, 1, 1)}) for r in newer])
    seen = [v.id for v in first.recordings]
    cursor = first.next_cursor
    while cursor:
        page = search(db, QA, SearchFilter(), limit=50, cursor=cursor)
        seen += [v.id for v in page.recordings]
        cursor = page.next_cursor
    assert seen == expected(rows, lambda r: True)  # the newer rows sort before page 1


def test_the_query_pages_by_keyset_never_offset(db: Database, rows: list[Row]) -> None:
    page = search(db, QA, SearchFilter(), limit=10)
    assert page.next_cursor is not None
    compiled = str(build_query(SearchFilter(agent="a1"), ["assigned"], "-started_at"))
    assert "OFFSET" not in compiled.upper()


def test_permissions_limit_the_states_seen(db: Database, rows: list[Row]) -> None:
    ua = walk(db, UNASSIGNED_ONLY, SearchFilter(), "-started_at", 100)
    assert ua == expected(rows, lambda r: r.state in ("unassigned", "deleted"))
    hist = walk(db, HISTORY, SearchFilter(), "-started_at", 100)
    assert hist == expected(rows, lambda r: r.state in ("assigned", "deleted"))
    with pytest.raises(PermissionDenied):
        search(db, HISTORY, SearchFilter(state="unassigned"))
    with pytest.raises(PermissionDenied):
        search(db, Actor.of("nobody"), SearchFilter())


def test_every_search_is_audited_with_its_filters(db: Database, rows: list[Row]) -> None:
    search(db, QA, SearchFilter(agent="a3", outcome="short"), limit=5)
    with db.session() as s:
        entry = s.query(AuditEntry).filter(AuditEntry.action == "search").one()
    assert entry.actor == "qa"
    assert entry.detail["agent"] == "a3" and entry.detail["outcome"] == "short"
    assert entry.detail["count"] == len(
        expected(rows, lambda r: r.agent == "a3" and r.outcome == "short")[:5]
    )


@pytest.mark.parametrize(
    "filt",
    [
        SearchFilter(agent="a1' OR 1=1 --"),
        SearchFilter(direction="sideways"),
        SearchFilter(outcome="fine"),
        SearchFilter(flag='x"%'),
        SearchFilter(number_contains="55%"),
        SearchFilter(number_contains="12"),
        SearchFilter(min_duration=-1),
        SearchFilter(started_from=BASE, started_to=BASE),
    ],
)
def test_bad_filters_are_refused_before_any_query(db: Database, filt: SearchFilter) -> None:
    with pytest.raises(BadSearch):
        search(db, QA, filt)


def test_forged_or_foreign_cursors_are_refused(db: Database, rows: list[Row]) -> None:
    good = search(db, QA, SearchFilter(), limit=3).next_cursor
    assert good is not None
    for bad in ("!!!", "e30", "x" * 300, Cursor("-duration", 3.0, "ab").encode()):
        with pytest.raises(BadSearch):
            search(db, QA, SearchFilter(), cursor=bad)
    # a cursor belongs to its sort: using it with another sort is refused
    with pytest.raises(BadSearch):
        search(db, QA, SearchFilter(), sort="started_at", cursor=good)


def test_csv_export_holds_the_whole_result_in_order(db: Database, rows: list[Row]) -> None:
    filt = SearchFilter(campaign="support")
    batches = list(export_rows(db, QA, filt))
    lines = [line for batch in batches for line in batch]
    want = expected(rows, lambda r: r.campaign == "support")
    assert [line[0] for line in lines] == want
    by_id = {r.id: r for r in rows}
    for line in lines:
        cells = dict(zip(CSV_COLUMNS, line, strict=True))
        r = by_id[cells["id"]]
        assert cells["agent"] == r.agent and cells["verification"] == (r.outcome or "")
        assert cells["flags"] == " ".join(r.flags)
        assert float(cells["duration_seconds"]) == r.duration
    # the text a spreadsheet would open
    buf = io.StringIO()
    csv.writer(buf).writerows([list(CSV_COLUMNS), *lines])
    assert len(list(csv.reader(io.StringIO(buf.getvalue())))) == len(want) + 1


def test_csv_cells_that_start_a_formula_are_defused(db: Database) -> None:
    row = make_rows(1, seed=5)[0]
    load(db, [Row(**{**row.__dict__, "agent": "=cmd", "state": "assigned"})])
    [[line]] = list(export_rows(db, QA, SearchFilter()))
    assert dict(zip(CSV_COLUMNS, line, strict=True))["agent"] == "'=cmd"


@pytest.mark.postgres
def test_postgres_uses_the_search_indexes(postgres: Postgres) -> None:
    pg_db = open_database(postgres.create_database("t_" + uuid.uuid4().hex[:12], PG_TEMPLATE))
    try:
        load(pg_db, make_rows(3000, seed=3))
        with pg_db.session() as s:
            s.execute(text("ANALYZE recordings"))
            assert s.scalar(
                text("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_recordings_e164_trgm'")
            )
            # A few thousand rows fit one page, where a scan is cheapest: forbid it to see
            # that each filter CAN use its index (the bench measures the real choice).
            s.execute(text("SET LOCAL enable_seqscan = off"))
            for filt, index in (
                (SearchFilter(agent="a1"), "ix_recordings_agent_started"),
                (SearchFilter(), "ix_recordings_started_id"),
            ):
                q = build_query(filt, ["assigned", "unassigned"], "-started_at").limit(101)
                sql = q.compile(
                    dialect=s.get_bind().dialect, compile_kwargs={"render_postcompile": True}
                )
                res = s.connection().exec_driver_sql(f"EXPLAIN {sql}", sql.params)
                plan = "\n".join(r[0] for r in res)
                assert index in plan, plan
    finally:
        pg_db.dispose()
