"""alerts, incidents, change events, heartbeats, maintenance windows

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 12:46:30.103442

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('maintenance_windows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('state', sa.Enum('scheduled', 'in_progress', 'verifying', 'completed', 'cancelled', name='maintenance_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('next_transition_at', sa.DateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_maintenance_windows_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_maintenance_windows'))
    )
    with op.batch_alter_table('maintenance_windows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maintenance_windows_next_transition_at'), ['next_transition_at'], unique=False)

    op.create_table('heartbeats',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('interval_seconds', sa.Integer(), nullable=False),
    sa.Column('grace_seconds', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('waiting', 'up', 'down', name='heartbeat_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('last_ping_at', sa.DateTime(), nullable=True),
    sa.Column('due_at', sa.DateTime(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_heartbeats_service_id_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_heartbeats')),
    sa.UniqueConstraint('token', name=op.f('uq_heartbeats_token'))
    )
    with op.batch_alter_table('heartbeats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_heartbeats_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_heartbeats_service_id'), ['service_id'], unique=False)

    op.create_table('incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=1024), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('severity', sa.Integer(), nullable=False),
    sa.Column('initial_severity', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('triggered', 'acknowledged', 'resolved', name='incident_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('is_exercise', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('impact_started_at', sa.DateTime(), nullable=True),
    sa.Column('detected_at', sa.DateTime(), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(), nullable=True),
    sa.Column('mitigated_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('declared_by_id', sa.Integer(), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('ack_timeout_at', sa.DateTime(), nullable=True),
    sa.Column('auto_resolve_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('severity BETWEEN 1 AND 4', name=op.f('ck_incidents_severity_range')),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'], name=op.f('fk_incidents_acknowledged_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['declared_by_id'], ['users.id'], name=op.f('fk_incidents_declared_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['merged_into_id'], ['incidents.id'], name=op.f('fk_incidents_merged_into_id_incidents')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_incidents_resolved_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_incidents_service_id_services')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incidents_ack_timeout_at'), ['ack_timeout_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_incidents_auto_resolve_at'), ['auto_resolve_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_incidents_merged_into_id'), ['merged_into_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_incidents_service_id'), ['service_id'], unique=False)
        batch_op.create_index('ix_incidents_status_severity_created', ['status', 'severity', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_incidents_updated_at'), ['updated_at'], unique=False)

    op.create_table('maintenance_services',
    sa.Column('maintenance_id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['maintenance_id'], ['maintenance_windows.id'], name=op.f('fk_maintenance_services_maintenance_id_maintenance_windows'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_maintenance_services_service_id_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('maintenance_id', 'service_id', name=op.f('pk_maintenance_services'))
    )
    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('integration_key_id', sa.Integer(), nullable=True),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('dedup_key', sa.String(length=255), nullable=False),
    sa.Column('status', sa.Enum('triggered', 'acknowledged', 'resolved', name='alert_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('summary', sa.String(length=1024), nullable=False),
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('component', sa.String(length=255), nullable=True),
    sa.Column('group', sa.String(length=255), nullable=True),
    sa.Column('class', sa.String(length=255), nullable=True),
    sa.Column('custom_details', sa.JSON(), nullable=True),
    sa.Column('links', sa.JSON(), nullable=True),
    sa.Column('images', sa.JSON(), nullable=True),
    sa.Column('client', sa.String(length=255), nullable=True),
    sa.Column('client_url', sa.String(length=1024), nullable=True),
    sa.Column('occurrence_ref', sa.String(length=64), nullable=True),
    sa.Column('suppressed', sa.String(length=40), nullable=True),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('event_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_alerts_incident_id_incidents')),
    sa.ForeignKeyConstraint(['integration_key_id'], ['integration_keys.id'], name=op.f('fk_alerts_integration_key_id_integration_keys'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_alerts_service_id_services')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index('ix_alerts_service_created', ['service_id', 'created_at'], unique=False)
        batch_op.create_index('uq_alerts_open_dedup_key', ['service_id', 'dedup_key'], unique=True, sqlite_where=sa.text("status != 'resolved'"), postgresql_where=sa.text("status != 'resolved'"))

    op.create_table('change_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('integration_key_id', sa.Integer(), nullable=True),
    sa.Column('summary', sa.String(length=1024), nullable=False),
    sa.Column('source', sa.String(length=255), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('custom_details', sa.JSON(), nullable=True),
    sa.Column('links', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['integration_key_id'], ['integration_keys.id'], name=op.f('fk_change_events_integration_key_id_integration_keys'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_change_events_service_id_services')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_change_events'))
    )
    with op.batch_alter_table('change_events', schema=None) as batch_op:
        batch_op.create_index('ix_change_events_service_at', ['service_id', 'at'], unique=False)

    op.create_table('incident_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('actor_kind', sa.Enum('user', 'api_token', 'integration', 'system', name='event_actor_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=200), nullable=False),
    sa.Column('via', sa.String(length=20), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_incident_events_actor_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_events_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_events'))
    )
    with op.batch_alter_table('incident_events', schema=None) as batch_op:
        batch_op.create_index('ix_incident_events_incident_at', ['incident_id', 'at'], unique=False)

    with op.batch_alter_table('services', schema=None) as batch_op:
        # Existing services get the defaults the model gives new ones.
        batch_op.add_column(sa.Column('alert_grouping', sa.String(length=20), nullable=False, server_default='per_alert'))
        batch_op.add_column(sa.Column('resolve_with_alerts', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('ack_timeout_minutes', sa.Integer(), nullable=True, server_default='30'))
        batch_op.add_column(sa.Column('auto_resolve_minutes', sa.Integer(), nullable=True))



def downgrade():
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.drop_column('auto_resolve_minutes')
        batch_op.drop_column('ack_timeout_minutes')
        batch_op.drop_column('resolve_with_alerts')
        batch_op.drop_column('alert_grouping')

    with op.batch_alter_table('incident_events', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_events_incident_at')

    op.drop_table('incident_events')
    with op.batch_alter_table('change_events', schema=None) as batch_op:
        batch_op.drop_index('ix_change_events_service_at')

    op.drop_table('change_events')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('uq_alerts_open_dedup_key', sqlite_where=sa.text("status != 'resolved'"), postgresql_where=sa.text("status != 'resolved'"))
        batch_op.drop_index('ix_alerts_service_created')
        batch_op.drop_index(batch_op.f('ix_alerts_incident_id'))

    op.drop_table('alerts')
    op.drop_table('maintenance_services')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incidents_updated_at'))
        batch_op.drop_index('ix_incidents_status_severity_created')
        batch_op.drop_index(batch_op.f('ix_incidents_service_id'))
        batch_op.drop_index(batch_op.f('ix_incidents_merged_into_id'))
        batch_op.drop_index(batch_op.f('ix_incidents_auto_resolve_at'))
        batch_op.drop_index(batch_op.f('ix_incidents_ack_timeout_at'))

    op.drop_table('incidents')
    with op.batch_alter_table('heartbeats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_heartbeats_service_id'))
        batch_op.drop_index(batch_op.f('ix_heartbeats_due_at'))

    op.drop_table('heartbeats')
    with op.batch_alter_table('maintenance_windows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_maintenance_windows_next_transition_at'))

    op.drop_table('maintenance_windows')
