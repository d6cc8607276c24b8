"""The metrics of the response and of learning, each one query (or two) in SQL over
the records: no loop in Python over incidents, events or items.

Who counts (`scope`): incidents detected in the period (local days in the viewer's
zone), not exercises (drills are counted on their own, under training), and not
merged into another (the incident they were merged into counts, once). The team
filter means incidents on services the team owns; service and severity filter the
incident (its severity now, which for a resolved incident is its final one).

Every definition in plain words is in app/insights/definitions.py and on the
Definitions page; the tests compute each figure by hand on a small fixed data set.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from app.alerts.models import Alert
from app.auth.models import Team, TeamMembership, User
from app.comms.models import CommsDue, DueState
from app.database import UTCDateTime
from app.extensions import db
from app.incidents.models import Incident, IncidentEvent, Status
from app.insights.models import DrillAssessment, PageRead, SurveyAnswer, SurveyInvitation
from app.insights.periods import Bucket, Period, buckets, whole_hour_offsets
from app.insights.sql import distribution, seconds_between, utc_date, utc_hour, utc_quarter_hour
from app.oncall import load
from app.postmortems import policy
from app.postmortems.models import (
    ActionItem, ActionStatus, ContributingFactor, FactorCategory, Postmortem, PostmortemStatus,
)
from app.services.models import Service
from app.triage import levels

RECURRENCE_DAYS = 90
MIN_SURVEY_GROUP = 3
DAY = 86400.0


@dataclass(frozen=True)
class Filters:
    period: Period
    team_id: int | None = None
    service_id: int | None = None
    severity: int | None = None
    granularity: str = "week"

    def buckets(self) -> list[Bucket]:
        return buckets(self.period, self.granularity)


def _at(value: datetime):
    """A moment as a typed bind parameter (stored as naive UTC on every backend)."""
    return sa.literal(value, UTCDateTime)


def not_merged(incident=Incident):
    """Not merged into another incident. Written as a comparison no index serves:
    nearly every incident has no merge target, and a planner that walks the
    merged-into index for "IS NULL" reads the whole table instead of the period."""
    return sa.func.coalesce(incident.merged_into_id, 0) == 0


def scope(f: Filters, incident=Incident, *, exercises: bool = False, period: bool = True) -> list:
    """The WHERE conditions that pick the incidents a metric counts."""
    conditions = [incident.is_exercise.is_(exercises), not_merged(incident)]
    if period:
        conditions += [incident.detected_at >= f.period.start, incident.detected_at < f.period.end]
    conditions += _attributes(f, incident)
    return conditions


def _attributes(f: Filters, incident=Incident) -> list:
    conditions = []
    if f.team_id:
        conditions.append(incident.service_id.in_(sa.select(Service.id).where(Service.team_id == f.team_id)))
    if f.service_id:
        conditions.append(incident.service_id == f.service_id)
    if f.severity:
        conditions.append(incident.severity == f.severity)
    return conditions


def _bucket_of(column, found: list[Bucket]):
    """Which bucket a moment inside the period falls in (a CASE over the edges)."""
    if len(found) == 1:
        return sa.literal(0, sa.Integer)
    return sa.case(*[(column < _at(b.end), b.index) for b in found[:-1]], else_=found[-1].index)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- response times --------------------------------------------------------------------

@dataclass(frozen=True)
class Stat:
    """A distribution of durations in seconds."""

    n: int = 0
    mean: float | None = None
    median: float | None = None
    p90: float | None = None
    low: float | None = None
    high: float | None = None


RESPONSE_METRICS = ("mttd", "mtta", "mttm", "mttr")
RESPONSE_LABELS = {"mttd": "Time to detect", "mtta": "Time to acknowledge", "mttm": "Time to mitigate",
                   "mttr": "Time to resolve"}


def _durations(f: Filters, metrics=RESPONSE_METRICS, *, bucketed: list[Bucket] | None = None) -> sa.Select:
    """(metric, [bucket,] v): one row per incident and metric that has both ends."""
    pairs = {
        "mttd": (Incident.detected_at, Incident.impact_started_at, Incident.impact_started_at.is_not(None)),
        "mtta": (Incident.acknowledged_at, Incident.detected_at, Incident.acknowledged_at.is_not(None)),
        "mttm": (Incident.mitigated_at, Incident.detected_at, Incident.mitigated_at.is_not(None)),
        "mttr": (Incident.resolved_at, Incident.detected_at,
                 sa.and_(Incident.status == Status.RESOLVED, Incident.resolved_at.is_not(None))),
    }
    parts = []
    for name in metrics:
        later, earlier, present = pairs[name]
        columns = [sa.literal(name, sa.String).label("metric")]
        if bucketed is not None:
            columns.append(_bucket_of(Incident.detected_at, bucketed).label("bucket"))
        columns.append(seconds_between(later, earlier).label("v"))
        parts.append(sa.select(*columns).where(*scope(f), present))
    return sa.union_all(*parts) if len(parts) > 1 else parts[0]


def _stat(row) -> Stat:
    def number(value):
        return None if value is None else round(float(value), 3)
    return Stat(int(row.n), number(row.mean), number(row.p50), number(row.p90), number(row.low), number(row.high))


def response_stats(f: Filters, found: list[Bucket] | None = None) -> tuple[dict[str, Stat], dict[str, list[Stat]]]:
    """The period's response times and their trend for MTTA and MTTR (what the
    dashboard shows): two statements, each reading and ranking the durations once."""
    found = found if found is not None else f.buckets()
    return response_times(f), response_trend(f, found)


def response_times(f: Filters) -> dict[str, Stat]:
    """MTTD, MTTA, MTTM and MTTR: mean, median and 90th percentile, in seconds."""
    stmt = distribution(sa.select(_durations(f).subquery()), groups=("metric",))
    found = {row.metric: _stat(row) for row in db.session.execute(stmt)}
    return {name: found.get(name, Stat()) for name in RESPONSE_METRICS}


def response_trend(f: Filters, found: list[Bucket] | None = None,
                   metrics=("mtta", "mttr")) -> dict[str, list[Stat]]:
    """Per bucket (week or month), the distribution of each metric."""
    found = found if found is not None else f.buckets()
    stmt = distribution(sa.select(_durations(f, metrics, bucketed=found).subquery()), groups=("metric", "bucket"))
    trend = {name: [Stat() for _ in found] for name in metrics}
    for row in db.session.execute(stmt):
        trend[row.metric][int(row.bucket)] = _stat(row)
    return trend


@dataclass(frozen=True)
class Counts:
    incidents: int = 0
    resolved: int = 0
    still_open: int = 0
    reopened: int = 0
    never_acknowledged: int = 0   # resolved without anyone acknowledging
    waiting: int = 0              # open and not acknowledged yet
    merged_away: int = 0          # merged into another incident (counted there)
    exercises: int = 0            # drills, counted under training


def counts(f: Filters) -> Counts:
    resolved = Incident.status == Status.RESOLVED
    # Reopening is rare: read it from the timeline by kind, not once per incident.
    reopened = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(IncidentEvent.incident_id)))
        .join(Incident, Incident.id == IncidentEvent.incident_id)
        .where(IncidentEvent.kind == "reopened", IncidentEvent.at >= f.period.start, *scope(f)))
    row = db.session.execute(sa.select(
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(sa.case((resolved, 1), else_=0)), 0),
        sa.func.coalesce(sa.func.sum(sa.case((sa.and_(resolved, Incident.acknowledged_at.is_(None)), 1), else_=0)), 0),
        sa.func.coalesce(sa.func.sum(sa.case((sa.and_(~resolved, Incident.acknowledged_at.is_(None)), 1), else_=0)), 0),
    ).where(*scope(f))).one()
    others = db.session.execute(sa.select(
        sa.func.coalesce(sa.func.sum(sa.case((Incident.merged_into_id.is_not(None), 1), else_=0)), 0),
        sa.func.coalesce(sa.func.sum(sa.case((sa.and_(Incident.merged_into_id.is_(None),
                                                      Incident.is_exercise.is_(True)), 1), else_=0)), 0),
    ).where(Incident.detected_at >= f.period.start, Incident.detected_at < f.period.end, *_attributes(f))).one()
    total, done, unacked, waiting = (int(v) for v in row)
    return Counts(total, done, total - done, int(reopened or 0), unacked, waiting, int(others[0]), int(others[1]))


# --- incidents over time -----------------------------------------------------------------

def severity_trend(f: Filters, found: list[Bucket] | None = None) -> list[dict[int, int]]:
    """Per bucket, how many incidents of each severity were detected."""
    found = found if found is not None else f.buckets()
    bucket = _bucket_of(Incident.detected_at, found).label("bucket")
    rows = db.session.execute(sa.select(bucket, Incident.severity, sa.func.count())
                              .where(*scope(f)).group_by(bucket, Incident.severity))
    trend = [dict.fromkeys((1, 2, 3, 4), 0) for _ in found]
    for index, severity, n in rows:
        trend[int(index)][int(severity)] = int(n)
    return trend


# --- objectives ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Compliance:
    severity: int
    response_minutes: int
    resolution_minutes: int
    response_met: int = 0
    response_breached: int = 0
    response_pending: int = 0
    resolution_met: int = 0
    resolution_breached: int = 0
    resolution_pending: int = 0

    @property
    def response_rate(self) -> float | None:
        return _ratio(self.response_met, self.response_met + self.response_breached)

    @property
    def resolution_rate(self) -> float | None:
        return _ratio(self.resolution_met, self.resolution_met + self.resolution_breached)


def _objective_seconds(kind: str):
    model = levels.current()
    minutes = {n: getattr(model[n], f"{kind}_minutes") for n in (1, 2, 3, 4)}
    return sa.case(*[(Incident.severity == n, m * 60.0) for n, m in minutes.items()], else_=None)


def objective_compliance(f: Filters, now: datetime) -> list[Compliance]:
    """Per severity: response and resolution objectives met, breached, or not yet
    due. A response is the first acknowledgement, or the resolution if nobody
    acknowledged (the engine records a breach only when neither came in time)."""
    model = levels.current()
    responded = sa.func.coalesce(Incident.acknowledged_at, sa.case((Incident.status == Status.RESOLVED,
                                                                    Incident.resolved_at), else_=None))
    resolved = sa.case((Incident.status == Status.RESOLVED, Incident.resolved_at), else_=None)

    def states(done, objective):
        took = seconds_between(done, Incident.detected_at)
        waited = seconds_between(_at(now), Incident.detected_at)
        met = sa.and_(done.is_not(None), took <= objective)
        breached = sa.or_(sa.and_(done.is_not(None), took > objective), sa.and_(done.is_(None), waited > objective))
        return [sa.func.coalesce(sa.func.sum(sa.case((met, 1), else_=0)), 0),
                sa.func.coalesce(sa.func.sum(sa.case((breached, 1), else_=0)), 0),
                sa.func.coalesce(sa.func.sum(sa.case((sa.or_(met, breached), 0), else_=1)), 0)]

    rows = db.session.execute(sa.select(
        Incident.severity, *states(responded, _objective_seconds("response")),
        *states(resolved, _objective_seconds("resolution")),
    ).where(*scope(f)).group_by(Incident.severity))
    found = {int(r[0]): [int(v) for v in r[1:]] for r in rows}
    result = []
    for n in (1, 2, 3, 4):
        if f.severity and n != f.severity:
            continue
        values = found.get(n, [0] * 6)
        result.append(Compliance(n, model[n].response_minutes, model[n].resolution_minutes, *values))
    return result


# --- classification -------------------------------------------------------------------------

@dataclass(frozen=True)
class Classification:
    judged: int = 0        # resolved incidents
    correct: int = 0       # first severity = final severity
    raised: int = 0        # ended more severe than first classified (under-estimated)
    lowered: int = 0       # ended less severe (over-estimated)

    @property
    def rate(self) -> float | None:
        return _ratio(self.correct, self.judged)


def classification(f: Filters) -> Classification:
    row = db.session.execute(sa.select(
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(sa.case((Incident.initial_severity == Incident.severity, 1), else_=0)), 0),
        sa.func.coalesce(sa.func.sum(sa.case((Incident.initial_severity > Incident.severity, 1), else_=0)), 0),
        sa.func.coalesce(sa.func.sum(sa.case((Incident.initial_severity < Incident.severity, 1), else_=0)), 0),
    ).where(*scope(f), Incident.status == Status.RESOLVED)).one()
    return Classification(*(int(v) for v in row))


# --- recurrence and improvement ---------------------------------------------------------------

def _signatures(f: Filters, since: datetime, until: datetime) -> sa.Select:
    """(incident, service, severity, detected_at, kind, key) for every fingerprint
    (alert dedup key) and contributing-factor category of the incidents detected in
    [since, until), one row per distinct signature of an incident."""
    base = [Incident.is_exercise.is_(False), not_merged(),
            Incident.detected_at >= _at(since), Incident.detected_at < _at(until)]
    if f.team_id:
        base.append(Incident.service_id.in_(sa.select(Service.id).where(Service.team_id == f.team_id)))
    if f.service_id:
        base.append(Incident.service_id == f.service_id)
    columns = (Incident.id.label("incident_id"), Incident.service_id.label("service_id"),
               Incident.severity.label("severity"), Incident.detected_at.label("detected_at"))
    by_alert = (sa.select(*columns, sa.literal("alert", sa.String).label("kind"), Alert.dedup_key.label("key"))
                .join(Alert, Alert.incident_id == Incident.id).where(*base))
    by_factor = (sa.select(*columns, sa.literal("factor", sa.String).label("kind"),
                           sa.cast(ContributingFactor.category_id, sa.String).label("key"))
                 .join(Postmortem, Postmortem.incident_id == Incident.id)
                 .join(ContributingFactor, ContributingFactor.postmortem_id == Postmortem.id).where(*base))
    # UNION ALL: an incident may carry a signature twice (two alerts with one key);
    # readers skip a previous row that is the same incident.
    return sa.union_all(by_alert, by_factor)


@dataclass(frozen=True)
class Recurrence:
    incidents: int = 0
    recurrences: int = 0

    @property
    def rate(self) -> float | None:
        return _ratio(self.recurrences, self.incidents)


def recurrence(f: Filters, *, total: int | None = None) -> Recurrence:
    """Incidents in the period that repeat an earlier one: same service and the same
    alert fingerprint or contributing-factor category, detected at most 90 days
    after it. One window function finds each signature's previous occurrence."""
    ordered = _previous_occurrences(f).subquery("ordered")
    conditions = [ordered.c.detected_at >= _at(f.period.start), ordered.c.previous_at.is_not(None),
                  ordered.c.previous_id != ordered.c.incident_id,
                  seconds_between(ordered.c.detected_at, ordered.c.previous_at) <= RECURRENCE_DAYS * DAY]
    if f.severity:
        conditions.append(ordered.c.severity == f.severity)
    repeats = db.session.scalar(sa.select(sa.func.count(sa.distinct(ordered.c.incident_id))).where(*conditions))
    if total is None:
        total = db.session.scalar(sa.select(sa.func.count()).select_from(Incident).where(*scope(f)))
    return Recurrence(int(total), int(repeats or 0))


