"""The insights metrics as JSON: every figure of the dashboard for a period (local
days in a time zone) and the same filters, computed by app.insights.metrics."""
from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import jsonify

from app import clock
from app.api.inputs import FIRST_YEAR, LAST_YEAR, BadInput, Query
from app.api.views import bp
from app.auth.models import Role, Team
from app.auth.service import valid_time_zone
from app.extensions import db
from app.insights import metrics
from app.insights.periods import GRANULARITIES, MAX_DAYS, Period
from app.services.models import Service
from app.web import current_actor, requires

DEFAULT_DAYS = 30


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def stat_json(s: metrics.Stat) -> dict:
    return {"n": s.n, "mean_seconds": s.mean, "median_seconds": s.median, "p90_seconds": s.p90}


def dashboard_json(d: metrics.Dashboard) -> dict:
    f = d.filters
    return {
        "period": {"start_date": f.period.first_day.isoformat(), "end_date": f.period.last_day.isoformat(),
                   "time_zone": f.period.zone.key, "start": f.period.start.isoformat().replace("+00:00", "Z"),
                   "end": f.period.end.isoformat().replace("+00:00", "Z")},
        "filters": {"team_id": f.team_id, "service_id": f.service_id, "severity": f.severity},
        "counts": {"incidents": d.counts.incidents, "resolved": d.counts.resolved, "still_open": d.counts.still_open,
                   "reopened": d.counts.reopened, "never_acknowledged": d.counts.never_acknowledged,
                   "waiting": d.counts.waiting, "merged_away": d.counts.merged_away, "exercises": d.counts.exercises},
        "response_times": {name: stat_json(stat) for name, stat in d.response.items()},
        "objectives": [{
            "severity": c.severity, "response_minutes": c.response_minutes,
            "resolution_minutes": c.resolution_minutes,
            "response": {"met": c.response_met, "breached": c.response_breached, "not_due": c.response_pending,
                         "rate": _rate(c.response_rate)},
            "resolution": {"met": c.resolution_met, "breached": c.resolution_breached,
                           "not_due": c.resolution_pending, "rate": _rate(c.resolution_rate)},
        } for c in d.compliance],
        "classification": {"judged": d.classification.judged, "correct": d.classification.correct,
                           "raised": d.classification.raised, "lowered": d.classification.lowered,
                           "rate": _rate(d.classification.rate)},
        "recurrence": {"incidents": d.recurrence.incidents, "recurrences": d.recurrence.recurrences,
                       "rate": _rate(d.recurrence.rate)},
        "improvement": {"fixed": d.improvement.fixed, "watching": d.improvement.watching, "held": d.improvement.held,
                        "recurred": d.improvement.recurred, "rate": _rate(d.improvement.rate)},
        "postmortems": {"on_time": d.postmortems.on_time, "late": d.postmortems.late,
                        "overdue": d.postmortems.overdue, "missing": d.postmortems.missing,
                        "not_due": d.postmortems.pending, "rate": _rate(d.postmortems.rate)},
        "action_items": {"on_time": d.action_items.on_time, "late": d.action_items.late,
                         "overdue": d.action_items.overdue, "not_due": d.action_items.pending,
                         "wont_do": d.action_items.wont_do, "open_overdue_now": d.action_items.open_overdue_now,
                         "rate": _rate(d.action_items.rate)},
        "communication": {"owed": d.communication.owed, "judged": d.communication.judged,
                          "on_time": d.communication.on_time, "late": d.communication.late,
                          "missed": d.communication.missed, "not_due": d.communication.pending,
                          "rate": _rate(d.communication.rate)},
        "knowledge": {"readers": d.knowledge.readers, "postmortem_readers": d.knowledge.postmortem_readers,
                      "incident_readers": d.knowledge.incident_readers, "reads": d.knowledge.reads,
                      "teams": [{"team": t.team, "members": t.members, "readers": t.readers}
                                for t in d.knowledge.teams]},
        "training": {"drills": d.training.drills, "assessed": d.training.assessed, "people": d.training.people,
                     "mean_score": d.training.mean_score, "median_score": d.training.median_score},
        "culture": {"invited": d.culture.invited, "answered": d.culture.answered, "answers": d.culture.answers,
                    "shown": d.culture.shown, "blameless": d.culture.blameless, "safety": d.culture.safety},
        "interruptions": {"total": d.heat_map.total, "by_weekday_and_hour": d.heat_map.cells},
        "top_services": [{"id": r.ref, "name": r.label, "incidents": r.count, "severe": r.severe}
                         for r in d.top_services],
        "top_factor_categories": [{"id": r.ref, "name": r.label, "incidents": r.count} for r in d.top_factors],
        "trend": {"granularity": f.granularity, "buckets": [{
            "start_date": b.first_day.isoformat(), "end_date": b.last_day.isoformat(),
            "incidents_by_severity": {str(n): d.severity_trend[b.index][n] for n in (1, 2, 3, 4)},
            "mtta": stat_json(d.trend["mtta"][b.index]), "mttr": stat_json(d.trend["mttr"][b.index]),
        } for b in d.buckets]},
    }


def _day(query: Query, name: str) -> date | None:
    raw = query.args.get(name, "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        query.errors.append(f"'{name}' must be a date such as 2026-03-31")
        return None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:  # a default period before 0001-01-01 answered 500
        query.errors.append(f"'{name}' must be a date between the years {FIRST_YEAR} and {LAST_YEAR}")
        return None
    return day


@bp.route("/insights/metrics")
@requires(Role.VIEWER)
def insights_metrics():
    query = Query()
    zone_name = query.args.get("time_zone", "").strip() or current_actor().user.time_zone or "UTC"
    if valid_time_zone(zone_name):  # not ZoneInfo(): a long name is an OSError (a 500), a path a file read
        zone = ZoneInfo(zone_name)
    else:
        query.errors.append("'time_zone' must be an IANA time zone such as Europe/London")
        zone = ZoneInfo("UTC")
    start, end = _day(query, "start_date"), _day(query, "end_date")
    team_id, service_id = query.identifier("team_id"), query.identifier("service_id")
    severities = query.severities()
    granularity = query.choice("granularity", tuple(GRANULARITIES), "week")
    query.check()
    today = clock.now().astimezone(zone).date()
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    problems = []
    if end < start:
        problems.append("'end_date' is before 'start_date'")
    elif (end - start).days + 1 > MAX_DAYS:
        problems.append(f"a period is at most {MAX_DAYS} days")
    if len(severities) > 1:
        problems.append("'severity' takes one severity")
    if team_id is not None and db.session.get(Team, team_id) is None:
        problems.append(f"'team_id' names no team (there is no team {team_id})")
    if service_id is not None and db.session.get(Service, service_id) is None:
        problems.append(f"'service_id' names no service (there is no service {service_id})")
    if problems:
        raise BadInput(problems)
    f = metrics.Filters(Period(start, end, zone), team_id=team_id, service_id=service_id,
                        severity=severities[0] if severities else None, granularity=granularity)
    return jsonify(dashboard_json(metrics.dashboard(f, clock.now())))
