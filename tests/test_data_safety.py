"""Nothing the timeline, the logs or the metrics read is hard-deleted: every hard delete
in the code is listed here with why it loses nothing, and the things that used to lose
history (schedules, webhooks, review comments) are archived or kept instead."""
from __future__ import annotations

import ast
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role
from app.comms import webhooks
from app.comms.models import DeliveryStatus, Webhook, WebhookDelivery
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.errors import Conflict, DomainError, NotFound
from app.escalation import policies
from app.escalation.targets import on_call
from app.extensions import db
from app.incidents import service as incidents
from app.oncall import load as loads
from app.oncall import service as oncall
from app.oncall.models import Handover, Schedule
from tests.factories import SYSTEM, actor, login, make_service, make_user
from tests.oncall_factories import make_layer, make_schedule

APP = Path(__file__).resolve().parent.parent / "app"

# Every hard delete in app/, by (module, function), with why nothing the timeline, the
# audit log or a metric needs goes with it. A new one fails this test until it is
# listed: make it a soft delete (archived_at, removed_at, active) if it loses history.
ALLOWED_HARD_DELETES = {
    ("api/idempotency.py", "before"): "an Idempotency-Key older than a day is a spent cache entry, not a record",
    ("auth/service.py", "remove_member"): "membership is current state; the audit log keeps who was in which team",
    ("auth/service.py", "delete_team"): "only a team that owns nothing and no history names; the audit log keeps "
                                        "its name, description and members",
    ("auth/twofactor.py", "_remove"): "a second factor turned off or reset is a credential, not history; the audit "
                                      "log keeps when it was on and who removed it",
    ("auth/twofactor.py", "_new_recovery_codes"): "recovery codes replaced by new ones are dead credentials; "
                                                  "the audit log keeps when they were made and used",
    ("auth/twofactor.py", "reset"): "an admin's reset forgets the person's passkeys too: credentials; the audit "
                                     "log keeps the reset",
    ("auth/passkeys.py", "remove"): "a removed passkey is a dead credential; the audit log keeps its name, who "
                                    "added it and who removed it",
    ("auth/passkeys.py", "_issue"): "challenges past their expiry are dead: nothing refers to them",
    ("auth/passkeys.py", "_take"): "a challenge is deleted as it is answered: that is what makes it good once",
    ("auth/oidc.py", "remove_mapping"): "a group → team mapping is configuration; memberships it made stay, "
                                        "the audit log keeps the mapping",
    ("notify/contacts.py", "remove_method"): "the method is deactivated; only its rules go (configuration)",
    ("notify/contacts.py", "set_rules"): "a person's rules are replaced (configuration)",
    ("notify/contacts.py", "ensure_rules"): "a default rule left over when the defaults change (configuration)",
    ("notify/contacts.py", "reset_rules"): "a person's chosen rules, back to the defaults (configuration)",
    ("incidents/roles.py", "restore_definition"): "an admin's edit of a shipped role, restored (configuration)",
    ("incidents/roles.py", "check"): "unticking a checklist item; the tick and untick are in the audit log",
    ("oncall/service.py", "remove_override"): "only one that has not started; one under way is ended",
    ("oncall/service.py", "remove_swap"): "only one that has not started; one under way is ended",
    ("oncall/service.py", "remove_temporary"): "only one that has not started; one under way is ended",
    ("oncall/service.py", "remove_holiday"): "only one that has not started; one under way is ended",
    ("statuspage/service.py", "delete_component"): "the public page forgets a component on purpose; incidents "
                                                   "keep their text, the audit log the component",
    ("statuspage/service.py", "delete_group"): "a heading on the public page; its components stay",
    ("statuspage/service.py", "update_settings"): "daily roll-ups, made again from the kept ranges in the new zone",
    ("statuspage/subscribers.py", "remove"): "a subscriber's address is personal data, removed when asked",
    ("alerts/jobs.py", "_prune_attempts"): "ingestion's record of attempts answered, kept a day for retries",
    ("statuspage/uptime.py", "rollup"): "ranges older than 90 days, after they were rolled up per day",
    ("postmortems/service.py", "delete_why"): "editing a draft's analysis; every version's text is kept",
    ("postmortems/service.py", "delete_cause"): "editing a draft's analysis; every version's text is kept",
    ("postmortems/service.py", "delete_factor"): "editing a draft (published ones are read-only); versions kept",
    ("postmortems/search.py", "refresh"): "the search index, rebuilt from the rows it indexes",
    ("comms/library.py", "restore"): "an admin's edit of a shipped template, restored (configuration)",
    ("comms/plan.py", "restore"): "an admin's edit of a shipped plan, restored (configuration)",
    ("comms/plan.py", "tick"): "unticking a plan item; the tick and untick are in the audit log",
    ("comms/stakeholders.py", "delete_list"): "updates keep their audiences by name (comms_update_audiences)",
    ("triage/service.py", "set_matrix"): "a service's severity matrix is replaced (configuration)",
    ("escalation/policies.py", "remove_target"): "configuration; incidents keep the snapshot they escalated with",
    ("escalation/policies.py", "delete_policy"): "refused while a service uses it; incidents keep their snapshot",
    ("escalation/service.py", "remove_trigger"): "configuration; incidents' timelines say whom a trigger paged, "
                                                 "the audit log what was removed",
}


