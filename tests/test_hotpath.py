"""The ingestion hot path: a batch writes what its events write one at a time, and the
group commit shares one transaction between threads without losing or doubling one."""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from app import clock
from app.alerts import hotpath, ingest
from app.alerts.hotpath import JobState
from app.alerts.models import Alert, IngestAttempt
from app.audit.models import AuditEntry
from app.extensions import db
from app.incidents.models import Incident, IncidentEvent
from app.notify.models import Notification
from app.services.models import IntegrationKey
from tests.factories import make_service, owe
from tests.whole_database import assert_same, each_from_here

T0 = datetime(2026, 11, 27, 3, 12, 50, tzinfo=UTC)
KEYS = {"one": "1" * 32, "each": "2" * 32, "grouped": "3" * 32}


@pytest.fixture
def services(app):
    clock.set(T0)
    made = {}
    for name, key in KEYS.items():
        service = make_service(f"svc-{name}", with_key=False)
        db.session.add(IntegrationKey(service=service, key=key, name="Prometheus", created_at=T0))
        made[name] = service
    made["grouped"].alert_grouping = "grouped"
    db.session.commit()
    return made


def trigger(routing_key: str, dedup_key: str | None, n: int, **payload) -> ingest.AlertEvent:
    body = {"routing_key": routing_key, "event_action": "trigger",
            "payload": {"summary": f"summary {n}", "source": f"host-{n}", "severity": "critical",
                        "custom_details": {"n": n}, **payload}}
    if dedup_key is not None:
        body["dedup_key"] = dedup_key
    if n % 3 == 0:
        body["links"] = [{"href": f"https://grafana.example.com/{n}", "text": f"link {n}"}]
    return ingest.validate_event(body)


def the_events(routing_key: str) -> list[ingest.AlertEvent]:
    """Repeats of a key already open, a new key and its repeats, keys without a dedup
    key, an info event (left to the full path), and repeats of it."""
    return [trigger(routing_key, "open-before", 1), trigger(routing_key, "fresh", 2), trigger(routing_key, "fresh", 3),
            trigger(routing_key, None, 4), trigger(routing_key, "open-before", 5), trigger(routing_key, "fresh", 6),
            trigger(routing_key, "quiet", 7, severity="info"), trigger(routing_key, "quiet", 8),
            trigger(routing_key, None, 9), trigger(routing_key, "fresh", 10, summary="last words")]


def state(service_id: int) -> dict:
    """What a service's alerts, incidents, timelines and audit entries hold, without ids."""
    alerts = db.session.scalars(sa.select(Alert).where(Alert.service_id == service_id).order_by(Alert.id)).all()
    incidents = db.session.scalars(sa.select(Incident).where(Incident.service_id == service_id)
                                   .order_by(Incident.id)).all()
    generated = {a.dedup_key: f"generated-{n}" for n, a in enumerate(a for a in alerts if len(a.dedup_key) == 32)}
    return {
        "alerts": sorted((generated.get(a.dedup_key, a.dedup_key), a.status.value, a.occurrences, a.summary,
                          a.severity, a.custom_details, a.links, a.suppressed, a.incident_id is not None)
                         for a in alerts),
        "incidents": [(i.title, i.severity, i.status.value, i.version) for i in incidents],
        "timeline": [(str(e.kind), e.text.replace("svc-one", "svc").replace("svc-each", "svc"))
                     for i in incidents for e in db.session.scalars(
                         sa.select(IncidentEvent).where(IncidentEvent.incident_id == i.id).order_by(IncidentEvent.id))],
        "audit": db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.object_type == "incidents", AuditEntry.object_id.in_([i.id for i in incidents]))),
    }


def full_path(event: ingest.AlertEvent) -> None:
    service, key = ingest.route(event.routing_key)
    actor = ingest.integration_actor(event.origin, key.name, service.name, "127.0.0.1")  # as the jobs' ip
    ingest.process(event, service, key, clock.now(), actor)
    db.session.commit()


