"""What Firebreak counts as it works, for Prometheus (`GET /metrics`, app.metrics.views;
every series is described in docs/metrics.md).

Two kinds of series. Those recorded here, in the process where the thing happens
(a request answered, a status page answer, an engine cycle), and those read from the
database when Prometheus scrapes (app.metrics.database: the outbox, due escalations,
open incidents, the engine's lease, and the counts below), which are right whichever
process or machine did the work.

Under gunicorn the recorded series live in prometheus_client's multiprocess mode: each
process (web workers, their ingestion writer processes, an in-process engine) writes
its values to files in PROMETHEUS_MULTIPROC_DIR, and a scrape adds them up.
gunicorn.conf.py makes that directory when it is not set. Without it (`flask run`, the
tests, `flask engine run` started on its own) a process keeps its values in memory.

Counts of what is written to the database (incidents opened, outbox messages by
outcome) are kept there, in metric_counts (app.metrics.models), added to by the
transaction that writes the thing: the engine, which may run where nothing scrapes it,
sends most messages and opens the incidents of silent heartbeats. So they count once
committed. An incident opened or a message recorded in a transaction that is then
rolled back did not happen; the ingestion batch that fails goes again alone and the
engine's batches go again one by one, so counting when the row is written would count
them twice. `count_on_commit` holds a count on the session, writes it just before the
transaction commits (after the flush, so the counter rows are the last locks it
takes, in one order), and drops it when the transaction ends otherwise.

Every label value is one the code chooses (a url rule, a severity number, a channel),
never what a request says, so the number of series stays bounded.
"""
from __future__ import annotations

import os
import time
from collections import Counter as Tally

import sqlalchemy as sa
from flask import request
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, values
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.metrics.models import MetricCount

# No `_created` series: multiprocess mode has none, and a single process should say the same.
disable_created_metrics()
if values.ValueClass._multiprocess:  # the series below write their files as they are made
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

# The recorded series. In a single process this registry is what a scrape reads; in
# multiprocess mode the files are, and this registry only holds the metric objects.
REGISTRY = CollectorRegistry(auto_describe=False)

EVENTS_RECEIVED = Counter("firebreak_events_received_total", "Deliveries to an ingestion endpoint, by source.",
                          ["source"], registry=REGISTRY)
EVENTS_ACCEPTED = Counter("firebreak_events_accepted_total", "Deliveries an ingestion endpoint accepted (2xx).",
                          ["source"], registry=REGISTRY)
EVENTS_REFUSED = Counter("firebreak_events_refused_total",
                         "Deliveries an ingestion endpoint refused (4xx: invalid, unknown key, too large).",
                         ["source"], registry=REGISTRY)
