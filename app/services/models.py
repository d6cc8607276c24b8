"""Services: the things that break, who owns them, and the keys monitoring sends with."""
from __future__ import annotations

import enum
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.auth.models import Team, enum_column
from app.database import UTCDateTime
from app.extensions import db

# PagerDuty severities → Firebreak severity (1 = SEV-1); None records the alert only.
DEFAULT_SEVERITY_MAPPING: dict[str, int | None] = {
    "critical": 2,
    "error": 3,
    "warning": 4,
    "info": None,
}
EVENT_SEVERITIES = ("critical", "error", "warning", "info")


def severity_for(mapping: dict | None, event_severity: str) -> int | None:
    """The severity an event of this PagerDuty severity opens, by a service's mapping."""
    return {**DEFAULT_SEVERITY_MAPPING, **(mapping or {})}.get(event_severity)


class Service(db.Model):
    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    severity_mapping: Mapped[dict] = mapped_column(sa.JSON, default=lambda: dict(DEFAULT_SEVERITY_MAPPING))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # Alerts each open their own incident ("per_alert") or join the service's open one ("grouped").
    alert_grouping: Mapped[str] = mapped_column(sa.String(20), default="per_alert")
    # Resolve an incident when every one of its alerts has resolved.
    resolve_with_alerts: Mapped[bool] = mapped_column(default=True)
    # An acknowledged incident returns to triggered after this long (PagerDuty's 30 min).
    ack_timeout_minutes: Mapped[int | None] = mapped_column(default=30)
    # An open incident resolves itself after this long; None: never.
    auto_resolve_minutes: Mapped[int | None] = mapped_column()
    escalation_policy_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("escalation_policies.id", ondelete="SET NULL"), index=True)
    # Paged when nobody on the policy can be reached; None: every admin.
    fallback_team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"))

    team: Mapped[Team | None] = relationship(foreign_keys=[team_id])
    integration_keys: Mapped[list["IntegrationKey"]] = relationship(
        back_populates="service", cascade="all, delete-orphan", order_by="IntegrationKey.id")

    @property
    def active_keys(self) -> list["IntegrationKey"]:
        return [k for k in self.integration_keys if k.revoked_at is None]

    def severity_for(self, event_severity: str) -> int | None:
        return severity_for(self.severity_mapping, event_severity)

    def __repr__(self) -> str:
        return f"<Service {self.name}>"


def new_integration_key() -> str:
    """32 hexadecimal characters, the shape of a PagerDuty integration key."""
    return secrets.token_hex(16)


class IntegrationKey(db.Model):
    __tablename__ = "integration_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("services.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_integration_key)
    name: Mapped[str] = mapped_column(sa.String(120), default="Events API v2")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    service: Mapped[Service] = relationship(back_populates="integration_keys")

    @property
    def active(self) -> bool:
        return self.revoked_at is None


maintenance_services = sa.Table(
    "maintenance_services", db.metadata,
    sa.Column("maintenance_id", sa.ForeignKey("maintenance_windows.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("service_id", sa.ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
)


class MaintenanceState(enum.StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    VERIFYING = "verifying"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class MaintenanceWindow(db.Model):
    """Planned work. While in progress, alerts on its services open no incident."""

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[MaintenanceState] = enum_column(MaintenanceState, "maintenance_state",
                                                  default=MaintenanceState.SCHEDULED)
    # The engine's next move: the start while scheduled, the end while in progress.
    next_transition_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # The status page side (app.statuspage): announced to customers or internal only,
    # the components it puts under maintenance, and the reminder to subscribers.
    public: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    public_id: Mapped[str | None] = mapped_column(sa.String(12), unique=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    services: Mapped[list[Service]] = relationship(secondary=maintenance_services, order_by="Service.name")
    components: Mapped[list["Component"]] = relationship(  # noqa: F821 (app.statuspage.models)
        secondary="maintenance_components", order_by="(Component.position, Component.id)")

    def covers(self, at: datetime) -> bool:
        return self.state not in (MaintenanceState.CANCELLED, MaintenanceState.COMPLETED) and \
            clock.utc(self.starts_at) <= at < clock.utc(self.ends_at)
