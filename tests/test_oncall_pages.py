"""On-call pages: who is on call (home, overview), the schedule calendar and its
quick actions, the editor, my shifts, handovers; whole pages and htmx fragments."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role
from app.extensions import db
from app.oncall import service as oncall
from app.oncall.models import Holiday, Override, RotationVersion, Schedule, ScheduleLayer, Swap, TemporarySchedule
from tests.factories import SYSTEM, login, make_team, make_user
from tests.oncall_factories import make_layer, make_override, make_schedule

T0 = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)  # Wednesday
HX = {"HX-Request": "true"}


@pytest.fixture
def world(app):
    clock.set(T0)
    ana = make_user(Role.RESPONDER, name="Ana Ruiz")
    ben = make_user(Role.RESPONDER, name="Ben Cole")
    schedule = make_schedule("Payments primary", team=make_team("Payments"))
    make_layer(schedule, [ana, ben], name="Primary")
    return {"ana": ana, "ben": ben, "schedule": schedule}


def html(answer) -> str:
    return answer.get_data(as_text=True)


def text(answer) -> str:
    """What a reader sees: the page without its tags, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html(answer)).split()).replace(" ,", ",")


@pytest.mark.db
def test_home_and_overview_show_who_is_on_call_now_for_every_schedule(client, world):
    nobody = make_schedule("Empty rota")
    login(client, make_user(Role.VIEWER))
    home = html(client.get("/"))
    assert "On call now" in home and "Payments primary" in home and "Ana Ruiz" in home
    assert "Nobody is on call" in home  # the empty schedule
    overview = text(client.get("/oncall/"))
    assert "Ana Ruiz" in overview and "until Mon 12 Jan 09:00" in overview and "then Ben Cole" in overview
    assert "Gaps in the next 14 days" in overview and nobody.name in overview
    nav = re.search(r'<a href="/oncall/"[^>]*>On-call</a>', home)
    assert nav is not None


@pytest.mark.db
def test_the_week_and_month_calendars_show_final_shifts_with_their_sources(client, world):
    ana, ben, schedule = world["ana"], world["ben"], world["schedule"]
    make_override(schedule, ben, datetime(2026, 1, 8, 18, tzinfo=UTC), datetime(2026, 1, 8, 22, tzinfo=UTC))
    oncall.add_holiday(SYSTEM, ben, first_day=date(2026, 1, 13), last_day=date(2026, 1, 13), now=T0)
    db.session.commit()
    login(client, make_user(Role.VIEWER))
    week = html(client.get(f"/schedules/{schedule.id}"))
    assert "05 Jan – 11 Jan 2026" in week
    assert 'class="piece kind-override' in week and "18:00" in week
    assert "Cover or swap" not in week  # viewers read
    later = text(client.get(f"/schedules/{schedule.id}?date=2026-01-13"))
    assert "Away: Ben Cole" in later and "covering for Ben Cole (away)" in later
    month = client.get(f"/schedules/{schedule.id}?view=month&date=2026-01-20")
    assert month.status_code == 200 and "January 2026" in text(month)
    assert html(month).count('class="cal-day') == 35  # whole weeks from 29 December to 1 February


@pytest.mark.db
def test_the_live_block_polls_cheaply_and_refreshes_when_something_changes(client, world):
    schedule = world["schedule"]
    login(client, world["ana"])
    page = html(client.get(f"/schedules/{schedule.id}"))
    poll = re.search(r'hx-get="([^"]+state=[^"]+)"', page).group(1).replace("&amp;", "&")
    assert client.get(poll, headers=HX).status_code == 204
    make_override(schedule, world["ben"], T0, T0 + timedelta(hours=1))
    fresh = client.get(poll, headers=HX)
    assert fresh.status_code == 200 and 'id="schedule-live"' in html(fresh) and "<html" not in html(fresh)
    assert "HX-Request" in fresh.headers["Vary"]


def _cover_fields(page: str) -> dict:
    form = re.search(r'<form method="post" action="(/schedules/\d+/cover)".*?</form>', page, re.S)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form.group(0)))
    return {"url": form.group(1), **fields}


