"""hash-chained audit log (redaction by erasure only) and revoked console sessions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

from storage import audit

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_COLUMNS = ('salt', 'seal', 'prev_hash', 'entry_hash')

# The one UPDATE allowed: an erasure dropping record_id, detail and salt, nothing else.
_REDACTION_ONLY_SQLITE = (
    "OLD.salt IS NOT NULL AND NEW.salt IS NULL AND NEW.record_id IS NULL "
    "AND NEW.id IS OLD.id AND NEW.at IS OLD.at AND NEW.actor IS OLD.actor "
    "AND NEW.action IS OLD.action AND NEW.recording_id IS OLD.recording_id "
    "AND NEW.seal IS OLD.seal AND NEW.prev_hash IS OLD.prev_hash "
    "AND NEW.entry_hash IS OLD.entry_hash "
    "AND json_extract(NEW.detail, '$.redacted') = 'erasure'"
)
_REDACTION_ONLY_PG = (
    "OLD.salt IS NOT NULL AND NEW.salt IS NULL AND NEW.record_id IS NULL "
    "AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.actor = OLD.actor "
    "AND NEW.action = OLD.action "
    "AND NEW.recording_id IS NOT DISTINCT FROM OLD.recording_id "
    "AND NEW.seal = OLD.seal AND NEW.prev_hash = OLD.prev_hash "
    "AND NEW.entry_hash = OLD.entry_hash "
    "AND (NEW.detail::jsonb ->> 'redacted') = 'erasure'"
)


def _drop_old_triggers(sqlite: bool) -> None:
    if sqlite:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")


def _old_triggers(sqlite: bool) -> None:
    if sqlite:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            "ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )


def _backfill() -> None:
    """Seal and chain the entries written before this revision, in id order."""
    bind = op.get_bind()
    log = sa.table(
        'audit_log',
        sa.column('id', sa.Integer),
        sa.column('at', sa.DateTime),
        sa.column('actor', sa.String),
        sa.column('action', sa.String),
        sa.column('recording_id', sa.String),
        sa.column('record_id', sa.Integer),
        sa.column('detail', sa.JSON),
        *(sa.column(c, sa.String) for c in _COLUMNS),
    )
    rows = bind.execute(
        sa.select(log.c.id, log.c.at, log.c.actor, log.c.action, log.c.recording_id,
                  log.c.record_id, log.c.detail).order_by(log.c.id)
    ).all()
    prev = audit.GENESIS
    for row in rows:
        salt = secrets.token_hex(16)
        sealed = audit.seal(salt, row.record_id, row.detail or {})
        digest = audit.entry_hash(prev, row.at, row.actor, row.action, row.recording_id, sealed)
        bind.execute(
            log.update()
            .where(log.c.id == row.id)
            .values(salt=salt, seal=sealed, prev_hash=prev, entry_hash=digest)
        )
        prev = digest


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _drop_old_triggers(sqlite)
    for name in _COLUMNS:
        op.add_column('audit_log', sa.Column(name, sa.String(length=64 if name != 'salt' else 32), nullable=True))
    _backfill()
    if sqlite:
        op.execute(
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )
        op.execute(
            f"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log WHEN NOT ({_REDACTION_ONLY_SQLITE}) "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )
    else:
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE DELETE OR TRUNCATE "
            "ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
        op.execute(
            "CREATE FUNCTION audit_log_redact_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF {_REDACTION_ONLY_PG} THEN RETURN NEW; END IF; "
            "RAISE EXCEPTION 'audit_log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_redact_only BEFORE UPDATE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_redact_only()"
        )
    op.create_table(
        'revoked_sessions',
        sa.Column('sid', sa.String(length=32), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('sid'),
    )
    op.create_index('ix_revoked_sessions_expires_at', 'revoked_sessions', ['expires_at'], unique=False)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index('ix_revoked_sessions_expires_at', table_name='revoked_sessions')
    op.drop_table('revoked_sessions')
    if sqlite:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_redact_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_redact_only()")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        for name in reversed(_COLUMNS):
            batch_op.drop_column(name)
    _old_triggers(sqlite)
