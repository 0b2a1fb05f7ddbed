"""Open the database and bring its schema to the current revision.

Every node calls :func:`open_database` at start-up; Alembic serialises
concurrent upgrades on PostgreSQL through its version table, and SQLite is
single-writer anyway. SQLite gets WAL (readers never block the writer) and
foreign keys, which it leaves off by default.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from storage.files import FILE_MODE, make_private, private_dir

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
        if path and path != ":memory:":
            # Created 0600 before SQLite opens it: its -wal and -shm files copy the mode.
            private_dir(Path(path).parent)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
            make_private(Path(path))
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 60},
            pool_size=8,
            max_overflow=16,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # The driver's implicit BEGIN would defer the write lock; we issue
            # BEGIN IMMEDIATE ourselves so lease claims never deadlock.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=16)


def _alembic_config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(cfg).get_current_head()


class Database:
    """An engine plus a session factory; one per process, shared by all tasks."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error."""
        with self.sessions() as s, s.begin():
            yield s

    @contextmanager
    def joined_session(self) -> Iterator[Session]:
        """A transaction for set-based inserts whose rows a join of their parents makes.

        On SQLite its statements skip the row-by-row foreign-key checks (a
        third of the nightly rematch's time, docs/STORAGE.md): SQLite has one
        writer at a time and the join reads the parents under the write lock,
        so each check could only find again the row the join has just read.
        The connection goes back to the pool with the checks on (or is
        discarded). Elsewhere it is :meth:`session`: PostgreSQL's checks also
        lock the parents against other writers, which is worth their cost.
        """
        if self.dialect != "sqlite":
            with self.session() as s:
                yield s
            return
        with self.engine.connect() as conn:
            raw: Any = conn.connection.driver_connection  # autocommit: no BEGIN yet
            raw.execute("PRAGMA foreign_keys=OFF")  # only outside a transaction
            try:
                with Session(bind=conn, expire_on_commit=False) as s, s.begin():
                    yield s
            finally:
                try:
                    raw.execute("PRAGMA foreign_keys=ON")
                except Exception:
                    conn.invalidate()  # never reused unchecked
                    raise

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str, *, migrate: bool = True) -> Database:
    engine = make_engine(url)
    if migrate:
        upgrade(engine)
    return Database(engine)
