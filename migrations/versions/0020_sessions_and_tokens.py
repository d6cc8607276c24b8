"""sessions and API token expiry (issue 24): schema to come

Reserved in the chain so the parts of issue 24 can land in any order; filled by the
part that needs it.

Revision ID: 0020
Revises: 0019
"""
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
