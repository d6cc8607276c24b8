"""A small fixed history for the insights tests: March 2026 seen from New York, with
every edge the metrics must get right. Each figure the tests expect is worked out
by hand in tests/test_insights_metrics.py from the table below.

  #   svc sev (first) detected (UTC)   impact  ack     mitig.  resolved  notes
  I1  A   2   (2)     03-02 10:00      09:50   10:05   10:30   11:00     fp-db; PM published on time; items a (on time), b (late)
  I2  A   1   (3)     03-05 14:00      13:58   14:10   14:40   15:30     fp-db (recurs I1); PM published late; items c done, d open
  I3  B   3   (3)     03-10 08:00      —       never   08:20   08:20     fp-x; item e done
  I4  B   4   (4)     03-20 12:00      11:00   12:30   —       open      item g due in April, open
  I5  A   2   (2)     03-25 09:00      —       09:02   09:30   11:00     resolved 09:30, reopened 10:00; PM draft, overdue,
                                                                        factor Capacity (recurs I1 by factor); item f won't do
  I6  A   3   (3)     03-02 10:01      merged into I1 (fp-db): counted as I1
  I7  B   2   (2)     03-15 10:00      exercise (drill): assessments 80 and 90; item h open
  I8  B   3   (3)     03-01 04:30      (Feb 28 in New York: before the period) fp-q
  I9  B   3   (3)     04-01 03:30      —       03:40   04:00   04:00     (Mar 31 23:30 in New York: inside) fp-q, recurs I8
  I10 A   3   (3)     04-01 04:00      (Apr 1 00:00 in New York: after the period)
  I11 B   2   (2)     03-28 10:00      —       never   10:30   10:30     required post-mortem missing

Updates to stakeholders (sent through app.comms.updates; the cadence's overdue marks
by its engine job). Cadence: SEV-1 every 30 min, SEV-2 60, SEV-3 240, SEV-4 none.

  I1  sent 10:20 (due 11:00): on time; the next (due 11:20) cancelled by resolving at 11:00
  I2  raised to SEV-1 at 14:05, so due 14:30; overdue at 14:31, sent 14:50: late; the next,
      due 15:20, overdue at 15:21 and never sent (resolved 15:30): missed
  I7  (the drill) sent 10:10 (due 11:00): on time, but a drill
  I8  sent 03-01 04:50, due 08:30 (inside March in New York, though I8 was detected
      before it): on time
  The others' first updates were cancelled by resolving before they fell due (I4 is
  SEV-4: none owed; I10's is due in April).

"Now" is 2026-07-01 12:00 UTC, so every fix done in March has had its 90 days.
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app import clock
from app.alerts.models import Alert, AlertStatus
from app.audit.service import Actor
from app.auth.models import Role
from app.comms import cadence, stakeholders, updates
from app.engine.core import Engine
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import EventKind
from app.incidents.timeline import record_event
from app.insights.metrics import Filters
from app.insights.models import DrillAssessment, PageRead, SurveyAnswer, SurveyInvitation
from app.insights.periods import Period
from app.postmortems import actions
from app.postmortems import service as postmortems
from app.postmortems.models import FactorCategory
from tests.factories import make_service, make_team, make_user, resolve

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")
MARCH = Period(date(2026, 3, 1), date(2026, 3, 31), NEW_YORK, "March")


def t(text: str) -> datetime:
    """'03-02 10:00' → 2026-03-02 10:00 UTC."""
    return datetime.strptime(f"2026-{text}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def march(**kwargs) -> Filters:
    return Filters(MARCH, **kwargs)


def _alert(incident, key: str, at: datetime) -> None:
    db.session.add(Alert(service_id=incident.service_id, incident_id=incident.id, dedup_key=key, severity="critical",
                         summary=key, status=AlertStatus.RESOLVED, created_at=at, last_seen_at=at, resolved_at=at))


def _publish(pm, admin: Actor, reviewer, at: datetime) -> None:
    postmortems.submit_for_review(admin, pm, at, reviewers=[reviewer])
    postmortems.approve(Actor.for_user(reviewer), pm, at)
    postmortems.publish(admin, pm, at)


def build() -> SimpleNamespace:
    clock.set(NOW)
    admin_user = make_user(Role.ADMIN, name="Ada Admin")
    u1, u2, u3 = (make_user(Role.RESPONDER, name=n) for n in ("Uma One", "Ugo Two", "Una Three"))
    t1, t2 = make_team("Payments", members=[u1]), make_team("Platform", members=[u2])
    a, b = make_service("svc-a", team=t1), make_service("svc-b", team=t2)
    admin, r1 = Actor.for_user(admin_user), Actor.for_user(u1)
    postmortems.ensure_defaults()
    capacity = db.session.scalar(sa.select(FactorCategory).where(FactorCategory.name == "Capacity"))
    change = db.session.scalar(sa.select(FactorCategory).where(FactorCategory.name == "Change or deployment"))

    def open_(service, severity, at, title, impact=None, exercise=False):
        return incidents.open_incident(r1, service=service, title=title, severity=severity, now=t(at),
                                       impact_started_at=t(impact) if impact else None, is_exercise=exercise)

    desk = stakeholders.create_list(admin, t("03-01 00:00"), name="Support desk")
    stakeholders.add_member(admin, desk, t("03-01 00:00"), name="Desk", email="desk@example.com")
    engine = Engine(cadence.JOBS, holder="insights-data")

    def send_update(incident, at):
        updates.send(r1, incident, updates.Draft(template_key="internal_technical", subject="{{ title }}",
                                                 body="We are on it.", list_ids=[desk.id]), t(at))

    def cadence_job(at):
        """The engine's cadence job at that moment: reminds, or marks what passed overdue."""
        db.session.commit()
        clock.set(t(at))
        assert not engine.cycle().errors
        clock.set(NOW)

    i1 = open_(a, 2, "03-02 10:00", "I1", impact="03-02 09:50")
    _alert(i1, "fp-db", t("03-02 10:00"))
    i6 = open_(a, 3, "03-02 10:01", "I6")
    _alert(i6, "fp-db", t("03-02 10:01"))
    incidents.acknowledge(r1, i1, t("03-02 10:05"))
    incidents.merge(r1, i6, i1, t("03-02 10:06"))
    send_update(i1, "03-02 10:20")
    incidents.update_milestones(r1, i1, t("03-02 10:31"), mitigated_at=t("03-02 10:30"))
    resolve(r1, i1, t("03-02 11:00"))
    pm1 = postmortems.for_incident(i1)
    postmortems.add_factor(r1, pm1, t("03-03 09:00"), category_id=capacity.id, description="Pool too small")
    item_a = actions.create_item(r1, i1, t("03-03 09:00"), title="a", due_on=date(2026, 3, 5), owner_id=u1.id)
    item_b = actions.create_item(r1, i1, t("03-03 09:00"), title="b", due_on=date(2026, 3, 5), owner_id=u1.id)
    actions.set_status(r1, item_a, "done", t("03-04 10:00"))
    actions.set_status(r1, item_b, "done", t("03-06 10:00"))
    _publish(pm1, admin, u2, t("03-08 12:00"))

    i2 = open_(a, 3, "03-05 14:00", "I2", impact="03-05 13:58")
    _alert(i2, "fp-db", t("03-05 14:00"))
    incidents.change_severity(r1, i2, 1, t("03-05 14:05"), reason="Every region")
    incidents.acknowledge(r1, i2, t("03-05 14:10"))
    cadence_job("03-05 14:26")  # the reminder
    cadence_job("03-05 14:31")  # overdue
    incidents.update_milestones(r1, i2, t("03-05 14:41"), mitigated_at=t("03-05 14:40"))
    send_update(i2, "03-05 14:50")
    cadence_job("03-05 15:21")  # overdue, and nobody sends another
    resolve(r1, i2, t("03-05 15:30"))
    pm2 = postmortems.for_incident(i2)
    postmortems.add_factor(r1, pm2, t("03-06 09:00"), category_id=change.id, description="A release")
    item_c = actions.create_item(r1, i2, t("03-06 09:00"), title="c", due_on=date(2026, 3, 20), owner_id=u1.id)
    actions.create_item(r1, i2, t("03-06 09:00"), title="d", due_on=date(2026, 3, 25), owner_id=u1.id)
    actions.set_status(r1, item_c, "done", t("03-19 10:00"))
    _publish(pm2, admin, u2, t("03-14 12:00"))

    i3 = open_(b, 3, "03-10 08:00", "I3")
    _alert(i3, "fp-x", t("03-10 08:00"))
    resolve(r1, i3, t("03-10 08:20"))
    item_e = actions.create_item(r1, i3, t("03-10 09:00"), title="e", due_on=date(2026, 3, 15), owner_id=u2.id)
    actions.set_status(r1, item_e, "done", t("03-12 10:00"))

    i4 = open_(b, 4, "03-20 12:00", "I4", impact="03-20 11:00")
    incidents.acknowledge(r1, i4, t("03-20 12:30"))
    actions.create_item(r1, i4, t("03-20 13:00"), title="g", due_on=date(2026, 4, 20), owner_id=u2.id)

    i5 = open_(a, 2, "03-25 09:00", "I5")
    incidents.acknowledge(r1, i5, t("03-25 09:02"))
    resolve(r1, i5, t("03-25 09:30"))
    incidents.reopen(r1, i5, t("03-25 10:00"), reason="Came back")
    resolve(r1, i5, t("03-25 11:00"))
    pm5 = postmortems.for_incident(i5)
    postmortems.add_factor(r1, pm5, t("03-26 09:00"), category_id=capacity.id, description="Pool again")
    item_f = actions.create_item(r1, i5, t("03-26 09:00"), title="f", due_on=date(2026, 3, 30), owner_id=u1.id)
    actions.set_status(r1, item_f, "wont_do", t("03-27 09:00"), reason="Replaced by a bigger plan")

    i7 = open_(b, 2, "03-15 10:00", "I7", exercise=True)
    incidents.acknowledge(r1, i7, t("03-15 10:03"))
    send_update(i7, "03-15 10:10")
    resolve(r1, i7, t("03-15 10:40"))
    actions.create_item(r1, i7, t("03-15 11:00"), title="h", due_on=date(2026, 3, 20), owner_id=u1.id)
    db.session.add_all([DrillAssessment(incident_id=i7.id, user_id=u1.id, score=80, assessed_at=t("03-15 11:00")),
                        DrillAssessment(incident_id=i7.id, user_id=u2.id, score=90, assessed_at=t("03-15 11:00"))])

    i8 = open_(b, 3, "03-01 04:30", "I8")
    _alert(i8, "fp-q", t("03-01 04:30"))
    send_update(i8, "03-01 04:50")
    resolve(r1, i8, t("03-01 05:00"))

    i9 = open_(b, 3, "04-01 03:30", "I9")
    _alert(i9, "fp-q", t("04-01 03:30"))
    incidents.acknowledge(r1, i9, t("04-01 03:40"))
    resolve(r1, i9, t("04-01 04:00"))

    i10 = open_(a, 3, "04-01 04:00", "I10")

    i11 = open_(b, 2, "03-28 10:00", "I11")
    resolve(r1, i11, t("03-28 10:30"))
    db.session.delete(postmortems.for_incident(i11))

    # Pages (what paging writes as it sends): two in March, one on the last evening, one
    # to nobody (not a page to a person), one in the drill (not operational).
    system = Actor.system("tests")
    for incident, at in ((i1, "03-02 10:00"), (i3, "03-10 08:00"), (i9, "04-01 03:30"), (i7, "03-15 10:00")):
        record_event(incident, EventKind.PAGE_SENT, system, at=t(at).replace(second=30),
                     data={"user_id": u1.id, "channel": "sms"})
    record_event(i1, EventKind.PAGE_SENT, system, at=t("03-02 10:01"), data={"channel": "sms"})

    # Reads: u1 read I1's post-mortem and I3; u2 read I1's post-mortem; u3 read the drill;
    # u1 read I1's post-mortem again in April.
    def read(user, kind, object_id, incident, at):
        db.session.add(PageRead(user_id=user.id, kind=kind, object_id=object_id, incident_id=incident.id,
                                read_on=t(at).date(), read_at=t(at)))
    read(u1, "postmortem", pm1.id, i1, "03-10 15:00")
    read(u1, "incident", i3.id, i3, "03-11 15:00")
    read(u2, "postmortem", pm1.id, i1, "03-12 15:00")
    read(u3, "incident", i7.id, i7, "03-16 15:00")
    read(u1, "postmortem", pm1.id, i1, "04-02 15:00")

    # The survey after I1: four asked, three answered.
    for n, person in enumerate((u1, u2, u3, admin_user)):
        db.session.add(SurveyInvitation(incident_id=i1.id, user_id=person.id, token_hash=None if n < 3 else "f" * 64,
                                        invited_at=t("03-02 12:00"), expires_at=t("03-16 12:00"), answered=n < 3))
    for key, (blameless, safety) in enumerate(((5, 4), (4, 4), (3, 5))):
        db.session.add(SurveyAnswer(id=f"{key:032x}", incident_id=i1.id, blameless=blameless, safety=safety))
    db.session.commit()
    engine.release()
    return SimpleNamespace(admin=admin_user, u1=u1, u2=u2, u3=u3, t1=t1, t2=t2, a=a, b=b, i1=i1, i2=i2, i3=i3, i4=i4,
                           i5=i5, i6=i6, i7=i7, i8=i8, i9=i9, i10=i10, i11=i11, pm1=pm1, pm2=pm2, pm5=pm5,
                           capacity=capacity, change=change, desk=desk)
