"""Ingestion's writer process: events handed to it are written as the in-process hot
path writes them; what it cannot write is left to the worker."""
from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from app.alerts import hotpath, ingest, writer
from app.alerts.hotpath import JobState
from app.alerts.models import Alert
from app.extensions import db
from app.incidents.models import Incident, IncidentEvent
from tests.test_ingest import KEY, service  # noqa: F401 (a fixture: the service KEY routes to)

pytestmark = pytest.mark.realtime  # writer processes, started, killed and waited for


def trigger(dedup_key, n, **payload):
    return ingest.validate_event({"routing_key": KEY, "event_action": "trigger", "dedup_key": dedup_key,
                                  "payload": {"summary": f"summary {n}", "source": f"host-{n}",
                                              "severity": "critical", "timestamp": "2026-11-27T03:10:00Z",
                                              **payload}})


def test_an_event_round_trips_the_wire_with_its_attempt():
    job = hotpath.Job(trigger("k", 1, custom_details={"ratio": 0.072}), "10.0.0.7")
    again = writer.decode(writer.encode(job))
    assert (again.event, again.ip, again.attempt) == (job.event, "10.0.0.7", job.attempt)


def test_events_handed_to_the_writer_are_written_and_a_dead_writer_says_so(app, service):
    config = {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"]}
    started = writer.start(config, threads=2)
    try:
        jobs = [hotpath.Job(trigger(key, n), "10.0.0.7") for n, key in enumerate(["a", "b", "a"])]
        for job in jobs:
            started.run(job)
        assert [(job.state, job.dedup_key) for job in jobs] == [
            (JobState.WRITTEN, "a"), (JobState.WRITTEN, "b"), (JobState.WRITTEN, "a")]
        db.session.expire_all()
        alerts = {a.dedup_key: a for a in db.session.scalars(sa.select(Alert))}
        assert {k: a.occurrences for k, a in alerts.items()} == {"a": 2, "b": 1}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 2
        who = {e.actor_label for e in db.session.scalars(sa.select(IncidentEvent))}
        assert who == {"Events API v2, key “Prometheus” (checkout-api)"}  # as the in-process paths name it
        info = hotpath.Job(trigger("quiet", 9, severity="info"), None)
        started.run(info)
        assert info.state is JobState.FULL and info.dedup_key is None  # left to the full path, in the worker
        started.process.kill()
        started.process.join(5)
        late = hotpath.Job(trigger("c", 4), None)
        started.run(late)
        assert late.state is JobState.FAILED and not started.alive
        assert late.unsure and not info.unsure  # handed over and not answered: it may have been written
    finally:
        started.stop()


def test_the_endpoint_writes_through_the_writer_and_in_process_once_it_is_gone(app, client, service, monkeypatch):
    config = {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"]}
    started = writer.start(config, threads=1)
    app.extensions["firebreak.writer"] = started
    in_process = []
    real_run = hotpath.GroupCommit.run
    monkeypatch.setattr(hotpath.GroupCommit, "run", lambda self, job: (in_process.append(job), real_run(self, job)))
    try:
        def post(key):
            answer = client.post("/v2/enqueue", json={
                "routing_key": KEY, "event_action": "trigger", "dedup_key": key,
                "payload": {"summary": f"summary {key}", "source": "host", "severity": "critical"}})
            assert answer.status_code == 202 and answer.get_json()["dedup_key"] == key
        post("by-writer")
        assert not in_process  # the writer wrote it
        started.process.kill()
        started.process.join(5)
        post("in-process")
        assert len(in_process) == 1 and not started.alive
        db.session.expire_all()
        assert sorted(db.session.scalars(sa.select(Alert.dedup_key))) == ["by-writer", "in-process"]
    finally:
        app.extensions.pop("firebreak.writer", None)
        started.stop()


def _dies_before_answering(config, sockets, parent):
    """The writer, but it dies (exit status 9) right after committing its first batch,
    before answering it."""
    writer._send = lambda sock, data: os._exit(9)
    writer._main(config, sockets, parent)


def test_a_batch_the_writer_committed_but_did_not_answer_is_not_applied_again(app, client, service, monkeypatch):
    """The worker's retry finds what the writer wrote: the result is that of one
    delivery, a repeat folded once and an event without a dedup key one incident."""
    config = {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"]}

    def post(dedup_key=None):
        body = {"routing_key": KEY, "event_action": "trigger",
                "payload": {"summary": "checkout 5xx", "source": "host", "severity": "critical"}}
        if dedup_key:
            body["dedup_key"] = dedup_key
        answer = client.post("/v2/enqueue", json=body)
        assert answer.status_code == 202
        return answer.get_json()["dedup_key"]

    post("k")  # in process: no writer yet
    monkeypatch.setattr(writer, "_main", _dies_before_answering)
    answered = []
    for dedup_key in ("k", None):
        started = writer.start(config, threads=1)
        app.extensions["firebreak.writer"] = started
        try:
            answered.append(post(dedup_key))
            started.process.join(5)
            assert started.process.exitcode == 9 and not started.alive  # it committed, then died
        finally:
            app.extensions.pop("firebreak.writer", None)
            started.stop()
    db.session.expire_all()
    alerts = db.session.scalars(sa.select(Alert).order_by(Alert.id)).all()
    assert [(a.dedup_key, a.occurrences) for a in alerts] == [("k", 2), (answered[1], 1)]
    assert answered[0] == "k" and len(answered[1]) == 32
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 2
    assert len({a.incident_id for a in alerts}) == 2


def test_what_a_batch_leaves_for_its_own_order_goes_again_as_the_next_batch(app, service):
    """A resolve of an alert the batch opens, and a trigger after its key's resolve,
    are left by the hot path; the writer writes them as the next batch, in arrival
    order. An event the hot path never takes (info: no incident) is left for the full path."""
    def event(action, key, n, **payload):
        body = {"routing_key": KEY, "event_action": action, "dedup_key": key}
        if action == "trigger":
            body["payload"] = {"summary": f"summary {n}", "source": "host", "severity": "critical", **payload}
        return hotpath.Job(ingest.validate_event(body), None)

    jobs = [event("trigger", "k", 1), event("resolve", "k", 2), event("trigger", "k", 3),
            event("trigger", "quiet", 4, severity="info")]
    writer._write(jobs)
    assert [(job.state, job.dedup_key) for job in jobs] == [
        (JobState.WRITTEN, "k"), (JobState.WRITTEN, "k"), (JobState.WRITTEN, "k"), (JobState.FULL, None)]
    db.session.expire_all()
    assert [(a.dedup_key, a.status.value) for a in db.session.scalars(sa.select(Alert).order_by(Alert.id))] == [
        ("k", "resolved"), ("k", "triggered")]
