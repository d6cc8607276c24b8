"""The engine escalates and sends a burst in batches: each batch in one transaction,
with what every incident would look up asked once, and the same outcome as one
incident at a time. A failure inside a batch costs the others nothing."""
from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role, User
from app.comms.models import CommsDue, DueState
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.escalation import jobs as escalation_jobs
from app.escalation import policies
from app.escalation.models import SeverityTrigger
from app.extensions import db
from app.incidents import roles
from app.incidents.models import EventKind, Incident, IncidentEvent
from app.incidents.roles_models import RoleAssignment
from app.notify import contacts, dispatch
from app.notify.models import Channel, ContactMethod, Notification, Status
from app.services.models import IntegrationKey
from tests.conftest import provider_config
from tests.factories import SYSTEM, make_service, make_team, make_user, reachable_responders
from tests.oncall_factories import make_layer, make_schedule

T0 = datetime(2026, 11, 27, 15, 12, tzinfo=UTC)


@pytest.fixture
def app_config(twilio, mailbox):
    return provider_config(twilio, mailbox)


@pytest.fixture
def people(app):
    clock.set(T0)
    return reachable_responders("Dana", "Lee", "Priya", "Sam")


def policy_of(name, targets, mode="all", repeat=0):
    policy = policies.create_policy(SYSTEM, name=name, repeat=repeat, now=T0)
    step = policies.add_step(SYSTEM, policy, delay_minutes=10, mode=mode, now=T0)
    for kind, ref in targets:
        policies.add_target(SYSTEM, step, kind, ref, T0)
    return policy


def service_with(name, policy=None, fallback=None):
    service = make_service(name)
    service.escalation_policy_id = policy.id if policy else None
    service.fallback_team_id = fallback.id if fallback else None
    db.session.add(IntegrationKey(service=service, key=name[0] * 32, name="monitoring"))
    db.session.commit()
    return service


def fire(client, service_name, dedup_key, severity="error"):
    answer = client.post("/v2/enqueue", json={
        "routing_key": service_name[0] * 32, "event_action": "trigger", "dedup_key": dedup_key,
        "payload": {"summary": f"{service_name} {dedup_key}", "source": "host", "severity": severity}})
    assert answer.status_code == 202, answer.get_data(as_text=True)


@contextmanager
def statements():
    """The SQL the block sends, as a list filled while it runs."""
    seen: list[str] = []

    def spy(conn, cursor, statement, *rest):
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", spy)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", spy)


def cycle(at=T0):
    clock.set(at)
    return Engine(all_jobs(), holder="test").cycle()


def paged(title):
    incident = db.session.scalar(sa.select(Incident).where(Incident.title == title))
    rows = db.session.scalars(sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id,
                                                             IncidentEvent.kind == EventKind.PAGED)
                              .order_by(IncidentEvent.id)).all()
    return [db.session.get(User, row.data["user_id"]).name for row in rows]


def pages_misnamed() -> list:
    """PAGED timeline entries whose `notifications` are not exactly the ids of the
    outbox rows of that page (incident, round, person), as committed."""
    wrong = []
    for event in db.session.scalars(sa.select(IncidentEvent).where(IncidentEvent.kind == EventKind.PAGED)):
        prefix = f"page:{event.incident_id}:{event.data['round']}:{event.data['user_id']}:"
        ids = sorted(db.session.scalars(sa.select(Notification.id).where(Notification.key.startswith(prefix))))
        if not ids or event.data["notifications"] != ids:
            wrong.append((event.id, event.data, ids))
    return wrong


def proposed(title):
    incident = db.session.scalar(sa.select(Incident).where(Incident.title == title))
    rows = db.session.scalars(sa.select(RoleAssignment).where(RoleAssignment.incident_id == incident.id)
                              .order_by(RoleAssignment.id)).all()
    return {row.role: row.user.name for row in rows}


