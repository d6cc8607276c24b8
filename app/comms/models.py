"""Communications: templates, stakeholder lists, outbound webhooks, the updates sent,
the cadence they are due on, and the communication plan per severity.

`comms_updates` keeps one row per update with when it was sent, when an update
was due (`due_at`, null when the severity has no cadence) and whether it went in
time (`on_time`). `comms_dues` keeps one row per update owed: communication
compliance (app.insights.metrics) counts those that fell due in a period, met on
time, met late or still overdue.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.auth.models import User
from app.database import UTCDateTime
from app.extensions import db
from app.services.models import Service


class CommsTemplate(db.Model):
    """A template an admin saved: an edit of a shipped one (same `key`), or their own.
    Shipped templates live in app/comms/defaults.py; a row here replaces one."""

    __tablename__ = "comms_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(60), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    audience: Mapped[str] = mapped_column(sa.String(30))  # see app.comms.defaults.AUDIENCES
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    subject: Mapped[str] = mapped_column(sa.Text, default="")
    body: Mapped[str] = mapped_column(sa.Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_by: Mapped[str] = mapped_column(sa.String(200), default="")


stakeholder_list_services = sa.Table(
    "stakeholder_list_services", db.metadata,
    sa.Column("list_id", sa.ForeignKey("stakeholder_lists.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("service_id", sa.ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
)


class StakeholderList(db.Model):
    """People and addresses told about incidents: executives, support, a partner.

    Subscribed per service and severity: a list is proposed for an incident when
    it names the incident's service (or no service) and its severity (or none),
    and names at least one of the two.
    """

    __tablename__ = "stakeholder_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    external: Mapped[bool] = mapped_column(default=False)  # customers, partners, regulators: not staff
    send_sms: Mapped[bool] = mapped_column(default=False)  # text members who have a phone, besides email
    severities: Mapped[list] = mapped_column(sa.JSON, default=list)  # e.g. [1, 2]; empty: any
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    members: Mapped[list["StakeholderMember"]] = relationship(
        back_populates="list", cascade="all, delete-orphan", order_by="StakeholderMember.id")
    services: Mapped[list[Service]] = relationship(secondary=stakeholder_list_services, order_by=Service.name)


class StakeholderMember(db.Model):
    """A person of ours (`user_id`: their own email and phone are used) or an outside
    address (`email` and/or `phone`)."""

    __tablename__ = "stakeholder_members"
    __table_args__ = (sa.CheckConstraint("user_id IS NOT NULL OR email <> '' OR phone <> ''",
                                         name="member_has_an_address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(sa.ForeignKey("stakeholder_lists.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(120), default="")
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    phone: Mapped[str] = mapped_column(sa.String(16), default="")

    list: Mapped[StakeholderList] = relationship(back_populates="members")
    user: Mapped[User | None] = relationship()

    @property
    def label(self) -> str:
        if self.user is not None:
            return self.user.name
        return self.name or self.email or self.phone


class WebhookKind:
    SLACK = "slack"
    TEAMS = "teams"
    GENERIC = "generic"
    ALL = ("slack", "teams", "generic")
    LABELS = {"slack": "Slack incoming webhook", "teams": "Microsoft Teams incoming webhook",
              "generic": "JSON webhook"}


class Webhook(db.Model):
    """Where updates can be posted: a Slack or Teams incoming webhook, or any URL that
    takes JSON. Every post is signed with `secret` (Standard Webhooks, `whsec_…`).
    The URL and secret are secrets: only admins see them."""

    __tablename__ = "comms_webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    url: Mapped[str] = mapped_column(sa.String(1000))
    secret: Mapped[str] = mapped_column(sa.String(300), default="")  # "" once deleted
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # Removed, not deleted: its deliveries are part of incidents' communication logs.
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def kind_label(self) -> str:
        return WebhookKind.LABELS.get(self.kind, self.kind)


class CommsUpdate(db.Model):
    """One update as sent: its words (rendered), its audiences, and whether it met the cadence."""

    __tablename__ = "comms_updates"
    __table_args__ = (sa.Index("ix_comms_updates_incident_sent", "incident_id", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    template_key: Mapped[str] = mapped_column(sa.String(60), default="")
    stage: Mapped[str] = mapped_column(sa.String(20))  # investigating, identified, monitoring, resolved
    severity: Mapped[int] = mapped_column()  # the incident's, when sent
    subject: Mapped[str] = mapped_column(sa.String(255), default="")
    body: Mapped[str] = mapped_column(sa.Text)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    sent_by: Mapped[str] = mapped_column(sa.String(200), default="")
    # The cadence: when an update was due as this one went (null: no cadence), and whether it was in time.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    on_time: Mapped[bool | None] = mapped_column()

    audiences: Mapped[list["UpdateAudience"]] = relationship(
        back_populates="update", cascade="all, delete-orphan", order_by="UpdateAudience.id")

    @property
    def audience_labels(self) -> list[str]:
        return [a.label for a in self.audiences]


class UpdateAudience(db.Model):
    """Where one update went: a stakeholder list (as outbox messages), the status page,
    or a webhook (as a delivery the engine sends)."""

    __tablename__ = "comms_update_audiences"

    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int] = mapped_column(sa.ForeignKey("comms_updates.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # stakeholders, status_page, webhook
    ref_id: Mapped[int | None] = mapped_column()      # the list's or the webhook's id
    label: Mapped[str] = mapped_column(sa.String(200))
    messages: Mapped[int] = mapped_column(default=0)  # outbox rows / deliveries made

    update: Mapped[CommsUpdate] = relationship(back_populates="audiences")


class DueState:
    PENDING = "pending"      # not yet due
    OVERDUE = "overdue"      # passed with no update (the engine said so)
    MET = "met"              # an update went (on time or late: see the update)
    CANCELLED = "cancelled"  # resolved, or the severity no longer has a cadence


class CommsDue(db.Model):
    """The next update an incident owes, by its severity's cadence.

    `next_action_at` is due work for the engine: the reminder before the due time,
    then the overdue mark. Unique per (incident, seq), so a repeated cycle never
    makes two, and each reminder's outbox key is per row and kind.
    """

    __tablename__ = "comms_dues"
    __table_args__ = (sa.UniqueConstraint("incident_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column()
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    remind_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    state: Mapped[str] = mapped_column(sa.String(10), default=DueState.PENDING)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    update_id: Mapped[int | None] = mapped_column(sa.ForeignKey("comms_updates.id", ondelete="SET NULL"))


class DeliveryStatus:
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class WebhookDelivery(db.Model):
    """One POST of one update to one webhook: due work for the engine, retried with
    backoff. `key` is unique, so deciding twice never posts twice."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (sa.Index("ix_webhook_deliveries_status_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    webhook_id: Mapped[int] = mapped_column(sa.ForeignKey("comms_webhooks.id", ondelete="CASCADE"), index=True)
    incident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    update_id: Mapped[int | None] = mapped_column(sa.ForeignKey("comms_updates.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(sa.Text)  # the JSON, exactly as signed and sent
    status: Mapped[str] = mapped_column(sa.String(10), default=DeliveryStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_code: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    webhook: Mapped[Webhook] = relationship()


class CommsPlan(db.Model):
    """An admin's communication plan for one severity (replacing the shipped one):
    `items` is a list of {"audience", "template", "within"} (minutes from detection)."""

    __tablename__ = "comms_plans"

    severity: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    items: Mapped[list] = mapped_column(sa.JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_by: Mapped[str] = mapped_column(sa.String(200), default="")


class PlanCheck(db.Model):
    """A plan item ticked by hand on an incident (sending its template ticks it too)."""

    __tablename__ = "comms_plan_checks"
    __table_args__ = (sa.UniqueConstraint("incident_id", "item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    item: Mapped[str] = mapped_column(sa.String(200))
    done_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    done_by: Mapped[str] = mapped_column(sa.String(200), default="")
