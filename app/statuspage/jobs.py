"""The status page's due work for the engine: maintenance reminders, the fan-out of
notices to subscribers, webhook deliveries, and the daily uptime roll-up."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.engine.core import Job
from app.extensions import db
from app.statuspage import maintenance, service, subscribers, uptime, webhooks
from app.statuspage.models import PageSettings


def _rollup_due(now: datetime, limit: int) -> list[int]:
    row = db.session.execute(sa.select(PageSettings.id, PageSettings.rollup_due_at)
                             .where(PageSettings.id == service.SETTINGS_ID)).first()
    if row is None or (row.rollup_due_at is not None and row.rollup_due_at > now):
        return []
    return [row.id]


def _rollup(settings_id: int, now: datetime) -> bool:
    row = db.session.get(PageSettings, settings_id)
    if row is None or (row.rollup_due_at is not None and row.rollup_due_at > now):
        return False
    zone = service.page_zone()
    written = uptime.rollup(now, zone)
    row.rollup_due_at = uptime.next_rollup_at(now, zone)
    if written:
        service.bump(now)
    return True


# Reminders and notices come before the outbox job (app.notify.dispatch) in a cycle,
# so what they enqueue leaves in the same cycle.
JOBS = [
    Job("maintenance_reminders", maintenance.due_reminders, maintenance.remind),
    Job("status_notices", subscribers.due_notices, subscribers.fan_out),
    Job("subscriber_webhooks", webhooks.due, webhooks.run),
    Job("uptime_rollup", _rollup_due, _rollup),
]