@pytest.fixture
def world(app, client, people):
    """Five services that page in five ways: a person; whoever is on call on a
    schedule; round robin; a team; nobody (the fallback team is paged). SEV-2
    also pages whoever is on call as incident commander."""
    primary = make_schedule("Primary")
    make_layer(primary, [people["Lee"]])
    commander = make_schedule(roles.DEFAULT_COMMANDER_SCHEDULE)
    make_layer(commander, [people["Sam"]])
    payments = make_team("Payments", members=[people["Priya"], people["Dana"]])
    if not db.session.scalar(sa.select(SeverityTrigger).where(SeverityTrigger.severity == 2,
                                                              SeverityTrigger.schedule_id == commander.id)):
        db.session.add(SeverityTrigger(severity=2, on="open", kind="schedule", schedule_id=commander.id))
    # Kim has ways to be reached but no rules yet: the first page gives her the defaults.
    kim = make_user(Role.RESPONDER, name="Kim", phone="+15551230005")
    for channel in ("sms", "voice"):
        contacts.add_method(SYSTEM, kim, channel, kim.phone, T0, verified=True)
    fallback = make_team("Fallback", members=[people["Sam"]])
    service_with("api", policy_of("API", [("user", people["Dana"].id)], repeat=1), fallback)
    service_with("billing", policy_of("Billing", [("schedule", primary.id)]), fallback)
    service_with("cart", policy_of("Cart", [("user", people["Dana"].id), ("user", people["Lee"].id)], "round_robin",
                                   repeat=1))
    service_with("db", policy_of("DB", [("team", payments.id)]))
    service_with("edge", None, fallback)
    service_with("fresh", policy_of("Fresh", [("user", kim.id)]))
    db.session.commit()
    for service_name, key, severity in [("api", "1", "error"), ("billing", "1", "critical"), ("cart", "1", "error"),
                                        ("cart", "2", "error"), ("db", "1", "error"), ("edge", "1", "error"),
                                        ("fresh", "1", "error")]:
        fire(client, service_name, key, severity)
    return {**people, "Kim": kim}


TITLES = ("api 1", "billing 1", "cart 1", "cart 2", "db 1", "edge 1", "fresh 1")


@pytest.mark.db
@pytest.mark.parametrize("batch, seconds", [(1, 1.0), (escalation_jobs.BATCH, 1.0), (escalation_jobs.BATCH, 0.0)],
                         ids=["alone", "batch", "batch-out-of-time-after-each"])
