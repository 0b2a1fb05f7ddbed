"""Recording search at scale: p50/p95 of typical searches against plain indexed SQL.

    python bench/search_bench.py [--quick] [--rows N] [--sqlite-rows N] [--reps N]

Loads ``--rows`` recordings (default 10,000,000; ``--quick`` 100,000) with one
capture verification each, and an assignment row each assigned one, into a
throwaway PostgreSQL cluster by bulk COPY, and ``--sqlite-rows`` (default a
tenth, at most 1,000,000) into SQLite. Then
runs typical searches through ``storage.search.search`` (validation, keyset
query, the page's files, assignments and outcomes, the audit entry) and, in
the same run and interleaved, the plain hand-written indexed SELECT returning
the same page of rows. Prints p50/p95 per search and the ratio of the p95s.
Target: every search's p95 under 50 ms on PostgreSQL.
"""

from __future__ import annotations

import argparse
import io
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from bench.common import pct
from storage.db import Database, open_database
from storage.permissions import Actor
from storage.search import Cursor, SearchFilter, search
from tests.support.postgres import Postgres

QA = Actor.of("bench", "view_history", "view_unassigned")
N_AGENTS, N_CAMPAIGNS, N_QUEUES = 500, 50, 20
START = datetime(2025, 12, 1)
SPAN_SECONDS = 365 * 24 * 3600
OUTCOMES = (("verified", 0.95), ("short", 0.02), ("silent_leg", 0.01), ("missing", 0.02))
PAGE = 100


def number(i: int) -> str:
    """Customer i's number: distinct for every i below 7 billion."""
    return f"+1{200 + i % 700:03d}{i * 7919 % 10_000_000:07d}"


