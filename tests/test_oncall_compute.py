"""Who is on call, without a database: layers, restrictions, holidays, overrides,
swaps, temporary schedules, and daylight saving in the schedule's zone.

The property tests draw random schedules and hold the two answers (the point
lookup and the list of final shifts) to the rules and to each other.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.oncall.compute import (
    DAYS, EPSILON, HOURS, WEEKS, Holiday, Layer, Override, Restriction, Rotation, ScheduleSpec, Swap,
    TemporarySchedule, changes, final_shifts, first_handoff, gaps, layer_on_call, layer_shifts, shift_at,
    who_is_on_call,
)

NY, LONDON = ZoneInfo("America/New_York"), ZoneInfo("Europe/London")
ALICE, BOB, CARA, DEV, EVE = 1, 2, 3, 4, 5


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def weekly(people, start=datetime(2026, 1, 5, 9, 0), **kwargs) -> Rotation:
    return Rotation(participants=tuple(people), start=start, length=1, unit=WEEKS, **kwargs)


def spec(*layers, zone="America/New_York", **kwargs) -> ScheduleSpec:
    return ScheduleSpec(zone, layers=tuple(layers), **kwargs)


def local_handoffs(s: ScheduleSpec, start: datetime, end: datetime, zone: ZoneInfo) -> list[str]:
    return [shift.start.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") for shift in final_shifts(s, start, end)]


# --- daylight saving ----------------------------------------------------------------

def test_a_weekly_0900_handoff_stays_0900_in_new_york_across_both_changes():
    s = spec(Layer("Primary", (weekly([ALICE, BOB]),)))
    spring = local_handoffs(s, utc(2026, 3, 2, 15), utc(2026, 3, 17), NY)
    assert spring == ["2026-03-02 10:00 EST", "2026-03-09 09:00 EDT", "2026-03-16 09:00 EDT"]
    week = final_shifts(s, utc(2026, 3, 2), utc(2026, 3, 17))[1]
    assert (week.start, week.end) == (utc(2026, 3, 2, 14), utc(2026, 3, 9, 13))  # 167 hours
    assert week.duration == timedelta(hours=167)
    autumn = final_shifts(s, utc(2026, 10, 20), utc(2026, 11, 10))
    assert [x.start.astimezone(NY).strftime("%m-%d %H:%M %Z") for x in autumn[1:]] == [
        "10-26 09:00 EDT", "11-02 09:00 EST", "11-09 09:00 EST"]
    assert autumn[1].duration == timedelta(hours=169)  # 26 October to 2 November


def test_a_daily_0900_handoff_stays_0900_in_london_across_both_changes():
    daily = Rotation(participants=(ALICE, BOB, CARA), start=datetime(2026, 3, 1, 9, 0), length=1, unit=DAYS)
    s = spec(Layer("Primary", (daily,)), zone="Europe/London")
    starts = [x.start for x in final_shifts(s, utc(2026, 3, 28, 9), utc(2026, 3, 31, 12))]
    assert starts == [utc(2026, 3, 28, 9), utc(2026, 3, 29, 8), utc(2026, 3, 30, 8), utc(2026, 3, 31, 8)]
    assert [x.astimezone(LONDON).hour for x in starts] == [9, 9, 9, 9]
    starts = [x.start for x in final_shifts(s, utc(2026, 10, 24, 8), utc(2026, 10, 27, 12))]
    assert starts == [utc(2026, 10, 24, 8), utc(2026, 10, 25, 9), utc(2026, 10, 26, 9), utc(2026, 10, 27, 9)]
    assert [x.astimezone(LONDON).strftime("%H:%M") for x in starts] == ["09:00"] * 4
    # Who is on call at the same local hour either side of the change follows the same rotation.
    assert who_is_on_call(s, utc(2026, 3, 28, 9, 30)).user_id == who_is_on_call(s, utc(2026, 3, 31, 8, 30)).user_id


def test_twelve_hour_shifts_keep_0900_and_2100_local_across_a_change():
    twelve = Rotation(participants=(ALICE, BOB), start=datetime(2026, 3, 6, 9, 0), length=12, unit=HOURS)
    s = spec(Layer("Primary", (twelve,)))
    shifts = final_shifts(s, utc(2026, 3, 7, 14), utc(2026, 3, 10, 2))
    local = [x.start.astimezone(NY).strftime("%d %H:%M") for x in shifts]
    assert local == ["07 09:00", "07 21:00", "08 09:00", "08 21:00", "09 09:00", "09 21:00"]
    shifts = final_shifts(s, utc(2026, 3, 7, 14), utc(2026, 3, 9, 1))
    assert shifts[1].duration == timedelta(hours=11)  # the night the clocks go forward


def test_a_handoff_in_the_skipped_hour_happens_just_after_it_and_a_repeated_hour_the_first_time():
    daily = Rotation(participants=(ALICE, BOB), start=datetime(2026, 3, 1, 2, 30), length=1, unit=DAYS)
    s = spec(Layer("Night", (daily,)))
    spring = final_shifts(s, utc(2026, 3, 7, 12), utc(2026, 3, 9, 12))
    assert [x.start.astimezone(NY).strftime("%d %H:%M %Z") for x in spring[1:]] == ["08 03:30 EDT", "09 02:30 EDT"]
    daily = Rotation(participants=(ALICE, BOB), start=datetime(2026, 10, 1, 1, 30), length=1, unit=DAYS)
    s = spec(Layer("Night", (daily,)))
    autumn = final_shifts(s, utc(2026, 10, 31, 12), utc(2026, 11, 2, 12))
    assert autumn[1].start == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, the first of the two
    assert autumn[1].duration == timedelta(hours=25)


def test_business_hours_restriction_follows_local_time_across_a_change():
    days = Rotation(participants=(CARA,), start=datetime(2026, 3, 2, 9, 0), length=1, unit=WEEKS,
                    restrictions=(Restriction((0, 1, 2, 3, 4), time(9), time(17)),))
    s = spec(Layer("Primary", (weekly([ALICE]),)), Layer("Business hours", (days,), level=1))
    friday, monday = utc(2026, 3, 6, 14, 30), utc(2026, 3, 9, 13, 30)  # 09:30 EST, 09:30 EDT
    assert who_is_on_call(s, friday).user_id == CARA and who_is_on_call(s, monday).user_id == CARA
    assert who_is_on_call(s, utc(2026, 3, 7, 15)).user_id == ALICE  # Saturday: the layer below shows through
    assert who_is_on_call(s, utc(2026, 3, 9, 12, 30)).user_id == ALICE  # 08:30 EDT


# --- the rules ----------------------------------------------------------------------

def test_the_higher_layer_wins_and_the_lower_shows_through_its_gaps():
    nights = Rotation(participants=(BOB,), start=datetime(2026, 3, 2, 18, 0), length=1, unit=DAYS,
                      restrictions=(Restriction(tuple(range(7)), time(18), time(9)),))
    s = spec(Layer("Primary", (weekly([ALICE]),)), Layer("Nights", (nights,), level=1))
    night = who_is_on_call(s, utc(2026, 3, 4, 4))  # 23:00 EST
    day = who_is_on_call(s, utc(2026, 3, 4, 16))  # 11:00 EST
    assert (night.user_id, night.source) == (BOB, "Nights")
    assert (day.user_id, day.source) == (ALICE, "Primary")


def test_holidays_are_skipped_and_the_next_person_in_line_covers():
    s = spec(Layer("Primary", (weekly([ALICE, BOB, CARA]),)),
             holidays=(Holiday(BOB, utc(2026, 1, 14), utc(2026, 1, 16)),))
    # Bob's week is 12–19 January; Cara covers while he is away, then he is back.
    assert who_is_on_call(s, utc(2026, 1, 13)).user_id == BOB
    covered = who_is_on_call(s, utc(2026, 1, 15))
    assert (covered.user_id, covered.covering_for) == (CARA, BOB)
    assert who_is_on_call(s, utc(2026, 1, 17)).user_id == BOB
    # The rotation itself is unchanged: Cara's own week comes next.
    assert who_is_on_call(s, utc(2026, 1, 20)).user_id == CARA
    # Everyone away: the layer has nobody.
    everyone = tuple(Holiday(p, utc(2026, 1, 14), utc(2026, 1, 15)) for p in (ALICE, BOB, CARA))
    assert who_is_on_call(spec(Layer("Primary", (weekly([ALICE, BOB, CARA]),)), holidays=everyone),
                          utc(2026, 1, 14, 12)) is None


def test_a_rotation_change_applies_from_its_first_handoff():
    first = weekly([ALICE, BOB])
    # From Monday 2 February the rotation is Cara then Dev: nothing before that moves.
    second = weekly([CARA, DEV], start=datetime(2026, 2, 2, 9, 0))
    s = spec(Layer("Primary", (first, second)))
    assert who_is_on_call(s, utc(2026, 1, 30)).user_id == BOB
    assert who_is_on_call(s, utc(2026, 2, 2, 13, 59)).user_id == BOB
    assert who_is_on_call(s, utc(2026, 2, 2, 14)).user_id == CARA
    assert who_is_on_call(s, utc(2026, 2, 10)).user_id == DEV


def test_overrides_win_and_the_later_of_two_overlapping_overrides_wins():
    s = spec(Layer("Primary", (weekly([ALICE]),)),
             overrides=(Override(BOB, utc(2026, 1, 10), utc(2026, 1, 12), 1),
                        Override(CARA, utc(2026, 1, 11), utc(2026, 1, 11, 6), 2)))
    assert [(x.user_id, x.kind, x.start) for x in final_shifts(s, utc(2026, 1, 9), utc(2026, 1, 13))] == [
        (ALICE, "layer", utc(2026, 1, 9)), (BOB, "override", utc(2026, 1, 10)),
        (CARA, "override", utc(2026, 1, 11)), (BOB, "override", utc(2026, 1, 11, 6)),
        (ALICE, "layer", utc(2026, 1, 12))]
    # An override covers a gap too.
    assert who_is_on_call(spec(overrides=(Override(DEV, utc(2026, 1, 1), utc(2026, 1, 2)),)),
                          utc(2026, 1, 1, 12)).user_id == DEV


def test_a_swap_trades_turns_both_ways():
    s = spec(Layer("Primary", (weekly([ALICE, BOB]),)),
             swaps=(Swap(ALICE, BOB, utc(2026, 1, 5, 14), utc(2026, 1, 12, 14),
                         utc(2026, 1, 12, 14), utc(2026, 1, 19, 14), id=4, label="Swap Alice ↔ Bob"),))
    first, second = who_is_on_call(s, utc(2026, 1, 6)), who_is_on_call(s, utc(2026, 1, 13))
    assert (first.user_id, first.kind, first.covering_for) == (BOB, "swap", ALICE)
    assert (second.user_id, second.covering_for) == (ALICE, BOB)
    assert who_is_on_call(s, utc(2026, 1, 20)).user_id == ALICE


def test_a_temporary_schedule_replaces_the_schedule_for_its_window():
    cover = Layer("Cover", (Rotation((DEV, EVE), datetime(2026, 12, 24, 0, 0), 1, DAYS),))
    s = spec(Layer("Primary", (weekly([ALICE]),)),
             temporaries=(TemporarySchedule("Holiday cover", utc(2026, 12, 24, 5), utc(2026, 12, 26, 5), (cover,), 9),),
             overrides=(Override(BOB, utc(2026, 12, 25, 12), utc(2026, 12, 25, 13)),))
    inside = who_is_on_call(s, utc(2026, 12, 24, 6))
    assert (inside.user_id, inside.kind, inside.source, inside.layer) == (DEV, "temporary", "Holiday cover", "Cover")
    assert who_is_on_call(s, utc(2026, 12, 25, 6)).user_id == EVE
    assert who_is_on_call(s, utc(2026, 12, 25, 12, 30)).user_id == BOB  # overrides still win
    assert who_is_on_call(s, utc(2026, 12, 26, 6)).user_id == ALICE


def test_gaps_changes_and_the_whole_shift_around_an_instant():
    days = Rotation((ALICE, BOB), datetime(2026, 1, 5, 9, 0), 1, DAYS,
                    restrictions=(Restriction((0, 1, 2, 3, 4), time(9), time(17)),))
    s = spec(Layer("Business hours", (days,)))
    assert gaps(s, utc(2026, 1, 5, 15), utc(2026, 1, 6, 15)) == [(utc(2026, 1, 5, 22), utc(2026, 1, 6, 14))]
    found = changes(s, utc(2026, 1, 5, 15), utc(2026, 1, 6, 23))
    assert [(c.at, c.outgoing, c.incoming) for c in found] == [
        (utc(2026, 1, 5, 22), ALICE, None), (utc(2026, 1, 6, 14), None, BOB), (utc(2026, 1, 6, 22), BOB, None)]
    whole = shift_at(s, utc(2026, 1, 6, 15))
    assert (whole.start, whole.end, whole.user_id) == (utc(2026, 1, 6, 14), utc(2026, 1, 6, 22), BOB)


def test_first_handoff_finds_the_weekday():
    assert first_handoff(date(2026, 3, 4), time(9), WEEKS, 0) == datetime(2026, 3, 9, 9, 0)
    assert first_handoff(date(2026, 3, 4), time(9), DAYS, 0) == datetime(2026, 3, 4, 9, 0)


# --- properties over random schedules -------------------------------------------------

ZONES = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata"]
EPOCH = datetime(2026, 1, 1)
PEOPLE = st.integers(min_value=1, max_value=6)
QUARTERS = st.integers(min_value=0, max_value=95).map(lambda q: time(q // 4, q % 4 * 15))


@st.composite
def restrictions(draw):
    days = tuple(sorted(draw(st.sets(st.integers(0, 6), min_size=1, max_size=7))))
    return Restriction(days, draw(QUARTERS), draw(QUARTERS))


@st.composite
def rotations(draw, start: datetime):
    unit = draw(st.sampled_from([HOURS, DAYS, WEEKS]))
    length = draw({HOURS: st.integers(1, 30), DAYS: st.integers(1, 3), WEEKS: st.integers(1, 2)}[unit])
    return Rotation(participants=tuple(draw(st.lists(PEOPLE, min_size=1, max_size=4, unique=True))),
                    start=start, length=length, unit=unit, start_index=draw(st.integers(0, 3)),
                    restrictions=tuple(draw(st.lists(restrictions(), max_size=2))))


@st.composite
def layers(draw, level: int):
    first = EPOCH + timedelta(days=draw(st.integers(0, 20)), minutes=15 * draw(st.integers(0, 95)))
    versions = [draw(rotations(first))]
    if draw(st.booleans()):
        later = first + timedelta(days=draw(st.integers(1, 15)), minutes=15 * draw(st.integers(0, 95)))
        versions.append(draw(rotations(later)))
    return Layer(f"Layer {level}", tuple(versions), level=level, id=level)


def instants(low=0, high=40):
    return st.builds(lambda d, q: (EPOCH + timedelta(days=d, minutes=15 * q)).replace(tzinfo=UTC),
                     st.integers(low, high), st.integers(0, 95))


@st.composite
def windows(draw, *, max_hours=24 * 10):
    start = draw(instants())
    hours = draw(st.integers(1, max_hours))
    return start, start + timedelta(hours=hours, minutes=15 * draw(st.integers(0, 3)))


@st.composite
def spans(draw, max_hours=72):
    start = draw(instants())
    return start, start + timedelta(minutes=15 * draw(st.integers(1, max_hours * 4)))


@st.composite
def specs(draw, *, temporaries=True):
    zone = draw(st.sampled_from(ZONES))
    stack = tuple(draw(layers(level)) for level in range(draw(st.integers(1, 3))))
    overrides = tuple(Override(draw(PEOPLE), *draw(spans()), id=n) for n in range(draw(st.integers(0, 4))))
    holidays = tuple(Holiday(draw(PEOPLE), *draw(spans(96))) for _ in range(draw(st.integers(0, 3))))
    swaps = []
    for n in range(draw(st.integers(0, 2))):
        a, b = draw(st.lists(PEOPLE, min_size=2, max_size=2, unique=True))
        first = draw(spans(24 * 7))
        second = draw(spans(24 * 7)) if draw(st.booleans()) else (None, None)
        swaps.append(Swap(a, b, *first, *second, id=n))
    temps = ()
    if temporaries and draw(st.booleans()):
        window = draw(spans(24 * 5))
        temps = (TemporarySchedule("Temporary", *window, (draw(layers(0)),), id=1),)
    return ScheduleSpec(zone, stack, overrides, holidays, temps, tuple(swaps))


PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _in(shifts, at):
    return next((s for s in shifts if s.contains(at)), None)


@PROPERTY
@given(specs(), windows())
def test_no_instant_has_two_people_from_one_layer(s, window):
    start, end = window
    for layer in s.layers:
        pieces = layer_shifts(s, layer, start, end)
        for before, after in zip(pieces, pieces[1:]):
            assert before.end <= after.start
        for piece in pieces:
            assert start <= piece.start < piece.end <= end
            for at in (piece.start, piece.start + (piece.end - piece.start) / 2, piece.end - EPSILON):
                assert layer_on_call(s, layer, at) == (piece.user_id, piece.covering_for)


@PROPERTY
@given(specs(), windows())
def test_the_final_schedule_has_no_gap_where_any_layer_covers(s, window):
    start, end = window
    final = final_shifts(s, start, end)
    temporary_windows = [(t.start, t.end) for t in s.temporaries]
    for layer in s.layers:
        for piece in layer_shifts(s, layer, start, end):
            for at in (piece.start, piece.start + (piece.end - piece.start) / 2, piece.end - EPSILON):
                if any(low <= at < high for low, high in temporary_windows):
                    continue  # the temporary schedule replaces the layers there
                assert _in(final, at) is not None, (layer.name, at)
                assert who_is_on_call(s, at) is not None


@PROPERTY
@given(specs(), windows())
def test_overrides_always_win(s, window):
    start, end = window
    final = final_shifts(s, start, end)
    for override in s.overrides:
        for at in (override.start, override.start + (override.end - override.start) / 2, override.end - EPSILON):
            if not start <= at < end:
                continue
            winner = [o for o in s.overrides if o.start <= at < o.end][-1]
            answer = who_is_on_call(s, at)
            assert (answer.user_id, answer.kind, answer.ref) == (winner.user_id, "override", winner.id)
            shift = _in(final, at)
            assert (shift.user_id, shift.kind, shift.ref) == (winner.user_id, "override", winner.id)


@PROPERTY
@given(specs(), windows())
def test_listed_shifts_agree_with_who_is_on_call_at_every_boundary(s, window):
    start, end = window
    final = final_shifts(s, start, end)
    cursor = start
    for shift in final:
        assert start <= shift.start < shift.end <= end
        if shift.start > cursor:  # a gap: nobody at its start or just before its end
            assert who_is_on_call(s, cursor) is None
            assert who_is_on_call(s, shift.start - EPSILON) is None
        assert who_is_on_call(s, shift.start) == shift.assignment
        assert who_is_on_call(s, shift.end - EPSILON) == shift.assignment
        cursor = shift.end
    if cursor < end:
        assert who_is_on_call(s, cursor) is None
    for before, after in zip(final, final[1:]):
        assert before.end <= after.start
        assert not (before.end == after.start and before.assignment == after.assignment)  # merged


@PROPERTY
@given(specs(), windows(), st.floats(0.05, 0.95))
def test_listing_a_window_in_two_halves_gives_the_same_shifts(s, window, fraction):
    start, end = window
    middle = start + (end - start) * fraction
    whole = final_shifts(s, start, end)
    halves = final_shifts(s, start, middle) + final_shifts(s, middle, end)
    joined = []
    for shift in halves:
        if joined and joined[-1].end == shift.start and joined[-1].assignment == shift.assignment:
            joined[-1] = replace(joined[-1], end=shift.end)
        else:
            joined.append(shift)
    assert joined == whole


@PROPERTY
@given(specs(), windows(max_hours=24 * 4))
def test_changes_are_exactly_where_the_person_changes(s, window):
    start, end = window
    found = changes(s, start, end)
    for change in found:
        before, after = who_is_on_call(s, change.at - EPSILON), who_is_on_call(s, change.at)
        assert change.outgoing == (before.user_id if before else None)
        assert change.incoming == (after.user_id if after else None)
        assert change.outgoing != change.incoming
    at = {c.at for c in found}
    for shift in final_shifts(s, start, end):
        if start < shift.start <= end and shift.start not in at:
            previous = who_is_on_call(s, shift.start - EPSILON)
            assert previous is not None and previous.user_id == shift.user_id