def test_a_batch_pages_as_each_incident_alone_would(world, monkeypatch, twilio, caplog, batch, seconds):
    monkeypatch.setattr(escalation_jobs, "BATCH", batch)
    monkeypatch.setattr(escalation_jobs, "BATCH_SECONDS", seconds)
    report = cycle()
    assert "failed together" not in caplog.text  # every batch went through as a batch
    assert not report.errors and report.done["escalations"] == 7
    assert {title: paged(title) for title in TITLES} == {
        "api 1": ["Dana"], "billing 1": ["Lee", "Sam"], "cart 1": ["Dana"], "cart 2": ["Lee"],
        "db 1": ["Priya", "Dana"], "edge 1": ["Sam"], "fresh 1": ["Kim"]}
    assert proposed("billing 1") == {"commander": "Sam", "technical_lead": "Lee"}
    assert proposed("api 1") == {"technical_lead": "Dana"}
    assert proposed("cart 2") == {"technical_lead": "Dana"}  # the first of the round robin's step
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent).where(
        IncidentEvent.kind == EventKind.NOBODY_REACHABLE)) == 1
    # Each owes its first update one cadence after detection (SEV-2 an hour, SEV-3 four).
    owed = {i.title: [(d.seq, d.state, d.due_at - T0) for d in db.session.scalars(
                sa.select(CommsDue).where(CommsDue.incident_id == i.id))]
            for i in db.session.scalars(sa.select(Incident))}
    assert owed == {title: [(1, DueState.PENDING, timedelta(hours=1 if title == "billing 1" else 4))]
                    for title in TITLES}
    kims = db.session.scalars(sa.select(Notification).where(Notification.user_id == world["Kim"].id)
                              .order_by(Notification.id)).all()
    assert [(n.channel, (n.sent_at or n.next_attempt_at) - T0) for n in kims] == [  # her new default rules
        (Channel.SMS, timedelta(0)), (Channel.VOICE, timedelta(minutes=2))]
    # Every page's SMS went out in the same cycle (one per phone: Dana's bundle).
    assert sorted(m.to for m in twilio.messages) == ["+15551230001", "+15551230002", "+15551230003",
                                                      "+15551230004", "+15551230005"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.channel == Channel.SMS, Notification.status == Status.QUEUED,
        Notification.next_attempt_at <= T0)) == 0
    assert cycle(T0 + timedelta(seconds=30)).total == 0  # nothing left, nothing done twice
    db.session.expire_all()
    assert pages_misnamed() == []  # each page's entry names its rows, though they were flushed after it

    # Ten minutes on, nobody has acknowledged: every policy moves on in one cycle. API
    # and Cart go round again (Cart's round robin to the next in turn); the others run
    # out and page their fallback (Billing's: Sam; the others have none).
    report = cycle(T0 + timedelta(minutes=10))
    assert not report.errors and report.done["escalations"] == 6  # all but Edge, which has no policy
    assert "failed together" not in caplog.text
    assert {title: paged(title) for title in TITLES} == {
        "api 1": ["Dana", "Dana"], "billing 1": ["Lee", "Sam", "Sam"], "cart 1": ["Dana", "Dana"],
        "cart 2": ["Lee", "Lee"], "db 1": ["Priya", "Dana"], "edge 1": ["Sam"], "fresh 1": ["Kim"]}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent).where(
        IncidentEvent.kind == EventKind.NOBODY_REACHABLE)) == 1 + 3  # Billing, DB and Fresh ran out
    db.session.expire_all()
    assert pages_misnamed() == []


@pytest.mark.db
def test_a_batch_asks_who_is_on_call_once_for_all_its_schedules(app, client, people, monkeypatch):
    monkeypatch.setattr(escalation_jobs, "BATCH_SECONDS", 60.0)  # one batch, however slow the machine
    for n in range(6):
        schedule = make_schedule(f"Rota {n}")
        make_layer(schedule, [people[["Dana", "Lee", "Priya"][n % 3]]])
        service_with(f"{'abcdef'[n]}-service", policy_of(f"P{n}", [("schedule", schedule.id)]))
        fire(client, f"{'abcdef'[n]}-service", "1")
    with statements() as seen:
        assert cycle().done["escalations"] == 6

    def count(pattern):
        return sum(1 for s in seen if re.search(pattern, s))
    assert count(r"FROM schedule_layers") == 1
    assert count(r"FROM notification_rules") == 1
    assert count(r"FROM role_definitions") == 1
    assert count(r"FROM incident_roles") == 1
    assert count(r"FROM comms_dues\s+WHERE comms_dues.incident_id") == 1
    assert count(r"FROM comms_updates") == 1
    # The outbox's claims: each phone's last SMS and the incidents' states, once per batch.
    assert count(r"SELECT notifications.sent_at") == 0 and count(r"max\(notifications.sent_at\)") == 1
    assert count(r"SELECT incidents.status") == 0


@pytest.mark.db
def test_a_batch_asks_for_the_members_of_all_its_teams_at_once(app, client, people, monkeypatch):
    monkeypatch.setattr(escalation_jobs, "BATCH_SECONDS", 60.0)
    names = list(people)
    for n in range(4):
        team = make_team(f"Team {n}", members=[people[names[n]], people[names[(n + 1) % 4]]])
        service_with(f"{'abcd'[n]}-team", policy_of(f"T{n}", [("team", team.id)]))
        fire(client, f"{'abcd'[n]}-team", "1")
    with statements() as seen:
        assert cycle().done["escalations"] == 4
    assert sum(1 for s in seen if "team_memberships" in s) == 1
    assert sum(1 for s in seen if re.search(r"FROM contact_methods\s+WHERE contact_methods.user_id IN", s)) == 1
    assert [paged(f"{'abcd'[n]}-team 1") for n in range(4)] == [
        [names[n], names[(n + 1) % 4]] for n in range(4)]


