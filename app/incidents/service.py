"""The incident lifecycle: triggered → acknowledged → resolved, reopen, merge,
severity, notes and milestones. Plain functions: explicit actor and time, the
caller commits. Each writes its timeline event and its audit entry.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from app import metrics
from app.alerts.models import Alert, AlertStatus
from app.audit import service as audit
from app.audit.models import AuditEntry
from app.audit.service import Actor
from app.auth.models import Role
from app.comms import cadence
from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db
from app.incidents import roles
from app.incidents.models import OPEN_STATUSES, EventKind, Incident, IncidentEvent, Status
from app.escalation import service as escalation
from app.incidents.timeline import record_event
from app.insights import surveys
from app.notify import paging
from app.services.models import Service
from app.triage import levels

MAX_TITLE = 1024
MAX_NOTE = 20_000
MILESTONES = ("impact_started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at")
MILESTONE_LABELS = {
    "impact_started_at": "Impact started", "detected_at": "Detected", "acknowledged_at": "Acknowledged",
    "mitigated_at": "Mitigated", "resolved_at": "Resolved",
}


def _may_act(actor: Actor) -> None:
    if not actor.can(Role.RESPONDER):
        raise Forbidden("Only responders act on incidents.")


def get_incident(incident_id: int) -> Incident:
    incident = db.session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"There is no incident #{incident_id}.")
    return incident


def _audit(actor: Actor, action: str, incident: Incident, summary: str, before=None, after=None) -> None:
    if incident.id is None:
        db.session.flush()
    db.session.add(AuditEntry(**audit_values(actor, action, incident.id, summary, before, after)))


def clean_title(title: str | None) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise DomainError("Give the incident a title.", "title")
    if len(title) > MAX_TITLE:
        raise DomainError(f"Keep the title under {MAX_TITLE} characters.", "title")
    return title


def clean_severity(value) -> int:
    severity = levels.parse(value)
    if severity is None:
        raise DomainError("Severity must be SEV-1, SEV-2, SEV-3 or SEV-4.", "severity")
    return severity


def open_incident(actor: Actor, *, service: Service, title: str, severity, now: datetime,
                  description: str = "", source: str = "web", via: str | None = None,
                  impact_started_at: datetime | None = None, is_exercise: bool = False,
                  escalate_now: bool = True) -> Incident:
    """Open an incident and start paging. With `escalate_now=False` (monitoring's
    path, where speed matters), escalation is left due at once for the engine's next
    cycle, which starts it: the event is answered without waiting for the paging."""
    values = new_incident(actor, service=service, title=title, severity=severity, now=now, description=description,
                          source=source, impact_started_at=impact_started_at, is_exercise=is_exercise,
                          respond_later=not escalate_now)
    incident = Incident(service=service, **values)
    db.session.add(incident)
    db.session.flush()
    record_event(incident, EventKind.OPENED, actor, via=via or source, at=now, **opened_event(values, service.name))
    _audit(actor, "open", incident, **opened_audit(values, service.name))
    metrics.incident_opened(values["severity"], source)
    if escalate_now:
        begin_response(incident, now, actor)
    return incident


def new_incident(actor: Actor, *, service: Service, title: str, severity, now: datetime, description: str = "",
                 source: str = "web", impact_started_at: datetime | None = None, is_exercise: bool = False,
                 respond_later: bool = False) -> dict:
    """A new incident's columns, checked: `open_incident`'s, and ingestion's when it
    writes with Core. `respond_later`: escalation is due at once with no state yet, so
    the engine's next cycle begins the response (`begin_response`)."""
    _may_act(actor)
    severity = clean_severity(severity)
    level = levels.level(severity)
    return {
        "title": clean_title(title), "description": description or "", "service_id": service.id,
        "severity": severity, "initial_severity": severity, "status": Status.TRIGGERED, "source": source,
        "is_exercise": is_exercise, "created_at": now, "updated_at": now, "version": 0,
        "impact_started_at": min(impact_started_at, now) if impact_started_at is not None else None,
        "detected_at": now, "declared_by_id": actor.user.id if actor.user and source != "alert" else None,
        "auto_resolve_at": now + timedelta(minutes=service.auto_resolve_minutes) if service.auto_resolve_minutes else None,
        # Nothing met and no breach on record: both objectives are watched from the start.
        "response_breach_at": now + timedelta(minutes=level.response_minutes),
        "resolution_breach_at": now + timedelta(minutes=level.resolution_minutes),
        "next_escalation_at": now if respond_later else None,
    }


