"""invitations and password resets (issue 24): schema to come

Reserved in the chain so the parts of issue 24 can land in any order; filled by the
part that needs it.

Revision ID: 0017
Revises: 0016
"""
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