def _previous_occurrences(f: Filters) -> sa.Select:
    """Each signature of each incident detected up to the period's end (from 90 days
    before it), with the signature's previous occurrence: its time and incident."""
    sigs = _signatures(f, f.period.start - timedelta(days=RECURRENCE_DAYS), f.period.end).subquery("sigs")
    window = {"partition_by": (sigs.c.service_id, sigs.c.kind, sigs.c.key),
              "order_by": (sigs.c.detected_at, sigs.c.incident_id)}
    return sa.select(sigs.c.incident_id, sigs.c.severity, sigs.c.detected_at,
                     sa.func.lag(sigs.c.detected_at).over(**window).label("previous_at"),
                     sa.func.lag(sigs.c.incident_id).over(**window).label("previous_id"))


def recurrent_ids(f: Filters) -> sa.Select:
    """The ids of the period's incidents that are recurrences (for the export)."""
    ordered = _previous_occurrences(f).subquery("ordered")
    return sa.select(ordered.c.incident_id).where(
        ordered.c.previous_at.is_not(None), ordered.c.previous_id != ordered.c.incident_id,
        seconds_between(ordered.c.detected_at, ordered.c.previous_at) <= RECURRENCE_DAYS * DAY).distinct()


@dataclass(frozen=True)
class Improvement:
    fixed: int = 0        # incidents whose action items were all done
    watching: int = 0     # ... less than 90 days ago: not judged yet
    held: int = 0         # judged, and no recurrence within 90 days of the last item done
    recurred: int = 0     # judged, and it came back

    @property
    def rate(self) -> float | None:
        return _ratio(self.held, self.held + self.recurred)


