"""access and data safety: the audit log is append-only in the database itself (a
trigger refuses UPDATE and DELETE of audit_log, on SQLite and PostgreSQL), schedules
are archived instead of deleted (schedules.archived_at), webhooks are removed instead of
deleted (comms_webhooks.removed_at), so the history that the load figures and incidents'
communication logs read is never lost

Downgrading drops the triggers and the two columns: archived schedules come back as
schedules nobody is on call for until they are edited, removed webhooks as disabled ones.

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


# Objects no model describes (tests/test_audit_log.py checks they exist at head). A later
# batch-mode rebuild of audit_log on SQLite drops its triggers with the old table: such a
# migration must create them again.
SQLITE_GUARD = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'The audit log is append-only: UPDATE refused'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'The audit log is append-only: DELETE refused'); END",
]
POSTGRES_GUARD = [
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'The audit log is append-only: % refused', TG_OP "
    "USING ERRCODE = 'integrity_constraint_violation'; END $$",
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
]


def create_audit_guard():
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_GUARD if dialect == "sqlite" else POSTGRES_GUARD if dialect == "postgresql" else []:
        op.execute(statement)


def drop_audit_guard():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")


def upgrade():
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('comms_webhooks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removed_at', sa.DateTime(), nullable=True))
    create_audit_guard()


def downgrade():
    drop_audit_guard()
    with op.batch_alter_table('comms_webhooks', schema=None) as batch_op:
        batch_op.drop_column('removed_at')
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.drop_column('archived_at')
