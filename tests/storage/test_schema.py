"""The models describe exactly the schema the migrations build.

Alembic's autogenerate comparison of a freshly migrated SQLite database with
``storage.models``: any table, column or index on one side only is a
difference, so a model edited without a migration (or the reverse) fails.
"""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db import make_engine, upgrade
from storage.models import Base


def test_models_match_migrations(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"
