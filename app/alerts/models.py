"""Alerts (one signal from monitoring, deduplicated), change events and heartbeats."""
from __future__ import annotations

import enum
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.auth.models import enum_column
from app.database import UTCDateTime
from app.extensions import db
from app.services.models import IntegrationKey, Service


class AlertStatus(enum.StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Alert(db.Model):
    __tablename__ = "alerts"
    __table_args__ = (
        # At most one open alert per dedup key and service: a concurrent duplicate
        # trigger fails here and folds into the winner instead of opening a second.
        sa.Index("uq_alerts_open_dedup_key", "service_id", "dedup_key", unique=True,
                 sqlite_where=sa.text("status != 'resolved'"),
                 postgresql_where=sa.text("status != 'resolved'")),
        sa.Index("ix_alerts_service_created", "service_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("services.id"))
    integration_key_id: Mapped[int | None] = mapped_column(sa.ForeignKey("integration_keys.id", ondelete="SET NULL"))
    incident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    dedup_key: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[AlertStatus] = enum_column(AlertStatus, "alert_status", default=AlertStatus.TRIGGERED)
    # Where it came from: events_v2, alertmanager, heartbeat.
    origin: Mapped[str] = mapped_column(sa.String(20), default="events_v2")
    severity: Mapped[str] = mapped_column(sa.String(10))  # critical, error, warning, info
    summary: Mapped[str] = mapped_column(sa.String(1024))
    source: Mapped[str] = mapped_column(sa.String(255), default="")
    component: Mapped[str | None] = mapped_column(sa.String(255))
    group: Mapped[str | None] = mapped_column(sa.String(255))
    class_: Mapped[str | None] = mapped_column("class", sa.String(255))
    custom_details: Mapped[dict | None] = mapped_column(sa.JSON)
    links: Mapped[list | None] = mapped_column(sa.JSON)
    images: Mapped[list | None] = mapped_column(sa.JSON)
    client: Mapped[str | None] = mapped_column(sa.String(255))
    client_url: Mapped[str | None] = mapped_column(sa.String(1024))
    # What the sender says makes two deliveries the same occurrence (Alertmanager's startsAt).
    occurrence_ref: Mapped[str | None] = mapped_column(sa.String(64))
    # Why it opened no incident: "info" severity, "maintenance", or a mapping of none.
    suppressed: Mapped[str | None] = mapped_column(sa.String(40))
    occurrences: Mapped[int] = mapped_column(default=1)
    event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    service: Mapped[Service] = relationship()
    integration_key: Mapped[IntegrationKey | None] = relationship()

    @property
    def is_open(self) -> bool:
        return self.status != AlertStatus.RESOLVED


class IngestAttempt(db.Model):
    """An event the hot path wrote, by the attempt id its request thread gave it
    (`hotpath.Job.attempt`), written in the same transaction as the event. A request
    that sent its event to be written and got no answer (the writer process died
    between the commit and the answer) looks its attempt up before writing again, and
    answers from what was written. The engine deletes rows older than
    `ATTEMPTS_KEPT` (app.alerts.jobs): a retry comes within seconds.

    Only the hot path writes these: the full path (`ingest.process`) runs in the
    request's own transaction, so its request knows whether it committed."""

    __tablename__ = "ingest_attempts"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    dedup_key: Mapped[str] = mapped_column(sa.String(255))  # the key the event was answered with
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ChangeEvent(db.Model):
    """A deploy or other change, shown on its service and on incidents that start near it."""

    __tablename__ = "change_events"
    __table_args__ = (sa.Index("ix_change_events_service_at", "service_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("services.id"))
    integration_key_id: Mapped[int | None] = mapped_column(sa.ForeignKey("integration_keys.id", ondelete="SET NULL"))
    summary: Mapped[str] = mapped_column(sa.String(1024))
    source: Mapped[str | None] = mapped_column(sa.String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime)  # when it happened (payload.timestamp)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    custom_details: Mapped[dict | None] = mapped_column(sa.JSON)
    links: Mapped[list | None] = mapped_column(sa.JSON)

    service: Mapped[Service] = relationship()


def new_heartbeat_token() -> str:
    return secrets.token_hex(16)


class HeartbeatState(enum.StrEnum):
    WAITING = "waiting"  # never pinged yet
    UP = "up"
    DOWN = "down"


class Heartbeat(db.Model):
    """A job that must check in every interval; silence past the grace raises an alert."""

    __tablename__ = "heartbeats"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("services.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    token: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_heartbeat_token)
    interval_seconds: Mapped[int] = mapped_column()
    grace_seconds: Mapped[int] = mapped_column(default=60)
    state: Mapped[HeartbeatState] = enum_column(HeartbeatState, "heartbeat_state", default=HeartbeatState.WAITING)
    last_ping_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When silence becomes an alert: last ping + interval + grace. Null while down or paused.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    service: Mapped[Service] = relationship()

    @property
    def dedup_key(self) -> str:
        return f"heartbeat:{self.id}"
