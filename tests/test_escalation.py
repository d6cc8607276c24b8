"""Escalation: page the on-call, escalate until someone answers, never lose a page."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.escalation import policies
from app.escalation import service as escalation
from app.escalation.models import SeverityTrigger
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import EventKind, Incident, IncidentEvent, Status
from app.notify.models import Channel, Notification, Status as NotificationStatus
from tests.conftest import provider_config
from tests.factories import SYSTEM, actor, make_service, make_team, make_user, reachable, reachable_responders

T0 = datetime(2026, 11, 27, 15, 12, tzinfo=UTC)


@pytest.fixture
def app_config(twilio, mailbox):
    return provider_config(twilio, mailbox)


@pytest.fixture
def people(app):
    clock.set(T0)
    return reachable_responders("Dana", "Lee", "Priya", "Sam")


def make_policy(steps, repeat=0, name="Checkout"):
    admin = make_user(Role.ADMIN)
    policy = policies.create_policy(actor(admin), name=name, repeat=repeat, now=T0)
    for targets, delay, mode in steps:
        step = policies.add_step(actor(admin), policy, delay_minutes=delay, mode=mode, now=T0)
        for kind, ref in targets:
            policies.add_target(actor(admin), step, kind, ref, T0)
    db.session.commit()
    return policy


@pytest.fixture
def service(app, people):
    service = make_service("checkout-api")
    policy = make_policy([([("user", people["Dana"].id)], 10, "all"),
                          ([("user", people["Lee"].id)], 10, "all"),
                          ([("user", people["Priya"].id), ("user", people["Sam"].id)], 10, "all")])
    service.escalation_policy_id = policy.id
    db.session.commit()
    return service


def open_incident(service, severity=3, at=T0):
    incident = incidents.open_incident(SYSTEM, service=service, title="Checkout fails", severity=severity, now=at)
    db.session.commit()
    return incident


def paged_users(incident):
    """Who was paged, in order (one entry per person per page round)."""
    rows = db.session.scalars(sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id,
                                                             IncidentEvent.kind == EventKind.PAGED)
                              .order_by(IncidentEvent.id)).all()
    from app.auth.models import User
    return [db.session.get(User, row.data["user_id"]).name for row in rows]


def cycle(at):
    clock.set(at)
    return Engine(all_jobs(), holder="test").cycle()


@pytest.mark.db
def test_steps_escalate_every_delay_until_acknowledged(service, people):
    service.ack_timeout_minutes = None  # an acknowledgement holds
    incident = open_incident(service)
    assert paged_users(incident) == ["Dana"]
    assert incident.next_escalation_at == T0 + timedelta(minutes=10)
    cycle(T0 + timedelta(minutes=9))
    assert paged_users(incident) == ["Dana"]
    cycle(T0 + timedelta(minutes=10))
    assert paged_users(incident) == ["Dana", "Lee"]
    cycle(T0 + timedelta(minutes=20))
    assert paged_users(incident) == ["Dana", "Lee", "Priya", "Sam"]
    incidents.acknowledge(actor(people["Sam"]), db.session.get(Incident, incident.id), T0 + timedelta(minutes=21))
    db.session.commit()
    cycle(T0 + timedelta(hours=2))
    incident = db.session.get(Incident, incident.id)
    assert incident.next_escalation_at is None and incident.escalation_state == "stopped"
    assert paged_users(incident) == ["Dana", "Lee", "Priya", "Sam"]
    texts = db.session.scalars(sa.select(IncidentEvent.text).where(IncidentEvent.kind == EventKind.ESCALATED)).all()
    assert texts[1].startswith("Escalation step 2 (no acknowledgement): Lee")


def test_the_policy_repeats_then_alarms_and_pages_the_fallback(app, people):
    admin = reachable(make_user(Role.ADMIN, name="Avery"))
    service = make_service("payments-db")
    service.escalation_policy_id = make_policy([([("user", people["Dana"].id)], 5, "all")], repeat=1, name="DB").id
    db.session.commit()
    incident = open_incident(service)
    cycle(T0 + timedelta(minutes=5))
    assert paged_users(incident) == ["Dana", "Dana"]
    cycle(T0 + timedelta(minutes=10))
    incident = db.session.get(Incident, incident.id)
    assert incident.escalation_state == "exhausted" and incident.unreachable_since is not None
    assert paged_users(incident)[-1] == admin.name
    alarm = db.session.scalar(sa.select(IncidentEvent.text).where(IncidentEvent.kind == EventKind.NOBODY_REACHABLE))
    assert "ran out after 2 rounds" in alarm


def test_an_edit_does_not_change_a_page_in_flight(service, people):
    incident = open_incident(service)
    policy = policies.get_policy(service.escalation_policy_id)
    step2 = policy.steps[1]
    admin = make_user(Role.ADMIN)
    policies.remove_target(actor(admin), step2.targets[0], T0)
    policies.add_target(actor(admin), step2, "user", people["Sam"].id, T0)
    db.session.commit()
    cycle(T0 + timedelta(minutes=10))
    assert paged_users(incident) == ["Dana", "Lee"]  # the snapshot, not the edit
    fresh = open_incident(service, at=T0 + timedelta(minutes=11))
    cycle(T0 + timedelta(minutes=21))
    assert paged_users(fresh) == ["Dana", "Sam"]


def test_escalate_now_jumps_to_the_next_step_and_reopening_restarts(service, people):
    incident = open_incident(service)
    incidents.acknowledge(actor(people["Dana"]), incident, T0 + timedelta(minutes=1))
    reached = escalation.escalate_now(actor(people["Dana"]), incident, T0 + timedelta(minutes=2), via="web")
    db.session.commit()
    assert reached == "Lee" and incident.status == Status.TRIGGERED
    assert paged_users(incident) == ["Dana", "Lee"]
    incidents.resolve(actor(people["Lee"]), incident, T0 + timedelta(minutes=3))
    incidents.reopen(actor(people["Lee"]), incident, T0 + timedelta(minutes=4))
    db.session.commit()
    assert paged_users(incident) == ["Dana", "Lee", "Dana"]
    assert incident.escalation_run == 2 and incident.escalation_step == 0


def test_an_acknowledgement_timeout_repages_the_current_step(service, people):
    service.ack_timeout_minutes = 30
    incident = open_incident(service)
    cycle(T0 + timedelta(minutes=10))  # Lee's step
    incidents.acknowledge(actor(people["Lee"]), db.session.get(Incident, incident.id), T0 + timedelta(minutes=11))
    db.session.commit()
    cycle(T0 + timedelta(minutes=41))
    assert paged_users(db.session.get(Incident, incident.id)) == ["Dana", "Lee", "Lee"]


def test_round_robin_pages_one_person_in_turn(app, people):
    service = make_service("search")
    policy = make_policy([([("user", people["Dana"].id), ("user", people["Lee"].id)], 5, "round_robin")], name="RR")
    service.escalation_policy_id = policy.id
    db.session.commit()
    first, second, third = (open_incident(service, at=T0 + timedelta(minutes=n)) for n in range(3))
    assert [paged_users(i) for i in (first, second, third)] == [["Dana"], ["Lee"], ["Dana"]]


def test_a_service_without_a_policy_alarms_and_pages_the_fallback_team(app, people):
    team = make_team("Platform", members=[people["Sam"]])
    service = make_service("orphan")
    service.fallback_team_id = team.id
    db.session.commit()
    incident = open_incident(service)
    assert incident.unreachable_since == T0 and paged_users(incident) == ["Sam"]
    assert "has no escalation policy" in db.session.scalar(
        sa.select(IncidentEvent.text).where(IncidentEvent.kind == EventKind.NOBODY_REACHABLE))


def test_a_step_whose_people_cannot_be_reached_raises_the_alarm(app, people):
    lonely = make_user(Role.RESPONDER, name="No Phone")
    admin = reachable(make_user(Role.ADMIN, name="Avery"))
    service = make_service("lonely")
    service.escalation_policy_id = make_policy([([("user", lonely.id)], 5, "all")], name="Lonely").id
    db.session.commit()
    incident = open_incident(service)
    assert incident.unreachable_since is not None
    assert paged_users(incident) == ["Avery"] and admin.id


def test_severity_triggers_page_at_once_and_when_raised(service, people):
    managers = make_team("Payments")
    from app.auth import service as auth_service
    auth_service.add_member(SYSTEM, managers, people["Priya"], is_manager=True)
    service.team_id = managers.id
    db.session.add(SeverityTrigger(severity=1, kind="managers"))
    db.session.add(SeverityTrigger(severity=2, kind="user", user_id=people["Sam"].id))
    db.session.commit()
    incident = open_incident(service, severity=3)
    assert paged_users(incident) == ["Dana"]
    incidents.change_severity(actor(people["Dana"]), incident, 2, T0 + timedelta(minutes=1), reason="many customers")
    db.session.commit()
    assert paged_users(incident) == ["Dana", "Sam"]
    incidents.change_severity(actor(people["Dana"]), incident, 1, T0 + timedelta(minutes=2), reason="all customers")
    db.session.commit()
    assert paged_users(incident) == ["Dana", "Sam", "Priya"]
    incidents.change_severity(actor(people["Dana"]), incident, 3, T0 + timedelta(minutes=3), reason="workaround")
    db.session.commit()
    assert paged_users(incident) == ["Dana", "Sam", "Priya"]  # lowering pages nobody new


def test_preview_says_who_is_paged_when(service, people):
    policy = policies.get_policy(service.escalation_policy_id)
    from app.escalation import targets
    lines = escalation.preview(escalation.snapshot(policy), T0, targets.resolve)
    assert [(at, names) for at, names, _ in lines] == [
        (T0, ["Dana"]), (T0 + timedelta(minutes=10), ["Lee"]), (T0 + timedelta(minutes=20), ["Priya", "Sam"])]


def test_escalation_by_sms_reply(client, twilio, service, people):
    incident = open_incident(service)
    params = twilio.inbound_sms(people["Dana"].contact_methods[0].address, f"{incident.id}E", "SMesc")
    answer = client.post("/twilio/sms", data=params, csrf=False,
                         headers={"X-Twilio-Signature": twilio.sign("http://localhost/twilio/sms", params)})
    assert f"#{incident.id} escalated by Dana: paging Lee." in answer.get_data(as_text=True)


def test_pages_that_are_due_are_sent_and_the_timeline_says_how_the_ack_came(service, people, twilio):
    incident = open_incident(service)
    cycle(T0)
    [sms] = twilio.messages
    assert sms.to == people["Dana"].contact_methods[0].address
    cycle(T0 + timedelta(minutes=2))  # Dana's own rules: a call after 2 minutes
    assert [c.to for c in twilio.calls] == [sms.to]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.incident_id == incident.id, Notification.status == NotificationStatus.SENT)) == 2
    assert Channel.SMS in {n.channel for n in db.session.scalars(sa.select(Notification))}


@pytest.mark.db
def test_an_incident_opened_by_monitoring_is_paged_by_the_engines_next_cycle(service, people, client):
    from app.services.models import IntegrationKey
    db.session.add(IntegrationKey(service=service, key="c" * 32, name="monitoring"))
    db.session.commit()
    answer = client.post("/v2/enqueue", json={"routing_key": "c" * 32, "event_action": "trigger", "dedup_key": "x",
                                              "payload": {"summary": "Down", "source": "h", "severity": "critical"}})
    assert answer.status_code == 202
    incident = db.session.scalar(sa.select(Incident))
    assert paged_users(incident) == [] and incident.next_escalation_at == T0 and incident.escalation_state is None
    assert cycle(T0).done.get("escalations") == 1
    assert paged_users(db.session.get(Incident, incident.id)) == ["Dana"]


@pytest.mark.db
def test_removing_a_step_with_targets_takes_them_and_renumbers_the_rest(app):
    """It used to fail the flush ("Failed to add object to the flush context!", a 500 on
    the page) whenever the step had a target: the step was deleted twice, explicitly and
    as an orphan. Found by the route crawl (tests/test_access.py)."""
    from app.escalation.models import EscalationStep, EscalationTarget
    now = clock.now()
    person = make_user()
    policy = policies.create_policy(SYSTEM, name="Payments", now=now)
    first = policies.add_step(SYSTEM, policy, delay_minutes=5, mode="all", now=now)
    policies.add_target(SYSTEM, first, "user", person.id, now)
    second = policies.add_step(SYSTEM, policy, delay_minutes=10, mode="all", now=now)
    policies.add_target(SYSTEM, second, "user", person.id, now)
    db.session.commit()
    policies.remove_step(SYSTEM, first, now)
    db.session.commit()
    assert [(s.id, s.position) for s in db.session.scalars(sa.select(EscalationStep))] == [(second.id, 0)]
    assert [t.step_id for t in db.session.scalars(sa.select(EscalationTarget))] == [second.id]


def test_removing_a_step_deletes_it_with_its_targets_and_renumbers_the_rest(service, people):
    """As a request does it, with the step's targets not yet loaded (this answered 500)."""
    from app.escalation.models import EscalationPolicy, EscalationStep, EscalationTarget
    admin = make_user(Role.ADMIN)
    db.session.expire_all()
    policy = db.session.get(EscalationPolicy, service.escalation_policy_id)
    first = policy.steps[0]
    policies.remove_step(actor(admin), db.session.get(EscalationStep, first.id), T0)
    db.session.commit()
    db.session.expire_all()
    policy = db.session.get(EscalationPolicy, service.escalation_policy_id)
    assert [step.position for step in policy.steps] == [0, 1]
    assert [[t.user.name for t in step.targets] for step in policy.steps] == [["Lee"], ["Priya", "Sam"]]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EscalationTarget)) == 3


def test_stopping_keeps_what_was_set_on_the_incident_but_not_yet_written(app):
    """`stop` is one UPDATE on the stored row: a state set on the incident and not yet
    flushed (inside no_autoflush, as ingestion and the engine run) is written first,
    so an exhausted escalation stays exhausted instead of the stored one being stopped."""
    clock.set(T0)
    incident = incidents.open_incident(SYSTEM, service=make_service("api"), title="t", severity=2, now=T0)
    incident.escalation_state = escalation.STATE_ACTIVE
    db.session.commit()
    with db.session.no_autoflush:
        incident.escalation_state = escalation.STATE_EXHAUSTED
        escalation.stop(incident)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Incident, incident.id).escalation_state == escalation.STATE_EXHAUSTED
    incident.escalation_state = escalation.STATE_ACTIVE
    db.session.commit()
    escalation.stop(incident)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Incident, incident.id).escalation_state == escalation.STATE_STOPPED
