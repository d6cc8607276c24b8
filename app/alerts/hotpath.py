"""The hot path of ingestion: PagerDuty triggers and resolves, many at a time, with
SQLAlchemy Core.

Three kinds of event make nearly all the traffic of a bad day: a repeat of an open
alert (an alert storm: one more occurrence, seen now, the latest details), a fresh
dedup key on a service that opens an incident per alert (a new problem), and the
resolve of an open alert (with its last open alert, its incident resolves). `apply`
writes a list of such events, in arrival order, with a fixed number of statements
whatever the list's length: the route of each integration key, the open alerts the
keys name, one INSERT each for incidents, alerts, timeline entries and audit entries,
one UPDATE per alert that repeats fold into (one statement for all of them, the
alerts just opened included), and for resolves a few statements for all of them
(`_resolve`: the alerts, their incidents, pages not yet sent, updates owed, survey
rounds). The rows are the full path's, from the same builders (`ingest.new_alert`,
`incidents.new_incident`, `event_values`, `incidents.audit_values`,
`incidents.resolved_values`, `incidents.resolved_text`); tests hold the two paths equal column by column, and
batches equal to the same events applied one at a time.

Idempotence. Each event it writes is recorded with its attempt id in the same
transaction (one INSERT into `ingest_attempts` for the batch). A try that may repeat
a committed one (`Job.unsure`: its writer process died before answering) is first
looked up there and answered from what was written. Only the hot path keeps that
table (the full path's request knows whether it committed): a comparison of the two
paths leaves it out.

What it cannot decide alone it leaves untouched for the full path
(`ingest.process`), which decides everything anew: an unknown or revoked key, a
maintenance window, grouped alerts, a severity that opens nothing, an alert held by a
window, an event naming its impact, a duplicate delivery, an acknowledge, the resolve
of an alert opened in the same batch, and a trigger after its key's resolve in the
same batch (and the later events on those keys, once the batch is in).

Order. The events of one batch arrived together: none was answered before another
was sent, so any order of them is one their senders could have seen. The batch
writes its own in arrival order; those it leaves follow it, each on its request's
thread, in the order those threads come to them. So the outcome is always that of
some order of the events: a grouped service's new alert left to the full path after
the resolve of its incident's last alert in the batch opens a new incident, as it
would have had it come a moment later.

`GroupCommit` lets a process's request threads share one write transaction: the
first to arrive writes everything queued (its own event and those that came while
the previous batch was being written) and commits once; the others wait for that
commit, then answer. An event is answered only once its batch is committed, so
nothing is acknowledged that a crash could lose, and there is no queue left to
drain. On SQLite, which takes one writer at a time, this turns a thread's queue for
the write lock into one transaction for all: the lock, BEGIN, COMMIT and each
statement's cost are paid once per batch instead of once per event.
"""
from __future__ import annotations

import enum
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from app import clock, metrics
from app.alerts import ingest
from app.alerts.models import AlertStatus, IngestAttempt
from app.audit.models import AuditEntry
from app.extensions import db
from app.incidents import service as incidents
from app.comms import cadence
from app.incidents.models import EventKind, Incident, IncidentEvent, Status
from app.insights import surveys
from app.notify import paging
from app.incidents.timeline import event_values
from app.services.models import IntegrationKey, Service, severity_for

log = logging.getLogger(__name__)

_alerts = ingest.ALERTS
_incidents = Incident.__table__
_attempts = IngestAttempt.__table__

# A batch is what queued while the previous one was written: at most one per thread
# of the process, so this bound matters only under a flood of threads.
MAX_BATCH = 200
# Keys asked for in one IN list.
KEYS_PER_QUERY = 500
# PostgreSQL: how long a batch waits for a row lock before it gives up.
LOCK_TIMEOUT_MS = 2000


