"""History for the demo and for the scale benchmark: past incidents with their
timelines, alerts, post-mortems, contributing factors, action items, reads,
survey answers, drills and a review schedule, written in bulk.

`seed_history(scale, now=…)` builds on the demo organisation (app.demo.organisation)
and writes straight into the tables with Core executemany in batches, in the shapes the
service functions write (it does not go through them: 100,000 incidents that way
would take an hour). Deterministic: the same scale and the same `now` (cut to the
hour) give the same rows. Idempotent: an audit entry marks it done.

  test    30 days,   200 incidents   (tests, both backends)
  year    365 days,  ~600 incidents  (`make run`'s demo: a believable year)
  large   730 days,  100,000 incidents and about a million timeline events
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable

import sqlalchemy as sa

from app.audit import service as audit
from app.audit.models import AuditEntry
from app.audit.service import Actor
from app.auth.models import Team, User
from app.extensions import db
from app.incidents.models import Incident, IncidentEvent
from app.insights.models import DrillAssessment, PageRead, ReviewSchedule, SurveyAnswer, SurveyInvitation
from app.alerts.models import Alert
from app.postmortems import policy
from app.postmortems import service as postmortems
from app.postmortems.models import (
    ActionItem, ContributingFactor, FactorCategory, Postmortem, PostmortemSection, PostmortemTemplate,
)
from app.services import service as services
from app.services.models import Service
from app.triage.models import SeverityLevel


@dataclass(frozen=True)
class Scale:
    name: str
    days: int
    incidents: int
    extra_services: int


SCALES = {
    "test": Scale("test", 30, 200, 0),
    "year": Scale("year", 365, 600, 0),
    "large": Scale("large", 730, 100_000, 18),
}
MARK = "demo.history"
BATCH = 2_000
SEVERITY_WEIGHTS = (3, 12, 35, 50)
# Median minutes: detected → acknowledged, acknowledged → mitigated, mitigated → resolved.
ACK_MIN = {1: 2.5, 2: 4, 3: 9, 4: 30}
MITIGATE_MIN = {1: 14, 2: 28, 3: 70, 4: 200}
RESOLVE_MIN = {1: 12, 2: 22, 3: 60, 4: 360}
HOUR_WEIGHTS = [2, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 11, 10, 11, 11, 10, 9, 8, 6, 5, 4, 4, 3, 2]
EXTRA_SERVICES = ["search-api", "inventory-service", "pricing-engine", "recommendations", "media-cdn",
                  "order-history", "loyalty-points", "tax-calculator", "fraud-scoring", "shipping-quotes",
                  "returns-portal", "reviews-api", "session-store", "feature-flags", "email-gateway",
                  "sms-gateway", "warehouse-sync", "analytics-ingest"]
NOTES = ["Looking at the dashboards", "Error rate climbing on the edge", "Rolled back the last deploy",
         "Failover started", "Customers report slow checkout", "Queue depth back to normal",
         "Scaling the pool up", "Vendor confirms an outage on their side", "Hotfix deployed",
         "Cache flushed; latency recovering"]
LESSONS = [
    "- Alert on saturation, not only on errors: the pool ran out long before anything failed loudly.\n"
    "- Every limit is a capacity decision; review it like one.",
    "- Roll back first, debug second: the rollback took four minutes, the diagnosis forty.",
    "- Expiry dates belong in monitoring, not in someone's calendar.",
    "- Runbooks rot: the failover steps named a host retired last year.",
    "- Status updates every 30 minutes kept support ahead of the tickets.",
    "- A vendor's status page is not an alert: watch the dependency ourselves.",
    "- Feature flags made the fix a switch, not a deploy.",
    "- Two people paged at once found the cause twice as fast as one.",
]
ITEMS = ["Alert on connection pool saturation", "Load test releases that change pool settings",
         "Add an expiry alert for certificates", "Update the failover runbook", "Add a circuit breaker",
         "Move the job off the shared queue", "Page the owning team for vendor outages", "Add a canary stage",
         "Document the rollback", "Raise the rate limit for batch clients"]


def _lognormal(rng: random.Random, median: float, sigma: float = 0.7) -> float:
    return median * math.exp(rng.gauss(0, sigma))


def _business_days(start: date, days: int) -> date:
    return policy.add_business_days(start, days)


class _Writer:
    """Batched Core inserts (executemany) through the real tables, so column types
    (UTC times, enums, JSON) are written exactly as the models write them."""

    def __init__(self):
        self.pending: dict[sa.Table, list[dict]] = {}
        self.counts: dict[str, int] = {}

    def add(self, table: sa.Table, row: dict) -> None:
        self.pending.setdefault(table, []).append(row)

    def flush(self) -> None:
        connection = db.session.connection()
        for table, rows in self.pending.items():
            for start in range(0, len(rows), 5_000):
                connection.execute(table.insert(), rows[start:start + 5_000])
            self.counts[table.name] = self.counts.get(table.name, 0) + len(rows)
        self.pending = {}


def already_seeded() -> bool:
    return db.session.scalar(sa.select(AuditEntry.id).where(AuditEntry.action == MARK).limit(1)) is not None


def _extra_services(scale: Scale) -> None:
    teams = db.session.scalars(sa.select(Team).order_by(Team.id)).all()
    actor = Actor.system("demo seed")
    for n, name in enumerate(EXTRA_SERVICES[:scale.extra_services]):
        if db.session.scalar(sa.select(Service.id).where(Service.name == name)) is None:
            services.create_service(actor, name=name, description=f"Demo service {name}.",
                                    team_id=teams[n % len(teams)].id if teams else None, with_key=False)
    db.session.flush()


def seed_history(scale_name: str, *, now: datetime, progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write the history; returns rows written per table ({} when already there).
    Needs the demo organisation (teams, people, services) first."""
    if already_seeded():
        return {}
    scale = SCALES[scale_name]
    rng = random.Random(20261127)
    now = now.replace(minute=0, second=0, microsecond=0)
    postmortems.ensure_defaults()
    _extra_services(scale)
    people = db.session.scalars(sa.select(User).where(User.active.is_(True)).order_by(User.id)).all()
    responders = [p for p in people if p.role.value in ("responder", "admin")]
    all_services = db.session.scalars(sa.select(Service).order_by(Service.id)).all()
    team_people: dict[int | None, list[User]] = {}
    for person in responders:
        for team in person.teams:
            team_people.setdefault(team.id, []).append(person)
    service_weights = [1.0 / (n + 1) ** 0.6 for n in range(len(all_services))]
    categories = db.session.scalars(sa.select(FactorCategory.id).order_by(FactorCategory.id)).all()
    favourite = {s.id: rng.sample(categories, 3) for s in all_services}
    templates = {t.key: t for t in db.session.scalars(sa.select(PostmortemTemplate))}
    # A third of alerts come from a few noisy rules per service (they recur); the rest
    # are one-offs (a fingerprint is a rule and its labels: host, pod, route …).
    kinds = ["http-5xx", "latency-p99", "saturation", "disk-full", "cert-expiry", "queue-depth", "oom-kill",
             "replica-lag", "error-budget", "heartbeat"]
    fingerprints = {s.id: [f"{s.name}:{kind}" for kind in kinds] for s in all_services}
    fp_weights = [1.0 / (n + 1) for n in range(len(kinds))]

    start = now - timedelta(days=scale.days)
    span_days = scale.days
    moments = []
    for _ in range(scale.incidents):
        day = rng.randrange(span_days)
        hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
        moments.append(start + timedelta(days=day, hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60)))
    moments.sort()

    next_incident = (db.session.scalar(sa.select(sa.func.max(Incident.id))) or 0) + 1
    next_pm = (db.session.scalar(sa.select(sa.func.max(Postmortem.id))) or 0) + 1
    writer = _Writer()
    last_on_service: dict[int, tuple[int, datetime]] = {}
    read_keys: set[tuple] = set()
    incidents_t, events_t, alerts_t = Incident.__table__, IncidentEvent.__table__, Alert.__table__
    pm_t, section_t, factor_t, item_t = (Postmortem.__table__, PostmortemSection.__table__,
                                         ContributingFactor.__table__, ActionItem.__table__)
    reads_t, invite_t, answer_t = PageRead.__table__, SurveyInvitation.__table__, SurveyAnswer.__table__
    today = now.date()

    def event(incident_id, at, kind, actor: User | None = None, text="", data=None, via=None, actor_kind=None):
        writer.add(events_t, {
            "incident_id": incident_id, "at": at, "kind": kind,
            "actor_kind": actor_kind or ("user" if actor else "system"), "actor_user_id": actor.id if actor else None,
            "actor_label": actor.name if actor else ("Prometheus" if actor_kind == "integration" else "Firebreak"),
            "via": via, "text": text, "data": data, "tag": None, "starred": False})

    def flush_progress(done: int):
        writer.flush()
        if progress:
            progress(done)

    for index, detected in enumerate(moments):
        ident = next_incident + index
        progress_share = index / max(len(moments) - 1, 1)
        better = 1.25 - 0.45 * progress_share  # response gets faster over the period
        service = rng.choices(all_services, service_weights)[0]
        crew = team_people.get(service.team_id) or responders
        severity = rng.choices((1, 2, 3, 4), SEVERITY_WEIGHTS)[0]
        initial = severity
        if rng.random() < 0.12:
            initial = min(4, max(1, severity + rng.choice((-1, 1))))
        source = rng.choices(("alert", "web", "api"), (80, 15, 5))[0]
        impact = detected - timedelta(minutes=min(_lognormal(rng, 4.0, 0.9), 120)) if rng.random() < 0.85 else None
        acked = rng.random() < 0.96
        ack_at = detected + timedelta(minutes=_lognormal(rng, ACK_MIN[severity] * better)) if acked else None
        mitigated_at = (ack_at or detected) + timedelta(minutes=_lognormal(rng, MITIGATE_MIN[severity] * better))
        resolved_at = mitigated_at + timedelta(minutes=_lognormal(rng, RESOLVE_MIN[severity]))
        acker, resolver = rng.choice(crew), rng.choice(crew)
        merged_into = None
        previous = last_on_service.get(service.id)
        if previous and (detected - previous[1]) < timedelta(hours=2) and rng.random() < 0.3:
            merged_into = previous[0]
            resolved_at = detected + timedelta(minutes=rng.randrange(2, 20))
            mitigated_at = min(mitigated_at, resolved_at)
            if ack_at and ack_at > resolved_at:
                ack_at = None
        is_open = resolved_at > now
        status = "resolved"
        if is_open:
            status = "acknowledged" if ack_at and ack_at <= now else "triggered"
            if ack_at and ack_at > now:
                ack_at = None
            if mitigated_at > now:
                mitigated_at = None
            resolved_at = None
        reopened = not is_open and merged_into is None and rng.random() < 0.01
        writer.add(incidents_t, {
            "id": ident, "title": f"{service.name}: {rng.choice(NOTES).lower()}", "description": "",
            "service_id": service.id, "severity": severity, "initial_severity": initial, "status": status,
            "source": source, "is_exercise": False, "created_at": detected,
            "updated_at": resolved_at or ack_at or detected, "version": 10, "impact_started_at": impact,
            "detected_at": detected, "acknowledged_at": ack_at, "mitigated_at": mitigated_at,
            "resolved_at": resolved_at, "declared_by_id": None if source == "alert" else acker.id,
            "acknowledged_by_id": acker.id if ack_at else None,
            "resolved_by_id": resolver.id if resolved_at else None, "merged_into_id": merged_into,
            "escalation_run": 0, "escalation_round": 0, "escalation_step": 0})
        if merged_into is None:
            last_on_service[service.id] = (ident, detected)
        # The timeline, as the service functions would write it.
        event(ident, detected, "opened", text=f"SEV-{initial} incident opened on {service.name}",
              data={"severity": initial, "source": source}, via=source,
              actor_kind="integration" if source == "alert" else "system")
        if source == "alert":
            key = rng.choices(fingerprints[service.id], fp_weights)[0]
            if rng.random() > 0.35:
                key = f"{key}:{rng.getrandbits(40):010x}"
            writer.add(alerts_t, {
                "service_id": service.id, "incident_id": merged_into or ident, "dedup_key": key,
                "status": "resolved", "origin": "alertmanager", "severity": ("critical", "error", "warning")[min(
                    severity, 3) - 1], "summary": key, "source": "prometheus", "occurrences": 1 + rng.randrange(3),
                "event_at": detected, "created_at": detected, "last_seen_at": detected,
                "resolved_at": resolved_at or detected})
            event(ident, detected, "alert_triggered", text=key, actor_kind="integration", via="integration")
        event(ident, detected + timedelta(seconds=2), "paged", text="Paged the on-call", via="engine")
        for n in range(1 + (severity <= 2) + (rng.random() < 0.3)):
            at = detected + timedelta(seconds=5 + n * 120)
            person = acker if n == 0 else rng.choice(crew)
            channel = rng.choice(("sms", "voice", "email"))
            event(ident, at, "page_sent", text=f"{channel} to {person.name}", via="engine",
                  data={"user_id": person.id, "channel": channel})
            event(ident, at + timedelta(seconds=4), "delivered", text="Delivered", via="engine",
                  data={"user_id": person.id, "channel": channel})
        if rng.random() < 0.55:
            event(ident, detected + timedelta(minutes=10), "escalated", text="Escalated to the next step",
                  via="engine")
        if initial != severity:
            event(ident, detected + timedelta(minutes=6), "severity_changed", acker,
                  text=f"Severity changed from SEV-{initial} to SEV-{severity}: impact clearer",
                  data={"old": initial, "new": severity, "reason": "impact clearer"}, via="web")
        if ack_at:
            event(ident, ack_at, "acknowledged", acker, text=f"Acknowledged by {acker.name}", via="sms")
        limit_minutes = (5, 15, 60, 240)[severity - 1]
        if ack_at is None or (ack_at - detected) > timedelta(minutes=limit_minutes):
            if (resolved_at or now) - detected > timedelta(minutes=limit_minutes):
                event(ident, detected + timedelta(minutes=limit_minutes, seconds=1), "objective_breached",
                      text="Response objective breached", data={"objective": "response", "severity": severity},
                      via="engine")
        for n in range(rng.randrange(1, 3 + (severity <= 2) * 2)):
            event(ident, (ack_at or detected) + timedelta(minutes=3 + 4 * n), "note", acker, text=rng.choice(NOTES),
                  via="web")
        if merged_into is not None and resolved_at is not None:
            event(ident, resolved_at, "merged_into", acker, text=f"Merged into #{merged_into}",
                  data={"target": merged_into}, via="web")
        if reopened:
            event(ident, resolved_at - timedelta(minutes=30), "resolved", resolver, text="Resolved", via="web")
            event(ident, resolved_at - timedelta(minutes=20), "reopened", resolver, text="Reopened: came back",
                  via="web")
        if resolved_at:
            event(ident, resolved_at, "resolved", resolver, text=f"Resolved by {resolver.name}", via="web")
        if merged_into is not None or resolved_at is None:  # merged away, or still open: no review
            if (index + 1) % BATCH == 0:
                flush_progress(BATCH)
            continue

        # The review.
        required = severity <= 2
        if required or (severity == 3 and rng.random() < 0.2):
            if required and rng.random() < 0.03:
                pass  # a required post-mortem nobody started
            else:
                pm_id = next_pm
                next_pm += 1
                due = _business_days(resolved_at.date(), 5)
                roll = rng.random()
                status_pm, published_at = "draft", None
                if roll < 0.80:    # published by the due date
                    published_at = datetime.combine(due - timedelta(days=rng.randrange(0, 4)), resolved_at.timetz())
                elif roll < 0.90:  # published late
                    published_at = datetime.combine(due + timedelta(days=rng.randrange(1, 10)), resolved_at.timetz())
                if published_at is not None:
                    published_at = max(published_at, resolved_at + timedelta(hours=6))
                    status_pm = "published" if published_at <= now else "draft"
                    published_at = published_at if published_at <= now else None
                template = templates["detailed_technical" if required else "lightweight"]
                writer.add(pm_t, {
                    "id": pm_id, "incident_id": ident, "template_id": template.id, "template_name": template.name,
                    "title": f"{service.name} incident #{ident}", "status": status_pm, "required": required,
                    "owner_id": resolver.id, "due_on": due, "problem_statement": "", "customers_affected": "",
                    "cost": "", "tags": "", "meeting_location": "", "public": False, "public_summary": "",
                    "created_at": resolved_at, "updated_at": published_at or resolved_at, "version": 3,
                    "submitted_at": published_at, "published_at": published_at,
                    "published_by_id": resolver.id if published_at else None})
                writer.add(section_t, {"postmortem_id": pm_id, "position": 0, "heading": "Summary", "guidance": "",
                                       "kind": "summary", "body": f"{service.name} was degraded for customers.",
                                       "updated_by": resolver.name})
                writer.add(section_t, {"postmortem_id": pm_id, "position": 1, "heading": "Lessons learned",
                                       "guidance": "", "kind": "lessons", "body": rng.choice(LESSONS),
                                       "updated_by": resolver.name})
                for category in {rng.choice(favourite[service.id]) if rng.random() < 0.5 else rng.choice(categories)
                                 for _ in range(rng.randrange(1, 3))}:
                    writer.add(factor_t, {"postmortem_id": pm_id, "category_id": category,
                                          "description": "Named in the review", "created_at": resolved_at})
                for _ in range(rng.randrange(1, 4)):
                    item_due = resolved_at.date() + timedelta(days=rng.randrange(7, 31))
                    owner = rng.choice(crew)
                    roll = rng.random()
                    done_at, item_status = None, "open"
                    if roll < 0.60:
                        done_at = datetime.combine(item_due - timedelta(days=rng.randrange(0, 6)),
                                                   resolved_at.timetz())
                        item_status = "done"
                    elif roll < 0.75:
                        done_at = datetime.combine(item_due + timedelta(days=rng.randrange(1, 20)),
                                                   resolved_at.timetz())
                        item_status = "done"
                    elif roll < 0.80:
                        item_status = "in_progress"
                    elif roll < 0.85:
                        item_status = "wont_do"
                    if done_at is not None:
                        done_at = max(done_at, resolved_at + timedelta(hours=1))
                        if done_at > now:
                            done_at, item_status = None, "in_progress"
                    writer.add(item_t, {
                        "incident_id": ident, "postmortem_id": pm_id, "title": rng.choice(ITEMS), "description": "",
                        "owner_id": owner.id, "team_id": service.team_id, "due_on": item_due,
                        "priority": rng.choice(("high", "medium", "low")),
                        "kind": rng.choice(("detective", "preventive", "corrective", "mitigating")), "ticket_url": "",
                        "status": item_status, "wont_do_reason": "Superseded" if item_status == "wont_do" else "",
                        "done_at": done_at, "created_at": resolved_at, "updated_at": done_at or resolved_at,
                        "created_by": resolver.name})
                if published_at:
                    for reader in rng.sample(people, min(len(people), rng.randrange(0, 4 + (severity == 1) * 4))):
                        day = published_at + timedelta(days=rng.randrange(0, 30), hours=rng.randrange(0, 8))
                        key = (reader.id, "postmortem", pm_id, day.date())
                        if day <= now and key not in read_keys:
                            read_keys.add(key)
                            writer.add(reads_t, {"user_id": reader.id, "kind": "postmortem", "object_id": pm_id,
                                                 "incident_id": ident, "read_on": day.date(), "read_at": day})
        if rng.random() < 0.08:
            reader = rng.choice(people)
            day = resolved_at + timedelta(days=rng.randrange(1, 60))
            key = (reader.id, "incident", ident, day.date())
            if day <= now and key not in read_keys:
                read_keys.add(key)
                writer.add(reads_t, {"user_id": reader.id, "kind": "incident", "object_id": ident,
                                     "incident_id": ident, "read_on": day.date(), "read_at": day})
        # The culture survey after the serious ones (answers keep no person and no time).
        if severity <= (3 if scale.name != "large" else 2):
            asked = {acker.id: acker, resolver.id: resolver}
            mood = 3.5 + 0.8 * progress_share
            for person in asked.values():
                answered = rng.random() < 0.55
                writer.add(invite_t, {"incident_id": ident, "user_id": person.id, "token_hash": None,
                                      "invited_at": resolved_at + timedelta(minutes=30),
                                      "expires_at": resolved_at + timedelta(days=14), "answered": answered})
                if answered:
                    writer.add(answer_t, {"id": f"{rng.getrandbits(128):032x}", "incident_id": ident,
                                          "blameless": max(1, min(5, round(rng.gauss(mood, 0.8)))),
                                          "safety": max(1, min(5, round(rng.gauss(mood + 0.2, 0.8))))})
        if (index + 1) % BATCH == 0:
            flush_progress(BATCH)
    flush_progress(len(moments) % BATCH)

    drills = _drills(rng, writer, scale, now, next_incident + len(moments), all_services, team_people, responders)
    writer.flush()
    _review_schedule(rng, now)
    if db.session.get_bind().dialect.name == "postgresql":
        for table in ("incidents", "postmortems"):
            db.session.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                       f"(SELECT max(id) FROM {table}))"))
    counts = dict(writer.counts)
    counts["drills"] = drills
    audit.record(Actor.system("demo seed"), MARK, object_type="incidents",
                 summary=f"Demo history ({scale.name}): {counts.get('incidents', 0):,} incidents, "
                         f"{counts.get('incident_events', 0):,} timeline events", after=counts)
    db.session.flush()
    return counts


