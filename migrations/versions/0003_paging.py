"""paging: contact methods, notification rules, the outbox, inbound messages, a person's night

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 13:00:47.755905

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('contact_methods',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.Enum('sms', 'voice', 'email', name='channel', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('label', sa.String(length=60), nullable=False),
    sa.Column('verified_at', sa.DateTime(), nullable=True),
    sa.Column('code_hash', sa.String(length=64), nullable=True),
    sa.Column('code_sent_at', sa.DateTime(), nullable=True),
    sa.Column('code_attempts', sa.Integer(), nullable=False),
    sa.Column('opted_out_at', sa.DateTime(), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_contact_methods_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_methods')),
    sa.UniqueConstraint('user_id', 'channel', 'address', name=op.f('uq_contact_methods_user_id_channel_address'))
    )
    with op.batch_alter_table('contact_methods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_methods_address'), ['address'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_methods_user_id'), ['user_id'], unique=False)

    op.create_table('inbound_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.String(length=80), nullable=False),
    sa.Column('channel', sa.Enum('sms', 'voice', 'email', name='inbound_channel', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('from_address', sa.String(length=32), nullable=False),
    sa.Column('body', sa.String(length=1600), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('reply', sa.String(length=1600), nullable=False),
    sa.Column('replied', sa.Boolean(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_inbound_messages_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_messages')),
    sa.UniqueConstraint('provider_id', name=op.f('uq_inbound_messages_provider_id'))
    )
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_messages_from_at', ['from_address', 'at'], unique=False)

    op.create_table('notification_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('contact_method_id', sa.Integer(), nullable=False),
    sa.Column('delay_minutes', sa.Integer(), nullable=False),
    sa.Column('urgency', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['contact_method_id'], ['contact_methods.id'], name=op.f('fk_notification_rules_contact_method_id_contact_methods'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_rules_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_rules'))
    )
    with op.batch_alter_table('notification_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_rules_user_id'), ['user_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('contact_method_id', sa.Integer(), nullable=True),
    sa.Column('rule_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.Enum('sms', 'voice', 'email', name='notification_channel', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('to_address', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('queued', 'sending', 'sent', 'delivered', 'failed', 'cancelled', name='notification_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('provider', sa.String(length=20), nullable=True),
    sa.Column('provider_id', sa.String(length=64), nullable=True),
    sa.Column('provider_status', sa.String(length=30), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('held_until', sa.DateTime(), nullable=True),
    sa.Column('bundled_into_id', sa.Integer(), nullable=True),
    sa.Column('fallback_for_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['bundled_into_id'], ['notifications.id'], name=op.f('fk_notifications_bundled_into_id_notifications'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_method_id'], ['contact_methods.id'], name=op.f('fk_notifications_contact_method_id_contact_methods'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['fallback_for_id'], ['notifications.id'], name=op.f('fk_notifications_fallback_for_id_notifications'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_notifications_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['notification_rules.id'], name=op.f('fk_notifications_rule_id_notification_rules'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('key', name=op.f('uq_notifications_key'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index('ix_notifications_method_sent', ['contact_method_id', 'sent_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_provider_id'), ['provider_id'], unique=False)
        batch_op.create_index('ix_notifications_status_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        # Existing people get the default night, 22:00 to 07:00 in their zone.
        batch_op.add_column(sa.Column('night_start', sa.Time(), nullable=False, server_default='22:00:00'))
        batch_op.add_column(sa.Column('night_end', sa.Time(), nullable=False, server_default='07:00:00'))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('night_end')
        batch_op.drop_column('night_start')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_user_id'))
        batch_op.drop_index('ix_notifications_status_due')
        batch_op.drop_index(batch_op.f('ix_notifications_provider_id'))
        batch_op.drop_index('ix_notifications_method_sent')
        batch_op.drop_index(batch_op.f('ix_notifications_incident_id'))

    op.drop_table('notifications')
    with op.batch_alter_table('notification_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_rules_user_id'))

    op.drop_table('notification_rules')
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_messages_from_at')

    op.drop_table('inbound_messages')
    with op.batch_alter_table('contact_methods', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_methods_user_id'))
        batch_op.drop_index(batch_op.f('ix_contact_methods_address'))

    op.drop_table('contact_methods')