def hard_deletes() -> set[tuple[str, str]]:
    """(module, function) of every `session.delete(…)` and `sa.delete(…)` in app/."""
    found = set()
    for path in APP.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "delete":
                    owner = node.func.value
                    name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
                    if name in ("session", "sa") and node.args:
                        found.add((path.relative_to(APP).as_posix(), function.name))
    return found


def test_every_hard_delete_is_a_decision():
    found = hard_deletes()
    assert found - ALLOWED_HARD_DELETES.keys() == set(), "a new hard delete: make it soft, or list it with a reason"
    assert ALLOWED_HARD_DELETES.keys() - found == set(), "listed but gone: take it off the list"


def test_the_model_tables_that_history_lives_in_are_never_deleted_from():
    """Incidents, their events, alerts, notifications, post-mortems, action items, people,
    services, teams, handovers, updates, deliveries: no delete of them anywhere."""
    kept = {"Incident", "IncidentEvent", "Alert", "Notification", "Postmortem", "ActionItem", "User", "Service",
            "Team", "Handover", "CommsUpdate", "WebhookDelivery", "Schedule", "Webhook", "AuditEntry", "ChangeEvent",
            "Version", "ComponentStatusRange"}
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "delete"
                    and getattr(node.func.value, "id", "") == "sa" and node.args):
                target = node.args[0]
                name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")
                assert name not in kept or (path.name, name) == ("uptime.py", "ComponentStatusRange"), (path, name)


# --- schedules are archived ---------------------------------------------------------------

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def rota(app):
    clock.set(MONDAY - timedelta(days=14))
    ana, ben = make_user(Role.RESPONDER, name="Ana"), make_user(Role.RESPONDER, name="Ben")
    schedule = make_schedule("Payments on-call")
    make_layer(schedule, [ana, ben], start=date(2026, 2, 16), handoff=time(9), weekday=0)
    engine = Engine(all_jobs(), holder="test")
    for days in range(0, 15):  # two weeks of handovers, as the engine writes them
        clock.set(MONDAY - timedelta(days=14) + timedelta(days=days, hours=1))
        assert not engine.cycle().errors
    clock.set(MONDAY + timedelta(hours=1))
    return schedule, ana, ben


@pytest.mark.db
def test_an_archived_schedule_keeps_its_history_and_counts_in_the_load_up_to_then(rota):
    schedule, ana, ben = rota
    handovers = db.session.scalar(sa.select(sa.func.count()).select_from(Handover).where(
        Handover.schedule_id == schedule.id))
    assert handovers >= 2
    start, end = MONDAY - timedelta(days=14), MONDAY + timedelta(days=14)
    before = loads.report([schedule], start, MONDAY + timedelta(hours=1))
    oncall.archive_schedule(SYSTEM, schedule, clock.now())
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Handover).where(
        Handover.schedule_id == schedule.id)) == handovers
    assert schedule not in oncall.all_schedules() and schedule in oncall.all_schedules(include_archived=True)
    assert schedule in oncall.schedules_during(start)
    after = loads.report(oncall.schedules_during(start), start, end)  # asked past the archiving
    hours = {p.user.name: round(sum(p.hours.values()), 2) for p in after.people}
    assert hours == {p.user.name: round(sum(p.hours.values()), 2) for p in before.people}
    assert sum(hours.values()) == pytest.approx(14 * 24 + 1)  # two weeks and an hour, nothing after
    assert on_call(schedule.id, clock.now()) == []  # it pages nobody any more
    assert schedule.next_handover_at is None and schedule.next_reminder_at is None
    Engine(all_jobs(), holder="test").cycle()
    clock.set(MONDAY + timedelta(days=8))
    Engine(all_jobs(), holder="test").cycle()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Handover).where(
        Handover.schedule_id == schedule.id)) == handovers


@pytest.mark.db
def test_an_archived_schedule_changes_no_more(rota):
    schedule, ana, ben = rota
    oncall.archive_schedule(SYSTEM, schedule, clock.now())
    db.session.commit()
    now = clock.now()
    for change in (
        lambda: oncall.add_override(SYSTEM, schedule, user_id=ana.id, starts_at=now + timedelta(hours=1),
                                    ends_at=now + timedelta(hours=2), now=now),
        lambda: oncall.update_schedule(SYSTEM, schedule, now=now, name="Renamed"),
        lambda: oncall.create_feed(actor(ana), now=now, schedule=schedule),
        lambda: oncall.archive_schedule(SYSTEM, schedule, now),
    ):
        with pytest.raises(DomainError, match="archived"):
            change()
        db.session.rollback()


