"""Contact methods, personal notification rules, and the outbox of every message sent."""
from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.auth.models import User, enum_column
from app.database import UTCDateTime
from app.extensions import db


class Channel(enum.StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"

    @property
    def label(self) -> str:
        return {"sms": "SMS", "voice": "Voice call", "email": "Email"}[self.value]

    @property
    def rings(self) -> bool:
        """Wakes a sleeping person (SMS buzzes, calls ring); email does not."""
        return self is not Channel.EMAIL


class ContactMethod(db.Model):
    __tablename__ = "contact_methods"
    __table_args__ = (sa.UniqueConstraint("user_id", "channel", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[Channel] = enum_column(Channel, "channel")
    address: Mapped[str] = mapped_column(sa.String(254), index=True)  # E.164 number or email address
    label: Mapped[str] = mapped_column(sa.String(60), default="")
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code_hash: Mapped[str | None] = mapped_column(sa.String(64))
    code_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code_attempts: Mapped[int] = mapped_column(default=0)
    # The person replied STOP: no SMS until START (carriers require it).
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    user: Mapped[User] = relationship(backref=sa.orm.backref("contact_methods", order_by="ContactMethod.id",
                                                              cascade="all, delete-orphan"))

    @property
    def verified(self) -> bool:
        return self.verified_at is not None

    @property
    def usable(self) -> bool:
        return self.active and self.verified and not (self.channel == Channel.SMS and self.opted_out_at)

    @property
    def display(self) -> str:
        return f"{self.channel.label} {self.address}"


class NotificationRule(db.Model):
    """'SMS at once, a call after 2 minutes, email after 5': one row per step."""

    __tablename__ = "notification_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    contact_method_id: Mapped[int] = mapped_column(sa.ForeignKey("contact_methods.id", ondelete="CASCADE"))
    delay_minutes: Mapped[int] = mapped_column(default=0)
    urgency: Mapped[str] = mapped_column(sa.String(10), default="high")  # high or low
    # Set by a person (or an admin for them): the rules of that urgency then stand as
    # they are. Defaults (False) grow as the person adds methods (`contacts.ensure_rules`).
    chosen: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    contact_method: Mapped[ContactMethod] = relationship()
    user: Mapped[User] = relationship()


class Status(enum.StrEnum):
    QUEUED = "queued"        # waiting for next_attempt_at
    SENDING = "sending"      # claimed by a sender until next_attempt_at (then retried)
    SENT = "sent"            # the provider took it
    DELIVERED = "delivered"  # the provider says it arrived (or the call was answered)
    FAILED = "failed"        # gave up, or the provider says it never arrived
    CANCELLED = "cancelled"  # no longer needed (acknowledged, resolved, bundled into another)


DONE = (Status.SENT, Status.DELIVERED, Status.FAILED, Status.CANCELLED)


class Notification(db.Model):
    """One message to one person (or address) on one channel: the outbox row.

    Created in the same transaction as the decision to send it; the engine sends
    what is due. `key` is unique, so deciding twice never sends twice.
    """

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_status_due", "status", "next_attempt_at"),
                      sa.Index("ix_notifications_method_sent", "contact_method_id", "sent_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    purpose: Mapped[str] = mapped_column(sa.String(20))  # page, verify, test, handover, update, reminder
    incident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    contact_method_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contact_methods.id", ondelete="SET NULL"))
    rule_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notification_rules.id", ondelete="SET NULL"))
    channel: Mapped[Channel] = enum_column(Channel, "notification_channel")
    to_address: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(255), default="")
    body: Mapped[str] = mapped_column(sa.Text)
    # An email's HTML alternative, sent beside the plain `body` (security email).
    html_body: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[Status] = enum_column(Status, "notification_status", default=Status.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider: Mapped[str | None] = mapped_column(sa.String(20))
    provider_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    provider_status: Mapped[str | None] = mapped_column(sa.String(30))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    # Held back by a per-method throttle until this time, and how often it was.
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When several pages go out as one SMS, the others point at the one that carried them.
    bundled_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notifications.id", ondelete="SET NULL"))
    # Set when this message replaced one that kept failing on another method.
    fallback_for_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notifications.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User | None] = relationship()
    contact_method: Mapped[ContactMethod | None] = relationship()


class InboundMessage(db.Model):
    """Every SMS and keypress that reached us, what we made of it, and what we answered.

    The provider's message id is unique, so a replayed webhook acts once.
    """

    __tablename__ = "inbound_messages"
    __table_args__ = (sa.Index("ix_inbound_messages_from_at", "from_address", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[str] = mapped_column(sa.String(80), unique=True)
    channel: Mapped[Channel] = enum_column(Channel, "inbound_channel")
    from_address: Mapped[str] = mapped_column(sa.String(32))
    body: Mapped[str] = mapped_column(sa.String(1600))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(sa.String(40))  # acknowledged, refused, unknown_number, …
    reply: Mapped[str] = mapped_column(sa.String(1600), default="")
    replied: Mapped[bool] = mapped_column(default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
