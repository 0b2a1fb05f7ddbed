"""recording search: composite (filter, started_at, id) indexes for keyset pages;
recordings.verification_outcome kept by triggers from verifications (the
'verify' audit entry is written by storage/verification.py); outbox.payload and
event_key for signed webhooks

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text


revision = '0006'
down_revision = '0005'
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


OUTCOME_FN = "recordings_verification_outcome"


def _outcome_triggers() -> None:
    """Copy each verification's outcome onto its recording (insert and change).

    The outcome filter then walks ix_recordings_outcome_started in page order
    instead of probing verifications for every recording of the date order
    (rare outcomes such as silent_leg would need thousands of probes a page).
    """
    set_outcome = (
        "UPDATE recordings SET verification_outcome = NEW.outcome WHERE id = NEW.recording_id"
    )
    # The 'verify' audit entry (the recording's own trail, and what
    # recording.verified webhooks are made from) is written by
    # storage/verification.py through the audit chain, not here: a trigger
    # cannot compute the chain's hashes.
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        op.execute(
            "CREATE TRIGGER verifications_outcome_insert AFTER INSERT ON verifications "
            f"WHEN NEW.recording_id IS NOT NULL BEGIN {set_outcome}; END"
        )
        op.execute(
            "CREATE TRIGGER verifications_outcome_update "
            "AFTER UPDATE OF outcome, recording_id ON verifications "
            f"WHEN NEW.recording_id IS NOT NULL BEGIN {set_outcome}; END"
        )
    else:
        op.execute(
            f"CREATE FUNCTION {OUTCOME_FN}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF NEW.recording_id IS NOT NULL THEN {set_outcome}; END IF; "
            "RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER verifications_outcome AFTER INSERT OR UPDATE OF outcome, recording_id "
            f"ON verifications FOR EACH ROW EXECUTE FUNCTION {OUTCOME_FN}()"
        )


def upgrade() -> None:
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verification_outcome', sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE recordings SET verification_outcome = (SELECT v.outcome FROM verifications v "
        "WHERE v.recording_id = recordings.id)"
    )
    op.create_index(
        'ix_recordings_outcome_started', 'recordings',
        ['verification_outcome', 'started_at', 'id'], unique=False,
    )
    _outcome_triggers()
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payload', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('event_key', sa.String(length=64), nullable=True))
    # One delivery per (event, receiver), however many nodes collect the event.
    op.create_index('uq_outbox_event_key', 'outbox', ['event_key'], unique=True)
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
    op.drop_index('uq_outbox_event_key', table_name='outbox')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('event_key')
        batch_op.drop_column('payload')
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("DROP TRIGGER IF EXISTS verifications_outcome_insert")
        op.execute("DROP TRIGGER IF EXISTS verifications_outcome_update")
    else:
        op.execute("DROP TRIGGER IF EXISTS verifications_outcome ON verifications")
        op.execute(f"DROP FUNCTION IF EXISTS {OUTCOME_FN}()")
    op.drop_index('ix_recordings_outcome_started', table_name='recordings')
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_column('verification_outcome')
    op.execute(f"DROP INDEX IF EXISTS {TRIGRAM}")
    for name in ADDED:
        op.drop_index(name, table_name='recordings')
    for old, (new, cols) in REPLACED.items():
        op.drop_index(new, table_name='recordings')
        op.create_index(old, 'recordings', cols[:1], unique=False)
