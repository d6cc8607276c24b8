"""Who is on call, computed: pure functions over plain data, no database, no clock.

A `ScheduleSpec` is a picture of one schedule (built from the models by
`app.oncall.specs`): its time zone, rotation layers, overrides, swaps, temporary
schedules and the participants' holidays. Two functions answer everything else:

- `who_is_on_call(spec, at)`: who holds the schedule at one instant, and why;
- `final_shifts(spec, start, end)`: the final shifts between two instants.

They are written independently (a point lookup and a sweep over intervals) and the
property tests hold them to the same answer at every shift boundary.

How the final schedule is made, lowest first:

1. **Layers.** Each layer's rotation hands off at wall-clock times in the
   schedule's zone, so a 09:00 handoff is 09:00 local on both sides of a
   daylight-saving change (shifts are an hour shorter or longer that day). A
   layer may be restricted to windows (business hours); outside them it has
   nobody. A participant on holiday is skipped: the next person in line who is
   not on holiday covers. A rotation changes by versions: each version is in
   force from its first handoff until the next version's.
2. **Higher layers win**; where a higher layer has nobody, the next one down
   shows through.
3. **Temporary schedules** replace the whole schedule for their window (gaps in
   them stay gaps). A later one wins over an earlier one where they overlap.
4. **Swaps**: in the first window the second person takes the first person's
   turns, and in the second window (if any) the reverse, at the same time.
5. **Overrides** win over everything; a later override wins over an earlier one.

Local times that do not exist (the hour skipped in spring) are taken as that
many minutes after the change (02:30 becomes 03:30); local times that happen
twice (autumn) are the first of the two.
"""
from __future__ import annotations

import heapq
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

HOURS, DAYS, WEEKS = "hours", "days", "weeks"
UNITS = (HOURS, DAYS, WEEKS)
EPSILON = timedelta(microseconds=1)


# --- the data ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Restriction:
    """A window a layer is on call: starting on `days` (0 Monday … 6 Sunday) at
    `start`, ending at `end` local time, the next day when `end` is not after
    `start` (so 18:00–09:00 is overnight and 00:00–00:00 a whole day)."""

    days: tuple[int, ...]
    start: time
    end: time


@dataclass(frozen=True, slots=True)
class Rotation:
    """One version of a layer's rotation.

    Shift k starts at `start + k × length unit` local wall-clock time (naive, in
    the schedule's zone) and belongs to `participants[(start_index + k) % n]`.
    The version is in force from its first shift until the next version starts.
    """

    participants: tuple[int, ...]
    start: datetime
    length: int = 1
    unit: str = WEEKS
    start_index: int = 0
    restrictions: tuple[Restriction, ...] = ()

    @property
    def step(self) -> timedelta:
        return {HOURS: timedelta(hours=self.length), DAYS: timedelta(days=self.length),
                WEEKS: timedelta(weeks=self.length)}[self.unit]


@dataclass(frozen=True, slots=True)
class Layer:
    """A rotation layer. `rotations` are its versions, oldest first; `level`
    orders layers (higher wins)."""

    name: str
    rotations: tuple[Rotation, ...]
    level: int = 0
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Override:
    user_id: int
    start: datetime
    end: datetime
    id: int | None = None
    label: str = "Override"


@dataclass(frozen=True, slots=True)
class Holiday:
    """A person's time off, which every rotation skips."""

    user_id: int
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Swap:
    """`second_user` takes `first_user`'s turns in [first_start, first_end), and
    `first_user` takes `second_user`'s in [second_start, second_end) if given."""

    first_user: int
    second_user: int
    first_start: datetime
    first_end: datetime
    second_start: datetime | None = None
    second_end: datetime | None = None
    id: int | None = None
    label: str = "Swap"


@dataclass(frozen=True, slots=True)
class TemporarySchedule:
    name: str
    start: datetime
    end: datetime
    layers: tuple[Layer, ...]
    id: int | None = None