def open_before(routing_key: str) -> None:
    job = hotpath.Job(trigger(routing_key, "open-before", 0), "127.0.0.1")
    hotpath.apply_alone(job)
    assert job.state is JobState.WRITTEN


def batch_and_one_at_a_time(monkeypatch, events: list[ingest.AlertEvent]) -> tuple[dict, dict, list[hotpath.Job]]:
    """The events in one batch (and those it leaves by the full path, once it is in),
    then, from the same database, the same events one at a time in the order the
    batch takes them (its own in arrival order, then those it leaves), and then all of
    them by the full path (the ORM's) in that order. Every row of every table after
    each (`whole_database`); the batch's and the full path's must be the same, so a
    side effect one path writes alone fails here. Returns the batch's rows, the one at
    a time rows (the database is left as the full path left it), and the jobs."""
    jobs: list[hotpath.Job] = []

    def in_order() -> list[ingest.AlertEvent]:
        return ([job.event for job in jobs if job.dedup_key is not None]
                + [job.event for job in jobs if job.dedup_key is None])

    def by_the_full_path() -> None:
        for event in in_order():
            full_path(event)
    together, one_by_one, full = each_from_here(monkeypatch, lambda: jobs.extend(in_one_batch(events)),
                                                lambda: one_at_a_time(in_order()), by_the_full_path)
    assert_same(together, full)
    return together, one_by_one, jobs


@pytest.mark.db
def test_a_batch_writes_what_its_events_write_one_at_a_time(app, services, monkeypatch):
    """Every table, row for row, ids included: the incidents and alerts opened, the
    repeats folded, the timeline and audit entries (and nothing else anywhere)."""
    service_id = services["one"].id
    open_before(KEYS["one"])
    together, alone, jobs = batch_and_one_at_a_time(monkeypatch, the_events(KEYS["one"]))
    assert [job.event.dedup_key for job in jobs if job.dedup_key is None] == ["quiet", "quiet"]  # info: the full path's
    assert_same(together, alone)
    found = state(service_id)
    assert [a[:3] for a in found["alerts"]] == [
        ("fresh", "triggered", 4), ("generated-1", "triggered", 1), ("generated-2", "triggered", 1),
        ("open-before", "triggered", 3), ("quiet", "triggered", 2)]
    fresh = found["alerts"][0]
    # The last repeat's summary and details; the last links sent (the last repeat sent none).
    assert fresh[3:7] == ("last words", "critical", {"n": 10},
                          [{"href": "https://grafana.example.com/6", "text": "link 6"}])
    assert len(found["incidents"]) == 4 and found["audit"] == 4


@pytest.mark.db
def test_a_batch_of_a_hundred_new_alerts_gives_each_its_own_incident_and_times(app, services):
    """100 rows go in as statements of 64, 32 and 4 rows: each alert is linked to the
    incident opened for it, whose timeline and audit entry name it, and each
    incident's impact started at its own event's time (rows share the batch's `now`,
    processed once, but not the times that differ)."""
    started = [datetime(2026, 11, 27, 3, minute // 60, minute % 60, tzinfo=UTC) for minute in range(100)]
    jobs = [hotpath.Job(trigger(KEYS["each"], f"k{i}", i, timestamp=started[i].isoformat()), None)
            for i in range(100)]
    hotpath.apply(jobs)
    db.session.commit()
    assert all(job.dedup_key == f"k{i}" for i, job in enumerate(jobs))
    alerts = db.session.scalars(sa.select(Alert).where(Alert.service_id == services["each"].id)).all()
    assert len(alerts) == 100
    for alert in alerts:
        i = int(alert.dedup_key[1:])
        incident = db.session.get(Incident, alert.incident_id)
        assert alert.summary == incident.title == f"summary {i}"
        assert incident.impact_started_at == started[i] and incident.created_at == T0 == alert.created_at
        entries = db.session.scalars(sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id)).all()
        assert [(e.data or {}).get("alert_id") for e in entries] == [None, alert.id]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.object_type == "incidents", AuditEntry.object_id == incident.id)) == 1