@dataclass(frozen=True)
class Gen:
    """Deterministic row i of the data set: the same on both databases."""

    seed: int = 11

    def rows(self, n: int) -> Iterator[tuple[Any, ...]]:
        rng = random.Random(self.seed)
        cum, acc = [], 0.0
        for name, p in OUTCOMES:
            acc += p
            cum.append((acc, name))
        for _ in range(n):
            started = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
            duration = round(rng.expovariate(1 / 180), 1)
            r = rng.random()
            outcome = next(name for edge, name in cum if r <= edge) if r <= acc else "verified"
            yield (
                uuid.UUID(int=rng.getrandbits(128)).hex,
                f"agent{rng.randrange(N_AGENTS):03d}",
                f"camp{rng.randrange(N_CAMPAIGNS):02d}",
                f"q{rng.randrange(N_QUEUES):02d}",
                "inbound" if rng.random() < 0.4 else "outbound",
                number(rng.randrange(n // 2 + 1)),  # a customer calls twice on average
                started,
                duration,
                rng.choice(("assigned", "assigned", "unassigned", "deleted")),
                '["short_capture"]' if outcome == "short" else "[]",
                outcome,
            )


REC_COLS = (
    "id, call_id, segment_no, source, direction, agent, campaign, queue, customer_number_raw, "
    "customer_e164, started_at, ended_at, duration_seconds, bridged_seconds, legs, format, "
    "size_bytes, decision, reasons, flags, pauses, state, upload_state, legal_hold, created_at, "
    "verification_outcome"
)
VER_COLS = "id, recording_id, call_id, agent, campaign, outcome, reason, details, checked_at"
ASG_COLS = "recording_id, record_id, how, assigned_at, assigned_by"
CRM_COLS = "id, kind, external_id, source, created_at, updated_at"
N_RECORDS = 100_000  # CRM records the assigned recordings point at


def rec_values(row: tuple[Any, ...]) -> tuple[Any, ...]:
    rid, agent, camp, queue, direction, e164, started, dur, state, flags, outcome = row
    ended = started + timedelta(seconds=dur)
    return (
        rid, "c" + rid, 1, "ari", direction, agent, camp, queue, e164, e164, started, ended, dur,
        dur, "both", "wav", int(dur * 16000), "{}", "[]", flags, "[]", state, "uploaded",
        False, ended, outcome,
    )  # fmt: skip


def ver_values(row: tuple[Any, ...]) -> tuple[Any, ...]:
    rid, agent, camp, *_rest, started, dur, _state, _flags, outcome = row
    return ("v" + rid[1:], rid, "c" + rid, agent, camp, outcome, "bench", "{}",
            started + timedelta(seconds=dur + 60))  # fmt: skip


def asg_values(row: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The assignment row of an assigned recording (every assigned one has one), else None."""
    rid, *_rest, started, _dur, state, _flags, _outcome = row
    if state != "assigned":
        return None
    return (rid, 1 + int(rid[:8], 16) % N_RECORDS, "auto", started, "bench")


def crm_values() -> Iterator[tuple[Any, ...]]:
    return ((i, "individual", str(i), "bench", START, START) for i in range(1, N_RECORDS + 1))


def _copy_text(rows: list[tuple[Any, ...]]) -> str:
    buf = io.StringIO()
    for r in rows:
        buf.write("\t".join("t" if v is True else "f" if v is False else str(v) for v in r))
        buf.write("\n")
    return buf.getvalue()


def load_postgres(db: Database, n: int) -> float:
    """COPY n recordings and their verifications; indexes rebuilt after, as a bulk load does."""
    t0 = time.perf_counter()
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
            "('recordings', 'verifications') AND indexname NOT LIKE '%pkey' "
            "AND indexdef NOT LIKE 'CREATE UNIQUE%'"
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f"DROP INDEX {name}")
        # The COPY fills recordings.verification_outcome itself (what the trigger does).
        cur.execute("ALTER TABLE verifications DISABLE TRIGGER verifications_outcome")
        batch: list[tuple[Any, ...]] = []

        def flush() -> None:
            with cur.copy(f"COPY recordings ({REC_COLS}) FROM STDIN") as cp:
                cp.write(_copy_text([rec_values(r) for r in batch]))
            with cur.copy(f"COPY verifications ({VER_COLS}) FROM STDIN") as cp:
                cp.write(_copy_text([ver_values(r) for r in batch]))
            with cur.copy(f"COPY assignments ({ASG_COLS}) FROM STDIN") as cp:
                cp.write(_copy_text([a for r in batch if (a := asg_values(r))]))
            batch.clear()

        with cur.copy(f"COPY crm_records ({CRM_COLS}) FROM STDIN") as cp:
            cp.write(_copy_text(list(crm_values())))

        for row in Gen().rows(n):
            batch.append(row)
            if len(batch) >= 50_000:
                flush()
        flush()
        cur.execute("ALTER TABLE verifications ENABLE TRIGGER verifications_outcome")
        raw.commit()
        t_copy = time.perf_counter() - t0
        cur.execute("SET maintenance_work_mem = '256MB'")
        for _, ddl in indexes:
            cur.execute(ddl)
        cur.execute("ANALYZE recordings")
        cur.execute("ANALYZE verifications")
        cur.execute("ANALYZE assignments")
        raw.commit()
    finally:
        raw.close()
    total = time.perf_counter() - t0
    print(
        f"  loaded {n:,} rows + verifications: COPY {t_copy:.1f} s, indexes {total - t_copy:.1f} s"
    )
    return total


def load_sqlite(path: Path, n: int) -> None:
    t0 = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    conn.executemany(
        f"INSERT INTO crm_records ({CRM_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
        ([v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in r]
         for r in crm_values()),
    )  # fmt: skip
    rows = Gen().rows(n)
    while chunk := [r for _, r in zip(range(50_000), rows, strict=False)]:

        def iso(v: Any) -> Any:
            # the text SQLAlchemy's SQLite DateTime stores and binds
            return v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v

        conn.executemany(
            f"INSERT INTO recordings ({REC_COLS}) VALUES ({', '.join('?' * 26)})",
            ([iso(v) for v in rec_values(r)] for r in chunk),
        )
        conn.executemany(
            f"INSERT INTO verifications ({VER_COLS}) VALUES ({', '.join('?' * 9)})",
            ([iso(v) for v in ver_values(r)] for r in chunk),
        )
        conn.executemany(
            f"INSERT INTO assignments ({ASG_COLS}) VALUES (?, ?, ?, ?, ?)",
            ([iso(v) for v in a] for r in chunk if (a := asg_values(r))),
        )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    print(f"  loaded {n:,} rows + verifications into SQLite in {time.perf_counter() - t0:.1f} s")


# -- the searches ----------------------------------------------------------------

COLS = "*"


@dataclass(frozen=True)
class Case:
    name: str
    filt: SearchFilter
    sql: str  # the plain indexed SELECT returning the same page
    params: dict[str, Any]
    sort: str = "-started_at"
    cursor: str | None = None


def cases(rng: random.Random, n: int) -> list[Case]:
    """One of each typical search with fresh random values (called per repetition)."""
    allowed = "state IN ('assigned', 'unassigned', 'deleted')"
    newest = f"ORDER BY started_at DESC, id DESC LIMIT {PAGE + 1}"
    agent = f"agent{rng.randrange(N_AGENTS):03d}"
    camp = f"camp{rng.randrange(N_CAMPAIGNS):02d}"
    day0 = START + timedelta(days=rng.randrange(330))
    day1 = day0 + timedelta(days=30)
    e164 = number(rng.randrange(n // 2 + 1))
    digits = e164[-7:-1]  # six digits the user remembers
    deep_key = START + timedelta(seconds=rng.randrange(SPAN_SECONDS // 2, SPAN_SECONDS))
    deep = Cursor("-started_at", deep_key, "f" * 32)
    return [
        Case("newest, no filter", SearchFilter(),
             f"SELECT {COLS} FROM recordings WHERE {allowed} {newest}", {}),
        Case("agent", SearchFilter(agent=agent),
             f"SELECT {COLS} FROM recordings WHERE {allowed} AND agent = :a {newest}",
             {"a": agent}),
        Case("campaign + 30 days", SearchFilter(campaign=camp, started_from=day0,
                                                 started_to=day1),
             f"SELECT {COLS} FROM recordings WHERE {allowed} AND campaign = :c AND "
             f"started_at >= :d0 AND started_at < :d1 {newest}",
             {"c": camp, "d0": day0, "d1": day1}),
        Case("number, exact", SearchFilter(number=e164),
             f"SELECT {COLS} FROM recordings WHERE {allowed} AND customer_e164 = :e {newest}",
             {"e": e164}),
        Case("number, 6 digits partial", SearchFilter(number_contains=digits),
             f"SELECT {COLS} FROM recordings WHERE {allowed} AND customer_e164 LIKE :p "
             f"{newest}", {"p": f"%{digits}%"}),
        Case("outcome silent_leg", SearchFilter(outcome="silent_leg"),
             f"SELECT {COLS} FROM recordings r WHERE {allowed} AND "
             f"verification_outcome = 'silent_leg' {newest}", {}),
        Case("duration >= 20 min, longest", SearchFilter(min_duration=1200),
             f"SELECT {COLS} FROM recordings WHERE {allowed} AND duration_seconds >= 1200 "
             f"ORDER BY duration_seconds DESC, id DESC LIMIT {PAGE + 1}", {}, sort="-duration"),
        Case("state unassigned", SearchFilter(state="unassigned"),
             f"SELECT {COLS} FROM recordings WHERE state = 'unassigned' {newest}", {}),
        Case("state assigned + agent", SearchFilter(state="assigned", agent=agent),
             f"SELECT {COLS} FROM recordings WHERE state = 'assigned' AND agent = :a {newest}",
             {"a": agent}),
        Case("agent, deep page (cursor)", SearchFilter(agent=agent),
             f"SELECT {COLS} FROM recordings WHERE {allowed} AND agent = :a AND "
             f"(started_at, id) < (:k, :i) {newest}",
             {"a": agent, "k": deep_key, "i": deep.id}, cursor=deep.encode()),
    ]  # fmt: skip


def run(db: Database, label: str, n: int, reps: int) -> dict[str, tuple[float, float]]:
    rng = random.Random(5)
    ours: dict[str, list[float]] = {}
    plain: dict[str, list[float]] = {}
    counts: dict[str, list[int]] = {}

    def timed(fn: Callable[[], int]) -> tuple[float, int]:
        t0 = time.perf_counter()
        got = fn()
        return (time.perf_counter() - t0) * 1000, got

    for rep in range(reps + 2):
        for case in cases(rng, n):

            def ours_fn(c: Case = case) -> int:
                page = search(db, QA, c.filt, sort=c.sort, limit=PAGE, cursor=c.cursor)
                return len(page.recordings)

            def plain_fn(c: Case = case) -> int:
                with db.engine.connect() as conn:
                    return len(conn.execute(text(c.sql), c.params).all()[:PAGE])

            # interleaved, alternating who goes first, so both see the same load and cache
            pair = (ours_fn, plain_fn) if rep % 2 else (plain_fn, ours_fn)
            res = {fn: timed(fn) for fn in pair}
            if rep < 2:
                continue  # warm-up
            (t_o, n_o), (t_p, n_p) = res[ours_fn], res[plain_fn]
            assert n_o == n_p, (case.name, n_o, n_p)  # the same page
            ours.setdefault(case.name, []).append(t_o)
            plain.setdefault(case.name, []).append(t_p)
            counts.setdefault(case.name, []).append(n_o)
    print(f"{label}: {n:,} recordings, {reps} searches of each kind, page {PAGE}")
    print(f"  {'search':30} {'rows':>5} {'ours p50':>9} {'p95':>8} {'plain p50':>10} "
          f"{'p95':>8} {'p95 ratio':>9}")  # fmt: skip
    out = {}
    for name in ours:
        o50, o95 = pct(ours[name], 50), pct(ours[name], 95)
        p50, p95 = pct(plain[name], 50), pct(plain[name], 95)
        rows = statistics.median(counts[name])
        print(f"  {name:30} {rows:5.0f} {o50:8.2f}ms {o95:7.2f}ms {p50:9.2f}ms {p95:7.2f}ms "
              f"{o95 / p95:8.2f}x")  # fmt: skip
        out[name] = (o95, p95)
    worst = max(v[0] for v in out.values())
    print(f"  worst p95 (ours): {worst:.1f} ms")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100,000 rows (smoke)")
    ap.add_argument("--rows", type=int, default=None, help="PostgreSQL rows (default 10M)")
    ap.add_argument("--sqlite-rows", type=int, default=None)
    ap.add_argument("--reps", type=int, default=40, help="searches of each kind")
    ap.add_argument("--no-sqlite", action="store_true")
    args = ap.parse_args()
    n = args.rows or (100_000 if args.quick else 10_000_000)
    n_sqlite = args.sqlite_rows or min(n // 10, 1_000_000)
    pg = Postgres()
    pg.start()
    try:
        db = open_database(pg.create_database("search"))
        print("PostgreSQL 15:")
        load_postgres(db, n)
        pg_result = run(db, "PostgreSQL", n, args.reps)
        db.dispose()
    finally:
        pg.stop()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="callrec-search-") as tmp:
            path = Path(tmp) / "search.db"
            open_database(f"sqlite:///{path}").dispose()
            print("SQLite:")
            load_sqlite(path, n_sqlite)
            db = open_database(f"sqlite:///{path}")
            run(db, "SQLite", n_sqlite, args.reps)
            db.dispose()
    worst = max(v[0] for v in pg_result.values())
    print(
        f"PostgreSQL worst p95 {worst:.1f} ms (target < 50 ms): {'met' if worst < 50 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
