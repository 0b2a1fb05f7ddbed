"""live_calls: the calls in progress on every node, for any node's API

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'live_calls',
        sa.Column('call_id', sa.String(length=128), nullable=False),
        sa.Column('node_id', sa.String(length=128), nullable=False),
        sa.Column('node_url', sa.Text(), nullable=False),
        sa.Column('agent', sa.String(length=128), nullable=False),
        sa.Column('snapshot', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('call_id'),
    )
    op.create_index('ix_live_calls_node_id', 'live_calls', ['node_id'], unique=False)
    op.create_index('ix_live_calls_updated_at', 'live_calls', ['updated_at'], unique=False)


def downgrade() -> None:
    op.drop_table('live_calls')
