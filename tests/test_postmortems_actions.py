"""Action items: created from a post-mortem or an incident, tracked through their
statuses, reminded before and after their due date through the outbox (once), and
shown on "my action items" and the team board with overdue ones highlighted."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth.models import Role
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.errors import DomainError, Forbidden
from app.extensions import db
from app.incidents import service as incidents
from app.notify.models import Notification
from app.postmortems import actions
from app.postmortems import service as postmortems
from app.postmortems.models import ActionStatus, Reminder
from tests.conftest import provider_config
from tests.factories import SYSTEM, actor, login, make_service, make_team, make_user, resolve

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # Monday


@pytest.fixture
def app_config(twilio, mailbox):
    return provider_config(twilio, mailbox)


@pytest.fixture
def world(app):
    clock.set(T0)
    postmortems.ensure_defaults()  # PostgreSQL tests start from empty tables, without migration 0007's rows
    dana = make_user(Role.RESPONDER, name="Dana Okafor", time_zone="America/New_York")
    lee = make_user(Role.RESPONDER, name="Lee Tanaka")
    viewer = make_user(Role.VIEWER, name="Vic Viewer")
    payments = make_team("Payments", members=[dana])
    platform = make_team("Platform", members=[lee])
    service = make_service("checkout-api", team=payments)
    incident = incidents.open_incident(SYSTEM, service=service, title="Checkout fails", severity=2, now=T0)
    resolve(actor(lee), incident, T0)
    db.session.commit()
    return type("World", (), dict(dana=dana, lee=lee, viewer=viewer, payments=payments, platform=platform,
                                  service=service, incident=incident, pm=postmortems.for_incident(incident)))


def add(world, title="Alert on pool saturation", due=date(2026, 3, 10), owner=None, **kwargs):
    owner = owner if owner is not None else world.dana
    item = actions.create_item(actor(world.lee), world.incident, clock.now(), title=title, due_on=due,
                               owner_id=owner.id if owner else None, **kwargs)
    db.session.commit()
    return item


@pytest.mark.db
def test_an_item_has_every_field_and_joins_the_post_mortem(world):
    item = add(world, priority="high", kind="detective", ticket_url="https://tracker.example.com/PAY-12",
               description="Page at 80% of the pool.")
    assert (item.ref, item.status, item.priority.value, item.kind.value) == (f"AI-{item.id}", ActionStatus.OPEN,
                                                                              "high", "detective")
    assert item.postmortem_id == world.pm.id  # made from the incident, still the post-mortem's
    assert item.team == world.payments  # the owner's team
    unowned = add(world, title="Document the pool settings", owner=False)
    assert unowned.owner is None and unowned.team == world.payments  # the service's team
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "action_item.create")) is not None


@pytest.mark.parametrize("fields, field", [
    ({"title": " "}, "title"),
    ({"ticket_url": "javascript:alert(1)"}, "ticket_url"),
    ({"priority": "urgent"}, "priority"),
    ({"kind": "heroic"}, "kind"),
    ({"due_on": None}, "due_on"),
])
def test_bad_items_are_refused_with_the_field_named(world, fields, field):
    values = {"title": "Something", "due_on": date(2026, 3, 10), **fields}
    with pytest.raises(DomainError) as error:
        actions.create_item(actor(world.lee), world.incident, clock.now(), **values)
    assert error.value.field == field


def test_viewers_cannot_add_or_change_items(world):
    with pytest.raises(Forbidden):
        actions.create_item(actor(world.viewer), world.incident, clock.now(), title="x", due_on=date(2026, 3, 10))


@pytest.mark.db
def test_status_moves_record_when_done_and_why_not(world):
    item = add(world)
    assert actions.set_status(actor(world.dana), item, "in_progress", clock.now())
    later = clock.advance(timedelta(days=2))
    assert actions.set_status(actor(world.dana), item, "done", later)
    assert item.done_at == later
    with pytest.raises(DomainError, match="why it won't be done"):
        actions.set_status(actor(world.dana), item, "wont_do", later)
    actions.set_status(actor(world.dana), item, "wont_do", later, reason="Replaced by AI-99")
    assert (item.status, item.done_at, item.wont_do_reason) == (ActionStatus.WONT_DO, None, "Replaced by AI-99")
    actions.set_status(actor(world.dana), item, "open", later)
    assert item.wont_do_reason == "" and item.status == ActionStatus.OPEN


@pytest.mark.db
def test_reminders_before_and_after_the_due_date_go_through_the_outbox_once(world, mailbox):
    item = add(world, due=date(2026, 3, 10))  # Dana is in New York: 09:00 EDT (from 8 March) is 13:00 UTC
    planned = {r.kind: r.due_at for r in db.session.scalars(sa.select(Reminder))}
    assert planned == {"soon": datetime(2026, 3, 8, 13, 0, tzinfo=UTC),
                       "overdue": datetime(2026, 3, 11, 13, 0, tzinfo=UTC),
                       "still_overdue": datetime(2026, 3, 18, 13, 0, tzinfo=UTC)}
    engine = Engine(all_jobs(), holder="test")

    def tick(at):
        clock.set(at)
        return engine.cycle()

    assert "action_item_reminders" not in tick(datetime(2026, 3, 8, 12, 0, tzinfo=UTC)).done
    report = tick(planned["soon"])
    assert report.done["action_item_reminders"] == 1 and report.done["notifications"] == 1
    [soon] = mailbox.messages
    assert soon["To"] == world.dana.email and f"{item.ref} is due Tuesday 10 March" in soon["Subject"]
    assert f"/action-items/{item.id}" in soon.get_content()
    assert "action_item_reminders" not in tick(planned["soon"] + timedelta(minutes=5)).done  # never twice
    tick(planned["overdue"])
    assert len(mailbox.messages) == 2 and "is overdue" in mailbox.messages[1]["Subject"]
    actions.set_status(actor(world.dana), item, "done", clock.now())
    db.session.commit()
    tick(planned["still_overdue"])
    assert len(mailbox.messages) == 2  # done: no more reminders
    keys = db.session.scalars(sa.select(Notification.key).where(Notification.purpose == "reminder")).all()
    assert len(keys) == len(set(keys)) == 2


@pytest.mark.db
def test_moving_the_due_date_or_the_owner_replans_reminders(world):
    item = add(world, due=date(2026, 3, 10))
    actions.update_item(actor(world.dana), item, clock.now(), due_on=date(2026, 3, 20), owner_id=world.lee.id)
    db.session.commit()
    pending = {(r.kind, r.for_due_on, r.due_at) for r in db.session.scalars(
        sa.select(Reminder).where(Reminder.due_at.isnot(None)))}
    assert pending == {("soon", date(2026, 3, 20), datetime(2026, 3, 18, 9, 0, tzinfo=UTC)),
                       ("overdue", date(2026, 3, 20), datetime(2026, 3, 21, 9, 0, tzinfo=UTC)),
                       ("still_overdue", date(2026, 3, 20), datetime(2026, 3, 28, 9, 0, tzinfo=UTC))}
    cancelled = db.session.scalars(sa.select(Reminder).where(Reminder.cancelled_at.isnot(None))).all()
    assert {r.for_due_on for r in cancelled} == {date(2026, 3, 10)}
    # Deciding again changes nothing (unique per item, kind and due date).
    actions.plan_reminders(item, clock.now())
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Reminder)) == 6


@pytest.mark.db
def test_a_reminder_made_for_a_date_already_past_is_not_sent(world):
    add(world, due=date(2026, 3, 3))  # "soon" would have been 1 March
    kinds = db.session.scalars(sa.select(Reminder.kind)).all()
    assert sorted(kinds) == ["overdue", "still_overdue"]


@pytest.mark.db
def test_my_items_and_the_board_highlight_overdue_ones(world, client):
    late = add(world, title="Load test the pool", due=date(2026, 3, 1))
    add(world, title="Alert on saturation", due=date(2026, 3, 20))
    theirs = add(world, title="Tune the gateway", owner=world.lee, due=date(2026, 3, 1))
    done = add(world, title="Raise the pool", due=date(2026, 3, 3))
    actions.set_status(actor(world.dana), done, "done", clock.now())
    db.session.commit()
    login(client, world.dana)
    mine = client.get("/action-items/mine").get_data(as_text=True)
    assert "Load test the pool" in mine and "Alert on saturation" in mine and "Tune the gateway" not in mine
    assert "1 overdue" in mine and f'id="item-{late.id}"' in mine
    assert f'class="item-row overdue" id="item-{late.id}"' in mine
    board = client.get(f"/action-items/board?team_id={world.payments.id}").get_data(as_text=True)
    assert "Load test the pool" in board and "Tune the gateway" not in board
    assert f'class="board-card overdue" id="card-{late.id}"' in board and "Raise the pool" in board
    everyone = client.get("/action-items/?overdue=1").get_data(as_text=True)
    assert "Load test the pool" in everyone and "Tune the gateway" in everyone and "Alert on saturation" not in everyone
    assert theirs.team == world.platform


@pytest.mark.db
def test_items_from_the_incident_page_and_status_by_plain_forms(world, client):
    login(client, world.lee)
    answer = client.post("/action-items/new", data={
        "incident_id": world.incident.id, "postmortem_id": "", "back": "incident", "title": "Add a runbook",
        "owner_id": world.lee.id, "team_id": "", "due_on": "2026-03-16", "priority": "low", "kind": "preventive",
        "ticket_url": "", "description": ""})
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/incidents/{world.incident.id}#action-items")
    [item] = actions.items(actions.ItemFilter(status="all"), clock.now().date())
    assert (item.title, item.postmortem_id, item.team) == ("Add a runbook", world.pm.id, world.platform)
    answer = client.post(f"/action-items/{item.id}/status", data={"status": "wont_do", "reason": ""})
    assert answer.status_code == 400 and "Say why it won" in answer.get_data(as_text=True)
    answer = client.post(f"/action-items/{item.id}/status", data={"status": "done", "next": "/action-items/mine"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/action-items/mine"
    db.session.expire_all()
    assert item.status == ActionStatus.DONE and item.done_at == clock.now()
    answer = client.post(f"/action-items/{item.id}", data={
        "title": "Add a runbook for the pool", "owner_id": world.dana.id, "team_id": "", "due_on": "2026-03-17",
        "priority": "high", "kind": "preventive", "ticket_url": "https://tracker.example.com/OPS-1", "description": ""})
    assert answer.status_code == 303
    db.session.expire_all()
    assert (item.title, item.owner, item.priority.value) == ("Add a runbook for the pool", world.dana, "high")
    text = client.get(f"/action-items/{item.id}").get_data(as_text=True)
    assert "Add a runbook for the pool" in text and "https://tracker.example.com/OPS-1" in text


@pytest.mark.db
def test_after_an_outage_of_the_engine_only_the_latest_reminder_goes(world, mailbox):
    add(world, due=date(2026, 3, 10))
    engine = Engine(all_jobs(), holder="test")
    clock.set(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))  # soon, overdue and still_overdue are all due
    report = engine.cycle()
    assert report.done["action_item_reminders"] == 3
    [message] = mailbox.messages
    assert "is still overdue" in message["Subject"]
