"""The severity model (editable by admins) and each service's impact matrix."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.auth.models import User
from app.database import UTCDateTime
from app.extensions import db


class SeverityLevel(db.Model):
    """One severity: what it means, how fast we respond and resolve, how often we
    communicate, and how deep the review goes."""

    __tablename__ = "severity_levels"
    __table_args__ = (sa.CheckConstraint("level BETWEEN 1 AND 4", name="level_range"),)

    level: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    label: Mapped[str] = mapped_column(sa.String(40))
    definition: Mapped[str] = mapped_column(sa.Text, default="")
    impact_criteria: Mapped[str] = mapped_column(sa.Text, default="")
    examples: Mapped[str] = mapped_column(sa.Text, default="")
    response_minutes: Mapped[int] = mapped_column()
    resolution_minutes: Mapped[int] = mapped_column()
    # Minutes between stakeholder updates; None: no cadence.
    update_cadence_minutes: Mapped[int | None] = mapped_column()
    postmortem: Mapped[str] = mapped_column(sa.String(12))  # required, lightweight, optional
    urgency: Mapped[str] = mapped_column(sa.String(4), default="high")
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    next_review_on: Mapped[date | None] = mapped_column(sa.Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    owner: Mapped[User | None] = relationship()


class ImpactRule(db.Model):
    """One cell of a service's severity matrix: this effect on this service is this severity."""

    __tablename__ = "impact_rules"
    __table_args__ = (sa.UniqueConstraint("service_id", "effect"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("services.id", ondelete="CASCADE"), index=True)
    effect: Mapped[str] = mapped_column(sa.String(12))  # unavailable, degraded, bug
    severity: Mapped[int] = mapped_column()