def improvement(f: Filters, now: datetime) -> Improvement:
    """Of the period's incidents whose action items were all done, the share that did
    not recur (same service and fingerprint or factor category) within 90 days after
    the last item was done. Fixes done less than 90 days ago are still watched."""
    fixed = (sa.select(ActionItem.incident_id.label("incident_id"), sa.func.max(ActionItem.done_at).label("fixed_at"))
             .join(Incident, Incident.id == ActionItem.incident_id).where(*scope(f))
             .group_by(ActionItem.incident_id)
             .having(sa.func.count() == sa.func.sum(sa.case((ActionItem.status == ActionStatus.DONE, 1), else_=0)))
             .cte("fixed"))
    judged_before = _at(now - timedelta(days=RECURRENCE_DAYS))
    # Each fix is an event at fixed_at; each incident an occurrence at detected_at; both
    # carry their signatures. For a fix, the first occurrence after it, per signature.
    sigs = _signatures(f, f.period.start, now + timedelta(seconds=1)).cte("sigs")
    occurrences = sa.select(sigs.c.service_id, sigs.c.kind, sigs.c.key, sigs.c.detected_at.label("t"),
                            sa.literal(1, sa.Integer).label("occurs"), sa.literal(None, sa.Integer).label("fix_of"))
    fixes = (sa.select(sigs.c.service_id, sigs.c.kind, sigs.c.key, fixed.c.fixed_at.label("t"),
                       sa.literal(0, sa.Integer).label("occurs"), fixed.c.incident_id.label("fix_of"))
             .join(fixed, fixed.c.incident_id == sigs.c.incident_id))
    events = sa.union_all(occurrences, fixes).subquery("events")
    # Walking each signature's events backwards in time, the smallest occurrence time
    # seen so far is the first occurrence after a fix (a fix adds no time of its own;
    # an occurrence at the fix's very moment comes first, so it counts): a running
    # minimum, one pass.
    following = sa.func.min(sa.case((events.c.occurs == 1, events.c.t), else_=None)).over(
        partition_by=(events.c.service_id, events.c.kind, events.c.key),
        order_by=(events.c.t.desc(), events.c.occurs.desc()))
    per_sig = sa.select(events.c.fix_of, events.c.t, following.label("next_at")).subquery("per_sig")
    back = (sa.select(per_sig.c.fix_of).where(
        per_sig.c.fix_of.is_not(None), per_sig.c.t <= judged_before, per_sig.c.next_at.is_not(None),
        seconds_between(per_sig.c.next_at, per_sig.c.t) <= RECURRENCE_DAYS * DAY).distinct().subquery("back"))
    # `back` holds only judged fixes (fixed before `judged_before`), once each.
    total, judged_n, recurred = db.session.execute(sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((fixed.c.fixed_at <= judged_before, 1), else_=0)), 0),
        sa.select(sa.func.count()).select_from(back).scalar_subquery(),
    ).select_from(fixed)).one()
    total, judged_n, recurred = int(total), int(judged_n), int(recurred)
    return Improvement(total, total - judged_n, judged_n - recurred, recurred)


