"""resolution follow-ups: incidents.followup_at, the time from which the engine owes a
resolved incident its post-mortem draft (for a severity that requires one) and its
knowledge-search entries, instead of the resolving request doing both

Upgrading marks nothing: incidents resolved before it already have both. Downgrading
drops the column; a follow-up still owed then is not made (its draft can be started
from the incident page).

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('followup_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_incidents_followup_at'), ['followup_at'], unique=False)


def downgrade():
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incidents_followup_at'))
        batch_op.drop_column('followup_at')