@pytest.mark.db
def test_an_incident_that_fails_does_not_hold_back_the_rest_of_its_batch(world, monkeypatch):
    broken = db.session.scalar(sa.select(Incident.id).where(Incident.title == "cart 1"))
    real = escalation_jobs.begin_response

    def begin(incident, now, actor=None):
        if incident.id == broken:
            raise RuntimeError("a bug meets one incident")
        return real(incident, now, actor)

    monkeypatch.setattr(escalation_jobs, "begin_response", begin)
    report = cycle()
    assert report.done["escalations"] == 6
    assert report.errors == [f"escalations {broken}: a bug meets one incident"]
    assert paged("cart 1") == [] and paged("api 1") == ["Dana"] and paged("cart 2") == ["Dana"]
    incident = db.session.get(Incident, broken)
    assert incident.escalation_state is None and incident.next_escalation_at == T0  # still due
    monkeypatch.setattr(escalation_jobs, "begin_response", real)
    assert cycle(T0 + timedelta(seconds=10)).done["escalations"] == 1
    assert paged("cart 1") == ["Lee"]
    db.session.expire_all()
    assert pages_misnamed() == []  # the rolled-back batch left nothing to name


@pytest.mark.db
def test_a_message_that_fails_to_be_claimed_or_recorded_does_not_hold_back_the_others(world, monkeypatch, twilio):
    dana = world["Dana"].id
    real_throttle, real_entry = dispatch._throttle, dispatch._sent_entry

    def throttle(row, now):
        if row.user_id == dana and row.channel == Channel.SMS:
            raise RuntimeError("cannot claim Dana's SMS")
        return real_throttle(row, now)

    def entry(out, part):  # both ways of recording (all at once, and row by row) make the entry here
        if part.who == "Lee" and out.channel == Channel.SMS:
            raise RuntimeError("cannot record Lee's SMS")
        return real_entry(out, part)

    monkeypatch.setattr(dispatch, "_throttle", throttle)
    monkeypatch.setattr(dispatch, "_sent_entry", entry)
    report = cycle()
    assert report.done["escalations"] == 7
    assert sorted(m.to for m in twilio.messages) == ["+15551230002", "+15551230003", "+15551230004", "+15551230005"]
    sms = db.session.scalars(sa.select(Notification).where(Notification.channel == Channel.SMS)
                             .order_by(Notification.id)).all()
    danas = [row.id for row in sms if row.user_id == dana]
    assert len(danas) == 3  # three incidents page her
    assert sorted(e for e in report.errors if "claim" in e) == sorted(
        f"notifications {i}: cannot claim Dana's SMS" for i in danas)
    assert len([e for e in report.errors if "cannot record Lee's SMS" in e]) == 1
    assert len(report.errors) == 4
    # Lee's went out but its record failed: it stays `sending`, to be sent again after
    # the send timeout (at least once); Dana's were never claimed and are still queued.
    assert {(row.user.name, row.status) for row in sms} == {
        ("Dana", Status.QUEUED), ("Lee", Status.SENDING), ("Priya", Status.SENT), ("Sam", Status.SENT),
        ("Kim", Status.SENT)}


@pytest.mark.db
def test_a_batch_whose_lookups_fail_escalates_each_of_its_incidents_alone(world, monkeypatch):
    def broken(ids, now):
        raise RuntimeError("a lookup the batch shares fails")

    monkeypatch.setattr(escalation_jobs, "remember_batch", broken)
    report = cycle()
    assert not report.errors and report.done["escalations"] == 7
    assert {title: paged(title) for title in TITLES} == {
        "api 1": ["Dana"], "billing 1": ["Lee", "Sam"], "cart 1": ["Dana"], "cart 2": ["Lee"],
        "db 1": ["Priya", "Dana"], "edge 1": ["Sam"], "fresh 1": ["Kim"]}