# --- post-mortems and action items -------------------------------------------------------------

@dataclass(frozen=True)
class PostmortemCompletion:
    on_time: int = 0     # published by the due date
    late: int = 0        # published after it
    overdue: int = 0     # not published, past the due date
    missing: int = 0     # required by the severity, never started
    pending: int = 0     # not published, not due yet (or the engine's draft still to come)

    @property
    def rate(self) -> float | None:
        return _ratio(self.on_time, self.on_time + self.late + self.overdue + self.missing)


def postmortem_completion(f: Filters, today: date) -> PostmortemCompletion:
    """Required post-mortems of the period's resolved incidents: published by their
    due date (dates in UTC), late, overdue, never started, or not due yet."""
    required = policy.required_severities()
    published = Postmortem.status == PostmortemStatus.PUBLISHED
    on_time = sa.and_(published, sa.or_(Postmortem.due_on.is_(None),
                                        utc_date(Postmortem.published_at) <= Postmortem.due_on))
    late = sa.and_(published, Postmortem.due_on.is_not(None), utc_date(Postmortem.published_at) > Postmortem.due_on)
    overdue = sa.and_(Postmortem.id.is_not(None), ~published, Postmortem.due_on < today)
    missing = sa.and_(Postmortem.id.is_(None), Incident.followup_at.is_(None))  # else the engine drafts it next

    def total(condition):
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)
    row = db.session.execute(
        sa.select(total(on_time), total(late), total(overdue), total(missing), sa.func.count())
        .select_from(Incident).outerjoin(Postmortem, Postmortem.incident_id == Incident.id)
        .where(*scope(f), Incident.status == Status.RESOLVED,
               sa.or_(Postmortem.required.is_(True), sa.and_(Postmortem.id.is_(None), Incident.severity.in_(required))))
    ).one()
    on, la, ov, mi, n = (int(v) for v in row)
    return PostmortemCompletion(on, la, ov, mi, n - on - la - ov - mi)


