"""A throwaway PostgreSQL 15 cluster for tests and benchmarks.

We run as root, and PostgreSQL refuses to, so the cluster belongs to the
``postgres`` system user (runuser). It listens on a free loopback port with
its unix socket inside its own temporary directory and trusts local
connections; ``stop()`` shuts it down and removes the directory. Failing to
start raises: the suite must fail loudly, never skip the PostgreSQL leg.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.sshd import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"


class PostgresError(RuntimeError):
    pass


class Postgres:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="callrec-pg-"))
        self.data = self.dir / "data"
        self.sock = self.dir / "sock"
        self.port = free_port()
        self.started = False

    def _run(self, *args: str) -> str:
        cmd = ["runuser", "-u", PG_USER, "--", *args]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise PostgresError(f"{' '.join(args)} failed: {res.stderr or res.stdout}")
        return res.stdout

    def start(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise PostgresError(f"PostgreSQL 15 binaries not found in {PG_BIN}")
        self.sock.mkdir()
        shutil.chown(self.dir, PG_USER, PG_USER)
        shutil.chown(self.sock, PG_USER, PG_USER)
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        opts = (
            f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            opts,
            "-l",
            str(self.dir / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        self.started = True

    def psql(self, sql: str, db: str = "postgres") -> str:
        return self._run(
            str(PG_BIN / "psql"),
            "-h",
            str(self.sock),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            "-c",
            sql,
        )

    def create_database(self, name: str, template: str | None = None) -> str:
        tpl = f" TEMPLATE {template}" if template else ""
        self.psql(f"CREATE DATABASE {name}{tpl}")
        return self.url(name)

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        if self.started:
            subprocess.run(
                [
                    "runuser",
                    "-u",
                    PG_USER,
                    "--",
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                capture_output=True,
            )
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def running() -> Iterator[Postgres]:
    """A started cluster, stopped afterwards; a failure to start fails the test (never skips)."""
    import pytest

    pg = Postgres()
    try:
        try:
            pg.start()
        except PostgresError as exc:
            pytest.fail(f"PostgreSQL could not start (never skipped): {exc}", pytrace=False)
        yield pg
    finally:
        pg.stop()
