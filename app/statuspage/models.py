"""The public status page: components and their history, public incidents and their
updates, subscribers, and the due rows that notify them.

Everything here is what customers may see, kept apart from the internal incident:
a public incident links to an internal one but copies nothing from it.
"""
from __future__ import annotations

import enum
import secrets
import string
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from app import clock
from app.auth.models import enum_column
from app.database import UTCDateTime
from app.extensions import db
from app.services.models import Service

_ALPHABET = string.ascii_lowercase + string.digits


def new_public_id() -> str:
    """Twelve lowercase letters and digits, the shape of a Statuspage id. Random, so
    public ids say nothing about how many incidents there were."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(12))


class ComponentStatus(enum.StrEnum):
    """Statuspage's words for a component's state."""

    OPERATIONAL = "operational"
    DEGRADED = "degraded_performance"
    PARTIAL = "partial_outage"
    MAJOR = "major_outage"
    MAINTENANCE = "under_maintenance"

    @property
    def rank(self) -> int:
        """How bad: the worst of several wins (maintenance is not an outage)."""
        return _RANK[self]

    @property
    def label(self) -> str:
        return _LABEL[self]


_RANK = {ComponentStatus.OPERATIONAL: 0, ComponentStatus.MAINTENANCE: 1, ComponentStatus.DEGRADED: 2,
         ComponentStatus.PARTIAL: 3, ComponentStatus.MAJOR: 4}
_LABEL = {ComponentStatus.OPERATIONAL: "Operational", ComponentStatus.MAINTENANCE: "Under maintenance",
          ComponentStatus.DEGRADED: "Degraded performance", ComponentStatus.PARTIAL: "Partial outage",
          ComponentStatus.MAJOR: "Major outage"}
# What an incident may say about a component it affects.
IMPACTS = (ComponentStatus.DEGRADED, ComponentStatus.PARTIAL, ComponentStatus.MAJOR)


def worst(statuses) -> ComponentStatus:
    return max((ComponentStatus(s) for s in statuses), key=lambda s: s.rank, default=ComponentStatus.OPERATIONAL)


class Stage(enum.StrEnum):
    """The public stage of an incident update."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class PageSettings(db.Model):
    """The page's one row: its name and branding, and the version every public answer
    is cached under (bumped in the same transaction as any public change)."""

    __tablename__ = "statuspage_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(12), default=new_public_id)
    name: Mapped[str] = mapped_column(sa.String(120), default="Firebreak")
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    brand_color: Mapped[str] = mapped_column(sa.String(7), default="#1f4e8c")
    about: Mapped[str] = mapped_column(sa.Text, default="")
    support_url: Mapped[str] = mapped_column(sa.String(255), default="")
    logo: Mapped[bytes | None] = deferred(mapped_column(sa.LargeBinary))
    logo_type: Mapped[str | None] = mapped_column(sa.String(40))
    logo_hash: Mapped[str | None] = mapped_column(sa.String(16))
    version: Mapped[int] = mapped_column(default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # The engine's next daily roll-up of component history.
    rollup_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


component_services = sa.Table(
    "component_services", db.metadata,
    sa.Column("component_id", sa.ForeignKey("components.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("service_id", sa.ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
)


class ComponentGroup(db.Model):
    __tablename__ = "component_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(12), unique=True, default=new_public_id)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    components: Mapped[list["Component"]] = relationship(back_populates="group",
                                                         order_by="(Component.position, Component.id)")


class Component(db.Model):
    """Something customers use. `status` is what the page shows: the worst of the
    status set by hand, the impact of open public incidents, and maintenance."""

    __tablename__ = "components"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(12), unique=True, default=new_public_id)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("component_groups.id", ondelete="SET NULL"),
                                                 index=True)
    position: Mapped[int] = mapped_column(default=0)
    status: Mapped[ComponentStatus] = enum_column(ComponentStatus, "component_status",
                                                  default=ComponentStatus.OPERATIONAL)
    manual_status: Mapped[ComponentStatus] = enum_column(ComponentStatus, "component_manual_status",
                                                         default=ComponentStatus.OPERATIONAL)
    only_show_if_degraded: Mapped[bool] = mapped_column(default=False)
    # Show its 90-day uptime bars (Statuspage's "showcase").
    showcase: Mapped[bool] = mapped_column(default=True)
    # Uptime counts from this day (else from when the component was made).
    start_date: Mapped[date | None] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    group: Mapped[ComponentGroup | None] = relationship(back_populates="components")
    services: Mapped[list[Service]] = relationship(secondary=component_services, order_by="Service.name")