@dataclass(frozen=True)
class ActionItems:
    on_time: int = 0         # done by the due date
    late: int = 0            # done after it
    overdue: int = 0         # open past the due date
    pending: int = 0         # open, not due yet
    wont_do: int = 0         # decided against (not counted either way)
    open_overdue_now: int = 0  # every open item past its due date today, whenever due

    @property
    def rate(self) -> float | None:
        return _ratio(self.on_time, self.on_time + self.late + self.overdue)


def action_items(f: Filters, today: date) -> ActionItems:
    """Action items due in the period (local dates): done by the due date (the UTC
    date it was done), done late, open and overdue, not due yet, or won't do; and
    every open item overdue today. Exercises' items are left out."""
    done = ActionItem.status == ActionStatus.DONE
    is_open = ActionItem.status.in_((ActionStatus.OPEN, ActionStatus.IN_PROGRESS))

    def total(condition):
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)
    incident_scope = [Incident.is_exercise.is_(False), *_attributes(f)]
    row = db.session.execute(sa.select(
        total(sa.and_(done, utc_date(ActionItem.done_at) <= ActionItem.due_on)),
        total(sa.and_(done, utc_date(ActionItem.done_at) > ActionItem.due_on)),
        total(sa.and_(is_open, ActionItem.due_on < today)),
        total(sa.and_(is_open, ActionItem.due_on >= today)),
        total(ActionItem.status == ActionStatus.WONT_DO),
    ).join(Incident, Incident.id == ActionItem.incident_id).where(
        ActionItem.due_on >= f.period.first_day, ActionItem.due_on <= f.period.last_day, *incident_scope)).one()
    overdue_now = db.session.scalar(
        sa.select(sa.func.count()).select_from(ActionItem).join(Incident, Incident.id == ActionItem.incident_id)
        .where(is_open, ActionItem.due_on < today, *incident_scope))
    return ActionItems(*(int(v) for v in row), int(overdue_now or 0))