@pytest.mark.db
def test_i_cover_a_shift_in_two_taps_without_javascript(client, world):
    ben, schedule = world["ben"], world["schedule"]
    login(client, ben)
    page = html(client.get(f"/schedules/{schedule.id}"))
    fields = _cover_fields(page)  # the first "Cover or swap" on the page: today's shift, from now
    url = fields.pop("url")
    answer = client.post(url, data=fields)
    assert answer.status_code == 303 and answer.headers["Location"].startswith(f"/schedules/{schedule.id}")
    override = db.session.scalar(sa.select(Override))
    assert override.user_id == ben.id and override.starts_at == T0
    after = html(client.get(answer.headers["Location"]))
    assert re.search(r'id="on-call-now"><strong>Ben Cole</strong>', after)
    assert "You cover Payments primary until" in after


@pytest.mark.db
def test_covering_with_htmx_answers_with_the_live_block(client, world):
    ben, schedule = world["ben"], world["schedule"]
    login(client, ben)
    fields = _cover_fields(html(client.get(f"/schedules/{schedule.id}")))
    answer = client.post(fields.pop("url"), data=fields, headers=HX)
    assert answer.status_code == 200
    body = html(answer)
    assert body.lstrip().startswith('<div id="schedule-live"') and "Ben Cole</strong>" in body
    assert "You cover Payments primary" in body


@pytest.mark.db
def test_a_quick_action_with_bad_times_changes_nothing(client, world):
    login(client, world["ben"])
    schedule = world["schedule"]
    answer = client.post(f"/schedules/{schedule.id}/cover", data={"starts_at": "yesterday", "ends_at": "x"},
                         headers=HX)
    assert answer.status_code == 200 and "could not be read" in text(answer)  # htmx swaps no 4xx
    answer = client.post(f"/schedules/{schedule.id}/cover", data={
        "starts_at": (T0 - timedelta(days=2)).isoformat(), "ends_at": (T0 - timedelta(days=1)).isoformat()})
    assert answer.status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Override)) == 0


@pytest.mark.db
def test_swap_with_my_next_shift_from_the_calendar(client, world):
    ana, ben, schedule = world["ana"], world["ben"], world["schedule"]
    login(client, ben)
    page = html(client.get(f"/schedules/{schedule.id}"))
    form = re.search(r'<form method="post" action="(/schedules/\d+/swap)".*?</form>', page, re.S)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form.group(0)))
    assert client.post(form.group(1), data=fields).status_code == 303
    swap = db.session.scalar(sa.select(Swap))
    assert (swap.first_user_id, swap.second_user_id) == (ana.id, ben.id)
    assert (swap.first_starts_at, swap.first_ends_at) == (T0, datetime(2026, 1, 12, 9, tzinfo=UTC))
    assert (swap.second_starts_at, swap.second_ends_at) == (datetime(2026, 1, 12, 9, tzinfo=UTC),
                                                            datetime(2026, 1, 19, 9, tzinfo=UTC))


@pytest.mark.db
def test_the_override_form_keeps_what_was_typed_and_shows_the_error(client, world):
    schedule, ana = world["schedule"], world["ana"]
    login(client, ana)
    answer = client.post(f"/schedules/{schedule.id}/overrides", data={
        "user_id": ana.id, "starts_at": "2026-01-08T10:00", "ends_at": "2026-01-08T09:00"})
    assert answer.status_code == 400
    assert "The end must be after the start." in text(answer) and 'value="2026-01-08T10:00"' in html(answer)
    answer = client.post(f"/schedules/{schedule.id}/overrides", data={
        "user_id": world["ben"].id, "starts_at": "2026-01-08T10:00", "ends_at": "2026-01-08T12:00", "note": "Dentist"})
    assert answer.status_code == 303
    override = db.session.scalar(sa.select(Override))
    assert (override.user_id, override.note) == (world["ben"].id, "Dentist")
    override_id = override.id
    answer = client.post(f"/schedules/{schedule.id}/overrides/{override_id}/remove")
    assert answer.status_code == 303 and db.session.get(Override, override_id) is None


