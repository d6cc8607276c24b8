"""pageable people: notification_rules.chosen, and admin-entered phones as contact methods

`chosen` tells a person's own rules (which stand) from the defaults (which grow as
methods are verified). Upgrading marks as chosen the rules of every person and
urgency whose rules were set by hand (an audit entry `contact.rules` says so); the
rest are defaults and are completed at the next page or visit of the paging page.

Every person whose `phone` (as an admin typed it) is not yet a contact method gets
it as an SMS and a voice method, unverified: the person is asked for the code on
their paging page, or an admin marks it verified. Nothing is paged on it before.
Where the person already proved the number (a verified SMS or voice method on it),
the other method is verified with it, as a code would have done.

Downgrading drops the column; the contact methods stay (they were valid before).

Revision ID: 0014
Revises: 0013
"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notification_rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chosen', sa.Boolean(), server_default=sa.false(), nullable=False))
    bind = op.get_bind()
    rules = sa.table('notification_rules', sa.column('user_id', sa.Integer), sa.column('urgency', sa.String),
                     sa.column('chosen', sa.Boolean))
    audit = sa.table('audit_log', sa.column('action', sa.String), sa.column('object_type', sa.String),
                     sa.column('object_id', sa.Integer), sa.column('summary', sa.Text))
    for urgency in ('high', 'low'):
        by_hand = (sa.select(audit.c.object_id).where(audit.c.action == 'contact.rules', audit.c.object_type == 'users',
                                                      audit.c.summary.like(f'Set {urgency}-urgency rules%')))
        bind.execute(sa.update(rules).where(rules.c.urgency == urgency, rules.c.user_id.in_(by_hand))
                     .values(chosen=True))
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('phone', sa.String))
    methods = sa.table('contact_methods', sa.column('user_id', sa.Integer), sa.column('channel', sa.String),
                       sa.column('address', sa.String), sa.column('label', sa.String),
                       sa.column('code_attempts', sa.Integer), sa.column('consecutive_failures', sa.Integer),
                       sa.column('active', sa.Boolean), sa.column('created_at', sa.DateTime),
                       sa.column('verified_at', sa.DateTime))
    have, proven = set(), {}
    for row in bind.execute(sa.select(methods.c.user_id, methods.c.channel, methods.c.address, methods.c.verified_at,
                                      methods.c.active)):
        have.add((row.user_id, row.channel, row.address))
        if row.active and row.verified_at is not None and row.channel in ('sms', 'voice'):
            proven[(row.user_id, row.address)] = row.verified_at
    now = datetime.now(UTC).replace(tzinfo=None)
    new = []
    for user_id, phone in bind.execute(sa.select(users.c.id, users.c.phone).where(users.c.phone.isnot(None),
                                                                                    users.c.phone != '')):
        for channel in ('sms', 'voice'):
            if (user_id, channel, phone) not in have:
                new.append({'user_id': user_id, 'channel': channel, 'address': phone, 'label': '',
                            'code_attempts': 0, 'consecutive_failures': 0, 'active': True, 'created_at': now,
                            'verified_at': proven.get((user_id, phone))})
    if new:
        bind.execute(sa.insert(methods), new)


def downgrade():
    with op.batch_alter_table('notification_rules', schema=None) as batch_op:
        batch_op.drop_column('chosen')
