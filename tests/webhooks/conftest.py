"""The storage suite's databases (SQLite and a real PostgreSQL) for the webhook tests."""

from tests.storage.conftest import config, db, db_url, postgres, service  # noqa: F401
