"""metric counts: counters kept in the database

metric_counts holds the counters of things written to the database (incidents
opened, outbox messages by outcome), added to in the transaction that wrote them, so
a scrape of any web process sees what an engine running as its own process or on
another machine did. A new table: the release before it keeps counting in memory.

Revision ID: 0021
Revises: 0020
"""
from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('metric_counts',
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('labels', sa.String(length=200), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', 'labels', name=op.f('pk_metric_counts'))
    )


def downgrade():
    op.drop_table('metric_counts')
