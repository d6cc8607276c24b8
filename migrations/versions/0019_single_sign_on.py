"""single sign-on (issue 24): schema to come

Reserved in the chain so the parts of issue 24 can land in any order; filled by the
part that needs it.

Revision ID: 0019
Revises: 0018
"""
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
