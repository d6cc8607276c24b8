"""on-call: schedules, layers and rotation versions, overrides, swaps, temporary schedules,
holidays, handovers and their notes, shift reminders, calendar feeds

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 13:09:02.154241

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('holidays',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_holidays_holiday_order')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_holidays_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_holidays_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holidays'))
    )
    with op.batch_alter_table('holidays', schema=None) as batch_op:
        batch_op.create_index('ix_holidays_user_ends', ['user_id', 'ends_at'], unique=False)

    op.create_table('schedules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('reminder_minutes', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('next_handover_at', sa.DateTime(), nullable=True),
    sa.Column('handovers_done_until', sa.DateTime(), nullable=True),
    sa.Column('next_reminder_at', sa.DateTime(), nullable=True),
    sa.Column('reminders_done_until', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_schedules_team_id_teams'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedules')),
    sa.UniqueConstraint('name', name=op.f('uq_schedules_name'))
    )
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_schedules_next_handover_at'), ['next_handover_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_schedules_next_reminder_at'), ['next_reminder_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_schedules_team_id'), ['team_id'], unique=False)

    op.create_table('calendar_feeds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('reminder_minutes', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('(schedule_id IS NULL) <> (user_id IS NULL)', name=op.f('ck_calendar_feeds_feed_target')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_calendar_feeds_owner_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], name=op.f('fk_calendar_feeds_schedule_id_schedules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_calendar_feeds_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_feeds')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_calendar_feeds_token_hash'))
    )
    with op.batch_alter_table('calendar_feeds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_feeds_owner_id'), ['owner_id'], unique=False)

    op.create_table('handovers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('outgoing_user_id', sa.Integer(), nullable=True),
    sa.Column('incoming_user_id', sa.Integer(), nullable=True),
    sa.Column('outgoing_subject', sa.String(length=255), nullable=False),
    sa.Column('outgoing_body', sa.Text(), nullable=False),
    sa.Column('incoming_subject', sa.String(length=255), nullable=False),
    sa.Column('incoming_body', sa.Text(), nullable=False),
    sa.Column('open_incidents', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'enqueued', 'missed', name='handover_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('enqueued_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['incoming_user_id'], ['users.id'], name=op.f('fk_handovers_incoming_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['outgoing_user_id'], ['users.id'], name=op.f('fk_handovers_outgoing_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], name=op.f('fk_handovers_schedule_id_schedules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handovers')),
    sa.UniqueConstraint('schedule_id', 'at', name=op.f('uq_handovers_schedule_id_at'))
    )
    with op.batch_alter_table('handovers', schema=None) as batch_op:
        batch_op.create_index('ix_handovers_state_at', ['state', 'at'], unique=False)

    op.create_table('schedule_layers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], name=op.f('fk_schedule_layers_schedule_id_schedules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_layers')),
    sa.UniqueConstraint('schedule_id', 'name', name=op.f('uq_schedule_layers_schedule_id_name'))
    )
    with op.batch_alter_table('schedule_layers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_schedule_layers_schedule_id'), ['schedule_id'], unique=False)

    op.create_table('schedule_overrides',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_schedule_overrides_override_order')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_schedule_overrides_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], name=op.f('fk_schedule_overrides_schedule_id_schedules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_schedule_overrides_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_overrides'))
    )
    with op.batch_alter_table('schedule_overrides', schema=None) as batch_op:
        batch_op.create_index('ix_schedule_overrides_schedule_ends', ['schedule_id', 'ends_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_schedule_overrides_user_id'), ['user_id'], unique=False)

    op.create_table('schedule_swaps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('first_user_id', sa.Integer(), nullable=False),
    sa.Column('second_user_id', sa.Integer(), nullable=False),
    sa.Column('first_starts_at', sa.DateTime(), nullable=False),
    sa.Column('first_ends_at', sa.DateTime(), nullable=False),
    sa.Column('second_starts_at', sa.DateTime(), nullable=True),
    sa.Column('second_ends_at', sa.DateTime(), nullable=True),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('first_ends_at > first_starts_at', name=op.f('ck_schedule_swaps_swap_order')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_schedule_swaps_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['first_user_id'], ['users.id'], name=op.f('fk_schedule_swaps_first_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], name=op.f('fk_schedule_swaps_schedule_id_schedules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['second_user_id'], ['users.id'], name=op.f('fk_schedule_swaps_second_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_swaps'))
    )
    with op.batch_alter_table('schedule_swaps', schema=None) as batch_op:
        batch_op.create_index('ix_schedule_swaps_schedule_ends', ['schedule_id', 'ends_at'], unique=False)

    op.create_table('shift_reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('shift_starts_at', sa.DateTime(), nullable=False),
    sa.Column('remind_at', sa.DateTime(), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'enqueued', 'missed', name='reminder_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('enqueued_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], name=op.f('fk_shift_reminders_schedule_id_schedules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_shift_reminders_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shift_reminders')),
    sa.UniqueConstraint('schedule_id', 'user_id', 'shift_starts_at', name=op.f('uq_shift_reminders_schedule_id_user_id_shift_starts_at'))
    )
    with op.batch_alter_table('shift_reminders', schema=None) as batch_op:
        batch_op.create_index('ix_shift_reminders_state_remind', ['state', 'remind_at'], unique=False)

    op.create_table('temporary_schedules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('shift_unit', sa.Enum('hours', 'days', 'weeks', name='temporary_shift_unit', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('shift_length', sa.Integer(), nullable=False),
    sa.Column('participant_ids', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_temporary_schedules_temporary_order')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_temporary_schedules_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], name=op.f('fk_temporary_schedules_schedule_id_schedules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_temporary_schedules'))
    )
    with op.batch_alter_table('temporary_schedules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_temporary_schedules_schedule_id'), ['schedule_id'], unique=False)

    op.create_table('handover_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('handover_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_handover_notes_author_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['handover_id'], ['handovers.id'], name=op.f('fk_handover_notes_handover_id_handovers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], name=op.f('fk_handover_notes_schedule_id_schedules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handover_notes')),
    sa.UniqueConstraint('handover_id', name=op.f('uq_handover_notes_handover_id'))
    )
    with op.batch_alter_table('handover_notes', schema=None) as batch_op:
        batch_op.create_index('ix_handover_notes_pending', ['schedule_id', 'author_id', 'handover_id'], unique=False)

    op.create_table('rotation_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('layer_id', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('handoff_time', sa.Time(), nullable=False),
    sa.Column('handoff_weekday', sa.Integer(), nullable=True),
    sa.Column('shift_unit', sa.Enum('hours', 'days', 'weeks', name='shift_unit', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('shift_length', sa.Integer(), nullable=False),
    sa.Column('participant_ids', sa.JSON(), nullable=False),
    sa.Column('start_index', sa.Integer(), nullable=False),
    sa.Column('restrictions', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_rotation_versions_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['layer_id'], ['schedule_layers.id'], name=op.f('fk_rotation_versions_layer_id_schedule_layers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rotation_versions'))
    )
    with op.batch_alter_table('rotation_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rotation_versions_layer_id'), ['layer_id'], unique=False)



def downgrade():
    with op.batch_alter_table('rotation_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rotation_versions_layer_id'))

    op.drop_table('rotation_versions')
    with op.batch_alter_table('handover_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_handover_notes_pending')

    op.drop_table('handover_notes')
    with op.batch_alter_table('temporary_schedules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_temporary_schedules_schedule_id'))

    op.drop_table('temporary_schedules')
    with op.batch_alter_table('shift_reminders', schema=None) as batch_op:
        batch_op.drop_index('ix_shift_reminders_state_remind')

    op.drop_table('shift_reminders')
    with op.batch_alter_table('schedule_swaps', schema=None) as batch_op:
        batch_op.drop_index('ix_schedule_swaps_schedule_ends')

    op.drop_table('schedule_swaps')
    with op.batch_alter_table('schedule_overrides', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_schedule_overrides_user_id'))
        batch_op.drop_index('ix_schedule_overrides_schedule_ends')

    op.drop_table('schedule_overrides')
    with op.batch_alter_table('schedule_layers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_schedule_layers_schedule_id'))

    op.drop_table('schedule_layers')
    with op.batch_alter_table('handovers', schema=None) as batch_op:
        batch_op.drop_index('ix_handovers_state_at')

    op.drop_table('handovers')
    with op.batch_alter_table('calendar_feeds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_feeds_owner_id'))

    op.drop_table('calendar_feeds')
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_schedules_team_id'))
        batch_op.drop_index(batch_op.f('ix_schedules_next_reminder_at'))
        batch_op.drop_index(batch_op.f('ix_schedules_next_handover_at'))

    op.drop_table('schedules')
    with op.batch_alter_table('holidays', schema=None) as batch_op:
        batch_op.drop_index('ix_holidays_user_ends')

    op.drop_table('holidays')