# --- communication ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Communication:
    """Updates owed by the severity's cadence that fell due in the period."""

    on_time: int = 0     # sent by the due time
    late: int = 0        # sent after it
    missed: int = 0      # overdue, and no update has gone since
    pending: int = 0     # not due yet (or not yet marked overdue by the engine): not judged

    @property
    def judged(self) -> int:
        return self.on_time + self.late + self.missed

    @property
    def owed(self) -> int:
        return self.judged + self.pending

    @property
    def rate(self) -> float | None:
        return _ratio(self.on_time, self.judged)


def communication(f: Filters) -> Communication:
    """The cadence's dues (`comms_dues`, one per update owed) whose due time falls in
    the period, on incidents that count: met by the due time, met late, overdue
    and still unmet, or not yet due. A due cancelled (the incident resolved, or
    its severity lost its cadence, before it fell due) was never owed."""
    met = CommsDue.state == DueState.MET

    def total(condition):
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)
    row = db.session.execute(sa.select(
        total(sa.and_(met, CommsDue.met_at <= CommsDue.due_at)),
        total(sa.and_(met, sa.or_(CommsDue.met_at.is_(None), CommsDue.met_at > CommsDue.due_at))),
        total(CommsDue.state == DueState.OVERDUE),
        total(CommsDue.state == DueState.PENDING),
    ).join(Incident, Incident.id == CommsDue.incident_id).where(
        CommsDue.due_at >= f.period.start, CommsDue.due_at < f.period.end,
        CommsDue.state.in_((DueState.MET, DueState.OVERDUE, DueState.PENDING)), *scope(f, period=False))).one()
    return Communication(*(int(v) for v in row))


# --- knowledge sharing --------------------------------------------------------------------------

@dataclass(frozen=True)
class TeamReaders:
    team: str
    members: int
    readers: int

    @property
    def share(self) -> float | None:
        return _ratio(self.readers, self.members)


@dataclass(frozen=True)
class Knowledge:
    readers: int = 0              # distinct people who read anything that counts
    postmortem_readers: int = 0
    incident_readers: int = 0
    reads: int = 0                # person-days-things
    teams: list[TeamReaders] = field(default_factory=list)


def knowledge(f: Filters) -> Knowledge:
    """Distinct people who opened a post-mortem or a past incident in the period
    (what they read matches the service, team and severity filters), and per team,
    how many of its members did."""
    read = sa.and_(PageRead.read_at >= f.period.start, PageRead.read_at < f.period.end)
    conditions = [read, Incident.is_exercise.is_(False), *_attributes(f)]
    row = db.session.execute(sa.select(
        sa.func.count(sa.distinct(PageRead.user_id)),
        sa.func.count(sa.distinct(sa.case((PageRead.kind == "postmortem", PageRead.user_id), else_=None))),
        sa.func.count(sa.distinct(sa.case((PageRead.kind == "incident", PageRead.user_id), else_=None))),
        sa.func.count(),
    ).join(Incident, Incident.id == PageRead.incident_id).where(*conditions)).one()
    readers = (sa.select(PageRead.user_id).join(Incident, Incident.id == PageRead.incident_id)
               .where(*conditions).distinct().subquery("readers"))
    per_team = db.session.execute(
        sa.select(Team.name, sa.func.count(TeamMembership.user_id), sa.func.count(readers.c.user_id))
        .join(TeamMembership, TeamMembership.team_id == Team.id)
        .outerjoin(readers, readers.c.user_id == TeamMembership.user_id)
        .group_by(Team.id, Team.name).order_by(Team.name)).all()
    return Knowledge(*(int(v) for v in row), teams=[TeamReaders(n, int(m), int(r)) for n, m, r in per_team])


