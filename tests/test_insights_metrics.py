"""Every metric against a hand computation on the fixed history in tests/insights_data.py
(March 2026 in New York). Marked `db`: percentiles and time arithmetic are written
per dialect, so they are proven on PostgreSQL too."""
from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.service import Actor
from app.comms import cadence, updates
from app.comms.models import CommsDue, DueState
from app.engine.core import Engine
from app.extensions import db
from app.incidents import service as incidents
from app.insights import metrics
from app.insights.metrics import Stat
from app.insights.periods import Period, month
from app.insights.sql import distribution
from tests.insights_data import MARCH, NEW_YORK, NOW, build, march, t

pytestmark = pytest.mark.db


@pytest.fixture
def h(app):
    return build()


def test_who_counts(h):
    # In March (New York): I1, I2, I3, I4, I5, I9 (Mar 31 23:30 local), I11. Not I6 (merged
    # into I1), I7 (a drill), I8 (Feb 28 local), I10 (Apr 1 local).
    ids = set(db.session.scalars(sa.select(metrics.Incident.id).where(*metrics.scope(march()))))
    assert ids == {h.i1.id, h.i2.id, h.i3.id, h.i4.id, h.i5.id, h.i9.id, h.i11.id}
    assert metrics.counts(march()) == metrics.Counts(
        incidents=7, resolved=6, still_open=1, reopened=1, never_acknowledged=2, waiting=0, merged_away=1,
        exercises=1)


def test_the_period_is_whole_local_days():
    assert MARCH.start.isoformat() == "2026-03-01T05:00:00+00:00"   # EST
    assert MARCH.end.isoformat() == "2026-04-01T04:00:00+00:00"     # EDT after 8 March
    tokyo = Period(date(2026, 3, 1), date(2026, 3, 1), ZoneInfo("Asia/Tokyo"))
    assert (tokyo.start.isoformat(), tokyo.end.isoformat()) == ("2026-02-28T15:00:00+00:00",
                                                               "2026-03-01T15:00:00+00:00")


def test_response_times_mean_median_and_90th_percentile(h):
    r = metrics.response_times(march())
    # MTTD: I1 600, I2 120, I4 3600 → [120, 600, 3600]; p90 at 1.8: 600 + 0.8 × 3000.
    assert r["mttd"] == Stat(n=3, mean=1440, median=600, p90=3000, low=120, high=3600)
    # MTTA: I1 300, I2 600, I4 1800, I5 120, I9 600 (I3, I11 never acknowledged);
    # [120, 300, 600, 600, 1800]: mean 684, p90 at 3.6: 600 + 0.6 × 1200.
    assert r["mtta"] == Stat(n=5, mean=684, median=600, p90=1320, low=120, high=1800)
    # MTTM: I1 1800, I2 2400, I3 1200, I5 1800 (first resolution), I9 1800, I11 1800;
    # [1200, 1800, 1800, 1800, 1800, 2400]: p90 at 4.5: 1800 + 0.5 × 600.
    assert r["mttm"] == Stat(n=6, mean=1800, median=1800, p90=2100, low=1200, high=2400)
    # MTTR: I1 3600, I2 5400, I3 1200, I5 7200 (final resolution after reopening), I9 1800,
    # I11 1800; I4 still open. [1200, 1800, 1800, 3600, 5400, 7200]: mean 3500,
    # median at 2.5: 1800 + 0.5 × 1800, p90 at 4.5: 5400 + 0.5 × 1800.
    assert r["mttr"] == Stat(n=6, mean=3500, median=2700, p90=6300, low=1200, high=7200)


def test_filters_narrow_who_counts(h):
    assert metrics.response_times(march(service_id=h.b.id))["mttr"] == Stat(
        n=3, mean=1600, median=1800, p90=1800, low=1200, high=1800)  # I3 1200, I9 1800, I11 1800
    assert metrics.response_times(march(team_id=h.t1.id))["mtta"].n == 3  # I1, I2, I5 on svc-a
    assert metrics.response_times(march(severity=1))["mttr"] == Stat(1, 5400, 5400, 5400, 5400, 5400)
    assert metrics.response_times(march(severity=4))["mttr"] == Stat()


