"""ingest attempts: the hot path's record of each event it wrote, by the attempt id its
request gave it, so a request whose writer died between the commit and the answer
finds what was written instead of writing the event again (a second fold, a second
incident). Rows older than a day are pruned by the engine.

Revision ID: 0015
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ingest_attempts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('dedup_key', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_attempts'))
    )
    with op.batch_alter_table('ingest_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_attempts_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('ingest_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_attempts_created_at'))
    op.drop_table('ingest_attempts')