# PostgreSQL's lock_not_available (LOCK_TIMEOUT_MS passed) and deadlock_detected.
NOT_GRANTED = {"55P03": "waited too long for a row lock", "40P01": "was chosen to break a deadlock"}


def lock_not_granted(error: BaseException) -> str | None:
    """Why PostgreSQL refused this batch a row lock, or None: another transaction held
    an alert or incident the batch writes (too long, or in a cycle with it). Nothing is
    wrong; the events go again."""
    if isinstance(error, sa.exc.OperationalError):
        return NOT_GRANTED.get(getattr(error.orig, "sqlstate", None))
    return None


class Stale(Exception):
    """What the batch read changed before it wrote (another transaction resolved an
    alert it folds into): the batch is rolled back and its events go again."""


def eligible(event: ingest.AlertEvent) -> bool:
    """Whether the hot path may take this event (it may still leave it to the full path)."""
    return (event.action in ("trigger", "resolve") and len(event.routing_key) == 32 and not event.impact
            and not event.occurrence_ref)


class JobState(enum.Enum):
    """What became of a job's event."""

    WRITTEN = "written"  # committed: answer with the job's `dedup_key`
    FULL = "full"        # its batch committed, this event untouched: take the full path
    FAILED = "failed"    # its batch was rolled back (nothing of it was written), or no answer came: try again


@dataclass
class Job:
    """One event on its way through a batch, and what became of it (`state`).

    `attempt` is given where the event is received and stays with it through every
    try: the transaction that writes the event records it (`IngestAttempt`). `unsure`
    says a try may have committed without the job hearing so (its writer process
    died before answering, a commit raised): the next try looks the attempt up first
    and, if it was written, answers from it instead of writing the event again."""

    event: ingest.AlertEvent
    ip: str | None
    dedup_key: str | None = None
    state: JobState = JobState.FAILED
    attempt: str = field(default_factory=lambda: uuid.uuid4().hex)
    unsure: bool = False
    lead: bool = False
    # Held until the job is settled or handed the lead: a bare lock is the cheapest
    # thing a thread can wait on (a threading.Event is a Condition written in Python).
    done: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.done.acquire()

    def wait(self) -> None:
        self.done.acquire()

    def settle(self) -> None:
        self.done.release()


# --- the statements ---------------------------------------------------------------

_ROUTE = (
    sa.select(Service.id, Service.name, Service.severity_mapping, Service.alert_grouping, Service.auto_resolve_minutes,
              IntegrationKey.id.label("key_id"), IntegrationKey.name.label("key_name"),
              ingest.maintenance_at(Service.id, sa.bindparam("now")).exists().label("held"))
    .join(Service, Service.id == IntegrationKey.service_id).where(*ingest.routable(sa.bindparam("routing_key"))))
_OPEN = sa.select(_alerts.c.id, _alerts.c.dedup_key, _alerts.c.suppressed, _alerts.c.origin).where(
    _alerts.c.service_id == sa.bindparam("service_id"),
    _alerts.c.dedup_key.in_(sa.bindparam("keys", expanding=True)),
    _alerts.c.status != AlertStatus.RESOLVED.value)
# A fold of n repeats at once: n more occurrences, and the last repeat's details
# (its links and images only where it sent some, as one fold at a time would leave them).
# The alert must still be open and not held by a window: on PostgreSQL another
# transaction may resolve it between the read above and this write.
_FOLD_MANY = (sa.update(_alerts)
              .where(_alerts.c.id == sa.bindparam("p_alert_id"), _alerts.c.status != AlertStatus.RESOLVED.value,
                     sa.or_(_alerts.c.suppressed.is_(None), _alerts.c.suppressed != "maintenance"))
              .values({**ingest.FOLD, "occurrences": _alerts.c.occurrences + sa.bindparam("p_n")}))


# --- one batch --------------------------------------------------------------------

