"""Past incidents with their reviews, for the demo organisation.

`seed_past_incident(spec, now=…)` plays one incident through the real service
functions (opened, acknowledged, noted, resolved, reviewed, published, action items
tracked), back-dated from `now`; it skips an incident whose title already exists on
its service, so seeding is idempotent. A year of history (a later issue) can call
it with generated specs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.audit.service import Actor
from app.auth.models import User
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import EventTag, Incident, IncidentEvent
from app.postmortems import actions
from app.postmortems import service as postmortems
from app.postmortems.models import FactorCategory
from app.services.models import Service


@dataclass
class Item:
    title: str
    owner: str          # email
    due_days: int       # after the incident
    priority: str = "medium"
    kind: str = "corrective"
    done_days: int | None = None  # done this many days after the incident; None: still open


@dataclass
class PastIncident:
    service: str
    title: str
    severity: int
    days_ago: int
    minutes: int
    acknowledged_by: str
    resolved_by: str
    notes: list[tuple[int, str, str | None]]   # (minutes in, text, tag)
    sections: dict[str, str] = field(default_factory=dict)  # heading → text
    whys: list[tuple[str, str, list]] = field(default_factory=list)  # (why, because, children), last leaf root cause
    causes: list[tuple[str, str]] = field(default_factory=list)
    factors: list[tuple[str, str]] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    tags: str = ""
    public_summary: str = ""


def _person(email: str) -> User:
    return db.session.scalar(sa.select(User).where(User.email == email))


def _add_whys(actor: Actor, pm, now: datetime, whys, parent=None) -> None:
    for why, because, children in whys:
        node = postmortems.add_why(actor, pm, now, why=why, because=because, parent=parent)
        if children:
            _add_whys(actor, pm, now, children, node)
        elif parent is not None:
            postmortems.update_why(actor, pm, node, now, why=why, because=because, root_cause=True)


def seed_past_incident(spec: PastIncident, *, now: datetime) -> Incident | None:
    service = db.session.scalar(sa.select(Service).where(Service.name == spec.service))
    if service is None or db.session.scalar(sa.select(Incident.id).where(
            Incident.service_id == service.id, Incident.title == spec.title)) is not None:
        return None
    monitoring = Actor.integration("Prometheus")
    acker, resolver = Actor.for_user(_person(spec.acknowledged_by)), Actor.for_user(_person(spec.resolved_by))
    start = (now - timedelta(days=spec.days_ago)).replace(second=0, microsecond=0)
    incident = incidents.open_incident(monitoring, service=service, title=spec.title, severity=spec.severity, now=start,
                                       source="alert", impact_started_at=start - timedelta(minutes=4))
    incidents.acknowledge(acker, incident, start + timedelta(minutes=3))
    tagged = []
    for minute, text, tag in spec.notes:
        event = incidents.add_note(acker, incident, text, start + timedelta(minutes=minute))
        tagged.append((event, tag))
    end = start + timedelta(minutes=spec.minutes)
    incidents.update_milestones(resolver, incident, end, mitigated_at=end - timedelta(minutes=spec.minutes // 4))
    incidents.resolve(resolver, incident, end)
    pm = postmortems.follow_up(incident, end) or postmortems.create_postmortem(resolver, incident, end)
    owner = Actor.for_user(pm.owner) if pm.owner else resolver
    review_at = end + timedelta(days=1)
    for event, tag in tagged:
        if tag:
            postmortems.tag_event(owner, event, review_at, tag=tag, starred=tag == EventTag.KEY_MOMENT.value)
    first = db.session.scalar(sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id,
                                                             IncidentEvent.kind == "opened"))
    postmortems.tag_event(owner, first, review_at, tag=EventTag.DETECTION.value, starred=True)
    for section in pm.sections:
        if section.heading in spec.sections:
            postmortems.update_section(owner, pm, section, spec.sections[section.heading], review_at)
    _add_whys(owner, pm, review_at, spec.whys)
    for category, text in spec.causes:
        postmortems.add_cause(owner, pm, review_at, category=category, text=text)
    categories = {c.name: c.id for c in db.session.scalars(sa.select(FactorCategory))}
    for category, text in spec.factors:
        if category in categories:
            postmortems.add_factor(owner, pm, review_at, category_id=categories[category], description=text)
    if spec.tags:
        postmortems.update_details(owner, pm, review_at, tags=spec.tags)
    for item_spec in spec.items:
        item = actions.create_item(owner, incident, review_at, title=item_spec.title,
                                   due_on=(end + timedelta(days=item_spec.due_days)).date(),
                                   owner_id=_person(item_spec.owner).id, priority=item_spec.priority,
                                   kind=item_spec.kind, postmortem=pm)
        if item_spec.done_days is not None:
            actions.set_status(owner, item, "done", end + timedelta(days=item_spec.done_days))
    reviewers = [_person(email) for email in spec.reviewers if _person(email) and _person(email).id != pm.owner_id]
    if reviewers:
        postmortems.submit_for_review(owner, pm, end + timedelta(days=2), reviewers=reviewers)
        for reviewer in reviewers:
            postmortems.approve(Actor.for_user(reviewer), pm, end + timedelta(days=3))
        postmortems.publish(owner, pm, end + timedelta(days=3, hours=2))
        if spec.public_summary:
            # Written for customers, kept private: this incident was not on the status page.
            postmortems.set_public_summary(owner, pm, end + timedelta(days=3, hours=3), text=spec.public_summary,
                                           public=False)
    db.session.flush()
    return incident


PAST_INCIDENTS = [
    PastIncident(
        service="payments-db", title="Checkout fails: payments database out of connections", severity=1,
        days_ago=60, minutes=52, acknowledged_by="dana@example.com", resolved_by="priya@example.com",
        notes=[(6, "Error rate on checkout at 38%; payments-db refusing new connections", "diagnosis"),
               (14, "Release 2026.1.4 doubled the pool size per worker; rolling it back", "key_moment"),
               (31, "Rollback complete; connections back under the limit", "repair")],
        sections={
            "Overview": "For 52 minutes about a third of card payments failed at checkout: the payments database "
                        "ran out of connections after a release doubled each worker's pool.",
            "What happened": "Release 2026.1.4 changed the default pool size from 10 to 20 per worker. With 90 "
                             "workers the database's 1,000 connection limit was exceeded at the evening peak.",
            "Resolution": "We rolled the release back and restarted the workers in batches.",
            "What went well": "The rollback was quick and rehearsed.",
            "What went poorly": "Nothing alerted on connection saturation; customers told us first.",
            "Where we got lucky": "The peak was shorter than usual that evening.",
            "Lessons learned": "- Watch connection pool saturation: the connection pool ran out long before CPU "
                               "or memory did.\n- Every pool size is a capacity decision; review it like one.",
        },
        whys=[("Why did card payments fail?", "The payments database refused new connections", [
            ("Why did it refuse connections?", "Workers asked for more connections than its limit", [
                ("Why did they ask for more?", "A release doubled the pool size per worker", [])]),
            ("Why did nobody notice before customers?", "No alert on connection saturation", [])])],
        causes=[("Technology", "Connection limit 1,000 for 90 workers"), ("Process", "No load test of the release"),
                ("People", "Pool sizing knowledge held by one person"), ("Environment", "Evening peak traffic")],
        factors=[("Change or deployment", "Release 2026.1.4 changed the pool size"),
                 ("Monitoring gap", "No alert on connection saturation"),
                 ("Capacity", "Connection limit sized for the old pool")],
        items=[Item("Alert on payments-db connection saturation above 80%", "dana@example.com", 7, "high",
                    "detective", done_days=5),
               Item("Load test releases that change pool settings", "lee@example.com", 21, "high", "preventive",
                    done_days=30),
               Item("Put a PgBouncer in front of payments-db", "marco@example.com", 45, "medium", "mitigating")],
        reviewers=["lee@example.com", "admin@example.com"], tags="database, capacity, deploy",
        public_summary="On this day some card payments failed for about 50 minutes. A configuration change "
                       "exhausted our payment database's connections; we reverted it and added monitoring."),
    PastIncident(
        service="api-gateway", title="API returns 502 after TLS certificate expired", severity=2,
        days_ago=30, minutes=38, acknowledged_by="sam@example.com", resolved_by="sam@example.com",
        notes=[(5, "Every public API call fails the TLS handshake: the edge certificate expired at 00:00 UTC",
                "diagnosis"),
               (22, "New certificate issued and deployed to the edge", "repair")],
        sections={
            "Overview": "The public API failed for 38 minutes because the edge TLS certificate expired.",
            "Lessons learned": "Certificates need an expiry alert thirty days ahead, and renewal must not depend "
                               "on one person's calendar.",
        },
        whys=[("Why did API calls fail?", "The edge certificate had expired", [
            ("Why had it expired?", "Automatic renewal failed silently three weeks earlier", [])])],
        causes=[("Process", "Renewal failure went to an unread mailbox"), ("Technology", "No expiry monitoring")],
        factors=[("Monitoring gap", "No alert on certificate expiry"),
                 ("Process or runbook", "Renewal alerts went to an unread mailbox")],
        items=[Item("Alert 30 days before any certificate expires", "ines@example.com", 10, "high", "detective",
                    done_days=8),
               Item("Route renewal failures to the Platform on-call", "kwame@example.com", 14, "medium",
                    "preventive")],
        reviewers=["ines@example.com"], tags="tls, certificates"),
    PastIncident(
        service="notifications-worker", title="Order emails delayed by two hours", severity=3,
        days_ago=12, minutes=130, acknowledged_by="yuki@example.com", resolved_by="noor@example.com",
        notes=[(20, "Queue depth 180k and growing; the email provider rate-limits us", "diagnosis"),
               (70, "Raised the provider quota; the backlog is draining", "repair")],
        sections={"Summary": "Order confirmation emails arrived up to two hours late.",
                  "Cause": "A marketing campaign shared the transactional email quota."},
        items=[Item("Separate transactional and marketing email quotas", "elena@example.com", 5, "high",
                    "preventive")],
        reviewers=["elena@example.com"], tags="email, queue"),
]


def seed_past_incidents(*, now: datetime) -> int:
    """The demo's past incidents; returns how many were added."""
    postmortems.ensure_defaults()
    return sum(1 for spec in PAST_INCIDENTS if seed_past_incident(spec, now=now) is not None)
