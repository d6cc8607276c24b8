"""escalation policies, severity triggers, the severity model and matrix, incident escalation state

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 13:38:49.340602

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('escalation_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('repeat', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_escalation_policies_team_id_teams'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_policies')),
    sa.UniqueConstraint('name', name=op.f('uq_escalation_policies_name'))
    )
    op.create_table('severity_levels',
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('label', sa.String(length=40), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('impact_criteria', sa.Text(), nullable=False),
    sa.Column('examples', sa.Text(), nullable=False),
    sa.Column('response_minutes', sa.Integer(), nullable=False),
    sa.Column('resolution_minutes', sa.Integer(), nullable=False),
    sa.Column('update_cadence_minutes', sa.Integer(), nullable=True),
    sa.Column('postmortem', sa.String(length=12), nullable=False),
    sa.Column('urgency', sa.String(length=4), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('next_review_on', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('level BETWEEN 1 AND 4', name=op.f('ck_severity_levels_level_range')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_severity_levels_owner_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('level', name=op.f('pk_severity_levels'))
    )
    op.create_table('escalation_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('delay_minutes', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=12), nullable=False),
    sa.Column('rr_cursor', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['policy_id'], ['escalation_policies.id'], name=op.f('fk_escalation_steps_policy_id_escalation_policies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_steps'))
    )
    with op.batch_alter_table('escalation_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_steps_policy_id'), ['policy_id'], unique=False)

    op.create_table('severity_triggers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('severity', sa.Integer(), nullable=False),
    sa.Column('on', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('schedule_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], name=op.f('fk_severity_triggers_schedule_id_schedules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_severity_triggers_team_id_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_severity_triggers_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_severity_triggers'))
    )
    with op.batch_alter_table('severity_triggers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_severity_triggers_severity'), ['severity'], unique=False)

    op.create_table('escalation_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('step_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('schedule_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("(kind = 'user' AND user_id IS NOT NULL) OR (kind = 'schedule' AND schedule_id IS NOT NULL) OR (kind = 'team' AND team_id IS NOT NULL)", name=op.f('ck_escalation_targets_target_has_its_id')),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], name=op.f('fk_escalation_targets_schedule_id_schedules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['step_id'], ['escalation_steps.id'], name=op.f('fk_escalation_targets_step_id_escalation_steps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_escalation_targets_team_id_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_escalation_targets_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_targets'))
    )
    with op.batch_alter_table('escalation_targets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_targets_step_id'), ['step_id'], unique=False)

    op.create_table('impact_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('effect', sa.String(length=12), nullable=False),
    sa.Column('severity', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_impact_rules_service_id_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_impact_rules')),
    sa.UniqueConstraint('service_id', 'effect', name=op.f('uq_impact_rules_service_id_effect'))
    )
    with op.batch_alter_table('impact_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_impact_rules_service_id'), ['service_id'], unique=False)

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_snapshot', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('escalation_state', sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column('escalation_run', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('escalation_round', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('escalation_step', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('next_escalation_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('response_breach_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolution_breach_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('unreachable_since', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_incidents_next_escalation_at'), ['next_escalation_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_incidents_resolution_breach_at'), ['resolution_breach_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_incidents_response_breach_at'), ['response_breach_at'], unique=False)

    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_policy_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('fallback_team_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_services_escalation_policy_id'), ['escalation_policy_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_services_fallback_team_id_teams'), 'teams', ['fallback_team_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_services_escalation_policy_id_escalation_policies'), 'escalation_policies', ['escalation_policy_id'], ['id'], ondelete='SET NULL')



def downgrade():
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_services_escalation_policy_id_escalation_policies'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_services_fallback_team_id_teams'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_services_escalation_policy_id'))
        batch_op.drop_column('fallback_team_id')
        batch_op.drop_column('escalation_policy_id')

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incidents_response_breach_at'))
        batch_op.drop_index(batch_op.f('ix_incidents_resolution_breach_at'))
        batch_op.drop_index(batch_op.f('ix_incidents_next_escalation_at'))
        batch_op.drop_column('unreachable_since')
        batch_op.drop_column('resolution_breach_at')
        batch_op.drop_column('response_breach_at')
        batch_op.drop_column('next_escalation_at')
        batch_op.drop_column('escalation_step')
        batch_op.drop_column('escalation_round')
        batch_op.drop_column('escalation_run')
        batch_op.drop_column('escalation_state')
        batch_op.drop_column('escalation_snapshot')

    with op.batch_alter_table('impact_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_impact_rules_service_id'))

    op.drop_table('impact_rules')
    with op.batch_alter_table('escalation_targets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_targets_step_id'))

    op.drop_table('escalation_targets')
    with op.batch_alter_table('severity_triggers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_severity_triggers_severity'))

    op.drop_table('severity_triggers')
    with op.batch_alter_table('escalation_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_steps_policy_id'))

    op.drop_table('escalation_steps')
    op.drop_table('severity_levels')
    op.drop_table('escalation_policies')