def test_rows_go_in_as_many_per_statement_as_sqlites_parameter_limit_allows(app):
    """An SQLite built with a low limit on parameters (here 200): audit entries (13
    columns) go 8 rows a statement, incidents (33) 4, and 40 rows still go in whole."""
    import sqlite3

    connection = db.session.connection()
    driver = connection.connection.driver_connection
    before = driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 200)
    try:
        rows = hotpath._WholeRows(AuditEntry.__table__)
        rows.run(connection, [{"at": T0, "actor_kind": "system", "actor_label": "test", "action": "test.row",
                               "object_type": "test", "summary": f"row {n}"} for n in range(40)])
        assert rows.chunk == 8
        wide = hotpath._WholeRows(Incident.__table__)
        wide._prepare(connection)
        assert wide.chunk == 4
    finally:
        driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)
    summaries = db.session.scalars(sa.select(AuditEntry.summary).where(AuditEntry.action == "test.row")
                                   .order_by(AuditEntry.id)).all()
    assert summaries == [f"row {n}" for n in range(40)]


def resolve(routing_key: str, dedup_key: str) -> ingest.AlertEvent:
    return ingest.validate_event({"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key})


def by_incident(service_id: int) -> dict:
    """`state`, with each incident's timeline beside it, in no order of ids (a batch
    numbers the incidents it opens before those its left events open)."""
    incidents = db.session.scalars(sa.select(Incident).where(Incident.service_id == service_id)).all()
    found = state(service_id)
    def entry(e: IncidentEvent) -> tuple:
        text = re.sub(r"svc-[\w-]+", "svc", e.text)
        return str(e.kind), text, re.sub(r"svc-[\w-]+", "svc", e.actor_label), e.via, (e.data or {}).get("alert_id") and 1
    return {"alerts": found["alerts"], "audit": found["audit"], "incidents": sorted(
        ((i.title, i.status.value, i.version, i.escalation_state, i.followup_at is not None),
         tuple(entry(e) for e in db.session.scalars(sa.select(IncidentEvent).where(
             IncidentEvent.incident_id == i.id).order_by(IncidentEvent.id)))) for i in incidents)}


def one_at_a_time(events: list[ingest.AlertEvent]) -> None:
    for event in events:  # the hot path, else the full path
        job = hotpath.Job(event, "127.0.0.1")
        hotpath.apply_alone(job)
        if job.state is JobState.FULL:
            full_path(event)


def in_one_batch(events: list[ingest.AlertEvent]) -> list[hotpath.Job]:
    jobs = [hotpath.Job(event, "127.0.0.1") for event in events]
    hotpath.apply(jobs)
    db.session.commit()
    for job in jobs:
        if job.dedup_key is None:  # left to the full path, in arrival order, once the batch is in
            full_path(job.event)
    return jobs


@pytest.mark.db
def test_resolves_in_a_batch_write_what_they_write_one_at_a_time(app, services, monkeypatch):
    """A repeat then a resolve of a key open before (its incident resolves: escalation
    stopped, its page not yet sent and its update owed cancelled, its survey round
    opened), the key firing again (a new alert), a key opened and resolved in the
    batch, a resolve of nothing, a second resolve of the first key (its new alert) and
    the second key firing again: every table, row for row."""
    key, service_id = KEYS["one"], services["one"].id
    events = [trigger(key, "open-before", 1), resolve(key, "open-before"), trigger(key, "open-before", 2),
              trigger(key, "fresh", 3), resolve(key, "fresh"), resolve(key, "nothing"), resolve(key, "open-before"),
              trigger(key, "fresh", 4)]
    open_before(key)
    owe(db.session.scalar(sa.select(Incident.id)), T0)
    together, alone, jobs = batch_and_one_at_a_time(monkeypatch, events)
    # Written in the batch: the repeat, the first resolve, the new key, the resolve of nothing.
    assert [job.dedup_key is not None for job in jobs] == [True, True, False, True, False, True, False, False]
    assert_same(together, alone)
    status_at = [column.name for column in Notification.__table__.columns].index("status")
    assert together["survey_rounds"] and "cancelled" in {row[status_at] for row in together["notifications"]}
    found = by_incident(service_id)
    assert [a[:3] for a in found["alerts"]] == [("fresh", "resolved", 1), ("fresh", "triggered", 1),
                                                ("open-before", "resolved", 1), ("open-before", "resolved", 2)]
    assert [(i[0][1], i[1][-1][0]) for i in found["incidents"]] == [
        ("resolved", "resolved"), ("resolved", "resolved"), ("resolved", "resolved"), ("triggered", "alert_triggered")]
    assert found["audit"] == 7  # four opened, three resolved
    who = "Events API v2, key “Prometheus” (svc)"
    assert {entry[2] for _, timeline in found["incidents"] for entry in timeline} == {who}
    assert ("resolved", f"Resolved by {who}: every alert resolved", who, "events_v2", None) in found["incidents"][0][1]
    first = db.session.get(Incident, db.session.scalar(sa.select(sa.func.min(Incident.id))))
    assert (first.escalation_state, first.next_escalation_at) == ("stopped", None)


@pytest.mark.db
def test_resolving_the_alerts_of_a_grouped_incident_in_a_batch_resolves_it_with_the_last(app, services, monkeypatch):
    key, service_id = KEYS["grouped"], services["grouped"].id
    for n, dedup_key in enumerate(("a", "b", "c")):
        full_path(trigger(key, dedup_key, n))  # grouped: the full path puts them in one incident
    owe(db.session.scalar(sa.select(Incident.id)), T0)

    def together() -> None:
        assert in_one_batch([resolve(key, "a")])[0].dedup_key == "a"  # written in the batch
        assert by_incident(service_id)["incidents"][0][0][1] == "triggered"  # two alerts still open
        assert [job.dedup_key for job in in_one_batch([resolve(key, "b"), resolve(key, "c")])] == ["b", "c"]

    def alone() -> None:
        one_at_a_time([resolve(key, "a")])
        one_at_a_time([resolve(key, "b"), resolve(key, "c")])

    def by_the_full_path() -> None:
        for dedup_key in ("a", "b", "c"):
            full_path(resolve(key, dedup_key))
    batched, one_by_one, full = each_from_here(monkeypatch, together, alone, by_the_full_path)
    assert_same(batched, one_by_one)
    assert_same(batched, full)
    [(incident, timeline)] = by_incident(service_id)["incidents"]
    kinds = [entry[0] for entry in timeline]
    assert incident[1] == "resolved" and kinds.count("resolved") == 1 and kinds[-1] == "resolved"
    assert kinds.count("alert_resolved") == 3
    assert len(batched["survey_rounds"]) == 1


@pytest.mark.db
def test_grouped_services_unknown_keys_and_maintenance_are_left_to_the_full_path(app, services):
    from app.services.models import MaintenanceWindow, MaintenanceState
    window = MaintenanceWindow(title="Upgrade", starts_at=T0, ends_at=T0.replace(hour=5), state=MaintenanceState.SCHEDULED,
                               services=[services["one"]], created_at=T0)
    db.session.add(window)
    db.session.commit()
    jobs = [hotpath.Job(trigger(key, "k", 1), None) for key in (KEYS["grouped"], "9" * 32, KEYS["one"])]
    hotpath.apply(jobs)
    db.session.commit()
    assert [job.dedup_key for job in jobs] == [None, None, None]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0


def _jobs(n: int) -> list[hotpath.Job]:
    return [hotpath.Job(trigger(KEYS["one"], f"k{i}", i), None) for i in range(n)]


@pytest.mark.realtime
def test_the_group_commit_writes_what_queued_meanwhile_in_one_batch():
    batches, first_started, others_queued = [], threading.Event(), threading.Event()

    def write(batch):
        batches.append([job.event.dedup_key for job in batch])
        if len(batches) == 1:
            first_started.set()
            assert others_queued.wait(5)
        for job in batch:
            job.dedup_key = job.event.dedup_key

    group = hotpath.GroupCommit(write=write)
    jobs = _jobs(6)
    leader = threading.Thread(target=group.run, args=(jobs[0],))
    leader.start()
    assert first_started.wait(5)
    followers = [threading.Thread(target=group.run, args=(job,)) for job in jobs[1:]]
    for thread in followers:
        thread.start()
    deadline = time.monotonic() + 5
    while len(group._queue) < 5 and time.monotonic() < deadline:
        time.sleep(0.001)
    others_queued.set()
    for thread in [leader, *followers]:
        thread.join(5)
        assert not thread.is_alive()
    assert batches[0] == ["k0"] and sorted(batches[1]) == ["k1", "k2", "k3", "k4", "k5"]
    assert [job.state for job in jobs] == [JobState.WRITTEN] * 6
    assert not group._busy and not group._queue


def test_a_failed_batch_leaves_each_of_its_jobs_to_be_tried_alone_and_the_next_batch_goes_on():
    calls = []

    def write(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))
        for job in batch:
            job.dedup_key = "written"

    group = hotpath.GroupCommit(write=write)
    failed, later = _jobs(2)
    group.run(failed)
    assert failed.state is JobState.FAILED and failed.dedup_key is None
    assert failed.unsure and not later.unsure  # the next try looks its attempt up first
    group.run(later)
    assert later.state is JobState.WRITTEN and calls == [1, 1]


@pytest.mark.realtime
@pytest.mark.db
def test_threads_sending_at_once_are_each_answered_once_their_event_is_written(app, services, monkeypatch):
    """Through the real view and the real database: 8 threads, 40 events each, half of
    them repeats of one key; every event answered 202 and counted exactly once."""
    group = hotpath.GroupCommit()
    app.extensions["firebreak.group_commit"] = group
    answers: list[int] = []

    def send(thread: int):
        client = app.test_client()
        for n in range(40):
            dedup_key = "storm" if n % 2 else f"t{thread}-{n}"
            body = {"routing_key": KEYS["each"], "event_action": "trigger", "dedup_key": dedup_key,
                    "payload": {"summary": "s", "source": "h", "severity": "critical"}}
            answers.append(client.post("/v2/enqueue", data=json.dumps(body), content_type="application/json").status_code)

    threads = [threading.Thread(target=send, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    db.session.expire_all()
    assert answers == [202] * 320
    occurrences = dict(db.session.execute(sa.select(Alert.dedup_key, Alert.occurrences)).all())
    assert occurrences["storm"] == 160 and len(occurrences) == 161
    assert sum(occurrences.values()) == 320
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 161


@pytest.mark.db
def test_a_try_that_may_have_committed_is_answered_from_its_attempt_instead_of_written_again(app, services):
    """Each event the hot path writes records its attempt in the same transaction; a
    try of the same attempt after one that may have committed finds it: a repeat folds
    once, an event without a dedup key opens one incident, and an event the hot path
    left (nothing written) is left again."""
    jobs = [hotpath.Job(trigger(KEYS["one"], "k", 1), None), hotpath.Job(trigger(KEYS["one"], None, 2), None),
            hotpath.Job(trigger(KEYS["one"], "quiet", 3, severity="info"), None)]
    hotpath.apply(jobs)
    db.session.commit()
    first = [job.dedup_key for job in jobs]
    assert first[0] == "k" and len(first[1]) == 32 and first[2] is None
    attempts = dict(db.session.execute(sa.select(IngestAttempt.id, IngestAttempt.dedup_key)).all())
    assert attempts == {jobs[0].attempt: "k", jobs[1].attempt: first[1]}
    again = [hotpath.Job(job.event, None, attempt=job.attempt, unsure=True) for job in jobs]
    for job in again:
        hotpath.apply_alone(job)
    assert [(job.state, job.dedup_key) for job in again] == [
        (JobState.WRITTEN, "k"), (JobState.WRITTEN, first[1]), (JobState.FULL, None)]
    fresh = hotpath.Job(trigger(KEYS["one"], "k", 4), None, unsure=True)  # unsure, never written: it is written
    hotpath.apply_alone(fresh)
    db.session.expire_all()
    assert dict(db.session.execute(sa.select(Alert.dedup_key, Alert.occurrences)).all()) == {"k": 2, first[1]: 1}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IngestAttempt)) == 3


@pytest.mark.db
def test_the_engine_prunes_attempts_a_day_old(app, services):
    from app.alerts import jobs as alert_jobs
    from app.engine.core import Engine
    hotpath.apply_alone(hotpath.Job(trigger(KEYS["one"], "old", 1), None))
    clock.set(T0 + timedelta(hours=23))
    hotpath.apply_alone(hotpath.Job(trigger(KEYS["one"], "new", 2), None))
    engine = Engine(alert_jobs.JOBS, lease_seconds=30)
    assert engine.cycle().total == 0
    clock.set(T0 + alert_jobs.ATTEMPTS_KEPT + timedelta(seconds=1))
    assert engine.cycle().done == {"ingest_attempts": 1}
    assert list(db.session.scalars(sa.select(IngestAttempt.dedup_key))) == ["new"]
    assert engine.cycle().total == 0


def test_a_leader_interrupted_past_its_write_leaves_no_job_claiming_to_be_written():
    def write(batch):
        for job in batch:
            job.dedup_key = job.event.dedup_key
        raise SystemExit("worker timeout")

    group = hotpath.GroupCommit(write=write)
    [job] = _jobs(1)
    with pytest.raises(SystemExit):
        group.run(job)
    assert job.state is JobState.FAILED and job.dedup_key is None
    assert not group._busy


@pytest.mark.db
def test_a_repeat_of_an_alert_resolved_after_the_batch_read_it_opens_a_new_alert(app, services, monkeypatch):
    """PostgreSQL lets another transaction resolve an alert between the batch's read
    and its write; the fold then finds nothing to fold into, the batch goes back, and
    the event takes the full path, as if it had come after the resolve."""
    client = app.test_client()
    body = {"routing_key": KEYS["each"], "event_action": "trigger", "dedup_key": "k",
            "payload": {"summary": "s", "source": "h", "severity": "critical"}}
    assert client.post("/v2/enqueue", json=body).status_code == 202
    stale = dict(db.session.execute(sa.select(Alert.service_id, Alert.id)).all())
    db.session.execute(sa.update(Alert).values(status="resolved"))
    db.session.commit()
    monkeypatch.setattr(hotpath, "_open_alerts", lambda connection, jobs, routes: {
        (service_id, "k"): SimpleNamespace(id=alert_id, suppressed=None) for service_id, alert_id in stale.items()})
    assert client.post("/v2/enqueue", json=body).status_code == 202
    db.session.expire_all()
    rows = db.session.execute(sa.select(Alert.status, Alert.occurrences).order_by(Alert.id)).all()
    assert [(str(status), n) for status, n in rows] == [("resolved", 1), ("triggered", 1)]


@pytest.mark.db
def test_a_resolve_of_an_alert_resolved_after_the_batch_read_it_changes_nothing_twice(app, services, monkeypatch):
    """PostgreSQL: another transaction resolves the alert between the batch's read and
    its write; the batch goes back and the resolve takes the full path, which finds
    nothing open: no second resolution on the timeline."""
    client = app.test_client()
    body = {"routing_key": KEYS["each"], "event_action": "trigger", "dedup_key": "k",
            "payload": {"summary": "s", "source": "h", "severity": "critical"}}
    assert client.post("/v2/enqueue", json=body).status_code == 202
    alert = db.session.scalar(sa.select(Alert))
    read = {(alert.service_id, "k"): SimpleNamespace(id=alert.id, suppressed=None, incident_id=alert.incident_id,
                                                     summary=alert.summary, origin=alert.origin)}
    assert client.post("/v2/enqueue", json={**body, "event_action": "resolve"}).status_code == 202
    events = db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent))
    monkeypatch.setattr(hotpath, "_open_alerts", lambda connection, jobs, routes: read)
    answer = client.post("/v2/enqueue", json={**body, "event_action": "resolve"})
    assert answer.status_code == 202 and answer.json["dedup_key"] == "k"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent)) == events