@dataclass(frozen=True)
class ScheduleSpec:
    """Everything that decides who is on call for one schedule.

    Overrides, swaps and temporary schedules are in the order they were made:
    where they overlap, the later one wins.
    """

    zone: str
    layers: tuple[Layer, ...] = ()
    overrides: tuple[Override, ...] = ()
    holidays: tuple[Holiday, ...] = ()
    temporaries: tuple[TemporarySchedule, ...] = ()
    swaps: tuple[Swap, ...] = ()
    name: str = ""
    id: int | None = None
    _index: "_Index | None" = field(default=None, init=False, repr=False, compare=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def index(self) -> "_Index":
        """Lookups built once per spec (sorted holidays, flattened overrides)."""
        if self._index is None:
            object.__setattr__(self, "_index", _Index(self))
        return self._index


@dataclass(frozen=True, slots=True)
class Assignment:
    """Who is on call and where it came from.

    `kind` is "layer", "temporary", "swap" or "override"; `source` names the
    layer, the temporary schedule (with its layer) or the override/swap;
    `ref` is that thing's id; `covering_for` is the person whose turn it was
    when someone else stands in (a holiday or a swap).
    """

    user_id: int
    kind: str
    source: str
    layer: str | None = None
    ref: int | None = None
    covering_for: int | None = None


@dataclass(frozen=True, slots=True)
class Shift:
    start: datetime
    end: datetime
    user_id: int
    kind: str
    source: str
    layer: str | None = None
    ref: int | None = None
    covering_for: int | None = None

    @property
    def assignment(self) -> Assignment:
        return Assignment(self.user_id, self.kind, self.source, self.layer, self.ref, self.covering_for)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def clipped(self, start: datetime, end: datetime) -> "Shift":
        return _with(self, start=max(self.start, start), end=min(self.end, end))

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True, slots=True)
class Change:
    """A handoff: at `at` the schedule passes from `outgoing` to `incoming` (None: nobody)."""

    at: datetime
    outgoing: int | None
    incoming: int | None


# --- time ------------------------------------------------------------------------------

def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """A naive local wall-clock time as an aware UTC instant (see the module notes
    on skipped and repeated local times: PEP 495's fold=0 does exactly that)."""
    return local.replace(tzinfo=zone).astimezone(UTC)


def to_local(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone).replace(tzinfo=None)


def first_handoff(on_or_after: date, handoff: time, unit: str, weekday: int | None = None) -> datetime:
    """The naive local start of a rotation: `handoff` on the first day from
    `on_or_after` that is `weekday` (for weekly rotations; any day otherwise)."""
    day = on_or_after
    if unit == WEEKS and weekday is not None:
        day += timedelta(days=(weekday - day.weekday()) % 7)
    return datetime.combine(day, handoff)


# --- the point lookup ------------------------------------------------------------------

def who_is_on_call(spec: ScheduleSpec, at: datetime) -> Assignment | None:
    """Who is on call on `spec` at the instant `at` (aware), or None."""
    index = spec.index()
    override = index.override_at(at)
    if override is not None:
        return Assignment(override.user_id, "override", override.label, ref=override.id)
    temporary = index.temporary_at(at)
    layers = temporary.layers if temporary is not None else spec.layers
    found = None
    for layer in index.by_level(layers):
        found = _layer_at(index, layer, at)
        if found is not None:
            break
    if found is None:
        return None
    user, covering, layer = found
    if temporary is not None:
        assignment = Assignment(user, "temporary", temporary.name, layer.name, temporary.id, covering)
    else:
        assignment = Assignment(user, "layer", layer.name, layer.name, layer.id, covering)
    for swap in spec.swaps:
        assignment = _swap_at(swap, assignment, at)
    return assignment


def layer_on_call(spec: ScheduleSpec, layer: Layer, at: datetime) -> tuple[int, int | None] | None:
    """(person, covering_for) on one layer at `at`, or None: the layer alone."""
    found = _layer_at(spec.index(), layer, at)
    return None if found is None else found[:2]


def _layer_at(index: "_Index", layer: Layer, at: datetime):
    starts = index.rotation_starts(layer)
    position = bisect_right(starts, at) - 1
    if position < 0:
        return None
    rotation = layer.rotations[position]
    if not rotation.participants:
        return None
    if rotation.restrictions and not _windows(rotation.restrictions, index.tz, at, at + EPSILON):
        return None
    k = _shift_index(rotation, index.tz, at)
    user, covering = index.first_available(rotation, k, at)
    return None if user is None else (user, covering, layer)


