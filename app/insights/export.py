"""Export: the incidents behind the metrics as CSV, one row per incident with every
milestone and every input a metric reads, so anyone can check a figure in a
spreadsheet. Exercises and incidents merged away are included, flagged, because
an analyst may want them; the metrics leave them out.

One query per batch of rows (joins and per-incident subqueries; recurrence by the
same window function the dashboard uses, once), streamed as the batches are read.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from flask import Flask

import sqlalchemy as sa

from app import clock
from app.auth.models import Team
from app.extensions import db
from app.incidents.models import Incident, IncidentEvent, Status
from app.insights import metrics
from app.insights.metrics import Filters
from app.insights.sql import seconds_between
from app.postmortems.models import ActionItem, ActionStatus, Postmortem
from app.services.models import Service
from app.triage import levels

COLUMNS = [
    "incident_id", "title", "service", "team", "severity", "initial_severity", "status", "source", "is_exercise",
    "merged_into_id", "reopened", "impact_started_at", "detected_at", "acknowledged_at", "mitigated_at",
    "resolved_at", "seconds_to_detect", "seconds_to_acknowledge", "seconds_to_mitigate", "seconds_to_resolve",
    "response_objective_seconds", "resolution_objective_seconds", "response_met", "resolution_met", "recurrence",
    "postmortem_status", "postmortem_required", "postmortem_due_on", "postmortem_published_at", "action_items",
    "action_items_done", "action_items_done_on_time", "action_items_open_overdue",
]
UNSAFE_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    """Text a spreadsheet will not run as a formula; times as ISO 8601 UTC."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return clock.utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, float):
        return f"{value:.0f}"
    text = str(value)
    return "'" + text if text.startswith(UNSAFE_START) else text


def _statement(f: Filters, today, after: tuple[datetime, int] | None, limit: int) -> sa.Select:
    items = sa.select(ActionItem.incident_id.label("incident_id"), sa.func.count().label("n"),
                      sa.func.sum(sa.case((ActionItem.status == ActionStatus.DONE, 1), else_=0)).label("done"),
                      sa.func.sum(sa.case((sa.and_(ActionItem.status == ActionStatus.DONE,
                                                   metrics.utc_date(ActionItem.done_at) <= ActionItem.due_on), 1),
                                          else_=0)).label("on_time"),
                      sa.func.sum(sa.case((sa.and_(ActionItem.status.in_((ActionStatus.OPEN, ActionStatus.IN_PROGRESS)),
                                                   ActionItem.due_on < today), 1), else_=0)).label("overdue"),
                      ).group_by(ActionItem.incident_id).subquery("items")
    reopened = sa.select(IncidentEvent.id).where(IncidentEvent.incident_id == Incident.id,
                                                 IncidentEvent.kind == "reopened").exists()
    resolved = sa.case((Incident.status == Status.RESOLVED, Incident.resolved_at), else_=None)
    stmt = (sa.select(
        Incident.id, Incident.title, Service.name, Team.name, Incident.severity, Incident.initial_severity,
        Incident.status, Incident.source, Incident.is_exercise, Incident.merged_into_id, reopened,
        Incident.impact_started_at, Incident.detected_at, Incident.acknowledged_at, Incident.mitigated_at,
        Incident.resolved_at,
        seconds_between(Incident.detected_at, Incident.impact_started_at),
        seconds_between(Incident.acknowledged_at, Incident.detected_at),
        seconds_between(Incident.mitigated_at, Incident.detected_at),
        seconds_between(resolved, Incident.detected_at),
        Postmortem.status, Postmortem.required, Postmortem.due_on, Postmortem.published_at,
        items.c.n, items.c.done, items.c.on_time, items.c.overdue)
        .join(Service, Service.id == Incident.service_id).outerjoin(Team, Team.id == Service.team_id)
        .outerjoin(Postmortem, Postmortem.incident_id == Incident.id)
        .outerjoin(items, items.c.incident_id == Incident.id)
        .where(Incident.detected_at >= f.period.start, Incident.detected_at < f.period.end, *metrics._attributes(f)))
    if after is not None:
        at, ident = after
        stmt = stmt.where(sa.or_(Incident.detected_at > at, sa.and_(Incident.detected_at == at, Incident.id > ident)))
    return stmt.order_by(Incident.detected_at, Incident.id).limit(limit)


def _row(r, model, recurrent: set[int]) -> list[str]:
    (ident, title, service, team, severity, initial, status, source, exercise, merged, reopened, impact, detected,
     acked, mitigated, resolved_at, ttd, tta, ttm, ttr, pm_status, pm_required, pm_due, pm_published,
     n_items, done, on_time, overdue) = r
    level = model[severity]
    response_s, resolution_s = level.response_minutes * 60, level.resolution_minutes * 60
    status = getattr(status, "value", status)
    responded = tta if tta is not None else (ttr if status == "resolved" else None)
    return [cell(v) for v in (
        ident, title, service, team, severity, initial, status, source, bool(exercise), merged, bool(reopened),
        impact, detected, acked, mitigated, resolved_at if status == "resolved" else None,
        ttd, tta, ttm, ttr, response_s, resolution_s,
        None if responded is None else responded <= response_s, None if ttr is None else ttr <= resolution_s,
        ident in recurrent, getattr(pm_status, "value", pm_status), pm_required, pm_due, pm_published,
        n_items or 0, done or 0, on_time or 0, overdue or 0)]


def csv_lines(app: Flask, f: Filters, now: datetime, *, batch: int = 2000) -> Iterator[str]:
    """The CSV, header first, read in batches by (detected, id): each batch is a short
    read of its own in a fresh app context, so a long download never holds a read
    transaction open, and the stream needs nothing of the request that started it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def lines(rows) -> str:
        for row in rows:
            writer.writerow(row)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return text

    yield lines([COLUMNS])
    today = now.astimezone(f.period.zone).date()
    after, recurrent = None, None
    while True:
        with app.app_context():
            if recurrent is None:
                recurrent = set(db.session.scalars(metrics.recurrent_ids(
                    Filters(f.period, team_id=f.team_id, service_id=f.service_id))))
            model = levels.current()
            found = db.session.execute(_statement(f, today, after, batch)).all()
            rows = [_row(r, model, recurrent) for r in found]
            db.session.rollback()
        if rows:
            yield lines(rows)
        if len(found) < batch:
            return
        after = (found[-1].detected_at, found[-1].id)
