"""imported objects: what the PagerDuty, Opsgenie and Grafana OnCall importers made

imported_objects maps each vendor object (vendor, kind, vendor id) to the Firebreak
row it became, so running an importer again updates in place. A new table: the
release before it never reads it.

Revision ID: 0023
Revises: 0022
"""
from alembic import op
import sqlalchemy as sa



revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('imported_objects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vendor', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('vendor_id', sa.String(length=200), nullable=False),
    sa.Column('table', sa.String(length=60), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imported_objects')),
    sa.UniqueConstraint('vendor', 'kind', 'vendor_id', name=op.f('uq_imported_objects_vendor_kind_vendor_id'))
    )


def downgrade():
    op.drop_table('imported_objects')
