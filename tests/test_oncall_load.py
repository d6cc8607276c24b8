"""On-call load: hours and pages per person and per schedule, split by the
person's own business, evening and sleep hours; the chart and its table."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app import clock
from app.audit.models import ActorKind
from app.auth.models import Role
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import IncidentEvent
from app.oncall import load
from tests.factories import SYSTEM, actor, login, make_service, make_user
from tests.oncall_factories import make_layer, make_schedule

NY = ZoneInfo("America/New_York")


def test_categories_follow_the_persons_local_clock():
    # Monday 9 March 2026, the day after New York's clocks went forward.
    assert load.category(datetime(2026, 3, 9, 13, 30, tzinfo=UTC), NY) == load.BUSINESS  # 09:30 EDT
    assert load.category(datetime(2026, 3, 9, 12, 30, tzinfo=UTC), NY) == load.EVENING  # 08:30 EDT
    assert load.category(datetime(2026, 3, 9, 3, 0, tzinfo=UTC), NY) == load.SLEEP  # 23:00 EDT Sunday
    assert load.category(datetime(2026, 3, 7, 16, 0, tzinfo=UTC), NY) == load.EVENING  # Saturday 11:00


def test_a_day_splits_into_8_business_7_evening_9_sleep_hours_and_dst_days_are_shorter():
    day = load.split(datetime(2026, 3, 10, 4, tzinfo=UTC), datetime(2026, 3, 11, 4, tzinfo=UTC), NY)
    assert {k: v / 3600 for k, v in day.items()} == {"business": 8.0, "evening": 7.0, "sleep": 9.0}
    spring = load.split(datetime(2026, 3, 8, 5, tzinfo=UTC), datetime(2026, 3, 9, 4, tzinfo=UTC), NY)  # Sunday
    assert {k: v / 3600 for k, v in spring.items()} == {"business": 0.0, "evening": 15.0, "sleep": 8.0}


@pytest.fixture
def world(app):
    start = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # Monday 00:00 EST
    clock.set(start)
    ana = make_user(Role.RESPONDER, name="Ana Ruiz", time_zone="America/New_York")
    ben = make_user(Role.RESPONDER, name="Ben Cole", time_zone="Europe/London")
    schedule = make_schedule("Payments primary", zone="America/New_York")
    make_layer(schedule, [ana, ben], name="Primary", unit="days", weekday=None, start=start.date())
    service = make_service("checkout-api")
    incident = incidents.open_incident(SYSTEM, service=service, title="Checkout fails", severity=1, now=start)
    db.session.commit()
    return dict(ana=ana, ben=ben, schedule=schedule, incident=incident, start=start)


def page(incident, user, at, **extra):
    """A page as the paging engine will record it on the timeline."""
    db.session.add(IncidentEvent(incident_id=incident.id, at=at, kind="page_sent", actor_kind=ActorKind.SYSTEM,
                                 actor_label="Firebreak", via="engine", text=f"Paged {user.name}",
                                 data={"user_id": user.id, "channel": "sms", **extra}))


@pytest.mark.db
def test_hours_pages_and_acknowledgements_per_person_and_schedule(world):
    ana, ben, incident, schedule = world["ana"], world["ben"], world["incident"], world["schedule"]
    page(incident, ana, datetime(2026, 3, 2, 15, tzinfo=UTC))  # 10:00 EST, Ana's day: business
    page(incident, ana, datetime(2026, 3, 3, 4, tzinfo=UTC))  # 23:00 EST: sleep
    page(incident, ben, datetime(2026, 3, 3, 23, 30, tzinfo=UTC))  # 23:30 in London: sleep, on call
    page(incident, ben, datetime(2026, 3, 4, 12, tzinfo=UTC), schedule_id=schedule.id + 99)  # another schedule
    incidents.acknowledge(actor(ana), incident, datetime(2026, 3, 2, 15, 2, tzinfo=UTC))
    db.session.commit()
    # Daily handoffs at 09:00 New York from 2 March: Ana, Ben, Ana, then Ben until the end (6 March 00:00).
    result = load.report([schedule], world["start"], world["start"] + timedelta(days=4))
    by_name = {p.user.name: p for p in result.people}
    assert by_name["Ana Ruiz"].total_hours == pytest.approx(48)
    assert by_name["Ana Ruiz"].pages == {"business": 1, "evening": 0, "sleep": 1}
    assert by_name["Ana Ruiz"].acknowledged == 1
    assert by_name["Ben Cole"].pages == {"business": 1, "evening": 0, "sleep": 1}
    (item,) = result.schedules
    shares = {s.user.name: s for s in item.shares}
    assert shares["Ben Cole"].pages == 1 and shares["Ben Cole"].sleep_pages == 1  # not the other schedule's
    assert shares["Ana Ruiz"].pages == 2 and shares["Ana Ruiz"].sleep_pages == 1
    assert item.hours == pytest.approx(96 - 9)  # nobody before the first handoff
    assert shares["Ana Ruiz"].fair_hours == pytest.approx(item.hours / 2)
    ben_hours = by_name["Ben Cole"].hours  # Ben's hours are split by London's clock
    assert ben_hours == pytest.approx({"business": 11, "evening": 12, "sleep": 16})


@pytest.mark.db
def test_the_load_page_draws_a_chart_and_gives_the_numbers_in_a_table(client, world):
    page(world["incident"], world["ana"], datetime(2026, 3, 2, 15, tzinfo=UTC))
    db.session.commit()
    clock.set(datetime(2026, 3, 6, 12, tzinfo=UTC))
    login(client, make_user(Role.VIEWER, time_zone="America/New_York"))
    html = client.get("/oncall/load?start=2026-03-02&end=2026-03-05").get_data(as_text=True)
    assert '<svg viewBox="0 0 640' in html and 'role="img"' in html and "<script" not in html.split("<main")[1]
    assert re.search(r'<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="22" class="seg seg-business">', html)
    row = re.search(r"<tr><th scope=\"row\">Ana Ruiz</th>(.*?)</tr>", html).group(1)
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert cells[0] == "48.0" and cells[4] == "1" and cells[5] == "1"  # hours; pages; of them in business hours
    assert "Fairness per schedule" in html and "Equal share" in html
    swapped = client.get("/oncall/load?start=2026-03-05&end=2026-03-02")  # given backwards: still a period
    assert swapped.status_code == 200
    # Past what a time can hold (make hostile found a 500): said beside the field, and
    # the page shows the default period.
    late = client.get("/oncall/load?start=9999-12-30")
    assert late.status_code == 200 and "between the years 1900 and 2999" in late.get_data(as_text=True)


def test_the_chart_scales_bars_to_the_busiest_person():
    from types import SimpleNamespace
    people = [load.PersonLoad(SimpleNamespace(name="A"), hours={"business": 10, "evening": 5, "sleep": 5}),
              load.PersonLoad(SimpleNamespace(name="B"), hours={"business": 5, "evening": 0, "sleep": 5})]
    chart = load.chart(people, width=640, label_width=150)
    full = sum(w for _, _, w, _ in chart.bars[0].segments)
    half = sum(w for _, _, w, _ in chart.bars[1].segments)
    assert full == pytest.approx(640 - 150 - 60) and half == pytest.approx(full / 2)
    assert chart.bars[0].segments[1][1] == pytest.approx(150 + full / 2)
    assert [label for _, label in chart.ticks][:2] == ["0 h", "5 h"]