def shift_index(rotation: Rotation, zone: ZoneInfo, at: datetime) -> int | None:
    """Which shift of `rotation` holds `at` (0 is the first), or None before it starts."""
    if at < _shift_start(rotation, zone, 0):
        return None
    return _shift_index(rotation, zone, at)


def shift_start_local(rotation: Rotation, k: int) -> datetime:
    """The naive local wall-clock start of shift k."""
    return rotation.start + k * rotation.step


def _shift_index(rotation: Rotation, zone: ZoneInfo, at: datetime) -> int:
    """The k with start(k) <= at < start(k+1), for `at` at or after the rotation's start."""
    k = (to_local(at, zone) - rotation.start) // rotation.step
    while k > 0 and _shift_start(rotation, zone, k) > at:
        k -= 1
    while _shift_start(rotation, zone, k + 1) <= at:
        k += 1
    return max(k, 0)


def _shift_start(rotation: Rotation, zone: ZoneInfo, k: int) -> datetime:
    return to_utc(rotation.start + k * rotation.step, zone)


def _swap_at(swap: Swap, assignment: Assignment, at: datetime) -> Assignment:
    if assignment.user_id == swap.first_user and swap.first_start <= at < swap.first_end:
        return Assignment(swap.second_user, "swap", swap.label, assignment.layer, swap.id, swap.first_user)
    if (assignment.user_id == swap.second_user and swap.second_start is not None
            and swap.second_start <= at < swap.second_end):
        return Assignment(swap.first_user, "swap", swap.label, assignment.layer, swap.id, swap.second_user)
    return assignment


# --- the final shifts ----------------------------------------------------------------

def final_shifts(spec: ScheduleSpec, start: datetime, end: datetime) -> list[Shift]:
    """The final shifts in [start, end), clipped to it, in order; gaps are gaps.

    Adjacent pieces with the same person and the same source are one shift.
    """
    if start >= end:
        return []
    index = spec.index()
    shifts = _stack(index, spec.layers, start, end)
    for temporary in spec.temporaries:
        low, high = max(start, temporary.start), min(end, temporary.end)
        if low < high:
            inside = [_with(s, kind="temporary", source=temporary.name, ref=temporary.id)
                      for s in _stack(index, temporary.layers, low, high)]
            shifts = _replace(shifts, [(low, high)], inside)
    for swap in spec.swaps:
        shifts = _apply_swap(swap, shifts)
    overrides = index.overrides_between(start, end)
    if overrides:
        shifts = _replace(shifts, [(s.start, s.end) for s in overrides], overrides)
    return _merge(shifts)


def layer_shifts(spec: ScheduleSpec, layer: Layer, start: datetime, end: datetime) -> list[Shift]:
    """One layer's shifts in [start, end), holidays covered, restrictions applied."""
    if start >= end:
        return []
    return _merge(_layer_segments(spec.index(), layer, start, end))


def _stack(index: "_Index", layers, start: datetime, end: datetime) -> list[Shift]:
    """Layers on top of each other: the highest layer with someone wins."""
    ordered = [_layer_segments(index, layer, start, end) for layer in index.by_level(layers)]
    ordered = [segments for segments in ordered if segments]
    if not ordered:
        return []
    if len(ordered) == 1:
        return ordered[0]
    points = sorted({start, end, *(p for segments in ordered for s in segments for p in (s.start, s.end))})
    cursors = [0] * len(ordered)
    result: list[Shift] = []
    for low, high in zip(points, points[1:]):
        for number, segments in enumerate(ordered):
            i = cursors[number]
            while i < len(segments) and segments[i].end <= low:
                i += 1
            cursors[number] = i
            if i < len(segments) and segments[i].start <= low:
                result.append(segments[i].clipped(low, high))
                break
    return _merge(result)