class _Fold:
    """Repeats of one alert in a batch, folded into it by one UPDATE: an alert already
    open, or one this batch opens (its id known once it is inserted)."""

    def __init__(self, alert_id: int | None):
        self.alert_id, self.n, self.last, self.links, self.images = alert_id, 0, None, None, None

    def add(self, event: ingest.AlertEvent) -> None:
        self.n += 1
        self.last = event
        self.links = event.links or self.links
        self.images = event.images or self.images

    def params(self, now: datetime) -> dict:
        params = ingest.fold_params(self.last, now)
        return {**params, "p_links": self.links, "p_images": self.images, "p_alert_id": self.alert_id, "p_n": self.n}


class _New:
    """An alert opened in this batch (with its incident), as its first event made it,
    and the repeats that follow it in the batch (folded in once it is written)."""

    def __init__(self, order: int, incident: dict, alert: dict, actor, origin: str, service_name: str):
        self.order, self.incident, self.alert, self.actor, self.origin = order, incident, alert, actor, origin
        self.service_name = service_name
        self.repeats = _Fold(None)


class _Resolved:
    """An open alert that a resolve in this batch resolves (its incident and summary
    as the resolve finds them, after the batch's repeats)."""

    def __init__(self, order: int, alert, actor):
        self.order, self.alert_id, self.origin, self.actor = order, alert.id, alert.origin, actor
        self.incident_id: int | None = None
        self.summary = ""


def _routes(connection, jobs: list[Job], now: datetime) -> dict:
    found = {}
    for routing_key in dict.fromkeys(job.event.routing_key for job in jobs):
        found[routing_key] = connection.execute(_ROUTE, {"routing_key": routing_key, "now": now}).first()
    return found


def _open_alerts(connection, jobs: list[Job], routes: dict) -> dict:
    """(service id, dedup key) → the open alert (a row of `_OPEN`) for the keys the batch names."""
    wanted: dict[int, set[str]] = {}
    for job in jobs:
        route = routes[job.event.routing_key]
        if route is not None and job.event.dedup_key:
            wanted.setdefault(route.id, set()).add(job.event.dedup_key)
    found = {}
    for service_id, keys in wanted.items():
        keys = sorted(keys)
        for start in range(0, len(keys), KEYS_PER_QUERY):
            rows = connection.execute(_OPEN, {"service_id": service_id, "keys": keys[start:start + KEYS_PER_QUERY]})
            found.update({(service_id, row.dedup_key): row for row in rows})
    return found


_ATTEMPTS_OF = sa.select(_attempts.c.id, _attempts.c.dedup_key).where(
    _attempts.c.id.in_(sa.bindparam("p_ids", expanding=True)))


def _not_written(connection, jobs: list[Job]) -> list[Job]:
    """The jobs still to write. An unsure job whose attempt an earlier try committed is
    answered from it (its `dedup_key`) and left out."""
    unsure = [job.attempt for job in jobs if job.unsure]
    if not unsure:
        return jobs
    written = dict(connection.execute(_ATTEMPTS_OF, {"p_ids": unsure}).all())
    if not written:
        return jobs
    for job in jobs:
        if job.attempt in written:
            job.dedup_key = written[job.attempt]
    return [job for job in jobs if job.attempt not in written]