@pytest.mark.db
def test_a_schedule_that_a_policy_or_severity_trigger_pages_is_not_archived(rota):
    schedule, ana, ben = rota
    policy = policies.create_policy(SYSTEM, name="Payments", now=clock.now())
    step = policies.add_step(SYSTEM, policy, delay_minutes=10, mode="all", now=clock.now())
    target = policies.add_target(SYSTEM, step, "schedule", schedule.id, clock.now())
    db.session.commit()
    with pytest.raises(Conflict, match="Payments still pages this schedule"):
        oncall.archive_schedule(SYSTEM, schedule, clock.now())
    db.session.rollback()
    policies.remove_target(SYSTEM, target, clock.now())
    db.session.commit()
    oncall.archive_schedule(SYSTEM, schedule, clock.now())
    db.session.commit()
    with pytest.raises(DomainError, match="archived"):
        policies.add_target(SYSTEM, step, "schedule", schedule.id, clock.now())


def test_archiving_from_the_page_keeps_the_page_and_stops_its_calendar_link(rota, client):
    schedule, ana, ben = rota
    feed, secret = oncall.create_feed(actor(ana), now=clock.now(), schedule=schedule)
    db.session.commit()
    assert client.get(f"/schedules/{schedule.id}/oncall.ics?token={secret}").status_code == 200
    admin = make_user(Role.ADMIN)
    login(client, admin)
    assert client.post(f"/schedules/{schedule.id}/archive").status_code == 303
    page = client.get(f"/schedules/{schedule.id}")
    assert page.status_code == 200 and b"Archived" in page.data
    assert b"Payments on-call" in client.get("/oncall/").data  # listed as archived
    assert client.get(f"/schedules/{schedule.id}/oncall.ics?token={secret}").status_code == 404
    assert client.get("/oncall/handovers").status_code == 200


# --- webhooks are removed, not deleted ----------------------------------------------------------

@pytest.mark.db
def test_a_deleted_webhook_keeps_its_deliveries_and_forgets_its_credentials(app):
    from app.comms import updates
    clock.set(MONDAY)
    incident = incidents.open_incident(SYSTEM, service=make_service(), title="Checkout fails", severity=2,
                                       now=MONDAY)
    hook = webhooks.create_webhook(SYSTEM, MONDAY, name="Slack #incidents", kind="slack",
                                   url="https://hooks.example.com/services/T0/B0/x")
    db.session.commit()
    updates.send(actor(make_user(Role.RESPONDER)), incident, updates.Draft(
        template_key="internal_technical", stage="identified", subject="Rolling back", body="Cause found.",
        webhook_ids=[hook.id]), MONDAY)
    db.session.commit()
    webhooks.delete_webhook(SYSTEM, hook, MONDAY)
    db.session.commit()
    [delivery] = webhooks.deliveries_for(incident)  # still in the incident's communication log
    assert delivery.webhook.name.startswith("Slack #incidents (deleted")
    assert (hook.url, hook.secret, hook.active) == ("", "", False)
    assert hook not in webhooks.webhooks()
    with pytest.raises(NotFound):
        webhooks.get_webhook(hook.id)
    assert webhooks.run(delivery.id, MONDAY + timedelta(seconds=1)) is True  # due: fails, never posted
    assert (delivery.status, delivery.last_error) == (DeliveryStatus.FAILED, "the webhook was deleted")
    again = webhooks.create_webhook(SYSTEM, MONDAY, name="Slack #incidents", kind="slack",
                                    url="https://hooks.example.com/services/T0/B0/y")  # the name is free
    assert again.id != hook.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Webhook)) == 2


# --- a post-mortem's review comments survive a change of template ------------------------------

@pytest.mark.db
def test_review_comments_on_sections_survive_a_change_of_template(app):
    from app.postmortems import service as postmortems
    clock.set(MONDAY)
    dana = make_user(Role.RESPONDER, name="Dana")
    incident = incidents.open_incident(SYSTEM, service=make_service(), title="Checkout fails", severity=3,
                                       now=MONDAY)
    pm = postmortems.create_postmortem(actor(dana), incident, MONDAY,
                                       template=postmortems.template_by_key("lightweight"))
    section = pm.sections[0]
    postmortems.add_comment(actor(dana), pm, MONDAY, body="Say when we knew.", section=section)
    postmortems.add_comment(actor(dana), pm, MONDAY, body="Good start.")
    db.session.commit()
    postmortems.change_template(actor(dana), pm, postmortems.template_by_key("detailed_technical"), MONDAY)
    db.session.commit()
    bodies = [c.body for c in postmortems.comments(pm)]
    assert bodies == [f"(On “{section.heading}”) Say when we knew.", "Good start."]