def opened_event(values: dict, service_name: str) -> dict:
    """The text and data of a new incident's first timeline entry."""
    return {"text": f"{levels.name(values['severity'])} incident opened on {service_name}",
            "data": {"severity": values["severity"], "source": values["source"]}}


def opened_audit(values: dict, service_name: str) -> dict:
    """The summary (after its `#id `) and the after-picture of a new incident's audit entry."""
    return {"summary": f"opened ({levels.name(values['severity'])}) on {service_name}: {values['title']}",
            "after": {"severity": values["severity"], "service_id": values["service_id"], "title": values["title"]}}


def begin_response(incident: Incident, now: datetime, actor: Actor | None = None) -> None:
    """What a new incident sets going: its paging (policy and severity triggers), the
    proposed commander and technical lead, and the first stakeholder update owed."""
    escalation.begin(incident, now, actor or Actor.system())
    # The response: a commander (SEV-1/SEV-2) and technical lead proposed, the first update owed.
    roles.propose(incident, now)
    cadence.plan(incident, now)


def acknowledge(actor: Actor, incident: Incident, now: datetime, *, via: str = "web") -> bool:
    """Acknowledge; False (and nothing written) when it is not triggered."""
    _may_act(actor)
    if incident.status != Status.TRIGGERED:
        return False
    incident.status = Status.ACKNOWLEDGED
    if incident.acknowledged_at is None:  # the first acknowledgement is the milestone
        incident.acknowledged_at = now
        incident.acknowledged_by_id = actor.user.id if actor.user else None
    minutes = incident.service.ack_timeout_minutes
    incident.ack_timeout_at = now + timedelta(minutes=minutes) if minutes else None
    cancelled = paging.cancel_pages(incident)
    escalation.stop(incident)
    incident.response_breach_at = None
    record_event(incident, EventKind.ACKNOWLEDGED, actor, via=via, at=now,
                 text=f"Acknowledged by {actor.label}" + (f"; {cancelled} pending pages stopped" if cancelled else ""))
    _audit(actor, "acknowledge", incident, f"acknowledged via {via}",
           before={"status": "triggered"}, after={"status": "acknowledged"})
    return True


def resolve(actor: Actor, incident: Incident, now: datetime, *, via: str = "web", note: str | None = None) -> bool:
    """Resolve from any open state; False (nothing written) when already resolved."""
    _may_act(actor)
    if incident.status == Status.RESOLVED:
        return False
    before = incident.status.value
    # The incident's row first, then its pages: the order acknowledging, ingestion and
    # the outbox lock them in on PostgreSQL, so none of them deadlocks with this.
    _update(incident, resolved_values(now, actor.user.id if actor.user else None))
    paging.cancel_pages(incident)
    # As PagerDuty does: resolving the incident resolves its alerts, so a problem
    # that fires again opens a new alert and a new incident.
    db.session.execute(resolve_alerts_of([incident.id], now))
    record_event(incident, EventKind.RESOLVED, actor, via=via, at=now, text=resolved_text(actor, note))
    _audit(actor, "resolve", incident, **resolved_audit(via, before))
    cadence.on_resolved(incident, now)
    # Its responders are asked the anonymous culture survey (the engine sends it).
    surveys.on_incident_resolved(incident, now)
    return True


def resolved_values(now, resolved_by_id) -> dict:
    """What resolving writes on an incident's row, as SQL that holds for any number of
    rows (`now` and `resolved_by_id` values or bind parameters): `resolve` writes it on
    its incident with one UPDATE, ingestion's hot path on every incident a batch
    resolves with one. Nothing more is due: no acknowledgement to time out, no
    auto-resolve, no escalation (`escalation.stopped_values`), no objective to breach;
    mitigated by now at the latest. The follow-up is due at once: the engine then
    drafts the post-mortem a SEV-1/SEV-2 needs and re-indexes the incident for search,
    in its own transaction, so resolving stays quick, and the due time commits with the
    resolution, so neither is lost. The timeline's count (`version`) and `updated_at`
    are the timeline entries' (`record_event`)."""
    return {"status": Status.RESOLVED, "resolved_at": now, "resolved_by_id": resolved_by_id,
            "ack_timeout_at": None, "auto_resolve_at": None,
            "mitigated_at": sa.func.coalesce(Incident.mitigated_at, sa.type_coerce(now, Incident.mitigated_at.type)),
            "response_breach_at": None, "resolution_breach_at": None, "followup_at": now,
            **escalation.stopped_values()}


