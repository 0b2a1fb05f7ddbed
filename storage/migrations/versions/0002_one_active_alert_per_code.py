"""one active alert per code

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

ACTIVE = sa.text("cleared_at IS NULL")


def upgrade() -> None:
    # Two workers could each raise the same alert before this index existed:
    # keep the oldest active row of each code, clear the rest.
    op.execute(
        "UPDATE alerts SET cleared_at = raised_at WHERE cleared_at IS NULL AND id NOT IN "
        "(SELECT MIN(id) FROM alerts WHERE cleared_at IS NULL GROUP BY code)"
    )
    op.create_index(
        'uq_alerts_active_code', 'alerts', ['code'], unique=True,
        sqlite_where=ACTIVE, postgresql_where=ACTIVE,
    )


def downgrade() -> None:
    op.drop_index('uq_alerts_active_code', table_name='alerts')