@pytest.mark.db
def test_admins_build_a_schedule_through_the_editor(client, world):
    admin = make_user(Role.ADMIN, name="Ada Admin", time_zone="Europe/London")
    ana, ben = world["ana"], world["ben"]
    login(client, admin)
    assert 'value="Europe/London"' in html(client.get("/schedules/new"))
    answer = client.post("/schedules/new", data={"name": "Platform", "time_zone": "Europe/London",
                                                 "reminder_minutes": "30"})
    schedule = db.session.scalar(sa.select(Schedule).where(Schedule.name == "Platform"))
    assert answer.status_code == 303 and answer.headers["Location"] == f"/schedules/{schedule.id}/layers/new"
    bad = client.post("/schedules/new", data={"name": "platform", "time_zone": "UTC"})
    assert bad.status_code == 400 and "A schedule with that name exists" in text(bad)
    bad = client.post("/schedules/new", data={"name": "Search", "time_zone": "Nowhere/Land"})
    assert bad.status_code == 400 and "Unknown time zone" in text(bad)
    answer = client.post(f"/schedules/{schedule.id}/layers/new", data={
        "name": "Primary", "participants-0": ana.id, "participants-1": ben.id, "shift_unit": "weeks",
        "shift_length": "1", "handoff_time": "09:00", "handoff_weekday": "0", "start_date": "2026-01-01"})
    assert answer.status_code == 303, text(answer)
    layer = db.session.scalar(sa.select(ScheduleLayer).where(ScheduleLayer.schedule_id == schedule.id))
    assert layer.versions[0].start_local == datetime(2026, 1, 5, 9, 0)
    answer = client.post(f"/schedules/{schedule.id}/layers/{layer.id}/edit", data={
        "name": "Primary", "participants-0": ben.id, "shift_unit": "weeks", "shift_length": "1",
        "handoff_time": "09:00", "handoff_weekday": "0", "restricted": "y", "restrictions-0-days": ["0", "1"],
        "restrictions-0-start": "09:00", "restrictions-0-end": "17:00"})
    assert answer.status_code == 303
    flashed = text(client.get(answer.headers["Location"]))
    assert "The new rotation starts Mon 12 Jan 09:00 (Europe/London)" in flashed
    assert "From Mon 12 Jan 2026 09:00:" in flashed and "only Mon–Tue 09:00–17:00" in flashed
    missing = client.post(f"/schedules/{schedule.id}/layers/{layer.id}/edit", data={
        "name": "Primary", "shift_unit": "weeks", "shift_length": "1", "handoff_time": "09:00",
        "handoff_weekday": "0"})
    assert missing.status_code == 400 and "Add at least one person" in text(missing)
    answer = client.post(f"/schedules/{schedule.id}/temporary", data={
        "name": "Offsite", "starts_at": "2026-01-20T09:00", "ends_at": "2026-01-22T09:00",
        "participants-0": ana.id, "shift_unit": "days", "shift_length": "1"})
    assert answer.status_code == 303 and db.session.scalar(sa.select(TemporarySchedule.name)) == "Offsite"
    layer_id, schedule_id = layer.id, schedule.id
    assert client.post(f"/schedules/{schedule_id}/layers/{layer_id}/remove").status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RotationVersion)
                             .where(RotationVersion.layer_id == layer_id)) == 0
    assert client.post(f"/schedules/{schedule_id}/archive").status_code == 303
    db.session.expire_all()
    assert db.session.get(Schedule, schedule_id).archived_at is not None  # kept, with its history


@pytest.mark.db
def test_responders_cannot_edit_schedules_and_viewers_cannot_cover(client, world):
    schedule = world["schedule"]
    login(client, world["ana"])
    assert client.get(f"/schedules/{schedule.id}/edit").status_code == 403
    assert client.post("/schedules/new", data={"name": "X", "time_zone": "UTC"}).status_code == 403
    client.post("/logout")
    login(client, make_user(Role.VIEWER))
    assert client.post(f"/schedules/{schedule.id}/cover", data={}).status_code == 403