def _update(incident: Incident, values: dict) -> None:
    """Write these columns (`resolved_values`) on the incident's row with one UPDATE, as
    a batch writes them on many; the object then holds what was written: the plain
    values as if loaded, the SQL ones loaded again when next read. (The session's own
    synchronisation leaves alone an attribute it never loaded, such as one a new
    incident was inserted without: it would read None.) What was set on those
    attributes and not yet written goes first: the UPDATE's SQL reads the stored row,
    and a pending value would overwrite it at the next flush."""
    attrs = sa.inspect(incident).attrs
    if any(attrs[key].history.has_changes() for key in values):
        db.session.flush()
    db.session.execute(sa.update(Incident).where(Incident.id == incident.id).values(values),
                       execution_options={"synchronize_session": False})
    computed = [key for key, value in values.items() if isinstance(value, sa.ClauseElement)]
    for key in values.keys() - set(computed):
        set_committed_value(incident, key, values[key])
    db.session.expire(incident, computed)


def resolve_alerts_of(incident_ids, now) -> sa.Update:
    """The UPDATE that resolves every open alert of these incidents (a list of ids, or
    an expanding bind parameter; `now` a time or a bind parameter): `resolve`'s, and
    ingestion's hot path's for every incident a batch resolves."""
    return (sa.update(Alert).where(Alert.incident_id.in_(incident_ids), Alert.status != AlertStatus.RESOLVED)
            .values(status=AlertStatus.RESOLVED, resolved_at=now))


def audit_values(actor: Actor, action: str, incident_id: int, summary: str, before=None, after=None) -> dict:
    """An incident's audit entry as columns (`audit.entry_values`): `incident.<action>`,
    summarised `#<id> <summary>`. `_audit` writes it; ingestion's hot path inserts it."""
    return audit.entry_values(actor, f"incident.{action}", object_type=Incident.__tablename__, object_id=incident_id,
                              summary=f"#{incident_id} {summary}", before=before, after=after)


def resolved_text(actor: Actor, note: str | None) -> str:
    """The text of a resolution's timeline entry (`resolve`'s, and ingestion's in Core)."""
    return f"Resolved by {actor.label}" + (f": {note}" if note else "")


def resolved_audit(via: str, before: str) -> dict:
    """The summary (after its `#id `) and before/after of a resolution's audit entry."""
    return {"summary": f"resolved via {via}", "before": {"status": before}, "after": {"status": "resolved"}}


def reopen(actor: Actor, incident: Incident, now: datetime, *, reason: str = "", via: str = "web") -> bool:
    _may_act(actor)
    if incident.status != Status.RESOLVED:
        return False
    if incident.merged_into_id:
        raise Conflict(f"#{incident.id} was merged into #{incident.merged_into_id}; reopen that one.")
    incident.status = Status.TRIGGERED
    incident.resolved_at = None
    incident.resolved_by_id = None
    if incident.service.auto_resolve_minutes:
        incident.auto_resolve_at = now + timedelta(minutes=incident.service.auto_resolve_minutes)
    record_event(incident, EventKind.REOPENED, actor, via=via, at=now,
                 text=f"Reopened by {actor.label}" + (f": {reason}" if reason else ""))
    _audit(actor, "reopen", incident, "reopened", before={"status": "resolved"}, after={"status": "triggered"})
    watch_objectives(incident)
    escalation.start(incident, now, actor)
    cadence.plan(incident, now, since=now)
    return True


def change_severity(actor: Actor, incident: Incident, severity, now: datetime, *, reason: str = "",
                    via: str = "web") -> bool:
    _may_act(actor)
    new = clean_severity(severity)
    reason = (reason or "").strip()
    if new == incident.severity:
        return False
    if not reason:
        raise DomainError("Say why the severity changes: it is kept for the review.", "reason")
    old = incident.severity
    incident.severity = new
    direction = "raised" if new < old else "lowered"
    record_event(incident, EventKind.SEVERITY_CHANGED, actor, via=via, at=now,
                 text=f"Severity {direction} from {levels.name(old)} to {levels.name(new)}: {reason}",
                 data={"old": old, "new": new, "reason": reason})
    _audit(actor, "severity", incident, f"severity {levels.name(old)} → {levels.name(new)}: {reason}",
           before={"severity": old}, after={"severity": new})
    watch_objectives(incident)
    if new < old and incident.status != Status.RESOLVED:  # raised: the new severity's triggers page at once
        escalation.apply_triggers(incident, new, now, actor)
        roles.propose(incident, now)
    cadence.plan(incident, now)
    return True