@pytest.mark.postgresql
def test_a_batch_holds_its_incidents_so_an_acknowledgement_waits_for_it(world, monkeypatch):
    """PostgreSQL: the incidents of a batch are locked as it begins; a person who
    acknowledges one meanwhile waits for the batch, rather than the batch paging on
    what it read before. (On SQLite writers take turns for a whole transaction.)"""
    last = db.session.scalar(sa.select(sa.func.max(Incident.id)))
    real_run, tried = escalation_jobs.run, []

    def run(incident_id, now):
        if incident_id == last - 1:  # the batch is under way; try to change the last one
            with db.engine.connect() as other:
                other.execute(sa.text("SET lock_timeout = '100ms'"))
                try:
                    other.execute(sa.text("UPDATE incidents SET title = 'changed' WHERE id = :id"), {"id": last})
                    tried.append("went through")
                except sa.exc.OperationalError as error:
                    tried.append(error.orig.sqlstate)
                other.rollback()
        return real_run(incident_id, now)

    monkeypatch.setattr(escalation_jobs, "run", run)
    monkeypatch.setattr(escalation_jobs, "BATCH_SECONDS", 60.0)
    assert cycle().done["escalations"] == 7
    assert tried == ["55P03"]  # lock_not_available: the batch held it


@pytest.mark.db
def test_a_batch_that_runs_out_of_time_makes_the_next_one_smaller(world, monkeypatch):
    sizes = []
    real = escalation_jobs.remember_batch

    def remember(ids, now):
        sizes.append(len(ids))
        return real(ids, now)

    monkeypatch.setattr(escalation_jobs, "remember_batch", remember)
    monkeypatch.setattr(escalation_jobs, "BATCH_SECONDS", 0.0)  # each batch gets through one incident
    assert cycle().done["escalations"] == 7
    # Seven due: the first batch looks up all seven and escalates one; the next look
    # up three (what the last got through, and two more); the last one goes alone.
    assert sizes == [7, 3, 3, 3, 3, 2]


@pytest.mark.db
def test_a_sev1_batch_pages_the_managers_of_each_service_team_not_every_member(app, client, people, monkeypatch):
    monkeypatch.setattr(escalation_jobs, "BATCH_SECONDS", 60.0)
    if not db.session.scalar(sa.select(SeverityTrigger).where(SeverityTrigger.severity == 1,
                                                              SeverityTrigger.kind == "managers",
                                                              SeverityTrigger.on == "open")):
        db.session.add(SeverityTrigger(severity=1, on="open", kind="managers"))
    from app.auth import service as auth_service
    for n, (manager, member) in enumerate([("Priya", "Lee"), ("Sam", "Dana")]):
        team = make_team(f"Owners {n}")
        auth_service.add_member(SYSTEM, team, people[manager], is_manager=True)
        auth_service.add_member(SYSTEM, team, people[member])
        service = service_with(f"{'mn'[n]}-sev1", policy_of(f"S{n}", [("user", people["Dana"].id)]))
        service.team_id = team.id
        service.severity_mapping = {**service.severity_mapping, "critical": 1}
        db.session.commit()
        fire(client, f"{'mn'[n]}-sev1", "1", "critical")
    with statements() as seen:
        assert cycle().done["escalations"] == 2
    assert sum(1 for s in seen if "team_memberships" in s) == 1
    assert [paged(f"{'mn'[n]}-sev1 1") for n in range(2)] == [["Dana", "Priya"], ["Dana", "Sam"]]