def apply(jobs: list[Job]) -> None:
    """Write what the hot path can of these events, in the caller's transaction, each
    with its attempt (`IngestAttempt`).

    Sets `dedup_key` on each job it wrote, or that an earlier try wrote; leaves the
    others (`dedup_key` None) to the full path. Raises what the database raises (the
    caller rolls back the batch)."""
    now = clock.now()
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        # A batch that waits on a row lock holds up every event queued behind it: give up
        # soon instead, and let each event go again alone.
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
    jobs = _not_written(connection, jobs)
    routes = _routes(connection, jobs, now)
    open_ = _open_alerts(connection, jobs, routes)
    folds: dict[int, _Fold] = {}
    new: dict[tuple[int, str], _New] = {}
    resolved: dict[tuple[int, str], _Resolved] = {}
    left: set[tuple[int, str]] = set()  # keys left to the full path: later events on them follow them there
    for order, job in enumerate(jobs):
        event = job.event
        route = routes[event.routing_key]
        if route is None:
            continue
        at = (route.id, event.dedup_key)
        if event.dedup_key and at in left:
            continue
        if event.action == "resolve":
            if at in new:  # opened in this batch: the full path resolves it once the batch is in
                left.add(at)
                continue
            if at in open_ and at not in resolved:
                actor = ingest.integration_actor(event.origin, route.key_name, route.name, job.ip)
                resolved[at] = _Resolved(order, open_[at], actor)
            # else nothing open on the key (or resolved earlier in the batch): accepted, and nothing changes
            job.dedup_key = event.dedup_key
            continue
        if at in resolved:  # fires again after its resolve in this batch: the full path opens the new alert
            left.add(at)
            continue
        if event.dedup_key and at in new:
            new[at].repeats.add(event)
            job.dedup_key = event.dedup_key
            continue
        if event.dedup_key and at in open_:
            alert_id, suppressed = open_[at].id, open_[at].suppressed
            if suppressed == "maintenance":  # the window may have ended: the full path decides
                left.add(at)
                continue
            folds.setdefault(alert_id, _Fold(alert_id)).add(event)
            job.dedup_key = event.dedup_key
            continue
        severity = severity_for(route.severity_mapping, event.severity)
        if route.held or severity is None or route.alert_grouping == "grouped":
            if event.dedup_key:
                left.add(at)
            continue
        dedup_key = event.dedup_key or ingest.new_dedup_key()
        actor = ingest.integration_actor(event.origin, route.key_name, route.name, job.ip)
        incident = incidents.new_incident(actor, service=route, title=event.summary, severity=severity, now=now,
                                          source="alert", impact_started_at=event.timestamp, respond_later=True)
        incident["version"] = 2  # the two timeline entries below, as `record_event` counts them
        incident["status"] = incident["status"].value
        alert = ingest.new_alert(event, route.id, route.key_id, dedup_key, now)
        alert["status"] = alert["status"].value
        alert["class"] = alert.pop("class_")
        new[(route.id, dedup_key)] = _New(order, incident, alert, actor, event.origin, route.name)
        job.dedup_key = dedup_key
    written = _Written()
    if new:
        opened = list(new.values())
        _insert(connection, opened, now, written)
        folds.update({item.repeats.alert_id: item.repeats for item in opened if item.repeats.n})
    if connection.dialect.name == "postgresql" and (folds or resolved):
        # Every alert the batch changes, locked at once in id order: two batches that fold
        # into and resolve the same alerts then wait for each other instead of deadlocking.
        connection.execute(_LOCK_ALERTS, {"p_ids": sorted({*folds, *(item.alert_id for item in resolved.values())})})
    if folds:
        params = [fold.params(now) for _, fold in sorted(folds.items())]
        if connection.execute(_FOLD_MANY, params).rowcount != len(params):
            raise Stale("an alert was resolved or held while its repeats were being folded")
    if resolved:  # after the folds: a repeat that came before its resolve counts
        _resolve(connection, list(resolved.values()), now, written)
    written.insert(connection)
    attempts = [{"id": job.attempt, "dedup_key": job.dedup_key, "created_at": now} for job in jobs if job.dedup_key]
    if attempts:
        _insert_rows(connection, _attempts, attempts)


# Resolves, as `ingest._resolve` and `incidents.resolve` make them (a test holds the two
# paths equal column by column).
_NOW = sa.bindparam("p_now", type_=_incidents.c.updated_at.type)
_LOCK_ALERTS = (sa.select(_alerts.c.id).where(_alerts.c.id.in_(sa.bindparam("p_ids", expanding=True)))
                .order_by(_alerts.c.id).with_for_update())
