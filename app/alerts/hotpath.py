"""The hot path of ingestion: PagerDuty triggers, many at a time, with SQLAlchemy Core.

Two kinds of trigger make nearly all the traffic of a bad day: a repeat of an open
alert (an alert storm: one more occurrence, seen now, the latest details) and a fresh
dedup key on a service that opens an incident per alert (a new problem). `apply`
writes a list of such triggers, in arrival order, with a fixed number of statements
whatever the list's length: the route of each integration key, the open alerts the
keys name, one INSERT each for incidents, alerts, timeline entries and audit entries,
and one UPDATE per alert that repeats fold into (one statement for all of them, the
alerts just opened included).
The rows are the full path's, from the same builders (`ingest.new_alert`,
`incidents.new_incident`, `event_values`, `audit.entry_values`); a test holds the two
paths equal column by column, and another holds a batch equal to the same events
applied one at a time.

What it cannot decide alone it leaves untouched for the full path
(`ingest.process`), which decides everything anew: an unknown or revoked key, a
maintenance window, grouped alerts, a severity that opens nothing, an alert held by a
window, an event naming its impact, a duplicate delivery, an acknowledge or resolve.

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

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from app import clock
from app.alerts import ingest
from app.alerts.models import AlertStatus
from app.audit import service as audit
from app.audit.models import AuditEntry
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import EventKind, Incident, IncidentEvent
from app.incidents.timeline import event_values
from app.services.models import IntegrationKey, Service, severity_for

log = logging.getLogger(__name__)

_alerts = ingest.ALERTS
_incidents = Incident.__table__

# A batch is what queued while the previous one was written: at most one per thread
# of the process, so this bound matters only under a flood of threads.
MAX_BATCH = 200
# Keys asked for in one IN list.
KEYS_PER_QUERY = 500
# PostgreSQL: how long a batch waits for a row lock before it gives up.
LOCK_TIMEOUT_MS = 2000


def lock_timed_out(error: BaseException) -> bool:
    """PostgreSQL gave up waiting for a row lock (LOCK_TIMEOUT_MS): another
    transaction held an alert or incident this batch writes. Nothing is wrong; the
    events go again."""
    return isinstance(error, sa.exc.OperationalError) and getattr(error.orig, "sqlstate", None) == "55P03"


class Stale(Exception):
    """What the batch read changed before it wrote (another transaction resolved an
    alert it folds into): the batch is rolled back and its events go again."""


def eligible(event: ingest.AlertEvent) -> bool:
    """Whether the hot path may take this event (it may still leave it to the full path)."""
    return (event.action == "trigger" and len(event.routing_key) == 32 and not event.impact
            and not event.occurrence_ref)


@dataclass
class Job:
    """One event on its way through a batch, and what became of it.

    `state` is "written" (committed: answer with `dedup_key`), "full" (committed
    batch, this event untouched: take the full path) or "failed" (the batch was
    rolled back: nothing of it was written; try again alone)."""

    event: ingest.AlertEvent
    ip: str | None
    dedup_key: str | None = None
    state: str = "failed"
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
_OPEN = sa.select(_alerts.c.id, _alerts.c.dedup_key, _alerts.c.suppressed).where(
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

    def __init__(self, incident: dict, alert: dict, actor, origin: str, service_name: str):
        self.incident, self.alert, self.actor, self.origin = incident, alert, actor, origin
        self.service_name = service_name
        self.repeats = _Fold(None)


def _routes(connection, jobs: list[Job], now: datetime) -> dict:
    found = {}
    for routing_key in dict.fromkeys(job.event.routing_key for job in jobs):
        found[routing_key] = connection.execute(_ROUTE, {"routing_key": routing_key, "now": now}).first()
    return found


def _open_alerts(connection, jobs: list[Job], routes: dict) -> dict:
    """(service id, dedup key) → (alert id, suppressed) for the open alerts the batch names."""
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
            found.update({(service_id, row.dedup_key): (row.id, row.suppressed) for row in rows})
    return found


def apply(jobs: list[Job]) -> None:
    """Write what the hot path can of these events, in the caller's transaction.

    Sets `dedup_key` on each job it wrote; leaves the others (`dedup_key` None) to the
    full path. Raises what the database raises (the caller rolls back the batch)."""
    now = clock.now()
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        # A batch that waits on a row lock holds up every event queued behind it: give up
        # soon instead, and let each event go again alone.
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
    routes = _routes(connection, jobs, now)
    open_ = _open_alerts(connection, jobs, routes)
    folds: dict[int, _Fold] = {}
    new: dict[tuple[int, str], _New] = {}
    left: set[tuple[int, str]] = set()  # keys left to the full path: later repeats follow them there
    for job in jobs:
        event = job.event
        route = routes[event.routing_key]
        if route is None:
            continue
        at = (route.id, event.dedup_key)
        if event.dedup_key and at in left:
            continue
        if event.dedup_key and at in new:
            new[at].repeats.add(event)
            job.dedup_key = event.dedup_key
            continue
        if event.dedup_key and at in open_:
            alert_id, suppressed = open_[at]
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
        dedup_key = event.dedup_key or uuid.uuid4().hex
        actor = ingest.integration_actor(route.key_name, route.name, job.ip)
        incident = incidents.new_incident(actor, service=route, title=event.summary, severity=severity, now=now,
                                          source="alert", impact_started_at=event.timestamp, respond_later=True)
        incident["version"] = 2  # the two timeline entries below, as `record_event` counts them
        incident["status"] = incident["status"].value
        alert = ingest.new_alert(event, route.id, route.key_id, dedup_key, now)
        alert["status"] = alert["status"].value
        alert["class"] = alert.pop("class_")
        new[(route.id, dedup_key)] = _New(incident, alert, actor, event.origin, route.name)
        job.dedup_key = dedup_key
    if new:
        opened = list(new.values())
        _insert(connection, opened, now)
        folds.update({item.repeats.alert_id: item.repeats for item in opened if item.repeats.n})
    if folds:
        # In id order, so two processes folding into the same alerts lock them in one order.
        params = [fold.params(now) for _, fold in sorted(folds.items())]
        if connection.execute(_FOLD_MANY, params).rowcount != len(params):
            raise Stale("an alert was resolved or held while its repeats were being folded")


class _WholeRows:
    """An INSERT of whole rows for SQLite's executemany: every column, bound by
    SQLAlchemy's own processors (so values are stored exactly as its statements store
    them), without its per-row statement machinery, which cost more than the rows'
    SQL. A column a row leaves out gets its scalar default, or SQL NULL (not JSON
    'null', which is what a JSON column makes of a None given); a key that names no
    column, or a missing column only a callable or the database could fill, is an
    error rather than a silent NULL."""

    def __init__(self, table: sa.Table):
        self.table = table
        self.sql: str | None = None

    def _prepare(self, dialect) -> None:
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
        self.sql = (f"INSERT INTO {quote(self.table.name)} ({', '.join(quote(c.name) for c in columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))})")

    def run(self, connection, rows: list[dict]) -> None:
        if self.sql is None:
            self._prepare(connection.dialect)
        params = []
        for row in rows:
            missing, unknown = self.required.difference(row), set(row).difference(self.keyset)
            if missing or unknown:
                raise ValueError(f"{self.table.name}: a row without {sorted(missing)} or with {sorted(unknown)}")
            values = []
            for key, process, default in zip(self.keys, self.processors, self.defaults):
                if key in row:
                    value = row[key]
                elif default is None:  # left out, as SQLAlchemy leaves it out: NULL, even for JSON
                    values.append(None)
                    continue
                else:
                    value = default
                values.append(process(value) if process is not None else value)
            params.append(tuple(values))
        connection.exec_driver_sql(self.sql, params)


_WHOLE_ROWS = {table.name: _WholeRows(table) for table in (_incidents, _alerts, IncidentEvent.__table__,
                                                             AuditEntry.__table__)}


def _insert_rows(connection, table: sa.Table, rows: list[dict]) -> None:
    if connection.dialect.name == "sqlite":
        _WHOLE_ROWS[table.name].run(connection, rows)
    else:
        connection.execute(sa.insert(table), rows)


def _insert_many(connection, table: sa.Table, rows: list[dict]) -> list[int]:
    """Insert rows, returning their ids in order.

    SQLite: the write lock is held from BEGIN IMMEDIATE, so the next ids are known
    (a table without AUTOINCREMENT gives max(id) + 1) and one executemany writes them
    all; asking SQLite to return ids in order would cost a statement per row. Other
    databases return them in order from one statement."""
    if connection.dialect.name == "sqlite":
        first = (connection.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0) + 1
        ids = list(range(first, first + len(rows)))
        _insert_rows(connection, table, [{**row, "id": id_} for row, id_ in zip(rows, ids, strict=True)])
        return ids
    statement = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(connection.execute(statement, rows).scalars())


def _insert(connection, opened: list[_New], now: datetime) -> None:
    incident_ids = _insert_many(connection, _incidents, [item.incident for item in opened])
    for item, incident_id in zip(opened, incident_ids, strict=True):
        item.alert["incident_id"] = incident_id
    alert_ids = _insert_many(connection, _alerts, [item.alert for item in opened])
    entries, audits = [], []
    for item, incident_id, alert_id in zip(opened, incident_ids, alert_ids, strict=True):
        item.repeats.alert_id = alert_id
        triggered = ingest.triggered_event(alert_id, item.alert)
        entries.append({"incident_id": incident_id, **event_values(
            EventKind.OPENED, item.actor, via=item.origin, at=now,
            **incidents.opened_event(item.incident, item.service_name))})
        entries.append({"incident_id": incident_id, **event_values(
            EventKind.ALERT_TRIGGERED, item.actor, via=item.origin, at=now, **triggered)})
        opened_audit = incidents.opened_audit(item.incident, item.service_name)
        audits.append(audit.entry_values(item.actor, "incident.open", object_type=Incident.__tablename__,
                                         object_id=incident_id, summary=f"#{incident_id} {opened_audit['summary']}",
                                         after=opened_audit["after"]))
    _insert_rows(connection, IncidentEvent.__table__, entries)
    _insert_rows(connection, AuditEntry.__table__, audits)


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
            if not lock_timed_out(error):
                log.warning("an ingestion batch of %d events was rolled back; each is tried again alone",
                            len(batch), exc_info=True)
            else:
                log.info("an ingestion batch of %d events waited %d ms for a row lock; each goes again alone",
                         len(batch), LOCK_TIMEOUT_MS)
        except Exception:
            log.warning("an ingestion batch of %d events was rolled back; each is tried again alone", len(batch),
                        exc_info=True)
        else:
            for job in batch:
                job.state = "written" if job.dedup_key else "full"
        finally:
            for job in batch:
                if job.state == "failed":  # rolled back, however: no key may claim it was written
                    job.dedup_key = None
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
    job.state = "written" if job.dedup_key else "full"
