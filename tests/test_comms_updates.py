"""Updates to stakeholders through the real SMTP server and the fake Twilio, the
cadence and its reminders, the status page as an audience, and the communication log."""
from __future__ import annotations

import types
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role
from app.comms import cadence, plan, stakeholders, updates
from app.comms.models import CommsDue, CommsUpdate, DueState
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.errors import DomainError
from app.extensions import db
from app.incidents import roles
from app.incidents import service as incidents
from app.incidents.models import EventKind, IncidentEvent
from app.notify.models import Notification
from tests.conftest import provider_config
from tests.factories import SYSTEM, actor, make_service, make_user, reachable

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def app_config(twilio, mailbox):
    return provider_config(twilio, mailbox)


@pytest.fixture
def world(app):
    clock.set(T0)
    service = make_service("checkout-api")
    lead = reachable(make_user(Role.RESPONDER, name="Lee Lead", email="lee@example.com"), phone="+15557000001")
    commander = make_user(Role.RESPONDER, name="Cora Commander", email="cora@example.com")
    incident = incidents.open_incident(SYSTEM, service=service, title="Checkout fails for card payments", severity=1,
                                       now=T0)
    db.session.commit()
    return types.SimpleNamespace(service=service, lead=lead, commander=commander, incident=incident)


def cycle(at: datetime):
    clock.set(at)
    report = Engine(all_jobs(), holder="test").cycle()
    assert not report.errors, report.errors
    return report


def draft(list_ids, body="{{ severity }} {{ ref }}: {{ summary }}. Next update by {{ next_update_at }}.",
          template="internal_technical", stage="investigating") -> updates.Draft:
    return updates.Draft(template_key=template, stage=stage, subject="[{{ severity }} {{ ref }}] {{ title }}",
                         body=body, list_ids=list_ids)


def events(incident, kind):
    return db.session.scalars(sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id,
                                                             IncidentEvent.kind == kind)
                              .order_by(IncidentEvent.id)).all()


def mails_to(mailbox, address, words=""):
    return [m for m in mailbox.messages if m["To"] == address and words in m["Subject"]]


# --- stakeholder lists ----------------------------------------------------------------------------

@pytest.mark.db
def test_a_sent_update_reaches_every_member_of_its_lists_once(world, mailbox, twilio):
    now = clock.now()
    texter = reachable(make_user(Role.RESPONDER, name="Ada Exec", email="ada@example.com"), phone="+15557000002")
    mailer = make_user(Role.VIEWER, name="Bo Board", email="bo@example.com")  # no phone: email only
    execs = stakeholders.create_list(SYSTEM, now, name="Executives", send_sms=True, severities=[1, 2])
    for user in (texter, mailer):
        stakeholders.add_member(SYSTEM, execs, now, user_id=user.id)
    stakeholders.add_member(SYSTEM, execs, now, name="Chair", email="chair@board.example", phone="+15557000003")
    stakeholders.add_member(SYSTEM, execs, now, name="Driver", phone="+15557000004")
    support = stakeholders.create_list(SYSTEM, now, name="Support")  # email only; overlaps Executives
    stakeholders.add_member(SYSTEM, support, now, user_id=texter.id)
    stakeholders.add_member(SYSTEM, support, now, name="Chair again", email="CHAIR@board.example")
    stakeholders.add_member(SYSTEM, support, now, name="Desk", email="desk@example.com")
    db.session.commit()
    assert [row.name for row in stakeholders.proposed_for(world.incident)] == ["Executives"]

    update = updates.send(actor(world.lead), world.incident, draft([execs.id, support.id]), now)
    db.session.commit()
    assert [(a.label, a.messages) for a in update.audiences] == [("Executives", 6), ("Support", 1)]
    cycle(now)
    cycle(now + timedelta(minutes=1))  # again: nothing goes twice

    subject = f"[SEV-1 #{world.incident.id}] Checkout fails for card payments"
    mailed = sorted(m["To"] for m in mailbox.messages if m["Subject"] == subject)
    assert mailed == ["ada@example.com", "bo@example.com", "chair@board.example", "desk@example.com"]
    texted = sorted(m.to for m in twilio.messages if m.body.startswith(subject))
    assert texted == ["+15557000002", "+15557000003", "+15557000004"]
    body = next(m for m in mailbox.messages if m["To"] == "desk@example.com").get_content()
    assert f"SEV-1 #{world.incident.id}: Checkout fails for card payments. Next update by 2026-03-02 09:30 UTC." in body
    rows = db.session.scalars(sa.select(Notification).where(Notification.purpose == "update")).all()
    assert len(rows) == 7 and all(row.incident_id == world.incident.id for row in rows)


@pytest.mark.db
def test_choosing_no_audience_or_an_empty_list_is_refused(world):
    empty = stakeholders.create_list(SYSTEM, T0, name="Nobody yet")
    db.session.commit()
    with pytest.raises(DomainError, match="Choose who hears it"):
        updates.send(actor(world.lead), world.incident, draft([]), T0)
    with pytest.raises(DomainError, match="Nobody yet has nobody on it"):
        updates.send(actor(world.lead), world.incident, draft([empty.id]), T0)
    with pytest.raises(DomainError, match="no stakeholder list 999"):
        updates.send(actor(world.lead), world.incident, draft([999]), T0)