# --- training -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PersonScore:
    name: str
    drills: int
    mean: float


@dataclass(frozen=True)
class Training:
    drills: int = 0
    assessed: int = 0          # assessments (a person in a drill)
    people: int = 0            # distinct people assessed
    mean_score: float | None = None
    median_score: float | None = None
    by_person: list[PersonScore] = field(default_factory=list)


def training(f: Filters) -> Training:
    """Drills and game days (incidents flagged as exercises) in the period, and the
    participants' assessment scores (0–100)."""
    drills = db.session.scalar(sa.select(sa.func.count()).select_from(Incident).where(*scope(f, exercises=True)))
    joined = [*scope(f, exercises=True)]
    scores = sa.select(sa.cast(DrillAssessment.score, sa.Float).label("v")).join(
        Incident, Incident.id == DrillAssessment.incident_id).where(*joined)
    stat = db.session.execute(distribution(scores)).one()
    people = db.session.scalar(sa.select(sa.func.count(sa.distinct(DrillAssessment.user_id)))
                               .join(Incident, Incident.id == DrillAssessment.incident_id).where(*joined))
    per_person = db.session.execute(
        sa.select(User.name, sa.func.count(), sa.func.avg(DrillAssessment.score))
        .join(Incident, Incident.id == DrillAssessment.incident_id).join(User, User.id == DrillAssessment.user_id)
        .where(*joined).group_by(User.id, User.name).order_by(User.name)).all()
    return Training(int(drills or 0), int(stat.n), int(people or 0),
                    None if stat.mean is None else round(float(stat.mean), 1),
                    None if stat.p50 is None else round(float(stat.p50), 1),
                    [PersonScore(name, int(n), round(float(mean), 1)) for name, n, mean in per_person])


# --- culture ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Culture:
    invited: int = 0
    answered: int = 0          # invitations used
    answers: int = 0
    shown: bool = False        # at least MIN_SURVEY_GROUP answers
    blameless: float | None = None
    safety: float | None = None
    blameless_counts: dict[int, int] = field(default_factory=dict)
    safety_counts: dict[int, int] = field(default_factory=dict)

    @property
    def response_rate(self) -> float | None:
        return _ratio(self.answered, self.invited)


def culture(f: Filters) -> Culture:
    """The anonymous survey after incidents (blameless culture, psychological
    safety, 1–5), over the period's incidents: only when at least three answers
    make up the group, so no answer can be told apart."""
    invited = db.session.execute(sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((SurveyInvitation.answered.is_(True), 1), else_=0)), 0),
    ).join(Incident, Incident.id == SurveyInvitation.incident_id).where(*scope(f))).one()
    answers = sa.select(SurveyAnswer.blameless, SurveyAnswer.safety).join(
        Incident, Incident.id == SurveyAnswer.incident_id).where(*scope(f)).subquery("answers")
    n, blameless, safety = db.session.execute(sa.select(
        sa.func.count(), sa.func.avg(answers.c.blameless), sa.func.avg(answers.c.safety))).one()
    n = int(n)
    if n < MIN_SURVEY_GROUP:
        return Culture(int(invited[0]), int(invited[1]), n)
    spread = {"blameless": dict.fromkeys(range(1, 6), 0), "safety": dict.fromkeys(range(1, 6), 0)}
    for blameless_score, safety_score, count in db.session.execute(   # at most 25 pairs
            sa.select(answers.c.blameless, answers.c.safety, sa.func.count())
            .group_by(answers.c.blameless, answers.c.safety)):
        spread["blameless"][int(blameless_score)] += int(count)
        spread["safety"][int(safety_score)] += int(count)
    return Culture(int(invited[0]), int(invited[1]), n, True, round(float(blameless), 2), round(float(safety), 2),
                   spread["blameless"], spread["safety"])