@pytest.mark.realtime
@pytest.mark.postgresql
def test_two_resolves_of_an_incidents_last_alerts_at_once_resolve_it(app, services):
    """PostgreSQL: another transaction has resolved alert b and holds the incident, as
    a batch in another process does while it asks whether a is still open (it is, so
    that batch only adds to the timeline). The resolve of a waits for it, then sees b
    resolved and resolves the incident; unlocked, each would think the other's alert
    open and the incident would stay open with none."""
    client = app.test_client()
    for dedup_key in ("a", "b"):
        full_path(trigger(KEYS["grouped"], dedup_key, 1))
    incident_id = db.session.scalar(sa.select(Incident.id))
    db.session.commit()
    holder = db.engine.connect()
    holder.execute(sa.text("UPDATE alerts SET status = 'resolved' WHERE dedup_key = 'b'"))
    holder.execute(sa.text("SELECT id FROM incidents WHERE id = :id FOR UPDATE"), {"id": incident_id})
    release = threading.Timer(0.5, holder.commit)
    release.start()
    try:
        started = time.monotonic()
        answer = client.post("/v2/enqueue", json={"routing_key": KEYS["grouped"], "event_action": "resolve",
                                                  "dedup_key": "a"})
        assert answer.status_code == 202 and time.monotonic() - started >= 0.4  # it waited for the incident
    finally:
        release.join()
        holder.close()
    db.session.expire_all()
    assert db.session.get(Incident, incident_id).status.value == "resolved"