# The incident and summary as they are now: a merge may have moved the alert, a repeat
# earlier in the batch may have changed its summary.
_RESOLVE_ALERTS = (sa.update(_alerts)
                   .where(_alerts.c.id.in_(sa.bindparam("p_ids", expanding=True)),
                          _alerts.c.status != AlertStatus.RESOLVED.value)
                   .values(status=AlertStatus.RESOLVED.value, resolved_at=_NOW)
                   .returning(_alerts.c.id, _alerts.c.incident_id, _alerts.c.summary))
# Locked (PostgreSQL; SQLite's writers take turns anyway) before the batch asks which
# of their alerts are still open: two batches resolving an incident's last two alerts
# at once then see each other's, and the second resolves it.
_INCIDENTS_OF = (sa.select(_incidents.c.id, _incidents.c.status, Service.resolve_with_alerts)
                 .join(Service, Service.id == _incidents.c.service_id)
                 .where(_incidents.c.id.in_(sa.bindparam("p_ids", expanding=True)))
                 .order_by(_incidents.c.id).with_for_update(of=_incidents))
_STILL_OPEN = (sa.select(_alerts.c.incident_id).distinct()
               .where(_alerts.c.incident_id.in_(sa.bindparam("p_ids", expanding=True)),
                      _alerts.c.status != AlertStatus.RESOLVED.value))
# An incident that keeps other alerts open: its timeline has more (`record_event` counts).
_TOUCH = (sa.update(_incidents)
          .where(_incidents.c.id == sa.bindparam("p_id"), _incidents.c.status != Status.RESOLVED.value)
          .values(version=_incidents.c.version + sa.bindparam("p_n"), updated_at=_NOW))
# An incident whose last alert resolves: `incidents.resolve`, its columns
# (`incidents.resolved_values`, its escalation stopped with them) and its timeline's
# count in one UPDATE. What it reaches in other domains is each domain's own
# statement, made once for every incident the batch resolves, as `incidents.resolve`
# makes it for one: its other alerts, its pages not yet sent, its updates owed, its
# survey round.
_RESOLVE_INCIDENT = (
    sa.update(_incidents)
    .where(_incidents.c.id == sa.bindparam("p_id"), _incidents.c.status == sa.bindparam("p_before"))
    .values({**incidents.resolved_values(_NOW, sa.bindparam("p_by", type_=_incidents.c.resolved_by_id.type)),
             "version": _incidents.c.version + sa.bindparam("p_n"), "updated_at": _NOW}))
_IDS = sa.bindparam("p_ids", expanding=True)
_RESOLVE_ALL_ALERTS = incidents.resolve_alerts_of(_IDS, _NOW)
_CANCEL_PAGES = paging.stop_unsent_pages(_IDS)
_CANCEL_DUES = cadence.cancel_pending_dues(_IDS)


class _Written:
    """The timeline and audit entries a batch writes, inserted together once its
    incidents and alerts are in, in the order of the events that made them: so each
    gets the id it would get were the batch's events written one at a time."""

    def __init__(self):
        self.entries: list[tuple[int, dict]] = []
        self.audits: list[tuple[int, dict]] = []

    def insert(self, connection) -> None:
        # Sorted by event, stably: an event's own entries keep their order.
        if self.entries:
            _insert_rows(connection, IncidentEvent.__table__, [row for _, row in sorted(self.entries, key=_first)])
        if self.audits:
            _insert_rows(connection, AuditEntry.__table__, [row for _, row in sorted(self.audits, key=_first)])


def _first(pair: tuple) -> int:
    return pair[0]