@pytest.mark.db
def test_a_message_that_goes_out_clears_its_methods_failures_and_leaves_the_rest_alone(world, twilio):
    dana_sms = next(m for m in world["Dana"].contact_methods if m.channel == Channel.SMS)
    dana_sms.consecutive_failures = 3
    db.session.commit()
    with statements() as seen:
        assert cycle().done["escalations"] == 7
    assert len(twilio.messages) == 5
    db.session.expire_all()
    assert db.session.get(ContactMethod, dana_sms.id).consecutive_failures == 0
    # Only the method that had failures is written; the other four had none to clear.
    assert sum(1 for s in seen if s.startswith("UPDATE contact_methods")) == 1


def recorded_state(batch) -> dict:
    """What recording a batch of sends writes, as the database holds it now: its
    rows (and their mates), the pages-sent entries (without their ids, which a
    sequence does not give back on PostgreSQL), the incidents' change marks, the
    methods' failure counts."""
    rows = Notification.__table__
    ids = [part.id for out in batch for part in out.parts]
    events = IncidentEvent.__table__
    return {
        "rows": db.session.execute(sa.select(*[c for c in rows.c if c.key != "body"]).where(rows.c.id.in_(ids))
                                   .order_by(rows.c.id)).all(),
        "entries": db.session.execute(sa.select(*[c for c in events.c if c.key != "id"])
                                      .where(events.c.kind == EventKind.PAGE_SENT).order_by(events.c.id)).all(),
        "incidents": db.session.execute(sa.select(Incident.__table__.c.id, Incident.__table__.c.version,
                                                  Incident.__table__.c.updated_at).order_by(Incident.__table__.c.id)).all(),
        "methods": db.session.execute(sa.select(ContactMethod.__table__.c.id, ContactMethod.__table__.c.consecutive_failures)
                                      .order_by(ContactMethod.__table__.c.id)).all()}


@pytest.mark.db
def test_sends_recorded_all_at_once_are_recorded_as_one_by_one(world, monkeypatch, twilio):
    """Every batch of sends is recorded both ways in its transaction: row by row
    with the ORM (then rolled back to a savepoint), and all at once; both leave
    the same rows, entries and counts."""
    dana_sms = next(m for m in world["Dana"].contact_methods if m.channel == Channel.SMS)
    dana_sms.consecutive_failures = 3  # a success clears it
    db.session.commit()
    record_all = dispatch._record_sent
    compared, orders = [], []

    def both_ways(batch, outcomes, now):
        savepoint = db.session.begin_nested()
        with db.session.no_autoflush:
            loaded = dispatch._load_for_finish(batch)  # noqa: F841 (held while the records are made)
            assert all(dispatch.finish(out, outcome, now) for out, outcome in zip(batch, outcomes))
        db.session.flush()
        one_by_one = recorded_state(batch)
        savepoint.rollback()
        with statements() as seen:
            done = record_all(batch, outcomes, now)
        # Incidents first, then their rows and entries, as the ORM's flush and ingestion
        # lock them (PostgreSQL: the other way round, the two could deadlock).
        first = [next((i for i, sql in enumerate(seen) if sql.startswith(start)), None)
                 for start in ("UPDATE incidents", "UPDATE notifications", "INSERT INTO incident_events")]
        orders.append(first)
        compared.append((one_by_one, recorded_state(batch)))
        return done

    monkeypatch.setattr(dispatch, "_record_sent", both_ways)
    twilio.failures = 1  # the first try fails, and the channel pauses: every SMS is retried with its error noted
    cycle()
    assert not twilio.messages and not compared  # a failure is recorded row by row
    report = cycle(T0 + timedelta(seconds=30))
    assert not report.errors and report.done["notifications"] == 5 and len(twilio.messages) == 5
    assert compared and all(one_by_one == all_at_once for one_by_one, all_at_once in compared)
    assert all(None not in first and first == sorted(first) for first in orders), orders
    rows = [row for _, state in compared for row in state["rows"]]
    # Five sends carried nine pages: Dana's three in one SMS, Lee's two, Sam's two.
    assert len(rows) == 9 and all(row.status == Status.SENT and row.last_error is None for row in rows)
    assert sorted(row.attempts for row in rows) == [2] * 9
    assert sum(1 for row in rows if row.bundled_into_id) == 4 and sum(1 for row in rows if row.provider_id) == 5
    state = compared[-1][1]
    assert len(state["entries"]) == 9
    assert sum(1 for entry in state["entries"] if "with 2 other pages in one SMS" in entry.text) == 1
    assert sum(1 for entry in state["entries"] if "with 1 other page in one SMS" in entry.text) == 2
    assert dict(state["methods"])[dana_sms.id] == 0


