"""What a post-mortem reads from its incident: timeline, milestones, responders,
communications and impact figures. Read-only; shared by the page, print, Markdown.

Timeline kinds are added by other domains over time, so nothing here assumes it
knows them all: an unknown kind gets a readable label and the "other" group.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from app import clock
from app.alerts.models import Alert
from app.auth.models import User
from app.extensions import db
from app.incidents.models import PAGING_KINDS, EventTag, Incident, IncidentEvent  # noqa: F401 (PAGING_KINDS: read as facts.PAGING_KINDS)
from app.notify.models import Notification
from app.notify.models import Status as NotificationStatus
from app.triage import levels

KIND_LABELS = {
    "opened": "Opened", "alert_triggered": "Alert", "alert_acknowledged": "Alert acknowledged",
    "alert_resolved": "Alert resolved", "acknowledged": "Acknowledged", "ack_timed_out": "Acknowledgement timed out",
    "resolved": "Resolved", "reopened": "Reopened", "severity_changed": "Severity changed",
    "title_changed": "Title changed", "milestone_changed": "Milestones corrected", "note": "Note",
    "merged_into": "Merged", "merged_from": "Merged in", "change_event": "Change", "paged": "Paged",
    "unreachable": "Unreachable", "page_sent": "Page sent", "delivered": "Delivered",
    "delivery_failed": "Delivery failed", "held_back": "Held back", "fell_through": "Fell through",
    "status_update": "Status update", "decision": "Decision", "role_assigned": "Role assigned",
}
# Paging machinery: in the timeline, but folded away by default on the page.
COMMANDER_ROLES = frozenset({"commander", "incident_commander", "ic"})
TAGS = [(tag.value, tag.label) for tag in EventTag]


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind) or kind.replace("_", " ").strip().capitalize() or "Event"


def tag_label(tag: str | None) -> str:
    try:
        return EventTag(tag).label if tag else ""
    except ValueError:
        return tag.replace("_", " ").capitalize()


def timeline(incident: Incident) -> list[IncidentEvent]:
    """Every event, oldest first."""
    return db.session.scalars(sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id)
                              .order_by(IncidentEvent.at, IncidentEvent.id)).all()


def starred(incident: Incident) -> list[IncidentEvent]:
    return db.session.scalars(sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id,
                                                             IncidentEvent.starred.is_(True))
                              .order_by(IncidentEvent.at, IncidentEvent.id)).all()


# --- milestones and durations ---------------------------------------------------------

MILESTONES = (("impact_started_at", "Impact started"), ("detected_at", "Detected"),
              ("acknowledged_at", "Acknowledged"), ("mitigated_at", "Mitigated"), ("resolved_at", "Resolved"))


@dataclass
class Figure:
    label: str
    value: str


def _span(start: datetime | None, end: datetime | None) -> timedelta | None:
    if start is None or end is None:
        return None
    return clock.utc(end) - clock.utc(start)


def format_span(span: timedelta | None) -> str:
    if span is None:
        return "—"
    seconds = int(span.total_seconds())
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h {minutes} min"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


def milestones(incident: Incident) -> list[tuple[str, datetime | None]]:
    return [(label, getattr(incident, name)) for name, label in MILESTONES]


def durations(incident: Incident) -> list[Figure]:
    started = incident.impact_started_at or incident.detected_at
    recovered = incident.mitigated_at or incident.resolved_at
    return [
        Figure("Time to detect", format_span(_span(incident.impact_started_at, incident.detected_at))),
        Figure("Time to acknowledge", format_span(_span(incident.detected_at, incident.acknowledged_at))),
        Figure("Time to mitigate", format_span(_span(incident.detected_at, incident.mitigated_at))),
        Figure("Time to resolve", format_span(_span(incident.detected_at, incident.resolved_at))),
        Figure("Customer impact lasted", format_span(_span(started, recovered))),
    ]


# --- responders ---------------------------------------------------------------------------

@dataclass
class Responder:
    user: User
    roles: list[str]
    first_at: datetime | None
    actions: int


def commander_of(incident: Incident) -> User | None:
    """The incident commander, if one is recorded.

    Roles arrive with the response domain; until then this reads a `commander_id`
    on the incident if there is one, else the newest `role_assigned` timeline entry
    whose data names a commander (`{"role": "commander", "user_id": …}`).
    """
    commander_id = getattr(incident, "commander_id", None)
    if commander_id is None:
        rows = db.session.scalars(sa.select(IncidentEvent).where(
            IncidentEvent.incident_id == incident.id, IncidentEvent.kind == "role_assigned")
            .order_by(IncidentEvent.at.desc(), IncidentEvent.id.desc())).all()
        for row in rows:
            data = row.data or {}
            if str(data.get("role", "")).lower() in COMMANDER_ROLES and data.get("user_id"):
                commander_id = data["user_id"]
                break
    return db.session.get(User, commander_id) if commander_id else None


def responders(incident: Incident) -> list[Responder]:
    """Everyone who acted on the incident or was paged for it, commander first, then
    first to act first, with the roles the record shows."""
    first: dict[int, datetime | None] = {}
    actions: dict[int, int] = {}
    paged: set[int] = set()
    for event in timeline(incident):
        if event.actor_user_id:
            first.setdefault(event.actor_user_id, event.at)
            actions[event.actor_user_id] = actions.get(event.actor_user_id, 0) + 1
        if event.kind in ("page_sent", "paged") and (event.data or {}).get("user_id"):
            paged.add(event.data["user_id"])
            first.setdefault(event.data["user_id"], None)
    commander = commander_of(incident)
    if commander is not None:
        first.setdefault(commander.id, None)
    if not first:
        return []
    people = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(first)))}
    result = []
    for user_id, at in first.items():
        if user_id not in people:
            continue
        roles = [label for label, holds in (
            ("Incident commander", commander is not None and commander.id == user_id),
            ("Declared", incident.declared_by_id == user_id),
            ("First to acknowledge", incident.acknowledged_by_id == user_id),
            ("Resolved", incident.resolved_by_id == user_id),
            ("Paged", user_id in paged)) if holds]
        result.append(Responder(user=people[user_id], roles=roles or ["Responder"], first_at=at,
                                actions=actions.get(user_id, 0)))
    result.sort(key=lambda r: ("Incident commander" not in r.roles, r.first_at is None,
                               clock.utc(r.first_at) or clock.now()))
    return result


# --- communications -------------------------------------------------------------------

@dataclass
class Communication:
    at: datetime
    channel: str
    to: str
    subject: str
    body: str
    status: str


def communications(incident: Incident) -> list[Communication]:
    """Status updates sent about the incident: outbox rows with purpose "update", and
    `status_update` timeline entries (posted updates), oldest first."""
    rows = db.session.scalars(sa.select(Notification).where(Notification.incident_id == incident.id,
                                                            Notification.purpose == "update")
                              .order_by(Notification.created_at, Notification.id)).all()
    found = [Communication(at=row.sent_at or row.created_at, channel=row.channel.label,
                           to=row.user.name if row.user else row.to_address, subject=row.subject or "",
                           body=row.body, status=row.status.value) for row in rows]
    for event in db.session.scalars(sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id,
                                                                   IncidentEvent.kind == "status_update")):
        found.append(Communication(at=event.at, channel="Status update", to=(event.data or {}).get("audience", ""),
                                   subject=(event.data or {}).get("stage", ""), body=event.text or "",
                                   status="posted"))
    found.sort(key=lambda c: clock.utc(c.at))
    return found


# --- impact ---------------------------------------------------------------------------

def impact(incident: Incident, *, customers_affected: str = "", cost: str = "") -> list[Figure]:
    """The impact table: severity, service, how long, how loud, plus what people estimated."""
    alerts, occurrences = db.session.execute(
        sa.select(sa.func.count(Alert.id), sa.func.coalesce(sa.func.sum(Alert.occurrences), 0))
        .where(Alert.incident_id == incident.id)).one()
    sent = (NotificationStatus.SENT, NotificationStatus.DELIVERED)
    pages, people_paged = db.session.execute(
        sa.select(sa.func.count(Notification.id), sa.func.count(sa.distinct(Notification.user_id)))
        .where(Notification.incident_id == incident.id, Notification.purpose == "page",
               Notification.status.in_(sent))).one()
    updates = db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.incident_id == incident.id, Notification.purpose == "update"))
    severity = levels.name(incident.severity)
    if incident.initial_severity != incident.severity:
        severity += f" (opened as {levels.name(incident.initial_severity)})"
    started = incident.impact_started_at or incident.detected_at
    recovered = incident.mitigated_at or incident.resolved_at
    return [
        Figure("Severity", severity),
        Figure("Service", incident.service.name),
        Figure("Customer impact lasted", format_span(_span(started, recovered))),
        Figure("Customers affected", customers_affected or "not estimated yet"),
        Figure("Estimated cost", cost or "not estimated yet"),
        Figure("Alerts", f"{alerts} ({occurrences} events)" if alerts else "0"),
        Figure("Pages sent", f"{pages} to {people_paged} {'person' if people_paged == 1 else 'people'}" if pages
               else "none"),
        Figure("Status updates sent", str(updates)),
    ]