def _drills(rng: random.Random, writer: _Writer, scale: Scale, now: datetime, first_id: int,
            all_services: list[Service], team_people: dict, responders: list[User]) -> int:
    """A game day a month: an exercise incident, its timeline, 3–5 people assessed."""
    made = 0
    day = now - timedelta(days=scale.days - 10)
    while day < now - timedelta(days=3):
        ident = first_id + made
        service = rng.choice(all_services)
        crew = team_people.get(service.team_id) or responders
        at = day.replace(hour=14, minute=0, second=0, microsecond=0)
        lead = rng.choice(crew)
        writer.add(Incident.__table__, {
            "id": ident, "title": f"Game day: {service.name} fails over", "description": "A planned drill.",
            "service_id": service.id, "severity": 2, "initial_severity": 2, "status": "resolved", "source": "web",
            "is_exercise": True, "created_at": at, "updated_at": at + timedelta(minutes=55), "version": 4,
            "impact_started_at": None, "detected_at": at, "acknowledged_at": at + timedelta(minutes=3),
            "mitigated_at": at + timedelta(minutes=35), "resolved_at": at + timedelta(minutes=55),
            "declared_by_id": lead.id, "acknowledged_by_id": lead.id, "resolved_by_id": lead.id,
            "merged_into_id": None, "escalation_run": 0, "escalation_round": 0, "escalation_step": 0})
        for kind, minutes in (("opened", 0), ("acknowledged", 3), ("note", 20), ("resolved", 55)):
            writer.add(IncidentEvent.__table__, {
                "incident_id": ident, "at": at + timedelta(minutes=minutes), "kind": kind, "actor_kind": "user",
                "actor_user_id": lead.id, "actor_label": lead.name, "via": "web", "text": kind.capitalize(),
                "data": None, "tag": None, "starred": False})
        skill = 62 + 25 * made / max(scale.days / 30, 1)
        for person in rng.sample(crew, min(len(crew), rng.randrange(3, 6))):
            writer.add(DrillAssessment.__table__, {
                "incident_id": ident, "user_id": person.id, "score": max(0, min(100, round(rng.gauss(skill, 9)))),
                "note": "", "assessed_by": lead.name, "assessed_at": at + timedelta(hours=2)})
        made += 1
        day += timedelta(days=30)
    return made


def _review_schedule(rng: random.Random, now: datetime) -> None:
    """Owners and next review dates: some due soon, one overdue."""
    from app.triage.service import seed_levels
    seed_levels()
    owners = db.session.scalars(sa.select(User).where(User.role.in_(("admin",))).order_by(User.id)).all() or \
        db.session.scalars(sa.select(User).order_by(User.id).limit(1)).all()
    if not owners:
        return
    for row in db.session.scalars(sa.select(SeverityLevel)):
        if row.owner_id is None:
            row.owner_id = owners[0].id
            row.next_review_on = now.date() + timedelta(days=rng.randrange(-10, 80))
    for template in db.session.scalars(sa.select(PostmortemTemplate)):
        if db.session.scalar(sa.select(ReviewSchedule.id).where(ReviewSchedule.kind == "postmortem_template",
                                                                ReviewSchedule.ref == template.key)) is None:
            db.session.add(ReviewSchedule(kind="postmortem_template", ref=template.key, owner_id=owners[0].id,
                                          next_review_on=now.date() + timedelta(days=rng.randrange(5, 90)),
                                          last_reviewed_by=""))
    db.session.flush()
