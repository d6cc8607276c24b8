"""The engine: the lease, fencing, idempotent units, and its first kinds of due work."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.engine.core import Engine, Job
from app.engine.jobs import all_jobs
from app.engine.models import EngineLease
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import EventKind, Incident, IncidentEvent, Status
from app.services import maintenance
from app.services.models import MaintenanceState
from tests.factories import SYSTEM, make_service

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


class Wall:
    """A hand-moved wall clock for lease tests."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.mark.db
def test_one_engine_holds_the_lease_and_another_takes_over_when_it_expires(app):
    wall = Wall(T0)
    first = Engine([], holder="first", lease_seconds=15, wall=wall)
    second = Engine([], holder="second", lease_seconds=15, wall=wall)
    assert first.acquire() and not second.acquire()
    wall.at = T0 + timedelta(seconds=10)
    assert first.acquire() and not second.acquire()  # renewed
    wall.at = T0 + timedelta(seconds=26)  # first stopped renewing 16 s ago
    assert second.acquire() and not first.acquire()
    lease = db.session.get(EngineLease, "engine")
    assert (lease.holder, lease.epoch) == ("second", 2)


def test_a_released_lease_is_taken_at_once(app):
    wall = Wall(T0)
    first, second = Engine([], holder="a", wall=wall), Engine([], holder="b", wall=wall)
    assert first.acquire()
    first.release()
    assert second.acquire()


def test_a_unit_of_work_after_losing_the_lease_is_rolled_back(app):
    wall = Wall(T0)
    service = make_service()
    done = []

    def due(now, limit):
        return [1, 2, 3]

    def run(ident, now):
        done.append(ident)
        incidents.open_incident(SYSTEM, service=service, title=f"unit {ident}", severity=3, now=now)
        if ident == 1:
            # While unit 2 would run, another engine takes over (we stalled past our lease).
            wall.at = T0 + timedelta(seconds=60)
            other = Engine([], holder="other", lease_seconds=15, wall=wall)
            db.session.commit()
            assert other.acquire()
        return True

    engine = Engine([Job("test", due, run)], holder="me", lease_seconds=15, wall=wall)
    clock.set(T0)
    report = engine.cycle()
    assert report.lost_lease and report.done == {"test": 1}
    titles = db.session.scalars(sa.select(Incident.title)).all()
    assert titles == ["unit 1"]  # unit 2 never ran: the fence stopped it before
    assert done == [1]


def test_a_failing_unit_does_not_stop_the_others(app):
    def run(ident, now):
        if ident == 2:
            raise RuntimeError("boom")
        return True

    report = Engine([Job("test", lambda now, limit: [1, 2, 3], run)], holder="me").cycle()
    assert report.done == {"test": 2} and report.errors == ["test 2: boom"]
    lease = db.session.get(EngineLease, "engine")
    assert lease.cycles == 1 and "boom" in lease.last_error


def test_a_stopping_engine_finishes_the_unit_at_hand_and_takes_no_more(app):
    """SIGTERM mid-job (the runner sets `stopping`): the unit at hand commits; the rest
    of the job and the jobs after it stay due, for the next engine."""
    engine = Engine([], holder="me")
    done = []

    def run(ident, now):
        done.append(ident)
        if ident == 2:
            engine.stopping.set()
        return True

    engine.jobs = [Job("first", lambda now, limit: [1, 2, 3], run), Job("second", lambda now, limit: [9], run)]
    report = engine.cycle()
    assert done == [1, 2] and report.done == {"first": 2} and report.more
    assert db.session.get(EngineLease, "engine").cycles == 1


@pytest.mark.realtime
def test_a_job_with_a_backlog_leaves_the_next_job_its_turn(app):
    """A burst of due work in one job (new incidents) must not hold back the jobs after
    it (their pages) for the whole burst: past its slice a job stops, and the rest of
    its work is due again next cycle (which the runner starts at once)."""
    import time
    done = []

    def slow(ident, now):
        time.sleep(0.02)
        done.append(("slow", ident))
        return True

    def quick(ident, now):
        done.append(("quick", ident))
        return True

    jobs = [Job("burst", lambda now, limit: list(range(100)), slow), Job("pages", lambda now, limit: [1], quick)]
    report = Engine(jobs, holder="me", slice_seconds=0.1).cycle()
    assert ("quick", 1) in done
    assert 0 < report.done["burst"] < 100 and report.more
    unlimited = Engine(jobs, holder="me").cycle()  # `engine tick` and tests: everything due, at once
    assert unlimited.done["burst"] == 100 and not unlimited.more


