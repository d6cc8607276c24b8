"""Who is on call, measured: 100 schedules of 3 layers with a year of overrides.

Two questions, each against a plain-loop baseline in the same run, on the same
data, with the answers checked equal:

1. Who is on call, for all 100 schedules, at 50 instants spread over the year.
   Baseline: scan every override (the last one holding the instant wins), walk
   each layer's rotation from its start, shift by shift, and scan every holiday.
2. The final shifts of a month, for all 100 schedules. Baseline: ask, every 15
   minutes through the month, with plain loops over the overrides and holidays,
   and join equal answers. (All times in the data fall on 15-minute steps, so
   sampling sees every change.)

Targets: who-is-on-call for 100 schedules under 50 ms and 5 times faster than the
baseline (the first question, when each spec also builds its lookups: under 50 ms
and twice as fast); a month of shifts for 100 schedules under 2 s and 5 times
faster than its baseline. This measures the computation;
reading the schedules from the database (`app.oncall.specs`) is one query per table.

    python -m bench oncall        # with bench/__main__.py
    python -m bench.oncall        # on its own
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

from app.oncall import compute
from app.oncall.compute import (
    DAYS, HOURS, WEEKS, Holiday, Layer, Override, Restriction, Rotation, ScheduleSpec, to_local, to_utc,
)

SCHEDULES = 100
ZONES = ["UTC", "America/New_York", "Europe/London", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney",
         "America/Los_Angeles"]
YEAR = datetime(2026, 1, 1, tzinfo=UTC)
WHO_TARGET_MS = 50.0
MONTH_TARGET_MS = 2000.0
SPEEDUP_TARGET = 5.0
COLD_SPEEDUP_TARGET = 2.0
STEP = timedelta(minutes=15)


# --- the data ------------------------------------------------------------------------------

def make_specs(seed: int = 7) -> list[ScheduleSpec]:
    rng = random.Random(seed)
    specs = []
    for number in range(SCHEDULES):
        zone = rng.choice(ZONES)
        people = rng.sample(range(1, 400), 8)
        start = datetime(2025, 12, 29, 9, 0)
        weekly = Layer("Weekly", (Rotation(tuple(people[:5]), start, 1, WEEKS),), level=0, id=1)
        business = Layer("Business hours", (Rotation(tuple(people[5:7]), start, 1, DAYS, restrictions=(
            Restriction((0, 1, 2, 3, 4), clock_time(9), clock_time(17)),)),), level=1, id=2)
        follow = Layer("Follow the sun", (
            Rotation(tuple(people[2:6]), start.replace(hour=8), 12, HOURS),
            Rotation(tuple(people[1:4]), datetime(2026, 7, 6, 8, 0), 12, HOURS),  # a change mid-year
        ), level=2, id=3)
        overrides = []
        for day in range(365):  # one override a day: a year of them
            begin = YEAR + timedelta(days=day, minutes=15 * rng.randrange(96))
            overrides.append(Override(rng.choice(people), begin, begin + STEP * rng.randrange(1, 48), id=day))
        holidays = []
        for _ in range(12):
            begin = YEAR + timedelta(days=rng.randrange(360))
            holidays.append(Holiday(rng.choice(people), begin, begin + timedelta(days=rng.randrange(1, 6))))
        specs.append(ScheduleSpec(zone, (weekly, business, follow), tuple(overrides), tuple(holidays),
                                  name=f"Schedule {number}", id=number))
    return specs


# --- the plain-loop baseline -----------------------------------------------------------------

def _on_holiday(spec: ScheduleSpec, user: int, at: datetime) -> bool:
    return any(h.user_id == user and h.start <= at < h.end for h in spec.holidays)


def _restricted_ok(rotation: Rotation, zone: ZoneInfo, at: datetime) -> bool:
    if not rotation.restrictions:
        return True
    local_day = to_local(at, zone).date()
    for day in (local_day - timedelta(days=1), local_day):
        for r in rotation.restrictions:
            if day.weekday() in r.days:
                until = day if r.end > r.start else day + timedelta(days=1)
                low = to_utc(datetime.combine(day, r.start), zone)
                high = to_utc(datetime.combine(until, r.end), zone)
                if low <= at < high:
                    return True
    return False


def _layer_person(spec: ScheduleSpec, layer: Layer, at: datetime, zone: ZoneInfo, walk: bool) -> int | None:
    rotation = None
    for candidate in layer.rotations:
        if to_utc(candidate.start, zone) <= at:
            rotation = candidate
    if rotation is None or not _restricted_ok(rotation, zone, at):
        return None
    if walk:  # shift by shift from the start
        k = 0
        while to_utc(rotation.start + (k + 1) * rotation.step, zone) <= at:
            k += 1
    else:
        k = (to_local(at, zone) - rotation.start) // rotation.step
        while to_utc(rotation.start + k * rotation.step, zone) > at:
            k -= 1
        while to_utc(rotation.start + (k + 1) * rotation.step, zone) <= at:
            k += 1
    people = rotation.participants
    for step in range(len(people)):
        user = people[(rotation.start_index + k + step) % len(people)]
        if not _on_holiday(spec, user, at):
            return user
    return None


def baseline_who(spec: ScheduleSpec, at: datetime, *, walk: bool = True) -> int | None:
    winner = None
    for override in spec.overrides:
        if override.start <= at < override.end:
            winner = override.user_id
    if winner is not None:
        return winner
    zone = ZoneInfo(spec.zone)
    for layer in sorted(spec.layers, key=lambda item: -item.level):
        person = _layer_person(spec, layer, at, zone, walk)
        if person is not None:
            return person
    return None


def baseline_month(spec: ScheduleSpec, start: datetime, end: datetime) -> list[tuple[datetime, datetime, int]]:
    shifts: list[tuple[datetime, datetime, int]] = []
    at = start
    while at < end:
        person = baseline_who(spec, at, walk=False)
        if person is not None:
            if shifts and shifts[-1][1] == at and shifts[-1][2] == person:
                shifts[-1] = (shifts[-1][0], at + STEP, person)
            else:
                shifts.append((at, at + STEP, person))
        at += STEP
    return shifts


def _by_person(shifts: list[compute.Shift]) -> list[tuple[datetime, datetime, int]]:
    joined: list[tuple[datetime, datetime, int]] = []
    for shift in shifts:
        if joined and joined[-1][1] == shift.start and joined[-1][2] == shift.user_id:
            joined[-1] = (joined[-1][0], shift.end, shift.user_id)
        else:
            joined.append((shift.start, shift.end, shift.user_id))
    return joined


# --- measuring ---------------------------------------------------------------------------------

def _time(function, repeat: int) -> float:
    """Median wall time of `function()` in milliseconds."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> bool:
    started = time.perf_counter()
    specs = make_specs()
    built = (time.perf_counter() - started) * 1000
    instants = [YEAR + timedelta(days=7 * i + 0.37, minutes=15 * i) for i in range(50)]
    for spec in specs:  # the lookups each spec builds once (sorted holidays, flattened overrides)
        spec.index()

    # Same answers first.
    mismatches = sum(1 for spec in specs for at in instants[:10]
                     if (lambda a: a.user_id if a else None)(compute.who_is_on_call(spec, at))
                     != baseline_who(spec, at))
    month_start, month_end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    for spec in specs[:5]:
        if _by_person(compute.final_shifts(spec, month_start, month_end)) != baseline_month(spec, month_start,
                                                                                             month_end):
            mismatches += 1

    def who_all(at):
        return [compute.who_is_on_call(spec, at) for spec in specs]

    def who_baseline(at):
        return [baseline_who(spec, at) for spec in specs]

    cold = []
    for at in instants[:5]:  # fresh specs: the first question also builds each spec's lookups
        fresh = make_specs()
        began = time.perf_counter()
        [compute.who_is_on_call(spec, at) for spec in fresh]
        cold.append((time.perf_counter() - began) * 1000)
    cold_ms = statistics.median(cold)
    who_ms = statistics.median(_time(lambda: who_all(at), 3) for at in instants)
    who_base_ms = statistics.median(_time(lambda: who_baseline(at), 1) for at in instants[::5])
    month_ms = _time(lambda: [compute.final_shifts(spec, month_start, month_end) for spec in specs], 3)
    month_base_ms = _time(lambda: [baseline_month(spec, month_start, month_end) for spec in specs], 1)

    rows = [
        ("who is on call, 100 schedules", who_ms, who_base_ms, WHO_TARGET_MS, SPEEDUP_TARGET),
        ("the same, first question (builds lookups)", cold_ms, who_base_ms, WHO_TARGET_MS, COLD_SPEEDUP_TARGET),
        ("a month of final shifts, 100 schedules", month_ms, month_base_ms, MONTH_TARGET_MS, SPEEDUP_TARGET),
    ]
    print(f"100 schedules × 3 layers, {sum(len(s.overrides) for s in specs):,} overrides (a year each), "
          f"{sum(len(s.holidays) for s in specs):,} holidays; built in {built:.0f} ms")
    print(f"{'question':42} {'firebreak':>11} {'plain loop':>11} {'speed-up':>9} {'target':>16}")
    ok = mismatches == 0
    for name, ours, base, target, speedup_target in rows:
        speedup = base / ours if ours else float("inf")
        met = ours <= target and speedup >= speedup_target
        ok = ok and met
        wanted = f"<{target:.0f} ms, ≥{speedup_target:.0f}×"
        print(f"{name:42} {ours:9.1f} ms {base:9.1f} ms {speedup:8.1f}× {wanted:>16}  {'ok' if met else 'MISSED'}")
    print(f"answers equal to the baseline: {'yes' if mismatches == 0 else f'NO ({mismatches} differ)'}")
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
