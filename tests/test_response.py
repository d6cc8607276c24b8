"""Response coordination: roles (assign, hand over, proposals, checklists), the war
room (links, tasks, reports, decisions) and responders from other teams."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.service import Actor
from app.auth.models import Role
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.errors import DomainError, Forbidden
from app.escalation import policies
from app.extensions import db
from app.incidents import roles, warroom
from app.incidents import service as incidents
from app.incidents.models import EventKind, IncidentEvent
from app.incidents.roles_models import AssignmentState, RoleAssignment
from app.notify import inbound
from app.notify.models import Notification
from app.postmortems import facts
from tests.conftest import provider_config
from tests.factories import SYSTEM, actor, make_service, make_team, make_user, reachable
from tests.oncall_factories import make_layer, make_schedule

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def app_config(twilio, mailbox):
    return provider_config(twilio, mailbox)


@pytest.fixture
def people(app):
    clock.set(T0)
    return {name: make_user(Role.RESPONDER, name=name) for name in ("Dana", "Lee", "Priya", "Sam")}


def open_sev(severity=1, service=None):
    incident = incidents.open_incident(SYSTEM, service=service or make_service(), title="Checkout fails",
                                       severity=severity, now=clock.now())
    db.session.commit()
    return incident


def kinds(incident, *wanted):
    return [e for e in db.session.scalars(sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id)
                                          .order_by(IncidentEvent.id)) if e.kind in wanted]


# --- roles ----------------------------------------------------------------------------------------------

def test_the_eight_roles_each_with_a_description_and_a_checklist(app):
    specs = roles.definitions()
    assert [s.name for s in specs] == ["Incident Commander", "Deputy Incident Commander", "Technical Lead",
                                       "Communications Lead", "Scribe", "Subject Matter Expert", "Customer Liaison",
                                       "Internal Liaison"]
    assert all(s.description and len(s.checklist) >= 3 for s in specs)
    commander = roles.definition("commander").checklist
    assert "Confirm the severity" in commander and "Open the bridge and the chat channel" in commander


@pytest.mark.db
def test_assigning_and_handing_over_is_on_the_timeline_and_the_review_reads_it(people):
    incident = open_sev()
    dana, lee = people["Dana"], people["Lee"]
    assert roles.assign(actor(dana), incident, "commander", dana, T0)
    assert not roles.assign(actor(dana), incident, "commander", dana, T0)  # already hers
    assert roles.assign(actor(dana), incident, "commander", lee, T0 + timedelta(minutes=20))
    db.session.commit()
    assigned = kinds(incident, EventKind.ROLE_ASSIGNED)
    assert [e.text for e in assigned] == ["Dana is now Incident Commander",
                                          "Incident Commander handed over from Dana to Lee"]
    assert assigned[1].data == {"role": "commander", "user_id": lee.id, "from_user_id": dana.id, "handover": True}
    assert facts.commander_of(incident) == lee
    history = db.session.scalars(sa.select(RoleAssignment).where(RoleAssignment.role == "commander")
                                 .order_by(RoleAssignment.id)).all()
    assert [(r.user_id, r.state, r.until) for r in history] == [
        (dana.id, AssignmentState.ENDED, T0 + timedelta(minutes=20)), (lee.id, AssignmentState.ACTIVE, None)]
    responders = {r.user.name: r.roles for r in facts.responders(incident)}
    assert "Incident commander" in responders["Lee"]


@pytest.mark.db
def test_several_people_may_be_subject_matter_experts_and_roles_are_released(people):
    incident = open_sev(3)
    for name in ("Priya", "Sam"):
        roles.assign(SYSTEM, incident, "sme", people[name], T0)
    assert [u.name for u in roles.holders(incident, "sme")] == ["Priya", "Sam"]
    assert roles.release(SYSTEM, incident, "sme", people["Priya"], T0)
    assert [u.name for u in roles.holders(incident, "sme")] == ["Sam"]
    [released] = kinds(incident, EventKind.ROLE_RELEASED)
    assert released.data == {"role": "sme", "user_id": people["Priya"].id}


@pytest.mark.db
def test_roles_go_to_active_responders_only(people):
    incident = open_sev(3)
    viewer = make_user(Role.VIEWER, name="Vic")
    with pytest.raises(DomainError, match="viewer"):
        roles.assign(SYSTEM, incident, "scribe", viewer, T0)
    with pytest.raises(DomainError, match="no role 'captain'"):
        roles.assign(SYSTEM, incident, "captain", people["Dana"], T0)
    with pytest.raises(Forbidden):
        roles.assign(actor(viewer), incident, "scribe", people["Dana"], T0)


@pytest.mark.db
def test_a_sev1_proposes_the_commander_on_call_and_the_first_on_call_as_technical_lead(people):
    schedule = make_schedule("Incident Commander")
    make_layer(schedule, [people["Priya"], people["Sam"]], start=date(2026, 2, 23))  # Priya's week from 02-23, Sam's now
    admin = Actor.system("tests")
    policy = policies.create_policy(admin, name="Checkout", now=T0)
    step = policies.add_step(admin, policy, delay_minutes=5, mode="all", now=T0)
    policies.add_target(admin, step, "user", people["Dana"].id, T0)
    service = make_service("checkout-api")
    service.escalation_policy_id = policy.id
    db.session.commit()
    incident = open_sev(1, service)
    board = {view.spec.key: view for view in roles.board(incident)}
    assert [(p.user.name, p.reason) for p in board["commander"].proposed] == [("Sam", "on call for Incident Commander")]
    assert [(p.user.name, p.reason) for p in board["technical_lead"].proposed] == [
        ("Dana", "first on call for checkout-api")]
    assert [e.text for e in kinds(incident, EventKind.ROLE_PROPOSED)] == [
        "Proposed as Incident Commander: Sam (on call for Incident Commander)",
        "Proposed as Technical Lead: Dana (first on call for checkout-api)"]
    assert facts.commander_of(incident) is None  # a proposal is not an assignment
    assert roles.accept(actor(people["Dana"]), incident, board["commander"].proposed[0].id, T0)
    assert roles.holder(incident, "commander") == people["Sam"]
    assert roles.board(incident)[0].proposed == []
    # SEV-3 proposes no commander; raising it to SEV-2 does.
    minor = open_sev(3, service)
    assert [p.role for p in roles.assignments(minor, AssignmentState.PROPOSED)] == ["technical_lead"]
    incidents.change_severity(SYSTEM, minor, 2, T0, reason="Wider than we thought")
    assert {p.role for p in roles.assignments(minor, AssignmentState.PROPOSED)} == {"technical_lead", "commander"}


@pytest.mark.db
def test_checklists_are_ticked_per_incident(people):
    incident = open_sev()
    roles.assign(SYSTEM, incident, "commander", people["Dana"], T0)
    version = incident.version
    assert roles.check(actor(people["Dana"]), incident, "commander", "Confirm the severity", True, T0)
    assert not roles.check(actor(people["Dana"]), incident, "commander", "Confirm the severity", True, T0)
    assert incident.version > version  # the live page picks it up
    view = roles.board(incident)[0]
    assert view.progress == "1/7" and view.done["Confirm the severity"].done_by == "Dana"
    with pytest.raises(DomainError, match="not on the role's checklist"):
        roles.check(SYSTEM, incident, "commander", "Make coffee", True, T0)
    assert roles.check(SYSTEM, incident, "commander", "Confirm the severity", False, T0)
    assert roles.board(incident)[0].progress == "0/7"


@pytest.mark.db
def test_admins_edit_a_role_and_can_restore_it(people):
    admin = actor(make_user(Role.ADMIN))
    roles.save_definition(admin, "scribe", T0, name="Scribe", description="Keeps notes.",
                          checklist=roles.parse_checklist("- Note decisions\n* Note who joined\n\n"))
    assert roles.definition("scribe").checklist == ("Note decisions", "Note who joined")
    with pytest.raises(DomainError, match="different"):
        roles.parse_checklist("A\nA")
    with pytest.raises(Forbidden):
        roles.save_definition(actor(people["Dana"]), "scribe", T0, name="Mine", description="", checklist=[])
    assert roles.restore_definition(admin, "scribe")
    assert roles.definition("scribe").checklist == roles.DEFAULTS[4].checklist


# --- the war room --------------------------------------------------------------------------------------

@pytest.mark.db
def test_links_summary_tasks_reports_and_decisions(people):
    incident = open_sev()
    dana = actor(people["Dana"])
    changed = warroom.update_room(dana, incident, T0, bridge_url="https://meet.example.com/inc",
                                  chat_url="https://chat.example.com/c/inc", status_summary="Rolling back")
    assert set(changed) == {"bridge_url", "chat_url", "status_summary"}
    assert warroom.update_room(dana, incident, T0, status_summary="Rolling back") == {}
    with pytest.raises(DomainError, match="http"):
        warroom.update_room(dana, incident, T0, bridge_url="javascript:alert(1)")
    task = warroom.add_task(dana, incident, T0, title="Roll back 2026.03.1", owner_id=people["Lee"].id,
                            due_at=T0 + timedelta(minutes=15))
    late = warroom.add_task(dana, incident, T0, title="Check the ledger")
    assert task.overdue(T0 + timedelta(minutes=16)) and not late.overdue(T0 + timedelta(days=1))
    warroom.change_task(dana, task, T0 + timedelta(minutes=10), done=True)
    assert [t.title for t in warroom.tasks(incident)] == ["Check the ledger", "Roll back 2026.03.1"]
    warroom.report(dana, incident, T0, conditions="502s on card payments", actions="Rolling back",
                   needs="A payments-db expert", executive_summary="Card checkout down; rollback under way")
    assert warroom.latest_report(incident).needs == "A payments-db expert"
    with pytest.raises(DomainError, match="at least"):
        warroom.report(dana, incident, T0, conditions="", actions="", needs="")
    incidents.add_note(dana, incident, "We roll back rather than fix forward", T0, decision=True)
    note = incidents.add_note(dana, incident, "Failover to the standby too", T0)
    assert warroom.flag_decision(dana, incident, note.id, T0)
    assert [e.text for e in warroom.decisions(incident)] == ["Failover to the standby too",
                                                             "We roll back rather than fix forward"]
    assert [e.kind for e in kinds(incident, EventKind.WAR_ROOM_CHANGED, EventKind.TASK_ADDED, EventKind.TASK_CHANGED,
                                  EventKind.SITUATION_REPORT)] == [
        "war_room_changed", "task_added", "task_added", "task_changed", "situation_report"]


@pytest.mark.db
def test_another_team_is_paged_through_its_own_policy_until_one_of_them_joins(people, twilio):
    platform = make_team("Platform", members=[people["Sam"], people["Priya"]])
    sam, priya = reachable(people["Sam"], phone="+15558000001"), reachable(people["Priya"], phone="+15558000002")
    admin = Actor.system("tests")
    policy = policies.create_policy(admin, name="Platform policy", now=T0, team_id=platform.id)
    first = policies.add_step(admin, policy, delay_minutes=10, mode="all", now=T0)
    policies.add_target(admin, first, "user", sam.id, T0)
    second = policies.add_step(admin, policy, delay_minutes=10, mode="all", now=T0)
    policies.add_target(admin, second, "user", priya.id, T0)
    db.session.commit()
    incident = open_sev(2)
    incidents.acknowledge(actor(people["Dana"]), incident, T0)  # worked already: pages still go to the team
    request = warroom.request_team(actor(people["Dana"]), incident, platform, T0, note="The gateway drops TLS")
    db.session.commit()
    with pytest.raises(DomainError, match="already being paged"):
        warroom.request_team(actor(people["Dana"]), incident, platform, T0)
    db.session.rollback()
    assert request.paged_user_ids == [sam.id] and request.next_step_at == T0 + timedelta(minutes=10)
    Engine(all_jobs(), holder="test").cycle()
    assert {m.to for m in twilio.messages} >= {"+15558000001"}
    assert "+15558000002" not in {m.to for m in twilio.messages}

    clock.set(T0 + timedelta(minutes=11))  # nobody joined: the next step
    Engine(all_jobs(), holder="test").cycle()
    db.session.refresh(request)
    assert sorted(request.paged_user_ids) == sorted([sam.id, priya.id]) and request.state == "paging"
    assert "+15558000002" in {m.to for m in twilio.messages}

    # Priya answers her page: acknowledging an acknowledged incident joins her.
    answer = inbound.act(priya, incident.id, "ack", T0 + timedelta(minutes=12), via="sms")
    assert answer.startswith(f"#{incident.id}: you have joined, Priya")
    db.session.commit()
    [view] = warroom.requests(incident)
    assert (view.joined_by, view.request.state) == (priya, "joined")
    assert [p.name for p, _ in warroom.joined_people(incident)] == ["Priya"]
    assert not warroom.join(actor(priya), incident, T0)  # once
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.purpose == "assist")) >= 2


@pytest.mark.db
def test_a_team_without_a_policy_has_its_members_paged_and_acting_is_joining(people):
    crew = make_team("Crew", members=[reachable(people["Lee"])])
    incident = open_sev(2)
    request = warroom.request_team(actor(people["Dana"]), incident, crew, T0)
    assert request.policy_snapshot is None and request.paged_user_ids == [people["Lee"].id]
    incidents.add_note(actor(people["Lee"]), incident, "Looking at the gateway", T0 + timedelta(minutes=2))
    [view] = warroom.requests(incident)
    assert view.joined_by == people["Lee"] and view.joined_at == T0 + timedelta(minutes=2)
    empty = make_team("Empty")
    unreachable = warroom.request_team(actor(people["Dana"]), incident, empty, T0)
    assert unreachable.state == "unreachable"


@pytest.mark.db
def test_the_triage_wizard_says_the_roles_are_proposed_and_the_page_shows_them(people, client):
    from tests.factories import login
    schedule = make_schedule("Incident Commander")
    make_layer(schedule, [people["Priya"]], start=date(2026, 2, 23))
    service = make_service("checkout-api")
    login(client, people["Dana"])
    answers = {f"svc-{service.id}": "unavailable", "reach": "all", "data_loss": "no", "security": "no",
               "exposure": "yes", "workaround": "no", "step": "4", "severity": "1", "service_id": str(service.id),
               "title": "Checkout is down"}
    opened = client.post("/triage/new", data=answers, follow_redirects=True)
    html = opened.get_data(as_text=True)
    assert "the response roles are proposed: accept them in the war room" in html
    assert "proposed: Priya" in html and "on call for Incident Commander" in html
