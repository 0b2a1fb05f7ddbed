"""assignments.run: the nightly rematch run that made an assignment

A rematch writes one chained audit entry per run (action 'rematch', detail
naming the run) instead of one per pair, and no longer rewrites the
recordings it assigns: an assignment row is what makes a recording assigned
(storage/models.py Recording.state). ``run`` is the pointer from the run's
entry to the rows it made (webhooks and a recording's trail read it).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('run', sa.String(length=32), nullable=True))
    op.create_index('ix_assignments_run', 'assignments', ['run'], unique=False)


def downgrade() -> None:
    # Rows a run assigned without marking them: mark them, as the old code expects.
    op.execute(
        "UPDATE recordings SET state = 'assigned' WHERE state = 'unassigned' "
        "AND id IN (SELECT recording_id FROM assignments)"
    )
    op.drop_index('ix_assignments_run', table_name='assignments')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_column('run')
