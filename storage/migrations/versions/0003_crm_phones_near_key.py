"""crm_phones.e164_last7: indexed key for the near candidate match

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The near match compared ``e164 LIKE '%<last 7>'``, a scan of the whole
    # phone table; the stored last seven characters make it an index lookup.
    # record_id in the index: candidates are read in record order, so the
    # scan stops after the first rows even when many records share a key.
    op.add_column('crm_phones', sa.Column('e164_last7', sa.String(length=7), nullable=True))
    # substr(x, n) from the n-th character to the end: same on SQLite and PostgreSQL.
    op.execute(
        "UPDATE crm_phones SET e164_last7 = substr(e164, length(e164) - 6) "
        "WHERE e164 IS NOT NULL AND length(e164) >= 7"
    )
    op.create_index(
        'ix_crm_phones_e164_last7', 'crm_phones', ['e164_last7', 'record_id'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_crm_phones_e164_last7', table_name='crm_phones')
    with op.batch_alter_table('crm_phones', schema=None) as batch_op:
        batch_op.drop_column('e164_last7')
