"""call_spans (Asterisk's own record of each call) and verifications

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'call_spans',
        sa.Column('linkedid', sa.String(length=64), nullable=False),
        sa.Column('node', sa.String(length=128), nullable=False),
        sa.Column('call_id', sa.String(length=128), nullable=True),
        sa.Column('answered_at', sa.DateTime(), nullable=True),
        sa.Column('bridged_at', sa.DateTime(), nullable=True),
        sa.Column('unbridged_at', sa.DateTime(), nullable=True),
        sa.Column('ended_at', sa.DateTime(), nullable=True),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('linkedid'),
    )
    op.create_index('ix_call_spans_call_id', 'call_spans', ['call_id'], unique=False)
    op.create_index('ix_call_spans_ended_at', 'call_spans', ['ended_at'], unique=False)
    op.create_table(
        'verifications',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('recording_id', sa.String(length=32), nullable=True),
        sa.Column('call_id', sa.String(length=128), nullable=True),
        sa.Column('linkedid', sa.String(length=64), nullable=True),
        sa.Column('agent', sa.String(length=128), nullable=True),
        sa.Column('campaign', sa.String(length=128), nullable=True),
        sa.Column('outcome', sa.String(length=32), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('expected_seconds', sa.Float(), nullable=True),
        sa.Column('captured_seconds', sa.Float(), nullable=True),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.Column('checked_at', sa.DateTime(), nullable=False),
        sa.Column('remote_checked_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('recording_id'),
    )
    op.create_index('ix_verifications_call_id', 'verifications', ['call_id'], unique=False)
    op.create_index('ix_verifications_outcome', 'verifications', ['outcome'], unique=False)
    op.create_index('ix_verifications_checked_at', 'verifications', ['checked_at'], unique=False)


def downgrade() -> None:
    op.drop_table('verifications')
    op.drop_table('call_spans')