@pytest.mark.db
def test_my_shifts_holidays_and_calendar_links(client, world):
    ana = world["ana"]
    login(client, ana)
    page = text(client.get("/oncall/me"))
    assert "You are on call now" in page and "Mon 05 Jan 09:00" in page  # the whole shift, from its start
    answer = client.post("/oncall/holidays", data={"first_day": "2026-01-20", "last_day": "2026-01-21",
                                                   "note": "Conference"})
    assert answer.status_code == 303
    holiday = db.session.scalar(sa.select(Holiday))
    assert holiday.user_id == ana.id
    assert "Tue 20 Jan 2026 to Wed 21 Jan 2026" in text(client.get("/oncall/me"))
    bad = client.post("/oncall/holidays", data={"first_day": "2026-01-21", "last_day": "2026-01-20"})
    assert bad.status_code == 400 and "must not be before" in text(bad)
    made = client.post("/oncall/feeds", data={"reminder_minutes": "15"})
    link = re.search(r'<code class="token">([^<]+)</code>', html(made)).group(1).replace("&amp;", "&")
    assert link.startswith(f"http://localhost/people/{ana.id}/oncall.ics?token=fbcal_")
    assert client.get(link.removeprefix("http://localhost")).status_code == 200
    assert link not in html(client.get("/oncall/me")).replace("&amp;", "&")  # shown once
    feed_id = oncall.feeds_of(ana)[0].id
    assert client.post(f"/oncall/feeds/{feed_id}/revoke").status_code == 303
    assert client.get(link.removeprefix("http://localhost")).status_code == 404


@pytest.mark.db
def test_the_person_on_call_leaves_a_handover_note(client, world):
    schedule = world["schedule"]
    login(client, world["ana"])
    assert "Handover note" in text(client.get(f"/schedules/{schedule.id}"))
    answer = client.post(f"/schedules/{schedule.id}/handover-note", data={"text": "db-2 disk at 80%"})
    assert answer.status_code == 303
    assert "db-2 disk at 80%" in text(client.get(f"/schedules/{schedule.id}"))
    client.post("/logout")
    login(client, world["ben"])
    assert "Save note" not in text(client.get(f"/schedules/{schedule.id}"))
    refused = client.post(f"/schedules/{schedule.id}/handover-note", data={"text": "hi"})
    assert refused.status_code == 400 and "Only whoever is on call now" in text(refused)


@pytest.mark.db
def test_the_handover_log(client, world):
    from app.engine.core import Engine
    from app.engine.jobs import all_jobs
    clock.set(datetime(2026, 1, 12, 9, 0, tzinfo=UTC))
    engine = Engine(all_jobs(), holder="pages")
    engine.cycle()
    engine.release()
    login(client, make_user(Role.VIEWER))
    page = text(client.get("/oncall/handovers"))
    assert "Ana Ruiz → Ben Cole" in page and "You are on call for Payments primary" in page
    assert "Ana Ruiz → Ben Cole" in text(client.get(f"/oncall/handovers?schedule_id={world['schedule'].id}"))


def test_a_temporary_schedule_or_override_without_its_times_is_refused_with_a_reason(client):
    """Found by the route crawl: an empty start or end reached the service as None (500)."""
    from app.auth.models import Role
    from tests.factories import login, make_user
    from tests.oncall_factories import make_schedule
    admin = make_user(Role.ADMIN)
    login(client, admin)
    schedule = make_schedule()
    db.session.commit()
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Override))
    for url, data in ((f"/schedules/{schedule.id}/temporary", {"name": "Cover"}),
                      (f"/schedules/{schedule.id}/temporary", {"name": "Cover", "starts_at": "2026-12-01T09:00"}),
                      (f"/schedules/{schedule.id}/overrides", {"user_id": str(admin.id), "ends_at": "2026-12-01T09:00"})):
        answer = client.post(url, data=data)
        assert answer.status_code == 400 and "Give the start and the end." in answer.get_data(as_text=True), url
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Override)) == before