def test_trends_by_week_and_month(h):
    weeks = march().buckets()
    assert [(b.first_day.day, b.last_day.day) for b in weeks] == [(1, 1), (2, 8), (9, 15), (16, 22), (23, 29),
                                                                  (30, 31)]
    assert metrics.severity_trend(march()) == [
        {1: 0, 2: 0, 3: 0, 4: 0}, {1: 1, 2: 1, 3: 0, 4: 0}, {1: 0, 2: 0, 3: 1, 4: 0},
        {1: 0, 2: 0, 3: 0, 4: 1}, {1: 0, 2: 2, 3: 0, 4: 0}, {1: 0, 2: 0, 3: 1, 4: 0}]
    trend = metrics.response_trend(march())
    assert [s.n for s in trend["mtta"]] == [0, 2, 0, 1, 1, 1]
    assert (trend["mtta"][1].mean, trend["mtta"][1].median) == (450, 450)  # I1 300, I2 600
    assert [s.median for s in trend["mttr"]] == [None, 4500, 1200, None, 4500, 1800]  # I5 7200 & I11 1800
    monthly = metrics.response_trend(march(granularity="month"))
    assert monthly["mttr"][0] == metrics.response_times(march())["mttr"]


def test_objective_compliance_per_severity(h):
    found = {c.severity: c for c in metrics.objective_compliance(march(), NOW)}
    # SEV-1 (5 min / 1 h): I2 acknowledged after 10 min, resolved after 90 min.
    assert (found[1].response_met, found[1].response_breached, found[1].resolution_breached) == (0, 1, 1)
    # SEV-2 (15 min / 4 h): I1 and I5 in time; I11 never acknowledged, resolved after 30 min:
    # its response (the resolution) came late.
    assert (found[2].response_met, found[2].response_breached) == (2, 1)
    assert (found[2].resolution_met, found[2].resolution_breached) == (3, 0)
    assert found[2].response_rate == pytest.approx(2 / 3)
    # SEV-3: I3 resolved in 20 minutes without an acknowledgement (met), I9.
    assert (found[3].response_met, found[3].resolution_met) == (2, 2)
    # SEV-4 (4 h / 72 h): I4 acknowledged in 30 min, still open long past 72 hours.
    assert (found[4].response_met, found[4].resolution_met, found[4].resolution_breached) == (1, 0, 1)


def test_objectives_not_yet_due_are_pending(h):
    # On 20 March at 13:00 UTC, I4 (SEV-4, detected 12:00) has 71 hours left.
    found = {c.severity: c for c in metrics.objective_compliance(march(), t("03-20 13:00"))}
    assert (found[4].resolution_met, found[4].resolution_breached, found[4].resolution_pending) == (0, 0, 1)


def test_classification_accuracy(h):
    c = metrics.classification(march())
    # Resolved: I1, I2, I3, I5, I9, I11; I2 opened as SEV-3 and ended SEV-1.
    assert (c.judged, c.correct, c.raised, c.lowered) == (6, 5, 1, 0)
    assert c.rate == pytest.approx(5 / 6)


def test_recurrence_by_fingerprint_or_factor_category_within_90_days(h):
    r = metrics.recurrence(march())
    # I2 repeats I1 (fp-db, 3 days), I5 repeats I1 (factor Capacity, 23 days), I9 repeats I8
    # (fp-q, 31 days; I8 is before the period but within 90 days).
    assert (r.incidents, r.recurrences) == (7, 3)
    ids = set(db.session.scalars(metrics.recurrent_ids(march())))
    assert ids == {h.i2.id, h.i5.id, h.i9.id}
    assert metrics.recurrence(march(service_id=h.b.id)) == metrics.Recurrence(4, 1)


