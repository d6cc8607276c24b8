"""The engine's alert work: heartbeats that went silent."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.alerts import ingest
from app.alerts.models import Heartbeat
from app.engine.core import Job
from app.extensions import db


def _due(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(sa.select(Heartbeat.id).where(Heartbeat.due_at <= now, Heartbeat.active.is_(True))
                              .order_by(Heartbeat.due_at).limit(limit)).all()


def _miss(heartbeat_id: int, now: datetime) -> bool:
    heartbeat = db.session.get(Heartbeat, heartbeat_id)
    return heartbeat is not None and ingest.miss(heartbeat, now) is not None


JOBS = [Job("missed_heartbeats", _due, _miss)]