def _resolve(connection, items: list[_Resolved], now: datetime, written: _Written) -> None:
    """Resolve the batch's open alerts, in arrival order, and with the last open alert
    of an incident (on a service that resolves incidents with their alerts) the
    incident: timeline, audit, pages not yet sent, updates owed, the survey round."""
    found = {row.id: row for row in connection.execute(_RESOLVE_ALERTS, {"p_ids": [item.alert_id for item in items],
                                                                         "p_now": now})}
    if len(found) != len(items):
        raise Stale("an alert was resolved while the batch resolved it")
    by_incident: dict[int, list[_Resolved]] = {}
    for item in items:
        item.incident_id, item.summary = found[item.alert_id].incident_id, found[item.alert_id].summary
        if item.incident_id is not None:  # an alert held by a window or a mapping has none
            by_incident.setdefault(item.incident_id, []).append(item)
    if not by_incident:
        return
    ids = sorted(by_incident)
    incidents_ = {row.id: row for row in connection.execute(_INCIDENTS_OF, {"p_ids": ids})}
    still_open = set(connection.execute(_STILL_OPEN, {"p_ids": ids}).scalars())
    entries, audits, touched, resolving = written.entries, written.audits, [], []
    for incident_id in ids:
        row = incidents_[incident_id]
        if row.status == Status.RESOLVED:  # an alert left open on a resolved incident: only the alert
            continue
        for item in by_incident[incident_id]:
            entries.append((item.order, {"incident_id": incident_id, **event_values(
                EventKind.ALERT_RESOLVED, item.actor, via=item.origin, at=now,
                **ingest.alert_resolved_event(item.alert_id, item.summary))}))
        n = len(by_incident[incident_id])
        if not row.resolve_with_alerts or incident_id in still_open:
            touched.append({"p_id": incident_id, "p_n": n, "p_now": now})
            continue
        last, before = by_incident[incident_id][-1], Status(row.status).value
        entries.append((last.order, {"incident_id": incident_id, **event_values(
            EventKind.RESOLVED, last.actor, via=last.origin, at=now,
            text=incidents.resolved_text(last.actor, ingest.RESOLVED_WITH_ALERTS))}))
        audits.append((last.order, incidents.audit_values(last.actor, "resolve", incident_id,
                                                          **incidents.resolved_audit(last.origin, before))))
        resolving.append({"p_id": incident_id, "p_before": before, "p_n": n + 1, "p_now": now,
                          "p_by": last.actor.user.id if last.actor.user else None})
    if touched and connection.execute(_TOUCH, touched).rowcount != len(touched):
        raise Stale("an incident was resolved while the batch resolved one of its alerts")
    if resolving:
        if connection.execute(_RESOLVE_INCIDENT, resolving).rowcount != len(resolving):
            raise Stale("an incident changed while the batch resolved it")
        done = [item["p_id"] for item in resolving]
        connection.execute(_RESOLVE_ALL_ALERTS, {"p_ids": done, "p_now": now})
        connection.execute(_CANCEL_PAGES, {"p_ids": done})
        connection.execute(_CANCEL_DUES, {"p_ids": done})
        surveys.open_rounds(connection, done, now)