def test_recurrence_needs_the_same_service_and_at_most_90_days(h, app):
    later = Period(date(2026, 6, 1), date(2026, 6, 30), NEW_YORK)
    from tests.insights_data import _alert
    from app.audit.service import Actor
    from app.incidents import service as incidents
    actor = Actor.for_user(h.u1)
    far = incidents.open_incident(actor, service=h.a, title="far", severity=3, now=t("06-04 10:00"))
    _alert(far, "fp-db", t("06-04 10:00"))   # 91 days after I2 (03-05 14:00): not a recurrence
    other = incidents.open_incident(actor, service=h.b, title="other", severity=3, now=t("06-05 10:00"))
    _alert(other, "fp-db", t("06-05 10:00"))  # same fingerprint, another service
    db.session.commit()
    assert metrics.recurrence(metrics.Filters(later)) == metrics.Recurrence(2, 0)


def test_improvement_success(h):
    i = metrics.improvement(march(), NOW)
    # All items done: I1 (last done 03-06, then I5 on 03-25 shares Capacity: recurred) and
    # I3 (done 03-12, nothing since on svc-b with fp-x: held). I2 has one open, I5 won't do.
    assert (i.fixed, i.watching, i.held, i.recurred) == (2, 0, 1, 1)
    assert i.rate == 0.5
    early = metrics.improvement(march(), t("04-15 12:00"))  # fewer than 90 days since either fix
    assert (early.fixed, early.watching, early.held, early.recurred) == (2, 2, 0, 0)


def test_postmortem_completion(h):
    p = metrics.postmortem_completion(march(), date(2026, 7, 1))
    # I1 published 03-08, due 03-09; I2 published 03-14, due 03-12; I5's draft was due 04-01;
    # I11 (SEV-2) never had one.
    assert (p.on_time, p.late, p.overdue, p.missing, p.pending) == (1, 1, 1, 1, 0)
    assert p.rate == 0.25
    before = metrics.postmortem_completion(march(), date(2026, 3, 27))
    assert (before.overdue, before.pending) == (0, 1)
    h.i11.followup_at = h.i11.resolved_at  # the engine has yet to write I11's draft: pending, not missing
    db.session.commit()
    owed = metrics.postmortem_completion(march(), date(2026, 7, 1))
    assert (owed.missing, owed.pending) == (0, 1) and owed.rate == pytest.approx(1 / 3)


def test_action_items(h):
    a = metrics.action_items(march(), date(2026, 7, 1))
    # Due in March: a (done early), b (done a day late), c (done early), d (open, overdue),
    # e (done early), f (won't do); h belongs to the drill; g is due in April.
    assert (a.on_time, a.late, a.overdue, a.pending, a.wont_do) == (3, 1, 1, 0, 1)
    assert a.rate == pytest.approx(3 / 5)
    assert a.open_overdue_now == 2  # d and g
    assert metrics.action_items(march(), date(2026, 3, 21)).pending == 1  # d was not due yet


def test_communication_compliance(h):
    c = metrics.communication(march())
    # Fell due in March, on incidents that count: I1 on time, I8 on time (due 08:30 on
    # 03-01, inside March in New York), I2 one late and one missed. Not the drill's (I7),
    # not the cancelled ones (I1's second, and the first of I3, I5, I11 …).
    assert (c.on_time, c.late, c.missed, c.pending) == (2, 1, 1, 0)
    assert (c.judged, c.owed, c.rate) == (4, 4, 0.5)
    cancelled = db.session.scalar(sa.select(sa.func.count()).select_from(CommsDue).where(
        CommsDue.state == DueState.CANCELLED, CommsDue.due_at >= MARCH.start, CommsDue.due_at < MARCH.end))
    assert cancelled >= 5
    drill = db.session.scalar(sa.select(CommsDue).where(CommsDue.incident_id == h.i7.id, CommsDue.seq == 1))
    assert (drill.state, drill.met_at < drill.due_at) == (DueState.MET, True)


