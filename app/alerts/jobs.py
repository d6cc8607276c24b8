"""The engine's alert work: heartbeats that went silent, and old ingestion attempts."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from app.alerts import ingest
from app.alerts.models import Heartbeat, IngestAttempt
from app.engine.core import Job
from app.extensions import db

# How long the hot path's attempts are kept: a request retries its event within
# seconds of its writer dying, so a day is ample, and the table stays a day of events.
ATTEMPTS_KEPT = timedelta(days=1)
# Attempts deleted per unit (one short transaction); more go in the next cycle.
ATTEMPTS_PER_PRUNE = 5000


def _due(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(sa.select(Heartbeat.id).where(Heartbeat.due_at <= now, Heartbeat.active.is_(True))
                              .order_by(Heartbeat.due_at).limit(limit)).all()


def _miss(heartbeat_id: int, now: datetime) -> bool:
    heartbeat = db.session.get(Heartbeat, heartbeat_id)
    return heartbeat is not None and ingest.miss(heartbeat, now) is not None


def _attempts_due(now: datetime, limit: int) -> list[datetime]:
    """The cut-off, when an attempt is older than it (one unit deletes a share of them)."""
    cutoff = now - ATTEMPTS_KEPT
    expired = db.session.scalar(sa.select(IngestAttempt.id).where(IngestAttempt.created_at < cutoff).limit(1))
    return [] if expired is None else [cutoff]


def _prune_attempts(cutoff: datetime, now: datetime) -> bool:
    older = sa.select(IngestAttempt.id).where(IngestAttempt.created_at < cutoff).limit(ATTEMPTS_PER_PRUNE)
    return db.session.execute(sa.delete(IngestAttempt).where(IngestAttempt.id.in_(older))).rowcount > 0


JOBS = [Job("missed_heartbeats", _due, _miss), Job("ingest_attempts", _attempts_due, _prune_attempts)]