# --- the cadence ------------------------------------------------------------------------------------

@pytest.mark.db
def test_an_update_due_and_not_sent_raises_a_reminder_then_an_overdue_one_each_once(world, mailbox, twilio):
    roles.assign(SYSTEM, world.incident, roles.COMMS_LEAD, world.lead, T0)
    db.session.commit()
    [due] = cadence.open_dues(world.incident)
    assert (due.due_at, due.remind_at) == (T0 + timedelta(minutes=30), T0 + timedelta(minutes=25))

    cycle(T0 + timedelta(minutes=24))
    assert not mails_to(mailbox, "lee@example.com")
    cycle(T0 + timedelta(minutes=25))
    cycle(T0 + timedelta(minutes=26))
    [soon] = mails_to(mailbox, "lee@example.com", "Update due at 09:30 UTC")
    assert "Next update due at 09:30 UTC" in soon.get_content()
    assert [m.body for m in twilio.messages if m.to == "+15557000001" and "Next update due" in m.body]
    [reminded] = events(world.incident, EventKind.UPDATE_DUE)
    assert "reminded Lee Lead (communications lead)" in reminded.text

    cycle(T0 + timedelta(minutes=30))  # at the due time itself it is not late yet
    assert not events(world.incident, EventKind.UPDATE_OVERDUE)
    cycle(T0 + timedelta(minutes=31))
    cycle(T0 + timedelta(minutes=33))
    [late] = mails_to(mailbox, "lee@example.com", "Update overdue")
    assert "was due 09:30 UTC" in late["Subject"]
    overdue_sms = [m for m in twilio.messages if m.to == "+15557000001" and "was due at 09:30" in m.body]
    assert len(overdue_sms) == 1
    [marked] = events(world.incident, EventKind.UPDATE_OVERDUE)
    assert marked.data["minutes_late"] == 1 and "reminding Lee Lead" in marked.text
    assert db.session.get(CommsDue, due.id).state == DueState.OVERDUE
    assert updates.status(world.incident).state(clock.now()) == "overdue"

    # The update that finally goes is late, and owes the next one a cadence later.
    people = stakeholders.create_list(SYSTEM, clock.now(), name="Execs")
    stakeholders.add_member(SYSTEM, people, clock.now(), name="Chair", email="chair@board.example")
    update = updates.send(actor(world.lead), world.incident, draft([people.id]), T0 + timedelta(minutes=40))
    db.session.commit()
    assert (update.due_at, update.on_time) == (T0 + timedelta(minutes=30), False)
    [nxt] = cadence.open_dues(world.incident)
    assert nxt.due_at == T0 + timedelta(minutes=70) and nxt.state == DueState.PENDING
    assert [(e.kind, e.timing) for e in updates.log(world.incident)] == [("overdue", "met late"), ("update", "late")]


@pytest.mark.db
def test_updates_on_time_move_the_next_due_and_no_reminder_goes(world, mailbox):
    people = stakeholders.create_list(SYSTEM, T0, name="Execs")
    stakeholders.add_member(SYSTEM, people, T0, name="Chair", email="chair@board.example")
    db.session.commit()
    first = updates.send(actor(world.lead), world.incident, draft([people.id]), T0 + timedelta(minutes=10))
    second = updates.send(actor(world.lead), world.incident, draft([people.id]), T0 + timedelta(minutes=35))
    db.session.commit()
    assert (first.due_at, first.on_time) == (T0 + timedelta(minutes=30), True)
    assert (second.due_at, second.on_time) == (T0 + timedelta(minutes=40), True)
    for minutes in (26, 36, 41):
        cycle(T0 + timedelta(minutes=minutes))
    assert not [m for m in mailbox.messages if "Update due" in m["Subject"] or "overdue" in m["Subject"]]
    assert cadence.next_due_at(world.incident) == T0 + timedelta(minutes=65)
    # Compliance is one query over comms_updates, on either database.
    ratio = db.session.scalar(sa.select(sa.func.avg(sa.case((CommsUpdate.on_time.is_(True), 1.0), else_=0.0)))
                              .where(CommsUpdate.due_at.isnot(None)))
    assert float(ratio) == 1.0


@pytest.mark.db
def test_after_an_engine_outage_only_the_overdue_reminder_goes(world, mailbox):
    roles.assign(SYSTEM, world.incident, roles.COMMS_LEAD, world.lead, T0)
    db.session.commit()
    cycle(T0 + timedelta(minutes=45))
    assert [m["Subject"].split("] ")[1][:14] for m in mails_to(mailbox, "lee@example.com")] == ["Update overdue"]