def _layer_segments(index: "_Index", layer: Layer, start: datetime, end: datetime) -> list[Shift]:
    zone = index.tz
    starts = index.rotation_starts(layer)
    result: list[Shift] = []
    for number, rotation in enumerate(layer.rotations):
        low = max(start, starts[number])
        high = min(end, starts[number + 1]) if number + 1 < len(starts) else end
        if low >= high or not rotation.participants:
            continue
        k = _shift_index(rotation, zone, low)
        shift_start = _shift_start(rotation, zone, k)
        while shift_start < high:
            shift_end = _shift_start(rotation, zone, k + 1)
            piece_low, piece_high = max(shift_start, low), min(shift_end, high)
            if piece_low < piece_high:
                pieces = (_windows(rotation.restrictions, zone, piece_low, piece_high)
                          if rotation.restrictions else [(piece_low, piece_high)])
                for a, b in pieces:
                    for c, d, user, covering in index.cover(rotation, k, a, b):
                        result.append(Shift(c, d, user, "layer", layer.name, layer.name, layer.id, covering))
            k += 1
            shift_start = shift_end
    return result


def _windows(restrictions, zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) inside the restriction windows, merged."""
    first = to_local(start, zone).date() - timedelta(days=1)
    last = to_local(end, zone).date()
    spans = []
    day = first
    while day <= last:
        weekday = day.weekday()
        for restriction in restrictions:
            if weekday in restriction.days:
                until = day if restriction.end > restriction.start else day + timedelta(days=1)
                low = to_utc(datetime.combine(day, restriction.start), zone)
                high = to_utc(datetime.combine(until, restriction.end), zone)
                low, high = max(low, start), min(high, end)
                if low < high:
                    spans.append((low, high))
        day += timedelta(days=1)
    return _union(spans)


def _union(spans):
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for low, high in spans:
        if merged and low <= merged[-1][1]:
            if high > merged[-1][1]:
                merged[-1] = (merged[-1][0], high)
        else:
            merged.append((low, high))
    return merged


def _replace(shifts: list[Shift], windows, inside: list[Shift]) -> list[Shift]:
    """`shifts` with the (sorted, disjoint) `windows` cut out and `inside` put in."""
    kept: list[Shift] = []
    i = 0
    for shift in shifts:
        cursor = shift.start
        while i < len(windows) and windows[i][1] <= shift.start:
            i += 1
        j = i
        while j < len(windows) and windows[j][0] < shift.end:
            low, high = windows[j]
            if low > cursor:
                kept.append(shift.clipped(cursor, low))
            cursor = max(cursor, high)
            j += 1
        if cursor < shift.end:
            kept.append(shift.clipped(cursor, shift.end))
    return sorted(kept + inside, key=lambda s: s.start)


def _apply_swap(swap: Swap, shifts: list[Shift]) -> list[Shift]:
    cuts = {swap.first_start, swap.first_end}
    if swap.second_start is not None:
        cuts |= {swap.second_start, swap.second_end}
    result = []
    for shift in shifts:
        if shift.user_id not in (swap.first_user, swap.second_user):
            result.append(shift)
            continue
        points = sorted({shift.start, shift.end, *(c for c in cuts if shift.start < c < shift.end)})
        for low, high in zip(points, points[1:]):
            piece = shift.clipped(low, high)
            swapped = _swap_at(swap, piece.assignment, low)
            if swapped != piece.assignment:
                piece = Shift(low, high, swapped.user_id, swapped.kind, swapped.source, swapped.layer,
                              swapped.ref, swapped.covering_for)
            result.append(piece)
    return result


def _merge(shifts: list[Shift]) -> list[Shift]:
    merged: list[Shift] = []
    for shift in shifts:
        if shift.start >= shift.end:
            continue
        if merged and merged[-1].end == shift.start and merged[-1].assignment == shift.assignment:
            merged[-1] = _with(merged[-1], end=shift.end)
        else:
            merged.append(shift)
    return merged


def _with(shift: Shift, **changes) -> Shift:
    values = {name: getattr(shift, name) for name in Shift.__slots__}
    values.update(changes)
    return Shift(**values)


# --- what the pages and the engine ask -----------------------------------------------

def shift_at(spec: ScheduleSpec, at: datetime, *, reach: timedelta = timedelta(days=62)) -> Shift | None:
    """The final shift holding `at`, with its whole extent (looking up to `reach`
    either side): "Dana, since Monday 09:00, until next Monday 09:00"."""
    around = final_shifts(spec, at - reach, at + reach)
    for shift in around:
        if shift.contains(at):
            return shift
    return None


def next_shift_of(spec: ScheduleSpec, user_id: int, after: datetime,
                  horizon: timedelta = timedelta(days=120)) -> Shift | None:
    """A person's next whole shift that starts after `after` (within `horizon`)."""
    for shift in final_shifts(spec, after, after + horizon):
        if shift.user_id == user_id and shift.start > after:
            return shift
    return None


