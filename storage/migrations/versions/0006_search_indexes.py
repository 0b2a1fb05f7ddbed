"""recording search: composite (filter, started_at, id) indexes for keyset pages

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01
"""
from __future__ import annotations

from alembic import op
from sqlalchemy import text


revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None

# Each replaces the single-column index of the same filter: the composite
# serves the equality filter AND the newest-first keyset order, so a page is
# an index range walk that stops after limit+1 rows instead of a sort.
REPLACED = {
    'ix_recordings_agent': ('ix_recordings_agent_started', ['agent', 'started_at', 'id']),
    'ix_recordings_campaign': ('ix_recordings_campaign_started', ['campaign', 'started_at', 'id']),
    'ix_recordings_customer_e164': (
        'ix_recordings_e164_started', ['customer_e164', 'started_at', 'id']
    ),
    'ix_recordings_started_at': ('ix_recordings_started_id', ['started_at', 'id']),
}
ADDED = {
    'ix_recordings_queue_started': ['queue', 'started_at', 'id'],
    'ix_recordings_duration_id': ['duration_seconds', 'id'],
}
TRIGRAM = 'ix_recordings_e164_trgm'


def _trigram_possible() -> bool:
    """pg_trgm (partial number search) only where it exists and we may create it."""
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return False
    row = bind.execute(text(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') "
        "OR (EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') "
        "AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))"
    )).scalar()
    return bool(row)


def upgrade() -> None:
    for old, (new, cols) in REPLACED.items():
        op.drop_index(old, table_name='recordings')
        op.create_index(new, 'recordings', cols, unique=False)
    for name, cols in ADDED.items():
        op.create_index(name, 'recordings', cols, unique=False)
    if _trigram_possible():
        # customer_e164 LIKE '%<digits>%' (number_contains) uses this instead of a scan.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            f"CREATE INDEX {TRIGRAM} ON recordings USING gin (customer_e164 gin_trgm_ops)"
        )


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {TRIGRAM}")
    for name in ADDED:
        op.drop_index(name, table_name='recordings')
    for old, (new, cols) in REPLACED.items():
        op.drop_index(new, table_name='recordings')
        op.create_index(old, 'recordings', cols[:1], unique=False)