class _WholeRows:
    """An INSERT of whole rows for SQLite: every column, bound by SQLAlchemy's own
    processors (so values are stored exactly as its statements store them), without
    its per-row statement machinery, which cost more than the rows' SQL. A column a
    row leaves out gets its scalar default, or SQL NULL (not JSON 'null', which is
    what a JSON column makes of a None given); a key that names no column, or a
    missing column only a callable or the database could fill, is an error rather
    than a silent NULL.

    The rows go in as multi-row `INSERT … VALUES (…), (…)` statements of a power of
    two rows each (at most 64, and no more than SQLite's limit on parameters allows:
    a handful of statement texts to keep prepared). An executemany steps SQLite once
    per row, and the sqlite3 module lets go of the interpreter lock around every
    step: with the request threads of a busy worker waiting for that lock, each row
    cost the writer a hand-over and its context switches. A batch's rows share their
    times (`now`), so each distinct time is processed once per call."""

    CHUNK = 64  # rows per statement at most; a power of two

    def __init__(self, table: sa.Table):
        self.table = table
        self.prepared = False
        self.sql: dict[int, str] = {}

    def _prepare(self, connection) -> None:
        dialect = connection.dialect
        columns = list(self.table.columns)
        quote = dialect.identifier_preparer.quote
        self.keys = [column.key for column in columns]
        self.keyset = frozenset(self.keys)
        self.processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns]
        self.defaults = [column.default.arg if column.default is not None and column.default.is_scalar else None
                         for column in columns]
        # Rows must carry what a callable default or the database's own default would fill.
        self.required = {column.key for column in columns
                         if (column.default is not None and not column.default.is_scalar)
                         or (column.default is None and column.server_default is not None)}
        self.head = f"INSERT INTO {quote(self.table.name)} ({', '.join(quote(c.name) for c in columns)}) VALUES "
        self.row_marks = f"({', '.join('?' * len(columns))})"
        # SQLite's limit on parameters per statement: 32,766 since 3.32, 999 before.
        limit = connection.connection.driver_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        if len(columns) > limit:
            raise ValueError(f"{self.table.name}: {len(columns)} columns, more than SQLite's {limit} parameters")
        self.chunk = self.CHUNK
        while self.chunk * len(columns) > limit:
            self.chunk //= 2
        self.prepared = True

    def _sql(self, rows: int) -> str:
        sql = self.sql.get(rows)
        if sql is None:
            sql = self.sql[rows] = self.head + ", ".join([self.row_marks] * rows)
        return sql

    def run(self, connection, rows: list[dict]) -> None:
        if not self.prepared:
            self._prepare(connection)
        params: list = []
        done: dict = {}  # (column, time, offset) → stored value: a batch's rows share their times
        for row in rows:
            missing, unknown = self.required.difference(row), set(row).difference(self.keyset)
            if missing or unknown:
                raise ValueError(f"{self.table.name}: a row without {sorted(missing)} or with {sorted(unknown)}")
            for index, (key, process, default) in enumerate(zip(self.keys, self.processors, self.defaults)):
                if key in row:
                    value = row[key]
                elif default is None:  # left out, as SQLAlchemy leaves it out: NULL, even for JSON
                    params.append(None)
                    continue
                else:
                    value = default
                if process is None:
                    params.append(value)
                elif isinstance(value, datetime):
                    # Times compare by wall clock within one zone (fold aside): with the
                    # offset, two that would be stored differently are told apart.
                    seen = (index, value, value.utcoffset())
                    stored = done.get(seen)
                    if stored is None:
                        stored = done[seen] = process(value)
                    params.append(stored)
                else:
                    params.append(process(value))
        width, start, count = len(self.keys), 0, len(rows)
        chunk = self.chunk
        while count:
            while chunk > count:
                chunk //= 2
            connection.exec_driver_sql(self._sql(chunk), tuple(params[start * width:(start + chunk) * width]))
            start, count = start + chunk, count - chunk


_WHOLE_ROWS = {table.name: _WholeRows(table) for table in (_incidents, _alerts, IncidentEvent.__table__,
                                                             AuditEntry.__table__, _attempts)}


def _insert_rows(connection, table: sa.Table, rows: list[dict]) -> None:
    if connection.dialect.name == "sqlite":
        _WHOLE_ROWS[table.name].run(connection, rows)
    else:
        connection.execute(sa.insert(table), rows)


def _insert_many(connection, table: sa.Table, rows: list[dict]) -> list[int]:
    """Insert rows, returning their ids in order.

    SQLite: the write lock is held from BEGIN IMMEDIATE, so the next ids are known
    (a table without AUTOINCREMENT gives max(id) + 1) and `_WholeRows` writes them
    all; asking SQLite to return ids in order would cost a statement per row. Other
    databases return them in order from one statement."""
    if connection.dialect.name == "sqlite":
        first = (connection.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0) + 1
        ids = list(range(first, first + len(rows)))
        _insert_rows(connection, table, [{**row, "id": id_} for row, id_ in zip(rows, ids, strict=True)])
        return ids
    statement = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(connection.execute(statement, rows).scalars())


