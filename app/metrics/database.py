"""The series read from the database at scrape time: the outbox, due escalations, open
incidents, the engine's lease, and the counters kept there (incidents opened, outbox
messages by outcome: app.metrics.models).

These describe shared state, so they are read where it lives rather than recorded by
whichever process changed it: the engine may run as its own process or on another
machine, and a scrape of any web process still sees its heartbeat, its last cycle and
the work it has not done yet, and counts what it sent and opened. Each is one small
query on an index (the outbox's status and due time, incidents' due escalation and
status, the lease's primary key) or of a table of a few dozen rows (the counters).

When the database does not answer, the scrape still succeeds with
`firebreak_database_up 0` and without these series, so Prometheus sees the outage
instead of a failed target.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from app import clock, metrics
from app.engine.core import LEASE_NAME, wall_now
from app.engine.models import EngineLease
from app.extensions import db
from app.incidents.models import OPEN_STATUSES, Incident
from app.metrics.models import MetricCount
from app.notify.models import Notification, Status

WAITING = (Status.QUEUED, Status.SENDING)  # in the outbox, not done
_leases = EngineLease.__table__


class DatabaseCollector:
    """A prometheus_client collector; `collect` runs in the scrape's app context."""

    def collect(self) -> Iterator[Metric]:
        now = clock.now()  # due work is due by the app's clock; the lease keeps wall-clock time
        try:
            families = [*counts(), *outbox(now), *escalations(now), *open_incidents(), *lease(wall_now())]
        except sa.exc.SQLAlchemyError:
            db.session.rollback()
            yield _gauge("firebreak_database_up", "Whether the database answered this scrape's queries.", 0)
            return
        yield _gauge("firebreak_database_up", "Whether the database answered this scrape's queries.", 1)
        yield from families


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _age(now: datetime, oldest: datetime | None) -> float:
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0


def counts() -> list[Metric]:
    """The counters of metric_counts, each family there even before its first count."""
    families = {name: CounterMetricFamily(name, documentation, labels=labels)
                for name, (documentation, labels) in metrics.COUNTED.items()}
    for name, labels, value in db.session.execute(sa.select(MetricCount.name, MetricCount.labels,
                                                            MetricCount.value)).all():
        if name in families:  # one a later release counts stays out until this one knows it
            families[name].add_metric(labels.split(metrics.LABEL_SEPARATOR), value)
    return list(families.values())


def outbox(now: datetime) -> list[Metric]:
    waiting = dict(db.session.execute(sa.select(Notification.status, sa.func.count())
                                      .where(Notification.status.in_(WAITING)).group_by(Notification.status)).all())
    due, oldest = db.session.execute(sa.select(sa.func.count(), sa.func.min(Notification.next_attempt_at)).where(
        Notification.status.in_(WAITING), Notification.next_attempt_at <= now)).one()
    messages = GaugeMetricFamily("firebreak_outbox_messages", "Messages in the outbox not yet done: queued "
                                 "(waiting for their time) or sending (claimed by the engine).", labels=["status"])
    for status in WAITING:
        messages.add_metric([status.value], waiting.get(status, 0))
    return [messages,
            _gauge("firebreak_outbox_due_messages", "Messages whose time to be sent has come.", due),
            _gauge("firebreak_outbox_oldest_due_age_seconds", "How long the oldest due message has waited "
                   "(0 when none is due).", _age(now, oldest))]


def escalations(now: datetime) -> list[Metric]:
    due, oldest = db.session.execute(sa.select(sa.func.count(), sa.func.min(Incident.next_escalation_at))
                                     .where(Incident.next_escalation_at <= now)).one()
    return [_gauge("firebreak_escalations_due", "Incidents whose next escalation step is due.", due),
            _gauge("firebreak_escalations_oldest_due_age_seconds", "How long the oldest due escalation step "
                   "has waited (0 when none is due).", _age(now, oldest))]


def open_incidents() -> list[Metric]:
    counts = db.session.execute(sa.select(Incident.status, Incident.severity, sa.func.count())
                                .where(Incident.status.in_(OPEN_STATUSES))
                                .group_by(Incident.status, Incident.severity)).all()
    family = GaugeMetricFamily("firebreak_incidents_open", "Incidents not resolved, by status and severity.",
                               labels=["status", "severity"])
    for status, severity, count in counts:
        family.add_metric([status.value, str(severity)], count)
    return [family]


def lease(now: datetime) -> list[Metric]:
    """The engine's lease row: who holds it, how fresh its heartbeat is, its cycles."""
    row = db.session.execute(sa.select(_leases).where(_leases.c.name == LEASE_NAME)).first()
    held = row is not None and row.expires_at > now
    families: list[Metric] = [_gauge("firebreak_engine_lease_held", "Whether an engine holds an unexpired "
                                     "lease.", int(held))]
    if row is None:
        return families
    holder = GaugeMetricFamily("firebreak_engine_lease_holder", "The engine holding the lease "
                               "(host:pid:random); its value is 1 while held.", labels=["holder"])
    holder.add_metric([row.holder], int(held))
    cycles = CounterMetricFamily("firebreak_engine_cycles", "Engine cycles recorded on the lease, by every "
                                 "holder.", value=row.cycles)
    return [*families, holder, cycles,
            _gauge("firebreak_engine_lease_epoch", "Bumped on every change of holder: its increase counts "
                   "takeovers.", row.epoch),
            _gauge("firebreak_engine_heartbeat_age_seconds", "Time since the engine last proved it holds the "
                   "lease (every unit of work and every cycle): how far behind it is.", _age(now, row.heartbeat_at)),
            _gauge("firebreak_engine_last_cycle_duration_seconds", "How long the engine's last recorded cycle "
                   "took.", row.last_cycle_ms / 1000),
            _gauge("firebreak_engine_last_cycle_failed", "1 when a job of the last recorded cycle failed "
                   "(the error is in the engine's log).", int(row.last_error is not None))]
