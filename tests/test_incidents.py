"""The incident lifecycle through its service functions."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.alerts.ingest import AlertEvent, process
from app.alerts.models import Alert, AlertStatus
from app.audit.models import AuditEntry
from app.auth.models import Role
from app.errors import Conflict, DomainError, Forbidden
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import EventKind, Incident, IncidentEvent, Status
from app.incidents.objectives import objectives
from tests.factories import SYSTEM, actor, make_service, make_user, story

T0 = datetime(2026, 11, 27, 3, 12, tzinfo=UTC)


@pytest.fixture
def service(app):
    return make_service("checkout-api")


@pytest.fixture
def dana(app):
    return make_user(Role.RESPONDER, name="Dana")


def kinds(incident):
    return db.session.scalars(sa.select(IncidentEvent.kind).where(IncidentEvent.incident_id == incident.id)
                              .order_by(IncidentEvent.id)).all()


def audit_actions(incident):
    return db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.object_type == "incidents",
                                                                  AuditEntry.object_id == incident.id)
                              .order_by(AuditEntry.id)).all()


def open_one(service, dana, **kwargs):
    incident = incidents.open_incident(actor(dana), service=service, title="Checkout fails", severity=2, now=T0,
                                       **kwargs)
    db.session.commit()
    return incident


@pytest.mark.db
def test_declare_acknowledge_resolve_reopen(service, dana):
    incident = open_one(service, dana)
    assert (incident.status, incident.detected_at, incident.declared_by_id) == (Status.TRIGGERED, T0, dana.id)
    assert incidents.acknowledge(actor(dana), incident, T0 + timedelta(minutes=3))
    assert not incidents.acknowledge(actor(dana), incident, T0 + timedelta(minutes=4))  # no-op, nothing written
    assert incidents.resolve(actor(dana), incident, T0 + timedelta(minutes=20), note="rolled back")
    assert incident.mitigated_at == incident.resolved_at == T0 + timedelta(minutes=20)
    assert incidents.reopen(actor(dana), incident, T0 + timedelta(minutes=30), reason="errors are back")
    assert incident.status == Status.TRIGGERED and incident.resolved_at is None
    assert incident.acknowledged_at == T0 + timedelta(minutes=3)
    db.session.commit()
    assert story(kinds(incident)) == ["opened", "acknowledged", "resolved", "reopened"]
    assert audit_actions(incident) == ["incident.open", "incident.acknowledge", "incident.resolve", "incident.reopen"]


def test_any_open_state_may_go_straight_to_resolved(service, dana):
    incident = open_one(service, dana)
    assert incidents.resolve(actor(dana), incident, T0 + timedelta(minutes=1))
    assert not incidents.resolve(actor(dana), incident, T0 + timedelta(minutes=2))


@pytest.mark.db
@pytest.mark.parametrize("loaded", [False, True], ids=["just-opened", "loaded"])
def test_the_resolved_incident_in_hand_reads_what_its_row_holds(service, dana, loaded):
    """`resolve` writes the incident's columns with one UPDATE (ingestion's batches write
    the same values on many rows): what the caller reads afterwards in the same unit,
    before any commit, is what was written, whether the incident was opened in this
    unit or loaded, with changes pending on the columns resolving writes."""
    incident = incidents.open_incident(actor(dana), service=service, title="Checkout fails", severity=2, now=T0)
    if loaded:
        db.session.commit()
        db.session.expire_all()
        incident = db.session.get(Incident, incident.id)
    # Pending: the UPDATE must not read the stored values (no mitigation, no escalation policy).
    incident.mitigated_at, incident.escalation_state = T0 + timedelta(minutes=5), "active"
    with db.session.no_autoflush:  # as ingestion resolves
        assert incidents.resolve(actor(dana), incident, T0 + timedelta(minutes=20))
    held = {column.key: getattr(incident, column.key) for column in Incident.__table__.columns}
    db.session.flush()
    stored = db.session.execute(sa.select(Incident.__table__).where(Incident.id == incident.id)).mappings().one()
    assert held == dict(stored)
    assert (held["status"], held["resolved_by_id"], held["followup_at"], held["escalation_state"]) == (
        Status.RESOLVED, dana.id, T0 + timedelta(minutes=20), "stopped")
    assert held["mitigated_at"] == T0 + timedelta(minutes=5)


def test_viewers_cannot_act(service):
    viewer = make_user(Role.VIEWER)
    with pytest.raises(Forbidden):
        incidents.open_incident(actor(viewer), service=service, title="x", severity=3, now=T0)


@pytest.mark.parametrize("title,severity,message", [
    ("", 2, "title"), ("x" * 1025, 2, "under 1024"), ("ok", 5, "SEV-1, SEV-2"), ("ok", "SEV-0", "SEV-1"),
])
def test_bad_incidents_are_refused(service, dana, title, severity, message):
    with pytest.raises(DomainError, match=message):
        incidents.open_incident(actor(dana), service=service, title=title, severity=severity, now=T0)


@pytest.mark.db
def test_severity_changes_need_a_reason_and_keep_the_first_severity(service, dana):
    incident = open_one(service, dana)
    with pytest.raises(DomainError, match="Say why"):
        incidents.change_severity(actor(dana), incident, 1, T0, reason="  ")
    assert incidents.change_severity(actor(dana), incident, "SEV-1", T0 + timedelta(minutes=5),
                                     reason="all customers affected")
    assert not incidents.change_severity(actor(dana), incident, 1, T0, reason="again")
    db.session.commit()
    assert (incident.initial_severity, incident.severity) == (2, 1)
    event = db.session.scalar(sa.select(IncidentEvent).where(IncidentEvent.kind == EventKind.SEVERITY_CHANGED))
    assert event.data == {"old": 2, "new": 1, "reason": "all customers affected"}
    assert "raised from SEV-2 to SEV-1" in event.text


@pytest.mark.db
def test_resolving_an_incident_resolves_its_alerts_so_a_new_trigger_opens_a_new_one(service, dana):
    event = AlertEvent(routing_key="", action="trigger", dedup_key="disk", summary="Disk full", source="db-1",
                       severity="critical")
    first = process(event, service, None, T0, SYSTEM).incident
    incidents.resolve(actor(dana), first, T0 + timedelta(minutes=5))
    db.session.commit()
    assert db.session.scalar(sa.select(Alert.status)) == AlertStatus.RESOLVED
    second = process(event, service, None, T0 + timedelta(minutes=6), SYSTEM).incident
    assert second.id != first.id


@pytest.mark.db
def test_merge_moves_alerts_and_timeline_and_leaves_a_link(service, dana):
    target = open_one(service, dana)
    event = AlertEvent(routing_key="", action="trigger", dedup_key="k", summary="Dup", source="s", severity="error",
                       timestamp=T0 - timedelta(minutes=30))
    source = process(event, service, None, T0 + timedelta(minutes=1), SYSTEM).incident
    incidents.add_note(actor(dana), source, "looks like the same outage", T0 + timedelta(minutes=2))
    incidents.merge(actor(dana), source, target, T0 + timedelta(minutes=3))
    db.session.commit()
    assert source.status == Status.RESOLVED and source.merged_into_id == target.id
    assert db.session.scalar(sa.select(Alert.incident_id)) == target.id
    assert kinds(source) == ["merged_into"]
    assert "note" in kinds(target) and "merged_from" in kinds(target)
    assert target.impact_started_at == T0 - timedelta(minutes=30)  # the earliest impact of the two
    with pytest.raises(Conflict):
        incidents.reopen(actor(dana), source, T0 + timedelta(minutes=4))
    with pytest.raises(DomainError, match="itself"):
        incidents.merge(actor(dana), target, target, T0)
    with pytest.raises(DomainError, match="was itself merged"):
        incidents.merge(actor(dana), open_one(service, dana), source, T0)


@pytest.mark.db
def test_milestones_can_be_corrected_within_the_rules(service, dana):
    incident = open_one(service, dana)
    incidents.acknowledge(actor(dana), incident, T0 + timedelta(minutes=2))
    incidents.resolve(actor(dana), incident, T0 + timedelta(minutes=40))
    now = T0 + timedelta(hours=1)
    changed = incidents.update_milestones(actor(dana), incident, now, impact_started_at=T0 - timedelta(minutes=10),
                                          mitigated_at=T0 + timedelta(minutes=25))
    assert set(changed) == {"impact_started_at", "mitigated_at"}
    assert incident.mitigated_at == T0 + timedelta(minutes=25)
    db.session.commit()
    assert kinds(incident)[-1] == "milestone_changed"
    bad = [
        ({"impact_started_at": T0 + timedelta(minutes=5)}, "Detected cannot be before impact started"),
        ({"acknowledged_at": T0 - timedelta(minutes=1)}, "Acknowledged cannot be before detection"),
        ({"mitigated_at": T0 + timedelta(minutes=50)}, "Mitigated cannot be after resolved"),
        ({"resolved_at": now + timedelta(minutes=1)}, "cannot be in the future"),
        ({"detected_at": None}, "Detected cannot be empty"),
        ({"resolved_at": None}, "needs its resolved time"),
        ({"bogus_at": T0}, "Unknown milestone"),
    ]
    for values, message in bad:
        with pytest.raises(DomainError, match=message):
            incidents.update_milestones(actor(dana), incident, now, **values)
    assert incidents.update_milestones(actor(dana), incident, now, mitigated_at=T0 + timedelta(minutes=25)) == {}


def test_an_open_incident_cannot_have_a_resolved_time(service, dana):
    incident = open_one(service, dana)
    with pytest.raises(DomainError, match="Resolve the incident"):
        incidents.update_milestones(actor(dana), incident, T0 + timedelta(hours=1), resolved_at=T0 + timedelta(minutes=5))


def test_objectives_follow_the_severity(service, dana):
    incident = open_one(service, dana)  # SEV-2: 15 min response, 4 h resolution
    response, resolution = objectives(incident)
    assert response.due_at == T0 + timedelta(minutes=15) and resolution.due_at == T0 + timedelta(hours=4)
    assert response.state(T0 + timedelta(minutes=14)) == "running"
    assert response.state(T0 + timedelta(minutes=16)) == "overdue"
    incidents.acknowledge(actor(dana), incident, T0 + timedelta(minutes=20))
    response, _ = objectives(incident)
    assert response.state(T0 + timedelta(hours=1)) == "breached" and response.margin() == -300
    incidents.change_severity(actor(dana), incident, 4, T0, reason="internal only")
    response, _ = objectives(incident)
    assert response.state(T0 + timedelta(hours=1)) == "met"


@pytest.mark.db
def test_notes_are_validated(service, dana):
    incident = open_one(service, dana)
    with pytest.raises(DomainError, match="empty"):
        incidents.add_note(actor(dana), incident, "   ", T0)
    with pytest.raises(DomainError, match="under 20,000"):
        incidents.add_note(actor(dana), incident, "x" * 20_001, T0)
    event = incidents.add_note(actor(dana), incident, "Rolled back to v2.13", T0)
    assert event.actor_label == "Dana" and event.via == "web"


def test_every_change_bumps_the_version_live_pages_watch(service, dana):
    incident = open_one(service, dana)
    versions = [incident.version]
    incidents.add_note(actor(dana), incident, "one", T0)
    versions.append(incident.version)
    incidents.acknowledge(actor(dana), incident, T0)
    versions.append(incident.version)
    assert versions == sorted(set(versions))
    assert db.session.get(Incident, incident.id).updated_at == T0


def test_resolving_locks_the_incident_before_its_pages(app):
    """PostgreSQL takes row locks in statement order: resolving writes the incident's
    row before it stops its pages, as acknowledging, ingestion and the outbox do, so
    none of them can deadlock with it."""
    from app import clock
    from app.notify import paging
    from tests.factories import reachable
    clock.set(T0)
    incident = incidents.open_incident(SYSTEM, service=make_service("api"), title="t", severity=2, now=T0)
    dana = reachable(make_user(Role.RESPONDER, name="Dana"))
    paging.page(incident, dana, T0, round_key="1", actor=SYSTEM)
    db.session.commit()
    updated: list[str] = []

    def spy(conn, cursor, statement, *rest):
        if statement.lstrip().upper().startswith("UPDATE"):
            updated.append(statement.split()[1].strip('"'))

    sa.event.listen(db.engine, "before_cursor_execute", spy)
    try:
        assert incidents.resolve(actor(dana), incident, T0 + timedelta(minutes=1))
        db.session.commit()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", spy)
    assert "notifications" in updated and updated.index("incidents") < updated.index("notifications")