@pytest.mark.db
def test_a_message_removed_while_it_was_sent_leaves_the_rest_of_its_batch_recorded(world, monkeypatch, twilio):
    """Recording all at once finds a row gone (its person deleted it, say): the batch
    is recorded the long way instead, where that message alone fails."""
    real_deliver = dispatch.deliver
    removed = []

    def deliver_then_remove(batch, now):
        outcomes = real_deliver(batch, now)
        if not removed:
            lee = next(out for out in batch if out.parts[0].who == "Lee")
            removed.append(lee)
            db.session.execute(sa.delete(Notification).where(Notification.id.in_([p.id for p in lee.parts])))
            db.session.commit()
        return outcomes

    monkeypatch.setattr(dispatch, "deliver", deliver_then_remove)
    report = cycle()
    assert len(twilio.messages) == 5 and report.done["notifications"] == 4
    assert len(report.errors) == 1 and f"notifications {removed[0].id}:" in report.errors[0]
    sent = db.session.scalars(sa.select(Notification).where(Notification.channel == Channel.SMS)).all()
    assert {row.user.name for row in sent if row.status == Status.SENT} == {"Dana", "Priya", "Sam", "Kim"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent).where(
        IncidentEvent.kind == EventKind.PAGE_SENT)) == 9 - len(removed[0].parts)


# Written by the engine from the wall clock, whatever the app clock says: which engine
# holds the lease and when it last beat.
NOT_COMPARED = {"engine_leases"}
# The fake Twilio numbers its sids in the order requests reach it, and a batch's
# sends go out at once, in any order.
NOT_COMPARED_COLUMNS = {("notifications", "provider_id")}


def every_row() -> dict[str, list[tuple]]:
    """Every row of every table the app has (found in the metadata), by primary key."""
    rows = {}
    for table in db.metadata.sorted_tables:
        if table.name in NOT_COMPARED:
            continue
        columns = [c for c in table.columns if (table.name, c.name) not in NOT_COMPARED_COLUMNS]
        rows[table.name] = [tuple(row) for row in db.session.execute(
            sa.select(*columns).order_by(*table.primary_key.columns)).all()]
    return rows


def test_a_batch_writes_the_same_rows_with_and_without_its_memo(world, twilio, monkeypatch):
    """The batches' memo (what a batch looks up once for all its incidents) changes
    how often the database is asked, never what is written: the same burst, escalated
    and paged over three cycles from the same database, with the memo and without it,
    leaves every table the same, row for row."""
    import shutil
    from contextlib import nullcontext

    from app.engine import memo
    path = db.engine.url.database
    db.session.remove()
    db.engine.dispose()
    pristine = f"{path}.pristine"
    shutil.copyfile(path, pristine)
    remembered = []
    put = memo.Memo.put
    monkeypatch.setattr(memo.Memo, "put", lambda self, key, value: (remembered.append(key), put(self, key, value)))
    written = {}
    for cached in (True, False):
        shutil.copyfile(pristine, path)
        twilio.reset()
        remembered.clear()
        with nullcontext() if cached else memo.disabled():
            for moment in (T0, T0 + timedelta(seconds=30), T0 + timedelta(minutes=10)):
                assert not cycle(moment).errors
        assert bool(remembered) == cached  # the memo was used, and then not at all
        written[cached] = every_row()
        db.session.remove()
        db.engine.dispose()
    assert written[True]["notifications"] and written[True]["incident_events"]
    assert written[True] == written[False]