# --- interruptions -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeatMap:
    """Pages sent, by local weekday (0 Monday) and hour of day, in the viewer's zone."""

    cells: list[list[int]]   # [weekday][hour]
    total: int

    @property
    def peak(self) -> int:
        return max((max(row) for row in self.cells), default=0)

    def day_total(self, weekday: int) -> int:
        return sum(self.cells[weekday])

    def hour_total(self, hour: int) -> int:
        return sum(row[hour] for row in self.cells)


def interruptions(f: Filters) -> HeatMap:
    """Pages sent in the period (what the on-call load report counts as pages), on
    incidents that count, by weekday and hour in the viewer's zone. SQL counts per
    UTC hour (quarter hour where the zone's offset is not whole hours); only those
    few counts are placed on the local week."""
    exact_hours = whole_hour_offsets(f.period)
    slot = (utc_hour if exact_hours else utc_quarter_hour)(IncidentEvent.at).label("slot")
    rows = db.session.execute(
        sa.select(slot, sa.func.count()).join(Incident, Incident.id == IncidentEvent.incident_id)
        .where(*load.page_conditions(f.period.start, f.period.end), Incident.is_exercise.is_(False), *_attributes(f))
        .group_by(slot))
    cells = [[0] * 24 for _ in range(7)]
    total = 0
    fmt = "%Y-%m-%d %H" if exact_hours else "%Y-%m-%d %H:%M"
    for text, n in rows:
        local = datetime.strptime(text, fmt).replace(tzinfo=UTC).astimezone(f.period.zone)
        cells[local.weekday()][local.hour] += int(n)
        total += int(n)
    return HeatMap(cells, total)


# --- top lists ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ranked:
    label: str
    count: int
    severe: int = 0   # SEV-1 and SEV-2 among them
    ref: int | None = None


def top_services(f: Filters, limit: int = 8) -> list[Ranked]:
    n = sa.func.count()
    rows = db.session.execute(
        sa.select(Service.id, Service.name, n, sa.func.coalesce(sa.func.sum(sa.case((Incident.severity <= 2, 1),
                                                                                    else_=0)), 0))
        .join(Incident, Incident.service_id == Service.id).where(*scope(f))
        .group_by(Service.id, Service.name).order_by(n.desc(), Service.name).limit(limit))
    return [Ranked(name, int(count), int(severe), ref) for ref, name, count, severe in rows]


def top_factors(f: Filters, limit: int = 8) -> list[Ranked]:
    """Contributing-factor categories of the period's incidents' post-mortems
    (the per-incident view of app.postmortems.service.factor_counts)."""
    n = sa.func.count(sa.distinct(Postmortem.incident_id))
    rows = db.session.execute(
        sa.select(FactorCategory.id, FactorCategory.name, n)
        .join(ContributingFactor, ContributingFactor.category_id == FactorCategory.id)
        .join(Postmortem, Postmortem.id == ContributingFactor.postmortem_id)
        .join(Incident, Incident.id == Postmortem.incident_id).where(*scope(f))
        .group_by(FactorCategory.id, FactorCategory.name).order_by(n.desc(), FactorCategory.name).limit(limit))
    return [Ranked(name, int(count), ref=ref) for ref, name, count in rows]


# --- everything at once ---------------------------------------------------------------------------------

@dataclass
class Dashboard:
    filters: Filters
    buckets: list[Bucket]
    counts: Counts
    response: dict[str, Stat]
    trend: dict[str, list[Stat]]
    severity_trend: list[dict[int, int]]
    compliance: list[Compliance]
    classification: Classification
    recurrence: Recurrence
    improvement: Improvement
    postmortems: PostmortemCompletion
    action_items: ActionItems
    communication: Communication
    knowledge: Knowledge
    training: Training
    culture: Culture
    heat_map: HeatMap
    top_services: list[Ranked]
    top_factors: list[Ranked]


def dashboard(f: Filters, now: datetime) -> Dashboard:
    today = now.astimezone(f.period.zone).date()
    found = f.buckets()
    counted = counts(f)
    response, trend = response_stats(f, found)
    return Dashboard(
        filters=f, buckets=found, counts=counted, response=response, trend=trend,
        severity_trend=severity_trend(f, found), compliance=objective_compliance(f, now),
        classification=classification(f), recurrence=recurrence(f, total=counted.incidents),
        improvement=improvement(f, now),
        postmortems=postmortem_completion(f, today), action_items=action_items(f, today),
        communication=communication(f), knowledge=knowledge(f), training=training(f), culture=culture(f),
        heat_map=interruptions(f), top_services=top_services(f), top_factors=top_factors(f))