def test_communication_compliance_follows_the_filters(h):
    def figures(**kwargs):
        c = metrics.communication(march(**kwargs))
        return c.on_time, c.late, c.missed, c.pending
    assert figures(team_id=h.t1.id) == (1, 1, 1, 0)       # svc-a: I1, I2
    assert figures(service_id=h.b.id) == (1, 0, 0, 0)     # svc-b: I8 (I7 is a drill)
    assert figures(severity=1) == (0, 1, 1, 0)            # I2, SEV-1 since 14:05
    assert figures(severity=3) == (1, 0, 0, 0)            # I8
    assert figures(severity=4) == (0, 0, 0, 0)            # no cadence
    assert metrics.communication(march(severity=4)).rate is None
    february = metrics.Filters(month(2026, 2, NEW_YORK))
    assert metrics.communication(february) == metrics.Communication()


def test_updates_not_yet_due_are_not_judged_and_merged_incidents_do_not_count(h):
    """Today (1 July, 12:00 UTC): K1 owed one at 11:30, sent late at 11:40, and owes the
    next at 12:10; K2's went overdue, then K2 was merged into K1; K3 resolved before
    its first was due."""
    r1 = Actor.for_user(h.u1)
    engine = Engine(cadence.JOBS, holder="tests")

    def cadence_job(at):
        db.session.commit()
        clock.set(at)
        assert not engine.cycle().errors

    k1 = incidents.open_incident(r1, service=h.a, title="K1", severity=1, now=NOW - timedelta(hours=1))
    k2 = incidents.open_incident(r1, service=h.a, title="K2", severity=1, now=NOW - timedelta(minutes=55))
    k3 = incidents.open_incident(r1, service=h.b, title="K3", severity=3, now=NOW - timedelta(minutes=50))
    cadence_job(NOW - timedelta(minutes=29))   # K1's first (11:30) is overdue
    cadence_job(NOW - timedelta(minutes=24))   # K2's (11:35) too
    draft = updates.Draft(template_key="internal_technical", subject="{{ title }}", body="On it.",
                          list_ids=[h.desk.id])
    sent = updates.send(r1, k1, draft, NOW - timedelta(minutes=20))
    assert (sent.on_time, cadence.next_due_at(k1)) == (False, NOW + timedelta(minutes=10))
    incidents.merge(r1, k2, k1, NOW - timedelta(minutes=15))
    incidents.resolve(r1, k3, NOW - timedelta(minutes=10))
    cadence_job(NOW)
    db.session.commit()
    states = dict(db.session.execute(sa.select(CommsDue.incident_id, CommsDue.state).where(
        CommsDue.incident_id.in_((k2.id, k3.id)))).all())
    assert states == {k2.id: DueState.OVERDUE, k3.id: DueState.CANCELLED}

    today = metrics.Filters(Period(date(2026, 7, 1), date(2026, 7, 1), NEW_YORK))
    c = metrics.communication(today)
    assert (c.on_time, c.late, c.missed, c.pending) == (0, 1, 0, 1)   # not K2's: merged into K1
    assert (c.judged, c.owed, c.rate) == (1, 2, 0.0)
    engine.release()


def test_knowledge_sharing(h):
    k = metrics.knowledge(march())
    # In March: u1 read I1's post-mortem and I3, u2 read I1's post-mortem; u3 read a drill.
    assert (k.readers, k.postmortem_readers, k.incident_readers, k.reads) == (2, 2, 1, 3)
    assert [(x.team, x.members, x.readers) for x in k.teams] == [("Payments", 1, 1), ("Platform", 1, 1)]
    assert metrics.knowledge(march(service_id=h.b.id)).readers == 1


def test_training(h):
    tr = metrics.training(march())
    assert (tr.drills, tr.assessed, tr.people, tr.mean_score, tr.median_score) == (1, 2, 2, 85.0, 85.0)
    assert [(p.name, p.drills, p.mean) for p in tr.by_person] == [("Ugo Two", 1, 90.0), ("Uma One", 1, 80.0)]


def test_culture_is_shown_only_for_three_answers_or_more(h):
    c = metrics.culture(march())
    assert (c.invited, c.answered, c.answers, c.shown) == (4, 3, 3, True)
    assert (c.blameless, c.safety) == (4.0, 4.33)
    assert c.blameless_counts == {1: 0, 2: 0, 3: 1, 4: 1, 5: 1}
    hidden = metrics.culture(march(service_id=h.b.id))
    assert (hidden.answers, hidden.shown, hidden.blameless) == (0, False, None)


