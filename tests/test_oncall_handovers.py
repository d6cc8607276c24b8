"""Handovers and shift reminders: the engine writes exactly one row per shift
change (and per reminder), with the messages both people get."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.extensions import db
from app.incidents import service as incidents
from app.notify.models import Notification, Status as NotificationStatus
from app.oncall import handovers
from app.oncall import service as oncall
from app.oncall.handovers import IncidentLine, Recipient, handover_summary
from app.oncall.models import Handover, HandoverNote, OutboxState, ShiftReminder
from tests.factories import SYSTEM, actor, make_service, make_team, make_user
from tests.oncall_factories import make_layer, make_override, make_schedule

T0 = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)  # Wednesday; handoffs are Mondays 09:00 UTC
MONDAY = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


def cycle(at: datetime):
    clock.set(at)
    engine = Engine(all_jobs(), holder="test")
    report = engine.cycle()
    engine.release()  # as `flask engine tick` does
    assert report.active and not report.errors, report.errors
    return report


def rows(model):
    return db.session.scalars(sa.select(model).order_by(model.id)).all()


@pytest.fixture
def world(app):
    clock.set(T0)
    ana = make_user(Role.RESPONDER, name="Ana Ruiz", time_zone="Europe/Madrid")
    ben = make_user(Role.RESPONDER, name="Ben Cole", time_zone="America/New_York")
    team = make_team("Payments", members=[ana, ben])
    other = make_service("search", team=make_team("Search"))
    service = make_service("checkout-api", team=team)
    schedule = make_schedule("Payments primary", team=team, reminder_minutes=60)
    make_layer(schedule, [ana, ben], name="Primary")
    critical = incidents.open_incident(SYSTEM, service=service, title="Card payments fail", severity=1, now=T0)
    minor = incidents.open_incident(SYSTEM, service=service, title="Slow receipts", severity=3, now=T0)
    incidents.acknowledge(SYSTEM, minor, T0)
    minor.ack_timeout_at = None  # stays acknowledged through the handover
    done = incidents.open_incident(SYSTEM, service=service, title="Old thing", severity=2, now=T0)
    incidents.resolve(SYSTEM, done, T0)
    incidents.open_incident(SYSTEM, service=other, title="Search is slow", severity=2, now=T0)
    db.session.commit()
    return dict(ana=ana, ben=ben, schedule=schedule, critical=critical, minor=minor)


@pytest.mark.db
def test_a_shift_change_writes_one_handover_with_the_summary_and_the_note(world):
    ana, ben, schedule = world["ana"], world["ben"], world["schedule"]
    assert schedule.next_handover_at == MONDAY
    oncall.save_handover_note(actor(ana), schedule, "Watch the db-2 disk.\nRollback plan in the runbook.", T0)
    db.session.commit()
    cycle(MONDAY - timedelta(minutes=1))
    assert rows(Handover) == []
    report = cycle(MONDAY)
    assert report.done.get("handovers") == 1
    (handover,) = rows(Handover)
    assert (handover.at, handover.outgoing_user_id, handover.incoming_user_id) == (MONDAY, ana.id, ben.id)
    assert handover.state == OutboxState.ENQUEUED and handover.open_incidents == 2
    outbox = {n.key: n for n in db.session.scalars(sa.select(Notification).where(Notification.purpose == "handover"))}
    assert set(outbox) == {f"handover:{handover.id}:outgoing", f"handover:{handover.id}:incoming"}
    assert outbox[f"handover:{handover.id}:incoming"].user_id == ben.id
    assert outbox[f"handover:{handover.id}:incoming"].body == handover.incoming_body
    for body in (handover.incoming_body, handover.outgoing_body):
        assert f"#{world['critical'].id} SEV-1 triggered: Card payments fail (checkout-api)" in body
        assert f"#{world['minor'].id} SEV-3 acknowledged: Slow receipts" in body
        assert "Old thing" not in body and "Search is slow" not in body  # resolved; another team's
        assert "Note from Ana Ruiz:\n  Watch the db-2 disk.\n  Rollback plan in the runbook." in body
        assert "Action items due soon: none." in body
    assert handover.incoming_subject == "You are on call for Payments primary from Mon 12 Jan 04:00 EST"
    assert handover.outgoing_subject == "Handover: Ben Cole takes Payments primary at Mon 12 Jan 10:00 CET"
    assert "The shift runs until Mon 19 Jan 04:00 EST." in handover.incoming_body
    assert db.session.scalar(sa.select(HandoverNote.handover_id)) == handover.id
    # Cycles again, now and later, write nothing more.
    cycle(MONDAY)
    cycle(MONDAY + timedelta(minutes=5))
    assert len(rows(Handover)) == 1
    assert db.session.get(type(schedule), schedule.id).next_handover_at == MONDAY + timedelta(days=7)


@pytest.mark.db
def test_a_reminder_goes_out_before_a_shift_starts_once(world):
    ben = world["ben"]
    cycle(MONDAY - timedelta(minutes=61))
    assert rows(ShiftReminder) == []
    cycle(MONDAY - timedelta(minutes=60))
    cycle(MONDAY - timedelta(minutes=30))
    (reminder,) = rows(ShiftReminder)
    assert (reminder.user_id, reminder.shift_starts_at, reminder.remind_at) == (ben.id, MONDAY,
                                                                                MONDAY - timedelta(hours=1))
    assert reminder.state == OutboxState.ENQUEUED
    message = db.session.scalar(sa.select(Notification).where(Notification.key == f"reminder:{reminder.id}"))
    assert (message.user_id, message.subject) == (ben.id, reminder.subject)
    assert message.status == NotificationStatus.SENT  # the engine sent it in the same cycle it came due
    assert reminder.subject == "On call in 60 min: Payments primary"
    assert reminder.body == ("Your shift on Payments primary starts at Mon 12 Jan 04:00 EST and runs until "
                             "Mon 19 Jan 04:00 EST.")
    assert reminder.messages() == [{"key": f"reminder:{reminder.id}", "purpose": "reminder", "user_id": ben.id,
                                    "subject": reminder.subject, "body": reminder.body}]


@pytest.mark.db
def test_after_the_engine_was_down_missed_handovers_are_logged_but_not_sent(world):
    cycle(MONDAY + timedelta(days=7, minutes=10))  # 12 and 19 January passed without an engine
    first, second = rows(Handover)
    assert (first.at, first.state) == (MONDAY, OutboxState.MISSED)
    assert (second.at, second.state) == (MONDAY + timedelta(days=7), OutboxState.ENQUEUED)
    reminders = rows(ShiftReminder)
    assert [r.state for r in reminders] == [OutboxState.MISSED, OutboxState.MISSED]
    keys = set(db.session.scalars(sa.select(Notification.key).where(Notification.purpose.in_(("handover", "reminder")))))
    assert keys == {f"handover:{second.id}:outgoing", f"handover:{second.id}:incoming"}


@pytest.mark.db
def test_an_override_made_after_planning_moves_the_next_handover(world):
    ana, schedule = world["ana"], world["schedule"]
    cover_from = T0 + timedelta(hours=3)
    clock.set(T0 + timedelta(hours=1))
    make_override(schedule, world["ben"], cover_from, cover_from + timedelta(hours=2), now=clock.now())
    assert schedule.next_handover_at == cover_from
    cycle(cover_from)
    cycle(cover_from + timedelta(hours=2))
    assert [(h.outgoing_user_id, h.incoming_user_id) for h in rows(Handover)] == [
        (ana.id, world["ben"].id), (world["ben"].id, ana.id)]


@pytest.mark.db
def test_the_handover_lists_the_teams_action_items_due_soon(world):
    from app.postmortems import actions
    ana, ben, critical = world["ana"], world["ben"], world["critical"]
    lead = actor(ana)
    soon = actions.create_item(lead, critical, T0, title="Add a disk alert", due_on=date(2026, 1, 14),
                               owner_id=ana.id)
    overdue = actions.create_item(lead, critical, T0, title="Rotate the keys", due_on=date(2026, 1, 2),
                                  owner_id=ben.id)
    actions.create_item(lead, critical, T0, title="Rewrite the pool", due_on=date(2026, 3, 1), owner_id=ana.id)
    finished = actions.create_item(lead, critical, T0, title="Raise the limit", due_on=date(2026, 1, 13),
                                   owner_id=ana.id)
    actions.set_status(lead, finished, "done", T0)
    stranger = make_user(Role.RESPONDER, name="Sol Reyes")
    actions.create_item(lead, critical, T0, title="Someone else's", due_on=date(2026, 1, 13),
                        owner_id=stranger.id, team_id=make_team("Search team").id)
    db.session.commit()
    cycle(MONDAY)
    (handover,) = rows(Handover)
    assert ("Action items due soon (2):\n"
            f"- {overdue.ref} Rotate the keys (Ben Cole), due 2026-01-02\n"
            f"- {soon.ref} Add a disk alert (Ana Ruiz), due 2026-01-14") in handover.incoming_body


@pytest.mark.db
def test_handover_messages_reach_the_outbox_once(world):
    cycle(MONDAY)
    (handover,) = rows(Handover)
    assert handovers.pending_messages() == []
    handovers.enqueue_messages(handover, due=MONDAY, now=MONDAY)  # a repeat is harmless
    db.session.commit()
    sent = db.session.scalars(sa.select(Notification).where(Notification.purpose == "handover")).all()
    assert sorted(n.user_id for n in sent) == sorted([world["ana"].id, world["ben"].id])


def test_the_summary_is_a_pure_function_of_its_inputs():
    at = datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    messages = handover_summary(
        schedule="Platform", at=at, outgoing=Recipient("Sam", "America/Chicago"),
        incoming=Recipient("Ines", "Europe/Lisbon"),
        incidents=[IncidentLine(7, "Gateway 502s", 2, "acknowledged", "api-gateway")], open_total=3, note=None)
    assert messages.incoming_subject == "You are on call for Platform from Mon 30 Mar 09:00 WEST"
    assert messages.outgoing_subject == "Handover: Ines takes Platform at Mon 30 Mar 03:00 CDT"
    listed = "Open incidents (3):\n- #7 SEV-2 acknowledged: Gateway 502s (api-gateway)\n- … and 2 more"
    assert listed in messages.incoming_body
    assert "No handover note from Sam." in messages.outgoing_body
    quiet = handover_summary(schedule="Platform", at=at, outgoing=None, incoming=Recipient("Ines", "UTC"),
                             incidents=[], note=None)
    assert "Open incidents: none." in quiet.incoming_body and "Nobody hands over to Ines" in quiet.incoming_body