@pytest.mark.db
def test_acknowledgement_timeout_returns_an_incident_to_triggered_once(app):
    service = make_service()
    service.ack_timeout_minutes = 30
    incident = incidents.open_incident(SYSTEM, service=service, title="Checkout down", severity=2, now=T0)
    incidents.acknowledge(SYSTEM, incident, T0 + timedelta(minutes=1))
    db.session.commit()
    engine = Engine(all_jobs(), holder="me")
    clock.set(T0 + timedelta(minutes=30))
    assert engine.cycle().total == 0
    clock.set(T0 + timedelta(minutes=31))
    assert engine.cycle().done == {"ack_timeouts": 1}
    assert engine.cycle().total == 0
    db.session.expire_all()
    incident = db.session.get(Incident, incident.id)
    assert incident.status == Status.TRIGGERED and incident.ack_timeout_at is None
    assert incident.acknowledged_at == T0 + timedelta(minutes=1)  # the first acknowledgement stays the milestone
    kinds = db.session.scalars(sa.select(IncidentEvent.kind).where(IncidentEvent.incident_id == incident.id)).all()
    assert kinds.count(EventKind.ACK_TIMED_OUT) == 1


def test_resolving_cancels_the_acknowledgement_timeout(app):
    service = make_service()
    incident = incidents.open_incident(SYSTEM, service=service, title="x", severity=3, now=T0)
    incidents.acknowledge(SYSTEM, incident, T0)
    incidents.resolve(SYSTEM, incident, T0 + timedelta(minutes=5))
    db.session.commit()
    clock.set(T0 + timedelta(hours=2))
    assert Engine(all_jobs(), holder="me").cycle().done == {"resolution_followups": 1}  # and no timeout


@pytest.mark.db
def test_auto_resolve(app):
    service = make_service()
    service.auto_resolve_minutes = 240
    incident = incidents.open_incident(SYSTEM, service=service, title="Disk 80%", severity=4, now=T0)
    db.session.commit()
    clock.set(T0 + timedelta(hours=4, seconds=1))
    # The resolution's follow-up (search entries; no post-mortem for a SEV-4) in the same cycle.
    assert Engine(all_jobs(), holder="me").cycle().done == {"auto_resolve": 1, "resolution_followups": 1}
    db.session.expire_all()
    incident = db.session.get(Incident, incident.id)
    assert incident.status == Status.RESOLVED and incident.resolved_by_id is None


@pytest.mark.db
def test_maintenance_windows_start_and_end_on_time(app):
    service = make_service()
    window = maintenance.schedule(SYSTEM, title="Upgrade", starts_at=T0 + timedelta(hours=1),
                                  ends_at=T0 + timedelta(hours=2), services=[service], now=T0)
    db.session.commit()
    engine = Engine(all_jobs(), holder="me")
    for at, state in [(T0 + timedelta(minutes=59), MaintenanceState.SCHEDULED),
                      (T0 + timedelta(hours=1), MaintenanceState.IN_PROGRESS),
                      (T0 + timedelta(hours=2), MaintenanceState.COMPLETED)]:
        clock.set(at)
        engine.cycle()
        db.session.expire_all()
        assert db.session.get(type(window), window.id).state == state


def test_a_cycle_reads_only_due_work(app):
    """The due queries use their indexes: cost follows due work, not open incidents."""
    with db.engine.connect() as conn:
        for table, column in [("incidents", "ack_timeout_at"), ("incidents", "auto_resolve_at"),
                              ("heartbeats", "due_at"), ("maintenance_windows", "next_transition_at")]:
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN SELECT id FROM {table} WHERE {column} <= '2026-01-01' ORDER BY {column} LIMIT 500"))
            assert f"USING INDEX ix_{table}_{column}" in plan or f"USING COVERING INDEX ix_{table}_{column}" in plan, plan


def test_engine_tick_runs_one_cycle_as_if_at_a_time(app, runner):
    service = make_service()
    service.ack_timeout_minutes = 30
    incident = incidents.open_incident(SYSTEM, service=service, title="x", severity=3, now=T0)
    incidents.acknowledge(SYSTEM, incident, T0)
    db.session.commit()
    early = runner.invoke(args=["engine", "tick", "--at", "2026-11-27T03:10:00Z"])
    assert early.exit_code == 0 and "nothing due" in early.output
    late = runner.invoke(args=["engine", "tick", "--at", "2026-11-27T03:31:00Z"])
    assert late.exit_code == 0 and "1 ack_timeouts" in late.output
    assert not clock.is_set()
    bad = runner.invoke(args=["engine", "tick", "--at", "yesterday"])
    assert bad.exit_code == 1 and "not an ISO 8601 time" in bad.output


def test_engine_tick_does_nothing_while_another_engine_holds_the_lease(app, runner):
    assert Engine([], holder="running-engine").acquire()
    answer = runner.invoke(args=["engine", "tick"])
    assert answer.exit_code == 1 and "another engine holds the lease" in answer.output
