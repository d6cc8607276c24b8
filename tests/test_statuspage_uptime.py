"""Uptime: history as time ranges, days in the page's zone, the daily roll-up, the 90
bars, and the percentage rule (partial outage counts partly, maintenance not at all)."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app import clock
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.extensions import db
from app.incidents import service as incidents
from app.statuspage import service, uptime
from app.statuspage.models import ComponentDay, ComponentStatus, ComponentStatusRange
from app.statuspage.present import bars, day_summary
from tests.factories import SYSTEM, make_component, make_service

OP, DEG, PART, MAJOR, MAINT = (ComponentStatus.OPERATIONAL, ComponentStatus.DEGRADED, ComponentStatus.PARTIAL,
                               ComponentStatus.MAJOR, ComponentStatus.MAINTENANCE)
UTC_ZONE = ZoneInfo("UTC")
T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def test_split_cuts_ranges_to_the_window():
    ranges = [(OP, T0 - timedelta(hours=5), T0 + timedelta(hours=1)),
              (MAJOR, T0 + timedelta(hours=1), T0 + timedelta(hours=1, minutes=30)),
              (OP, T0 + timedelta(hours=1, minutes=30), None)]
    assert uptime.split(ranges, T0, T0 + timedelta(hours=2)) == {OP: 5400, MAJOR: 1800}
    assert uptime.split(ranges, T0 - timedelta(days=3), T0 - timedelta(days=2)) == {}


def test_days_are_the_pages_days_across_dst():
    berlin = ZoneInfo("Europe/Berlin")
    start, end = uptime.day_bounds(date(2026, 3, 29), berlin)  # clocks go forward: a 23-hour day
    assert start == datetime(2026, 3, 28, 23, 0, tzinfo=UTC) and (end - start) == timedelta(hours=23)
    start, end = uptime.day_bounds(date(2026, 10, 25), berlin)
    assert (end - start) == timedelta(hours=25)
    assert uptime.local_day(datetime(2026, 3, 1, 23, 30, tzinfo=UTC), berlin) == date(2026, 3, 2)


def test_the_uptime_rule():
    day = timedelta(days=1).total_seconds()
    assert uptime.uptime([uptime.Day(date(2026, 3, 1), {OP: int(day)})]) == 100.0
    # an hour of major outage in a day
    assert uptime.uptime([uptime.Day(date(2026, 3, 1), {OP: 82800, MAJOR: 3600})]) == pytest.approx(100 * (1 - 1 / 24))
    # partial outage counts 30 %, degraded not at all
    assert uptime.uptime([uptime.Day(date(2026, 3, 1), {OP: 79200, PART: 3600, DEG: 3600})]) == \
        pytest.approx(100 * (1 - 0.3 / 24))
    # maintenance is left out of the time counted
    assert uptime.uptime([uptime.Day(date(2026, 3, 1), {OP: 72000, MAINT: 10800, MAJOR: 3600})]) == \
        pytest.approx(100 * (1 - 3600 / 75600))
    assert uptime.uptime([uptime.Day(date(2026, 3, 1))]) is None
    assert uptime.format_uptime(99.99999) == "99.99%" and uptime.format_uptime(100.0) == "100.00%"
    assert uptime.format_uptime(None) == "no data"


def test_a_day_reads_as_its_worst():
    day = uptime.Day(date(2026, 3, 1), {OP: 80000, DEG: 300, PART: 2400})
    assert day.worst == PART
    assert day_summary(day) == "partial outage for 40 min, degraded performance for 5 min"
    assert day_summary(uptime.Day(date(2026, 3, 1), {OP: 86400})) == "no downtime"
    assert day_summary(uptime.Day(date(2026, 3, 1))) == "no data"


@pytest.fixture
def component(app):
    clock.set(T0 - timedelta(days=100))
    return make_component("Checkout")


@pytest.mark.db
def test_ninety_days_from_ranges_then_from_the_roll_up(app, component):
    # an outage two days before T0: 02:00-03:00 major, 03:00-04:00 partial
    outage = T0 - timedelta(days=2) + timedelta(hours=2)
    service.set_component_status(SYSTEM, component, "major_outage", outage)
    service.set_component_status(SYSTEM, component, "partial_outage", outage + timedelta(hours=1))
    service.set_component_status(SYSTEM, component, "operational", outage + timedelta(hours=2))
    db.session.commit()
    now = T0 + timedelta(hours=12)
    live = uptime.history([component], UTC_ZONE, now)[component.id]
    assert len(live) == 90 and live[-1].day == date(2026, 3, 2) and live[0].day == date(2026, 3, 2) - timedelta(days=89)
    assert live[-3].seconds == {OP: 79200, MAJOR: 3600, PART: 3600} and live[-3].worst == MAJOR
    assert live[-1].seconds == {OP: 12 * 3600}  # today, up to now
    assert all(d.seconds == {OP: 86400} for d in live[:-3])
    expected = 100 * (1 - (3600 + 0.3 * 3600) / (89 * 86400 + 12 * 3600))
    assert uptime.uptime(live) == pytest.approx(expected)

    written = uptime.rollup(now, UTC_ZONE)
    db.session.commit()
    assert written == 90  # the 90 completed days in the window, not today
    assert db.session.get(ComponentDay, (component.id, date(2026, 2, 28))).major_s == 3600
    assert uptime.rollup(now, UTC_ZONE) == 0  # idempotent
    rolled = uptime.history([component], UTC_ZONE, now)[component.id]
    assert [d.seconds for d in rolled] == [d.seconds for d in live]


@pytest.mark.db
def test_days_before_a_component_existed_have_no_data(app):
    clock.set(T0 - timedelta(days=2, hours=-6))  # two days ago at 06:00
    young = make_component("New service")
    days = uptime.history([young], UTC_ZONE, T0 + timedelta(hours=1))[young.id]
    assert [d.has_data for d in days[-4:]] == [False, True, True, True]
    assert days[-3].seconds == {OP: 18 * 3600}
    young.start_date = date(2026, 3, 1)
    days = uptime.history([young], UTC_ZONE, T0 + timedelta(hours=1))[young.id]
    assert [d.has_data for d in days[-3:]] == [False, True, True]


@pytest.mark.db
def test_the_engine_rolls_up_once_a_day_and_drops_old_ranges(app, component):
    clock.set(T0 + timedelta(hours=1))
    old = ComponentStatusRange(component_id=component.id, status=OP, started_at=T0 - timedelta(days=200),
                               ended_at=T0 - timedelta(days=150))
    db.session.add(old)
    service.settings_for_update(clock.now())
    db.session.commit()
    engine = Engine(all_jobs())
    assert engine.cycle().done.get("uptime_rollup") == 1
    assert engine.cycle().done.get("uptime_rollup") is None  # not due again until tomorrow
    settings = service.get_settings()
    assert settings.rollup_due_at == datetime(2026, 3, 3, 0, 5, tzinfo=UTC)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ComponentStatusRange)
                             .where(ComponentStatusRange.ended_at < T0 - timedelta(days=120))) == 0
    clock.set(datetime(2026, 3, 3, 0, 5, tzinfo=UTC))
    report = engine.cycle()
    assert report.done.get("uptime_rollup") == 1
    assert db.session.scalar(sa.select(sa.func.max(ComponentDay.day))) == date(2026, 3, 2)


@pytest.mark.db
def test_the_bars_say_what_happened_and_link_the_days_incidents(app, component):
    clock.set(T0 + timedelta(hours=3))
    service_ = make_service("checkout-api")
    incident = incidents.open_incident(SYSTEM, service=service_, title="x", severity=2, now=clock.now())
    service.publish_update(SYSTEM, incident, "investigating", "Failing", clock.now(), title="Checkout failing",
                           components={component: "partial_outage"})
    clock.advance(timedelta(minutes=40))
    service.publish_update(SYSTEM, incident, "resolved", "Fixed", clock.now())
    db.session.commit()
    with app.test_request_context():
        days = uptime.history([component], UTC_ZONE, T0 + timedelta(hours=5))[component.id]
        html = str(bars(days, UTC_ZONE))
    assert html.count("<i") == 1 and html.count("<details") == 1  # 89 quiet days in one run, one bad day
    assert '<i class="q89" title="3 Dec 2025 – 1 Mar 2026: no downtime"></i>' in html
    assert 'class="partial_outage"' in html
    assert "2 Mar 2026: partial outage for 40 min. Incidents: Checkout failing" in html
    assert '<span class="vh">2 Mar 2026: partial outage for 40 min</span>' in html
    assert '<a href="/status/incidents/' in html and ">Checkout failing</a>" in html


@pytest.mark.db
def test_remembered_past_bars_match_a_full_render_as_things_change(app, component):
    from app.statuspage.present import Labels, strips
    clock.set(T0 - timedelta(days=5))
    service.set_component_status(SYSTEM, component, "major_outage", clock.now())
    service.set_component_status(SYSTEM, component, "operational", clock.advance(timedelta(hours=2)))
    db.session.commit()

    def tiles(html: str) -> list[str]:
        """One entry per day drawn: a quiet run counts its days; a bad day is its details."""
        found = []
        for quiet, run, bad, title in re.findall(r'<i class="(n )?q(\d+)"|<details class="(\w+)"><summary title="([^"]*)"',
                                                 html):
            found += [f"quiet{quiet.strip()}"] * int(run) if run else [f"{bad}:{title}"]
        return found

    def full(now):
        days = uptime.history([component], UTC_ZONE, now)[component.id]
        return tiles(str(bars(days, UTC_ZONE, Labels()))), uptime.format_uptime(uptime.uptime(days))

    with app.test_request_context():
        for step in range(3):
            now = T0 + timedelta(hours=1 + step)
            html, percents = strips([component], UTC_ZONE, now)
            assert (tiles(str(html[component.id])), percents[component.id]) == full(now)
            assert len(full(now)[0]) == 90
            service.set_component_status(SYSTEM, component, ["partial_outage", "operational", "degraded_performance"][step],
                                         now)
            db.session.commit()
        remembered = app.extensions["statuspage_past_bars"]
        assert len([key for key in remembered if key[0] != "today"]) == 1  # the past was rendered once