def _insert(connection, opened: list[_New], now: datetime, written: _Written) -> None:
    incident_ids = _insert_many(connection, _incidents, [item.incident for item in opened])
    for item, incident_id in zip(opened, incident_ids, strict=True):
        item.alert["incident_id"] = incident_id
    alert_ids = _insert_many(connection, _alerts, [item.alert for item in opened])
    for item, incident_id, alert_id in zip(opened, incident_ids, alert_ids, strict=True):
        item.repeats.alert_id = alert_id
        triggered = ingest.triggered_event(alert_id, item.alert)
        written.entries.append((item.order, {"incident_id": incident_id, **event_values(
            EventKind.OPENED, item.actor, via=item.origin, at=now,
            **incidents.opened_event(item.incident, item.service_name))}))
        written.entries.append((item.order, {"incident_id": incident_id, **event_values(
            EventKind.ALERT_TRIGGERED, item.actor, via=item.origin, at=now, **triggered)}))
        written.audits.append((item.order, incidents.audit_values(
            item.actor, "open", incident_id, **incidents.opened_audit(item.incident, item.service_name))))
        metrics.incident_opened(item.incident["severity"], item.incident["source"])


# --- group commit -----------------------------------------------------------------

class GroupCommit:
    """One write transaction for the hot-path events of a process's threads.

    `run(job)` returns once the job's batch is committed (or rolled back). The thread
    that finds nobody writing leads: it takes the queue (its own job first), applies
    it, commits, hands the lead to the first job that queued meanwhile and wakes the
    rest. Every job of a batch is settled in a `finally`, so no thread waits forever
    on a leader that failed.
    """

    def __init__(self, max_batch: int = MAX_BATCH, write: Callable[[list[Job]], None] | None = None):
        self.max_batch = max_batch
        self.write = write or write_batch
        self._lock = threading.Lock()
        self._queue: list[Job] = []
        self._busy = False

    def run(self, job: Job) -> None:
        with self._lock:
            self._queue.append(job)
            lead = not self._busy
            self._busy = True
        if not lead:
            job.wait()
            if not job.lead:
                return
        self._lead()

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
        try:
            self.write(batch)
        except (sa.exc.IntegrityError, Stale) as error:
            # PostgreSQL: another process opened one of the keys, or resolved an alert, first.
            log.info("an ingestion batch of %d events met a concurrent change (%s); each goes again alone",
                     len(batch), type(error).__name__)
        except sa.exc.OperationalError as error:
            why = lock_not_granted(error)
            if why is None:
                log.warning("an ingestion batch of %d events was rolled back; each is tried again alone",
                            len(batch), exc_info=True)
            else:
                log.info("an ingestion batch of %d events %s; each goes again alone", len(batch), why)
        except Exception:
            log.warning("an ingestion batch of %d events was rolled back; each is tried again alone", len(batch),
                        exc_info=True)
        else:
            for job in batch:
                job.state = JobState.WRITTEN if job.dedup_key else JobState.FULL
        finally:
            for job in batch:
                if job.state is JobState.FAILED:  # rolled back, however: no key may claim it was written
                    job.dedup_key = None
                    job.unsure = True  # unless its commit raised having committed: look before writing again
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.settle()
                else:
                    self._busy = False
            for job in batch:
                if not job.lead:  # a job handed the lead was woken already
                    job.settle()


def write_batch(batch: list[Job]) -> None:
    """Apply and commit; on any failure roll back (nothing of the batch stays) and raise."""
    try:
        apply(batch)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def apply_alone(job: Job) -> None:
    """One event in its own transaction (no group commit, or its batch failed)."""
    job.dedup_key = None
    apply([job])
    db.session.commit()
    job.state = JobState.WRITTEN if job.dedup_key else JobState.FULL