def test_interruptions_by_local_weekday_and_hour(h):
    heat = metrics.interruptions(march())
    # 03-02 10:00:30 UTC is Monday 05:00 EST; 03-10 08:00:30 is Tuesday 04:00 EDT;
    # 04-01 03:30:30 is Tuesday 31 March 23:30 EDT. The drill's page and the page to nobody
    # do not count.
    assert heat.total == 3
    assert (heat.cells[0][5], heat.cells[1][4], heat.cells[1][23]) == (1, 1, 1)
    india = metrics.interruptions(metrics.Filters(Period(date(2026, 3, 1), date(2026, 3, 31),
                                                         ZoneInfo("Asia/Kolkata"))))
    # +05:30: 10:00:30 UTC Monday is 15:30 Monday; 08:00:30 Tuesday is 13:30 Tuesday; March
    # in India ends at 18:30 UTC on the 31st, before the third page.
    assert (india.total, india.cells[0][15], india.cells[1][13]) == (2, 1, 1)


def test_top_services_and_factor_categories(h):
    services = [(r.label, r.count, r.severe) for r in metrics.top_services(march())]
    assert services == [("svc-b", 4, 1), ("svc-a", 3, 3)]
    assert [(r.label, r.count) for r in metrics.top_factors(march())] == [("Capacity", 2),
                                                                           ("Change or deployment", 1)]


def test_the_whole_dashboard_at_once(h):
    d = metrics.dashboard(march(), NOW)
    assert d.counts.incidents == 7 and len(d.buckets) == 6 and d.heat_map.total == 3


def test_percentiles_agree_with_postgresql(app, backend):
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    table = sa.Table("numbers", sa.MetaData(), sa.Column("g", sa.Integer), sa.Column("v", sa.Float))
    table.create(db.session.connection())
    db.session.execute(table.insert(), [{"g": i % 2, "v": v} for i, v in enumerate(values)] + [{"g": 2, "v": 7.0}])
    rows = {r.g: r for r in db.session.execute(distribution(sa.select(table.c.g, table.c.v), groups=("g",)))}
    # g=0: [2, 3, 4, 5]: p50 at 1.5, p90 at 2.7; g=1: [1, 1, 6, 9]; g=2: [7].
    assert (rows[0].p50, rows[0].p90) == (pytest.approx(3.5), pytest.approx(4.7))
    assert (rows[1].p50, rows[1].p90) == (pytest.approx(3.5), pytest.approx(8.1))
    assert (rows[2].n, rows[2].p50, rows[2].p90) == (1, 7.0, 7.0)
    if backend == "postgresql":
        reference = dict(db.session.execute(sa.text(
            "SELECT g, percentile_cont(0.9) WITHIN GROUP (ORDER BY v) FROM numbers GROUP BY g")).all())
        assert {g: pytest.approx(r.p90) for g, r in rows.items()} == reference
    table.drop(db.session.connection())


def test_month_periods_and_the_one_before():
    april = month(2026, 4, NEW_YORK)
    assert (april.first_day, april.last_day) == (date(2026, 4, 1), date(2026, 4, 30))
    assert april.previous().first_day == date(2026, 3, 1) and april.previous().last_day == date(2026, 3, 31)
    thirty = Period(date(2026, 4, 1), date(2026, 4, 30), NEW_YORK)
    assert thirty.previous().first_day == date(2026, 3, 1)
    ten = Period(date(2026, 4, 5), date(2026, 4, 14), NEW_YORK)
    assert ten.previous().last_day == date(2026, 4, 4) and ten.previous().days == 10
    assert ten.previous().first_day == date(2026, 4, 4) - timedelta(days=9)


def test_one_statement_gives_the_period_and_the_trend_alike(h):
    overall, trend = metrics.response_stats(march())
    assert overall == metrics.response_times(march())
    assert trend == metrics.response_trend(march())
    monthly = metrics.Filters(MARCH, granularity="month", service_id=h.a.id)
    assert metrics.response_stats(monthly) == (metrics.response_times(monthly), metrics.response_trend(monthly))