class ComponentStatusRange(db.Model):
    """One stretch of time a component spent in one status; `ended_at` is None for now."""

    __tablename__ = "component_status_ranges"
    __table_args__ = (sa.Index("ix_component_status_ranges_component_started", "component_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    component_id: Mapped[int] = mapped_column(sa.ForeignKey("components.id", ondelete="CASCADE"))
    status: Mapped[ComponentStatus] = enum_column(ComponentStatus, "component_range_status")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class ComponentDay(db.Model):
    """A component's day (in the page's time zone), rolled up: seconds in each status."""

    __tablename__ = "component_days"

    component_id: Mapped[int] = mapped_column(sa.ForeignKey("components.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    operational_s: Mapped[int] = mapped_column(default=0)
    maintenance_s: Mapped[int] = mapped_column(default=0)
    degraded_s: Mapped[int] = mapped_column(default=0)
    partial_s: Mapped[int] = mapped_column(default=0)
    major_s: Mapped[int] = mapped_column(default=0)


class PublicIncident(db.Model):
    """What customers read about an incident: its own title, stage and updates."""

    __tablename__ = "public_incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(12), unique=True, default=new_public_id)
    incident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("incidents.id", ondelete="SET NULL"), unique=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[Stage] = enum_column(Stage, "public_incident_status", default=Stage.INVESTIGATING)
    # Statuspage's impact: none, minor, major, critical (from the worst component impact).
    impact: Mapped[str] = mapped_column(sa.String(12), default="none")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    monitoring_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    postmortem: Mapped[str] = mapped_column(sa.Text, default="")
    postmortem_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    updates: Mapped[list["PublicIncidentUpdate"]] = relationship(
        back_populates="incident", cascade="all, delete-orphan",
        order_by="(PublicIncidentUpdate.display_at.desc(), PublicIncidentUpdate.id.desc())")
    affected: Mapped[list["PublicIncidentComponent"]] = relationship(
        back_populates="incident", cascade="all, delete-orphan")

    @property
    def is_open(self) -> bool:
        return self.status != Stage.RESOLVED


class PublicIncidentUpdate(db.Model):
    __tablename__ = "public_incident_updates"
    __table_args__ = (sa.Index("ix_public_incident_updates_incident_at", "public_incident_id", "display_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(12), unique=True, default=new_public_id)
    public_incident_id: Mapped[int] = mapped_column(sa.ForeignKey("public_incidents.id", ondelete="CASCADE"))
    status: Mapped[Stage] = enum_column(Stage, "public_update_status")
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    display_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # [{"code", "name", "old_status", "new_status"}], as Statuspage lists them; None when none changed.
    affected_components: Mapped[list | None] = mapped_column(sa.JSON)
    deliver_notifications: Mapped[bool] = mapped_column(default=True)
    # Kept for the audit trail only; never shown publicly.
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    incident: Mapped[PublicIncident] = relationship(back_populates="updates")


class PublicIncidentComponent(db.Model):
    """A component an incident affects or affected, and its impact now (operational once over)."""

    __tablename__ = "public_incident_components"

    public_incident_id: Mapped[int] = mapped_column(sa.ForeignKey("public_incidents.id", ondelete="CASCADE"),
                                                    primary_key=True)
    component_id: Mapped[int] = mapped_column(sa.ForeignKey("components.id", ondelete="CASCADE"), primary_key=True,
                                              index=True)
    impact: Mapped[ComponentStatus] = enum_column(ComponentStatus, "public_incident_impact")

    incident: Mapped[PublicIncident] = relationship(back_populates="affected")
    component: Mapped[Component] = relationship()


maintenance_components = sa.Table(
    "maintenance_components", db.metadata,
    sa.Column("maintenance_id", sa.ForeignKey("maintenance_windows.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("component_id", sa.ForeignKey("components.id", ondelete="CASCADE"), primary_key=True),
)


class MaintenanceUpdate(db.Model):
    """A public update on a maintenance window: scheduled, in progress, verifying, completed."""

    __tablename__ = "maintenance_updates"
    __table_args__ = (sa.Index("ix_maintenance_updates_window_at", "maintenance_id", "display_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(12), unique=True, default=new_public_id)
    maintenance_id: Mapped[int] = mapped_column(sa.ForeignKey("maintenance_windows.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(20))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    display_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    affected_components: Mapped[list | None] = mapped_column(sa.JSON)
    deliver_notifications: Mapped[bool] = mapped_column(default=True)


class SubscriberChannel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"

    @property
    def label(self) -> str:
        return {"email": "Email", "sms": "SMS", "webhook": "Webhook"}[self.value]


subscriber_components = sa.Table(
    "subscriber_components", db.metadata,
    sa.Column("subscriber_id", sa.ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("component_id", sa.ForeignKey("components.id", ondelete="CASCADE"), primary_key=True),
)


class Subscriber(db.Model):
    """Someone outside who asked to hear of incidents: an email address, a phone, or a
    webhook URL (confirmed through an email address). Links in messages carry tokens
    derived from `nonce` (see subscribers.token), so nothing secret is stored for them."""

    __tablename__ = "subscribers"
    __table_args__ = (sa.UniqueConstraint("channel", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[SubscriberChannel] = enum_column(SubscriberChannel, "subscriber_channel")
    address: Mapped[str] = mapped_column(sa.String(2000))
    # Where a webhook subscription is confirmed and its failures reported.
    email: Mapped[str | None] = mapped_column(sa.String(254))
    all_components: Mapped[bool] = mapped_column(default=True)
    nonce: Mapped[str] = mapped_column(sa.String(32), default=lambda: secrets.token_hex(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Confirmation messages sent in the current hour, for the per-address limit.
    confirm_window_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirm_sends: Mapped[int] = mapped_column(default=0)
    code_hash: Mapped[str | None] = mapped_column(sa.String(64))
    code_attempts: Mapped[int] = mapped_column(default=0)
    webhook_secret: Mapped[str | None] = mapped_column(sa.String(100))  # whsec_…, made at confirmation
    consecutive_failures: Mapped[int] = mapped_column(default=0)

    components: Mapped[list[Component]] = relationship(secondary=subscriber_components, order_by="Component.position")

    @property
    def active(self) -> bool:
        return self.confirmed_at is not None and self.unsubscribed_at is None


class StatusNotice(db.Model):
    """Something subscribers should hear of, as a due row: the engine fans it out to
    the outbox (email, SMS) and to webhook deliveries in batches, so no request ever
    waits for a subscriber list."""

    __tablename__ = "status_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    # incident_update, maintenance_update, maintenance_reminder, component_update
    kind: Mapped[str] = mapped_column(sa.String(30))
    public_incident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("public_incidents.id", ondelete="CASCADE"))
    maintenance_id: Mapped[int | None] = mapped_column(sa.ForeignKey("maintenance_windows.id", ondelete="CASCADE"))
    update_id: Mapped[int | None] = mapped_column()
    component_id: Mapped[int | None] = mapped_column(sa.ForeignKey("components.id", ondelete="CASCADE"))
    # The components it concerns (subscribers to some components hear only of those).
    component_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    sms: Mapped[bool] = mapped_column(default=False)
    data: Mapped[dict | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Subscribers up to this id have been handled (batches resume from here).
    cursor: Mapped[int] = mapped_column(default=0)


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


class SubscriberDelivery(db.Model):
    """One signed POST to one webhook subscriber, retried with backoff by the engine."""

    __tablename__ = "subscriber_deliveries"
    __table_args__ = (sa.Index("ix_subscriber_deliveries_status_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    subscriber_id: Mapped[int] = mapped_column(sa.ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(sa.String(40))
    payload: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[DeliveryStatus] = enum_column(DeliveryStatus, "webhook_delivery_status",
                                                 default=DeliveryStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    response_status: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    subscriber: Mapped[Subscriber] = relationship()