def whole_shift(spec: ScheduleSpec, start: datetime, end: datetime) -> Shift | None:
    """The whole final shift that holds [start, end) (say, one day's piece of it)."""
    found = shift_at(spec, start, reach=timedelta(days=100))
    return found if found is not None and found.end >= end else None


def gaps(spec: ScheduleSpec, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Where nobody is on call in [start, end)."""
    result = []
    cursor = start
    for shift in final_shifts(spec, start, end):
        if shift.start > cursor:
            result.append((cursor, shift.start))
        cursor = shift.end
    if cursor < end:
        result.append((cursor, end))
    return result


def changes(spec: ScheduleSpec, after: datetime, until: datetime) -> list[Change]:
    """Every instant in (after, until] at which the person on call changes."""
    if until <= after:
        return []
    before = who_is_on_call(spec, after)
    current = before.user_id if before else None
    result = []
    cursor = after + EPSILON
    for shift in final_shifts(spec, after + EPSILON, until + EPSILON):
        if shift.start > cursor and current is not None:  # a gap begins
            result.append(Change(cursor, current, None))
            current = None
        if shift.user_id != current:
            result.append(Change(shift.start, current, shift.user_id))
            current = shift.user_id
        cursor = shift.end
    if cursor <= until and current is not None:
        result.append(Change(cursor, current, None))
    return [change for change in result if after < change.at <= until]


def hours_by_user(shifts: list[Shift]) -> dict[int, float]:
    totals: dict[int, float] = {}
    for shift in shifts:
        totals[shift.user_id] = totals.get(shift.user_id, 0.0) + shift.duration.total_seconds() / 3600
    return totals


# --- lookups built once per spec ---------------------------------------------------

class _Index:
    def __init__(self, spec: ScheduleSpec):
        self.tz = spec.tz
        self._rotation_starts: dict[int, list[datetime]] = {}
        self._holidays: dict[int, tuple[list[datetime], list[datetime]]] = {}
        by_user: dict[int, list[tuple[datetime, datetime]]] = {}
        for holiday in spec.holidays:
            if holiday.start < holiday.end:
                by_user.setdefault(holiday.user_id, []).append((holiday.start, holiday.end))
        for user, spans in by_user.items():
            merged = _union(spans)
            self._holidays[user] = ([s for s, _ in merged], [e for _, e in merged])
        # Point lookups scan the overrides that start at most the longest override
        # before the instant; lists of shifts use the flattened pieces, made once.
        valid = sorted(((o.start, number) for number, o in enumerate(spec.overrides) if o.start < o.end))
        self._override_list = spec.overrides
        self._starts_sorted = [start for start, _ in valid]
        self._numbers_sorted = [number for _, number in valid]
        self._longest = max((o.end - o.start for o in spec.overrides if o.start < o.end), default=timedelta(0))
        self._flat: list[_Piece] | None = None
        self._temporaries = spec.temporaries
        self._by_level: dict[int, list[Layer]] = {}

    def by_level(self, layers: tuple[Layer, ...]) -> list[Layer]:
        """Highest level first (the order of `layers` breaks ties)."""
        ordered = self._by_level.get(id(layers))
        if ordered is None:
            ordered = self._by_level[id(layers)] = sorted(layers, key=lambda item: -item.level)
        return ordered

    def rotation_starts(self, layer: Layer) -> list[datetime]:
        key = id(layer)
        starts = self._rotation_starts.get(key)
        if starts is None:
            starts = [to_utc(rotation.start, self.tz) for rotation in layer.rotations]
            # A version that starts no later than the one before it replaces it.
            for i in range(len(starts) - 2, -1, -1):
                starts[i] = min(starts[i], starts[i + 1])
            self._rotation_starts[key] = starts
        return starts

    def on_holiday(self, user: int, at: datetime) -> bool:
        spans = self._holidays.get(user)
        if spans is None:
            return False
        i = bisect_right(spans[0], at) - 1
        return i >= 0 and spans[1][i] > at

    def first_available(self, rotation: Rotation, k: int, at: datetime) -> tuple[int, int | None] | tuple[None, None]:
        people = rotation.participants
        n = len(people)
        first = people[(rotation.start_index + k) % n]
        for step in range(n):
            user = people[(rotation.start_index + k + step) % n]
            if not self.on_holiday(user, at):
                return user, (first if user != first else None)
        return None, None

    def cover(self, rotation: Rotation, k: int, start: datetime, end: datetime):
        """(start, end, person, covering_for) pieces of shift k in [start, end)."""
        points = {start, end}
        for user in set(rotation.participants):
            spans = self._holidays.get(user)
            if spans is None:
                continue
            i = max(bisect_right(spans[0], start) - 1, 0)
            while i < len(spans[0]) and spans[0][i] < end:
                for point in (spans[0][i], spans[1][i]):
                    if start < point < end:
                        points.add(point)
                i += 1
        ordered = sorted(points)
        for low, high in zip(ordered, ordered[1:]):
            user, covering = self.first_available(rotation, k, low)
            if user is not None:
                yield low, high, user, covering

    def override_at(self, at: datetime) -> Override | None:
        """The override that wins at `at`: the latest made of those holding it."""
        best = -1
        i = bisect_right(self._starts_sorted, at) - 1
        earliest = at - self._longest
        while i >= 0 and self._starts_sorted[i] >= earliest:
            number = self._numbers_sorted[i]
            if number > best and self._override_list[number].end > at:
                best = number
            i -= 1
        return self._override_list[best] if best >= 0 else None

    def _pieces(self) -> list["_Piece"]:
        if self._flat is None:
            self._flat = _flatten(self._override_list)
            self._flat_starts = [piece.start for piece in self._flat]
        return self._flat

    def overrides_between(self, start: datetime, end: datetime) -> list[Shift]:
        pieces = self._pieces()
        i = max(bisect_right(self._flat_starts, start) - 1, 0)
        result = []
        while i < len(pieces) and pieces[i].start < end:
            piece = pieces[i]
            if piece.end > start:
                o = piece.override
                result.append(Shift(max(piece.start, start), min(piece.end, end), o.user_id, "override", o.label,
                                    ref=o.id))
            i += 1
        return result

    def temporary_at(self, at: datetime) -> TemporarySchedule | None:
        for temporary in reversed(self._temporaries):
            if temporary.start <= at < temporary.end:
                return temporary
        return None


@dataclass(frozen=True, slots=True)
class _Piece:
    start: datetime
    end: datetime
    override: Override


def _flatten(overrides: tuple[Override, ...]) -> list[_Piece]:
    """Disjoint pieces, each with the override that wins there (the latest made)."""
    valid = [(number, o) for number, o in enumerate(overrides) if o.start < o.end]
    if not valid:
        return []
    by_start = sorted(valid, key=lambda item: item[1].start)
    points = sorted({p for _, o in valid for p in (o.start, o.end)})
    heap: list[tuple[int, int]] = []
    pieces: list[_Piece] = []
    j = 0
    for low, high in zip(points, points[1:]):
        while j < len(by_start) and by_start[j][1].start <= low:
            number, o = by_start[j]
            heapq.heappush(heap, (-number, number))
            j += 1
        while heap and overrides[heap[0][1]].end <= low:
            heapq.heappop(heap)
        if heap:
            winner = overrides[heap[0][1]]
            if pieces and pieces[-1].override is winner and pieces[-1].end == low:
                pieces[-1] = _Piece(pieces[-1].start, high, winner)
            else:
                pieces.append(_Piece(low, high, winner))
    return pieces