def add_note(actor: Actor, incident: Incident, text: str, now: datetime, *, via: str = "web",
             decision: bool = False) -> IncidentEvent:
    """A note on the timeline; `decision` flags it as a decision (the war room lists those)."""
    _may_act(actor)
    text = (text or "").strip()
    if not text:
        raise DomainError("The note is empty.", "text")
    if len(text) > MAX_NOTE:
        raise DomainError(f"Keep a note under {MAX_NOTE:,} characters.", "text")
    event = record_event(incident, EventKind.DECISION if decision else EventKind.NOTE, actor, via=via, at=now,
                         text=text)
    _audit(actor, "note", incident, "decision recorded" if decision else "note added", after={"length": len(text)})
    return event


def rename(actor: Actor, incident: Incident, title: str, now: datetime, *, via: str = "web") -> bool:
    _may_act(actor)
    title = clean_title(title)
    if title == incident.title:
        return False
    old = incident.title
    incident.title = title
    record_event(incident, EventKind.TITLE_CHANGED, actor, via=via, at=now, text=f"Title changed to “{title}”",
                 data={"old": old, "new": title})
    _audit(actor, "rename", incident, "title changed", before={"title": old}, after={"title": title})
    return True


def merge(actor: Actor, source: Incident, target: Incident, now: datetime, *, via: str = "web") -> None:
    """Fold `source` into `target`: its alerts and timeline move, it resolves, a link remains."""
    _may_act(actor)
    if source.id == target.id:
        raise DomainError("An incident cannot be merged into itself.", "target")
    if target.merged_into_id:
        raise DomainError(f"#{target.id} was itself merged into #{target.merged_into_id}.", "target")
    if source.merged_into_id:
        raise Conflict(f"#{source.id} is already merged into #{source.merged_into_id}.")
    moved_alerts = db.session.execute(
        sa.update(Alert).where(Alert.incident_id == source.id).values(incident_id=target.id)).rowcount
    moved_events = db.session.execute(
        sa.update(IncidentEvent).where(IncidentEvent.incident_id == source.id).values(incident_id=target.id)).rowcount
    if source.status != Status.RESOLVED:
        source.status = Status.RESOLVED
        source.resolved_at = now
        source.resolved_by_id = actor.user.id if actor.user else None
    source.ack_timeout_at = source.auto_resolve_at = None
    source.response_breach_at = source.resolution_breach_at = None
    paging.cancel_pages(source)
    escalation.stop(source)
    cadence.on_resolved(source, now)
    source.merged_into_id = target.id
    # The earliest impact of the two is the merged incident's.
    if source.impact_started_at and (target.impact_started_at is None or source.impact_started_at < target.impact_started_at):
        target.impact_started_at = source.impact_started_at
    record_event(source, EventKind.MERGED_INTO, actor, via=via, at=now, text=f"Merged into #{target.id}",
                 data={"target": target.id})
    record_event(target, EventKind.MERGED_FROM, actor, via=via, at=now,
                 text=f"#{source.id} “{source.title}” merged in ({moved_alerts} alerts, {moved_events} timeline entries)",
                 data={"source": source.id, "alerts": moved_alerts, "events": moved_events})
    _audit(actor, "merge", source, f"merged into #{target.id}", after={"merged_into": target.id})


def update_milestones(actor: Actor, incident: Incident, now: datetime, *, via: str = "web",
                      **values: datetime | None) -> dict:
    """Correct milestone times after the fact. Returns what changed.

    Rules: nothing in the future; impact started is the earliest; acknowledged,
    mitigated and resolved are not before detection; mitigated not after resolved;
    resolved only on a resolved incident; detected cannot be cleared.
    """
    _may_act(actor)
    unknown = set(values) - set(MILESTONES)
    if unknown:
        raise DomainError(f"Unknown milestone {sorted(unknown)[0]}.")
    proposed = {name: getattr(incident, name) for name in MILESTONES}
    proposed.update(values)
    for name, value in proposed.items():
        if value is not None and value > now:
            raise DomainError(f"{MILESTONE_LABELS[name]} cannot be in the future.", name)
    if proposed["detected_at"] is None:
        raise DomainError("Detected cannot be empty.", "detected_at")
    started = proposed["impact_started_at"]
    if started is not None:
        for name in MILESTONES[1:]:
            if proposed[name] is not None and proposed[name] < started:
                raise DomainError(f"{MILESTONE_LABELS[name]} cannot be before impact started.", name)
    for name in ("acknowledged_at", "mitigated_at", "resolved_at"):
        if proposed[name] is not None and proposed[name] < proposed["detected_at"]:
            raise DomainError(f"{MILESTONE_LABELS[name]} cannot be before detection.", name)
    if proposed["mitigated_at"] and proposed["resolved_at"] and proposed["mitigated_at"] > proposed["resolved_at"]:
        raise DomainError("Mitigated cannot be after resolved.", "mitigated_at")
    if incident.status != Status.RESOLVED and proposed["resolved_at"] is not None:
        raise DomainError("Resolve the incident to set when it was resolved.", "resolved_at")
    if incident.status == Status.RESOLVED and proposed["resolved_at"] is None:
        raise DomainError("A resolved incident needs its resolved time.", "resolved_at")
    changed = {name: (getattr(incident, name), proposed[name]) for name in MILESTONES
               if getattr(incident, name) != proposed[name]}
    if not changed:
        return {}
    for name, (_, new) in changed.items():
        setattr(incident, name, new)
    before = {name: old.isoformat() if old else None for name, (old, _) in changed.items()}
    after = {name: new.isoformat() if new else None for name, (_, new) in changed.items()}
    described = ", ".join(MILESTONE_LABELS[name].lower() for name in changed)
    record_event(incident, EventKind.MILESTONE_CHANGED, actor, via=via, at=now,
                 text=f"Corrected {described}", data={"before": before, "after": after})
    _audit(actor, "milestones", incident, f"corrected {described}", before=before, after=after)
    return changed