@pytest.mark.db
def test_whoever_sends_updates_is_reminded_comms_lead_then_commander_then_acknowledger(world):
    assert cadence.sender_of(world.incident) == (None, "")
    acker = make_user(Role.RESPONDER, name="Ack Person")
    incidents.acknowledge(actor(acker), world.incident, T0)
    assert cadence.sender_of(world.incident) == (acker, "acknowledged it")
    roles.assign(SYSTEM, world.incident, roles.COMMANDER, world.commander, T0)
    assert cadence.sender_of(world.incident) == (world.commander, "incident commander")
    roles.assign(SYSTEM, world.incident, roles.COMMS_LEAD, world.lead, T0)
    assert cadence.sender_of(world.incident) == (world.lead, "communications lead")


@pytest.mark.db
def test_the_cadence_follows_severity_and_resolution(world):
    incident = world.incident
    incidents.change_severity(SYSTEM, incident, 2, T0 + timedelta(minutes=5), reason="Only some cards")
    assert cadence.next_due_at(incident) == T0 + timedelta(minutes=60)
    incidents.change_severity(SYSTEM, incident, 4, T0 + timedelta(minutes=6), reason="Cosmetic after all")
    assert cadence.next_due_at(incident) is None and updates.status(incident).state(T0) == "none"
    incidents.change_severity(SYSTEM, incident, 1, T0 + timedelta(minutes=7), reason="Worse again")
    assert cadence.next_due_at(incident) == T0 + timedelta(minutes=30)
    cycle(T0 + timedelta(minutes=31))  # overdue
    incidents.resolve(SYSTEM, incident, T0 + timedelta(minutes=32))
    db.session.commit()
    states = [d.state for d in db.session.scalars(sa.select(CommsDue).where(CommsDue.incident_id == incident.id)
                                                  .order_by(CommsDue.seq))]
    # SEV-4 cancelled the first; resolving keeps the one owed late (the resolution notice meets it).
    assert states == [DueState.CANCELLED, DueState.OVERDUE]
    incidents.reopen(SYSTEM, incident, T0 + timedelta(minutes=50), reason="Back")
    assert cadence.next_due_at(incident) == T0 + timedelta(minutes=80)


@pytest.mark.db
def test_sev4_owes_no_updates(app):
    clock.set(T0)
    incident = incidents.open_incident(SYSTEM, service=make_service(), title="Typo", severity=4, now=T0)
    db.session.commit()
    assert cadence.open_dues(incident) == [] and cadence.cadence_minutes(incident) is None


# --- the status page ---------------------------------------------------------------------------------

@pytest.mark.db
def test_an_update_to_the_status_page_is_published_there_as_an_incident_update(world):
    from app.statuspage.models import PublicIncident
    update = updates.send(actor(world.lead), world.incident, updates.Draft(
        template_key="customer_notice", stage="identified", subject="Card payments",
        body="We found the cause: {{ impact }}", status_page=True), T0 + timedelta(minutes=3))
    db.session.commit()
    public = db.session.scalar(sa.select(PublicIncident).where(PublicIncident.incident_id == world.incident.id))
    assert public.name == "Card payments"
    assert [u.body for u in public.updates] == ["We found the cause: We are still assessing who is affected."]
    assert [(a.kind, a.label) for a in update.audiences] == [("status_page", "Status page")]
    [event] = events(world.incident, EventKind.STATUS_UPDATE)
    assert event.data["audience"] == "Status page" and event.data["on_time"] is True


@pytest.mark.db
def test_without_a_public_subject_the_status_page_gets_a_neutral_title_not_the_internal_one(world):
    from app.statuspage.models import PublicIncident
    updates.send(actor(world.lead), world.incident, updates.Draft(
        template_key="customer_notice", stage="investigating", subject="", body="We are on it.",
        status_page=True), T0 + timedelta(minutes=1))
    db.session.commit()
    public = db.session.scalar(sa.select(PublicIncident).where(PublicIncident.incident_id == world.incident.id))
    assert public.name == "Service disruption" and world.incident.title not in public.name


# --- the log and the plan ------------------------------------------------------------------------------

@pytest.mark.db
def test_the_plan_is_done_by_sending_its_templates_or_by_ticking(world):
    people = stakeholders.create_list(SYSTEM, T0, name="Execs")
    stakeholders.add_member(SYSTEM, people, T0, name="Chair", email="chair@board.example")
    db.session.commit()
    now = T0 + timedelta(minutes=20)
    updates.send(actor(world.lead), world.incident, draft([people.id]), now)
    items = plan.progress(world.incident, now)
    first, management = items[0], items[1]
    assert (first.template, first.state(now), first.done_how) == ("internal_technical", "done", "sent")
    assert (management.due_at, management.state(now)) == (T0 + timedelta(minutes=30), "due")
    assert management.state(T0 + timedelta(minutes=31)) == "late"
    assert plan.tick(actor(world.lead), world.incident, management.key, True, now)
    assert plan.progress(world.incident, now)[1].done_how == "ticked by Lee Lead"
    assert items[-1].template == "resolution" and items[-1].state(now) == "later"