@pytest.mark.realtime
@pytest.mark.postgresql
def test_a_batch_that_waits_too_long_for_a_row_lock_goes_again_by_the_full_path(app, services, monkeypatch, caplog):
    """PostgreSQL: a batch gives up on a row lock after LOCK_TIMEOUT_MS rather than
    hold up every event queued behind it; its events then go the full path, which
    waits its turn. Said in one line, not a traceback."""
    client = app.test_client()
    body = {"routing_key": KEYS["each"], "event_action": "trigger", "dedup_key": "k",
            "payload": {"summary": "s", "source": "h", "severity": "critical"}}
    assert client.post("/v2/enqueue", json=body).status_code == 202
    monkeypatch.setattr(hotpath, "LOCK_TIMEOUT_MS", 100)
    caplog.set_level(logging.INFO, logger=hotpath.log.name)
    holder = db.engine.connect()
    holder.execute(sa.text("SELECT id FROM alerts FOR UPDATE"))
    release = threading.Timer(1.0, holder.rollback)
    release.start()
    try:
        started = time.monotonic()
        assert client.post("/v2/enqueue", json=body).status_code == 202
        assert time.monotonic() - started >= 0.9  # the full path waited for the lock
    finally:
        release.join()
        holder.close()
    db.session.expire_all()
    assert db.session.execute(sa.select(Alert.occurrences)).scalars().all() == [2]
    assert "waited too long for a row lock; each goes again alone" in caplog.text
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
