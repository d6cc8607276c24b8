"""Reading the outbox: notification logs for an incident and for a person."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.notify.models import Notification


def log_for_incident(incident_id: int, limit: int = 100) -> list[Notification]:
    return db.session.scalars(
        sa.select(Notification).options(selectinload(Notification.user))
        .where(Notification.incident_id == incident_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)).all()


def log_for_user(user_id: int, limit: int = 50) -> list[Notification]:
    return db.session.scalars(
        sa.select(Notification).where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)).all()
