"""default severity triggers: a new install's SEV-1 pages the managers of the
service's team as it opens and when its response objective is breached (the
escalation issue's defaults; admins change them on each severity's page). Data
only; an install that already has triggers of its own keeps them as they are.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 16:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

triggers = sa.table('severity_triggers', sa.column('id', sa.Integer), sa.column('severity', sa.Integer),
                    sa.column('on', sa.String), sa.column('kind', sa.String))
DEFAULTS = [{'severity': 1, 'on': 'open', 'kind': 'managers'},
            {'severity': 1, 'on': 'breach', 'kind': 'managers'}]


def upgrade():
    connection = op.get_bind()
    if connection.scalar(sa.select(sa.func.count()).select_from(triggers)):
        return
    op.bulk_insert(triggers, DEFAULTS)


def downgrade():
    # Only the rows this migration would have added, and only if nobody added others.
    connection = op.get_bind()
    rows = connection.execute(sa.select(triggers.c.severity, triggers.c.on, triggers.c.kind)).all()
    if sorted(map(tuple, rows)) == sorted((d['severity'], d['on'], d['kind']) for d in DEFAULTS):
        connection.execute(triggers.delete())
