"""two-factor sign-in (issue 24): schema to come

Reserved in the chain so the parts of issue 24 can land in any order; filled by the
part that needs it.

Revision ID: 0018
Revises: 0017
"""
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
