"""The audit log: every configuration change and incident action, never edited."""
from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.auth.models import User, enum_column
from app.database import UTCDateTime
from app.extensions import db


class ActorKind(enum.StrEnum):
    USER = "user"
    API_TOKEN = "api_token"
    INTEGRATION = "integration"
    SYSTEM = "system"


class AuditEntry(db.Model):
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    actor_kind: Mapped[ActorKind] = enum_column(ActorKind, "actor_kind")
    actor_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_token_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("api_tokens.id", ondelete="SET NULL"))
    # What the actor was called at the time, kept even if the person is renamed.
    actor_label: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    object_type: Mapped[str] = mapped_column(sa.String(40))
    object_id: Mapped[int | None] = mapped_column()
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    before: Mapped[dict | None] = mapped_column(sa.JSON)
    after: Mapped[dict | None] = mapped_column(sa.JSON)
    ip: Mapped[str | None] = mapped_column(sa.String(45))

    actor_user: Mapped[User | None] = relationship()


class AuditLogIsAppendOnly(RuntimeError):
    """Something tried to change or remove an audit entry."""


@event.listens_for(Engine, "before_execute")
def _refuse_audit_changes(conn, statement, multiparams, params, execution_options):
    """No UPDATE or DELETE of audit_log leaves this process, however it was built: an
    ORM flush of a changed or deleted AuditEntry, a bulk `sa.update(AuditEntry)`, Core.
    (Raw SQL text is stopped by the database's own triggers, migration 0012.)"""
    if isinstance(statement, (sa.Update, sa.Delete)) and getattr(statement.table, "name", None) == "audit_log":
        raise AuditLogIsAppendOnly("The audit log is append-only: its entries are never changed or removed.")