# --- objectives -------------------------------------------------------------------

def _breach_recorded(incident: Incident, which: str) -> bool:
    if incident.id is None:
        return False
    return db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent).where(
        IncidentEvent.incident_id == incident.id, IncidentEvent.kind == EventKind.OBJECTIVE_BREACHED,
        IncidentEvent.data["objective"].as_string() == which)) > 0


def watch_objectives(incident: Incident) -> None:
    """Set when the engine must record a breach: the objectives not yet met nor recorded."""
    waiting_response = incident.status == Status.TRIGGERED and incident.acknowledged_at is None
    incident.response_breach_at = (incident.response_due_at if waiting_response
                                   and not _breach_recorded(incident, "response") else None)
    incident.resolution_breach_at = (incident.resolution_due_at if incident.status != Status.RESOLVED
                                     and not _breach_recorded(incident, "resolution") else None)


def record_breach(incident: Incident, which: str, now: datetime) -> bool:
    """The engine found an objective passed: say so once, and page who the severity says."""
    column = f"{which}_breach_at"
    due = getattr(incident, column)
    if due is None or due >= now:  # at the due instant itself the objective still holds
        return False
    setattr(incident, column, None)
    if which == "response" and (incident.acknowledged_at is not None or incident.status != Status.TRIGGERED):
        return False
    if which == "resolution" and incident.status == Status.RESOLVED:
        return False
    level = incident.level
    minutes = level.response_minutes if which == "response" else level.resolution_minutes
    actor = Actor.system()
    record_event(incident, EventKind.OBJECTIVE_BREACHED, actor, via="engine", at=now,
                 text=f"{which.capitalize()} objective breached: not {'acknowledged' if which == 'response' else 'resolved'} "
                      f"within {minutes} minutes ({level.name})",
                 data={"objective": which, "severity": incident.severity, "due": due.isoformat()})
    if which == "response":
        escalation.apply_triggers(incident, incident.severity, now, actor, on="breach")
    return True


# --- what the engine does -----------------------------------------------------------

def expire_acknowledgement(incident: Incident, now: datetime) -> bool:
    """An acknowledged incident nobody resolved in time returns to triggered."""
    if incident.status != Status.ACKNOWLEDGED or incident.ack_timeout_at is None or incident.ack_timeout_at > now:
        return False
    incident.status = Status.TRIGGERED
    incident.ack_timeout_at = None
    actor = Actor.system()
    record_event(incident, EventKind.ACK_TIMED_OUT, actor, via="engine", at=now,
                 text="Acknowledgement timed out: back to triggered")
    _audit(actor, "ack_timeout", incident, "acknowledgement timed out",
           before={"status": "acknowledged"}, after={"status": "triggered"})
    escalation.repage(incident, now)
    return True


def auto_resolve(incident: Incident, now: datetime) -> bool:
    if incident.status == Status.RESOLVED or incident.auto_resolve_at is None or incident.auto_resolve_at > now:
        return False
    minutes = incident.service.auto_resolve_minutes
    return resolve(Actor.system(), incident, now, via="engine",
                   note=f"auto-resolved after {minutes} minutes" if minutes else "auto-resolved")


def open_incident_for_service(service_id: int) -> Incident | None:
    """The service's newest open incident (for grouped alerts)."""
    return db.session.scalar(
        sa.select(Incident).where(Incident.service_id == service_id, Incident.status.in_(OPEN_STATUSES),
                                  Incident.merged_into_id.is_(None))
        .order_by(Incident.created_at.desc()).limit(1))
