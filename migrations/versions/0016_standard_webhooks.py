"""standard webhooks: every outbound webhook signs with a whsec_ secret

Comms webhooks and status-page subscriber webhooks now sign per Standard Webhooks
(app.webhooks.signing), keyed with the base64 in a `whsec_…` secret. Upgrading
rewrites each secret in that form over the same key bytes (`whsec_` + base64 of the
old secret's UTF-8), so a receiver keeps the key it has and changes only how it
checks the signature; a webhook with no secret (Slack and Teams ones) gets a new
one. Deleted comms webhooks keep none. The columns grow to hold the longer form.

Downgrading writes back the old secret where the key bytes are text that fits
(those made before, and ones typed then); a secret made since stays in its
`whsec_` form, which the old code uses as a plain key.

Revision ID: 0016
Revises: 0015
"""
import base64
import binascii
import secrets

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

PREFIX = 'whsec_'

hooks = sa.table('comms_webhooks', sa.column('id', sa.Integer), sa.column('secret', sa.String),
                 sa.column('removed_at', sa.DateTime))
subscribers = sa.table('subscribers', sa.column('id', sa.Integer), sa.column('webhook_secret', sa.String))


def _upgraded(secret):
    if secret and secret.startswith(PREFIX):
        try:
            if base64.b64decode(secret[len(PREFIX):], validate=True):
                return secret
        except (binascii.Error, ValueError):
            pass
    if secret:
        return PREFIX + base64.b64encode(secret.encode()).decode()
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _downgraded(secret, limit):
    if not secret or not secret.startswith(PREFIX):
        return secret
    try:
        text = base64.b64decode(secret[len(PREFIX):], validate=True).decode()
    except (binascii.Error, ValueError):  # random bytes: not text
        return secret
    return text if text.isprintable() and 0 < len(text) <= limit else secret


def upgrade():
    with op.batch_alter_table('comms_webhooks', schema=None) as batch_op:
        batch_op.alter_column('secret', existing_type=sa.String(length=200), type_=sa.String(length=300),
                              existing_nullable=False)
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.alter_column('webhook_secret', existing_type=sa.String(length=64), type_=sa.String(length=100),
                              existing_nullable=True)
    bind = op.get_bind()
    for row in bind.execute(sa.select(hooks.c.id, hooks.c.secret).where(hooks.c.removed_at.is_(None))).all():
        bind.execute(sa.update(hooks).where(hooks.c.id == row.id).values(secret=_upgraded(row.secret)))
    for row in bind.execute(sa.select(subscribers.c.id, subscribers.c.webhook_secret)
                            .where(subscribers.c.webhook_secret.isnot(None))).all():
        bind.execute(sa.update(subscribers).where(subscribers.c.id == row.id)
                     .values(webhook_secret=_upgraded(row.webhook_secret)))


def downgrade():
    bind = op.get_bind()
    for row in bind.execute(sa.select(hooks.c.id, hooks.c.secret)).all():
        bind.execute(sa.update(hooks).where(hooks.c.id == row.id).values(secret=_downgraded(row.secret, 200)))
    for row in bind.execute(sa.select(subscribers.c.id, subscribers.c.webhook_secret)
                            .where(subscribers.c.webhook_secret.isnot(None))).all():
        bind.execute(sa.update(subscribers).where(subscribers.c.id == row.id)
                     .values(webhook_secret=_downgraded(row.webhook_secret, 64)))
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.alter_column('webhook_secret', existing_type=sa.String(length=100), type_=sa.String(length=64),
                              existing_nullable=True)
    with op.batch_alter_table('comms_webhooks', schema=None) as batch_op:
        batch_op.alter_column('secret', existing_type=sa.String(length=300), type_=sa.String(length=200),
                              existing_nullable=False)