ENGINE_CYCLE = Histogram("firebreak_engine_cycle_duration_seconds", "Engine cycles of the engine that held the "
                         "lease, in this process.", registry=REGISTRY,
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
STATUS_CACHE = Counter("firebreak_status_page_cache_total", "Public status page answers: hit (from memory), "
                       "stale (the previous version while another request renders) or miss (rendered).",
                       ["result"], registry=REGISTRY)
HTTP_DURATION = Histogram("firebreak_http_request_duration_seconds", "Time to answer a request, from the WSGI "
                          "call until the answer is handed back, by url rule, method and status class.",
                          ["route", "method", "status"], registry=REGISTRY,
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

# The ingestion endpoints and the source their deliveries count under.
SOURCES = {"alerts.enqueue": "events_v2", "alerts.change_enqueue": "change_events",
           "alerts.alertmanager": "alertmanager", "alerts.heartbeat_ping": "heartbeat"}
# Series known in advance exist from the start (at 0, so a rate is right from the first
# increase), and the request path finds them in a dict rather than through `labels`.
_DELIVERIES = {source: (EVENTS_RECEIVED.labels(source), EVENTS_ACCEPTED.labels(source), EVENTS_REFUSED.labels(source))
               for source in SOURCES.values()}
_CACHE_RESULTS = {result: STATUS_CACHE.labels(result) for result in ("hit", "stale", "miss")}
_timers: dict[tuple[str, str, str], Histogram] = {}  # (route, method, status): bounded like the labels
UNMATCHED = "unmatched"  # the route of a request that matched none (404, 405, a redirect to add a slash)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
ROUTE_KEY = "firebreak.route"    # in the WSGI environ: the url rule that answers,
SOURCE_KEY = "firebreak.source"  # and for an ingestion endpoint, its source
_PENDING = "firebreak.metrics"   # in a session's info: counts waiting for its commit

# The counters kept in metric_counts (app.metrics.database exposes them): name, help, labels.
COUNTED = {
    "firebreak_incidents_opened": ("Incidents opened, by severity (1 is SEV-1) and how they were opened.",
                                   ("severity", "source")),
    "firebreak_notifications": ("Outbox messages by channel, purpose (page, assist, verify, …) and outcome "
                                "(sent, failed, gave_up, delivered, undelivered).", ("channel", "purpose", "outcome")),
}
LABEL_SEPARATOR = "|"


def multiprocess() -> bool:
    """Whether this process records into PROMETHEUS_MULTIPROC_DIR (decided by
    prometheus_client when it was first imported)."""
    return values.ValueClass._multiprocess


# --- counted once committed ---------------------------------------------------------

def count_on_commit(name: str, *labels: str) -> None:
    """Add one to the counter `name{labels}` (one of COUNTED) when the current
    transaction commits."""
    db.session.info.setdefault(_PENDING, Tally())[(name, LABEL_SEPARATOR.join(labels))] += 1


@sa.event.listens_for(sa.orm.Session, "before_commit")
def _write_counts(session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the transaction may still roll back
        return
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()
    table = MetricCount.__table__
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    session.execute(statement.on_conflict_do_update(index_elements=[table.c.name, table.c.labels],
                                                    set_={"value": table.c.value + statement.excluded.value}),
                    [{"name": name, "labels": labels, "value": n} for (name, labels), n in sorted(pending.items())])


@sa.event.listens_for(sa.orm.Session, "after_transaction_end")
def _drop_uncommitted(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def incident_opened(severity: int, source: str) -> None:
    count_on_commit("firebreak_incidents_opened", str(severity), source)


def notification(channel: str, purpose: str, outcome: str) -> None:
    count_on_commit("firebreak_notifications", channel, purpose, outcome)


def status_cache(result: str) -> None:
    _CACHE_RESULTS[result].inc()


def engine_cycle(seconds: float) -> None:
    ENGINE_CYCLE.observe(seconds)


# --- HTTP ------------------------------------------------------------------------------

def note_route(endpoint: str | None, view_args: dict | None) -> None:
    """url_value_preprocessor (the first, so it runs before anything can refuse the
    request): tell `RequestTimer` which rule answers, if any."""
    rule = request.url_rule
    if rule is None:
        return
    request.environ[ROUTE_KEY] = rule.rule
    source = SOURCES.get(endpoint)
    if source is not None:
        request.environ[SOURCE_KEY] = source


class RequestTimer:
    """WSGI middleware, outermost: the duration of every request by its url rule
    (the status page cache's answers included: it names the rule of the entry it
    serves), and the ingestion endpoints' deliveries by source and outcome."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        status = "5xx"  # unless the app starts a response

        def start(line, headers, exc_info=None):
            nonlocal status
            status = line[0] + "xx"
            return start_response(line, headers, exc_info)

        try:
            return self.wsgi_app(environ, start)
        finally:
            method = environ.get("REQUEST_METHOD", "")
            key = (environ.get(ROUTE_KEY, UNMATCHED), method if method in METHODS else "other", status)
            timer = _timers.get(key)
            if timer is None:
                timer = _timers.setdefault(key, HTTP_DURATION.labels(*key))
            timer.observe(time.perf_counter() - started)
            source = environ.get(SOURCE_KEY)
            if source is not None:
                delivered(source, status)


def delivered(source: str, status: str) -> None:
    received, accepted, refused = _DELIVERIES[source]
    received.inc()
    if status == "2xx":
        accepted.inc()
    elif status == "4xx":
        refused.inc()


def init_app(app) -> None:
    """Time every request: call once the app's other WSGI middleware is in place, and
    before any other url_value_preprocessor is registered."""
    app.wsgi_app = RequestTimer(app.wsgi_app)
    app.url_value_preprocessor(note_route)
