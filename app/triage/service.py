"""The severity model, each service's impact matrix, and opening an incident from triage."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa

from app.audit import service as audit
from app.audit.service import Actor
from app.auth.models import Role
from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import EventKind, Incident
from app.incidents.timeline import record_event
from app.services.models import Service
from app.triage import levels
from app.triage.decide import EFFECT_WORDS, REACH_WORDS, Answers, Recommendation
from app.triage.models import ImpactRule, SeverityLevel

LEVEL_FIELDS = ("label", "definition", "impact_criteria", "examples", "response_minutes", "resolution_minutes",
                "update_cadence_minutes", "postmortem", "urgency", "owner_id", "next_review_on")
POSTMORTEM = ("required", "lightweight", "optional")
MATRIX_EFFECTS = ("unavailable", "degraded", "bug")


def level_row(level: int) -> SeverityLevel:
    """The editable row for a level, made from the defaults the first time."""
    if level not in (1, 2, 3, 4):
        raise NotFound("There are four severities.")
    row = db.session.get(SeverityLevel, level)
    if row is None:
        default = levels.DEFAULTS[level]
        row = SeverityLevel(level=level, label=default.label, definition=default.definition,
                            impact_criteria=default.impact_criteria, examples=default.examples,
                            response_minutes=default.response_minutes, resolution_minutes=default.resolution_minutes,
                            update_cadence_minutes=default.update_cadence_minutes, postmortem=default.postmortem,
                            urgency=default.urgency)
        db.session.add(row)
    return row


def seed_levels() -> None:
    for level in (1, 2, 3, 4):
        level_row(level)
    db.session.flush()


def update_level(actor: Actor, level: int, now: datetime, **fields) -> SeverityLevel:
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may change the severity model.")
    unknown = set(fields) - set(LEVEL_FIELDS)
    if unknown:
        raise DomainError(f"Unknown field {sorted(unknown)[0]}.")
    row = level_row(level)
    before = {name: getattr(row, name) for name in fields}
    label = (fields.get("label", row.label) or "").strip()
    if not label:
        raise DomainError("Give the severity a name.", "label")
    for name in ("response_minutes", "resolution_minutes"):
        value = fields.get(name, getattr(row, name))
        if not isinstance(value, int) or not 1 <= value <= 60 * 24 * 30:
            raise DomainError("Between 1 minute and 30 days.", name)
    if fields.get("resolution_minutes", row.resolution_minutes) < fields.get("response_minutes", row.response_minutes):
        raise DomainError("Resolution cannot be due before the response.", "resolution_minutes")
    cadence = fields.get("update_cadence_minutes", row.update_cadence_minutes)
    if cadence is not None and not 5 <= cadence <= 60 * 24:
        raise DomainError("Updates every 5 minutes to 24 hours, or never.", "update_cadence_minutes")
    if fields.get("postmortem", row.postmortem) not in POSTMORTEM:
        raise DomainError("Post-mortems are required, lightweight or optional.", "postmortem")
    if fields.get("urgency", row.urgency) not in ("high", "low"):
        raise DomainError("Urgency is high or low.", "urgency")
    fields["label"] = label
    for name, value in fields.items():
        setattr(row, name, value)
    row.updated_at = now
    levels.forget()
    before, after = audit.changed(audit.jsonable(before), audit.jsonable({name: getattr(row, name) for name in fields}))
    if after:
        audit.record(actor, "severity.update", object_type="severity_levels", object_id=level,
                     summary=f"Changed SEV-{level}: {', '.join(after)}", before=before, after=after)
    return row


def record_review(actor: Actor, level: int, next_review_on: date, now: datetime) -> None:
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may record a review.")
    row = level_row(level)
    previous = row.next_review_on
    row.next_review_on = next_review_on
    row.updated_at = now
    audit.record(actor, "severity.review", object_type="severity_levels", object_id=level,
                 summary=f"Reviewed SEV-{level}; next review {next_review_on:%Y-%m-%d}",
                 before={"next_review_on": previous.isoformat() if previous else None},
                 after={"next_review_on": next_review_on.isoformat()})


# --- the impact matrix --------------------------------------------------------------

def matrix(services: list[Service] | None = None) -> dict[tuple[str, str], int]:
    """(service name, effect) → severity, for the decision."""
    stmt = sa.select(Service.name, ImpactRule.effect, ImpactRule.severity).join(Service, Service.id == ImpactRule.service_id)
    if services is not None:
        stmt = stmt.where(ImpactRule.service_id.in_([s.id for s in services]))
    return {(name, effect): severity for name, effect, severity in db.session.execute(stmt)}


def matrix_severity(service_id: int, effect: str) -> int | None:
    """The service's matrix cell for this effect, if it has one."""
    return db.session.scalar(sa.select(ImpactRule.severity).where(ImpactRule.service_id == service_id,
                                                                  ImpactRule.effect == effect))


def service_matrix(service: Service) -> dict[str, int]:
    return {rule.effect: rule.severity for rule in db.session.scalars(
        sa.select(ImpactRule).where(ImpactRule.service_id == service.id))}


def set_matrix(actor: Actor, service: Service, cells: dict[str, int | None]) -> None:
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may change a severity matrix.")
    before = service_matrix(service)
    for effect, severity in cells.items():
        if effect not in MATRIX_EFFECTS:
            raise DomainError(f"Unknown impact {effect!r}.", "matrix")
        if severity is not None and severity not in (1, 2, 3, 4):
            raise DomainError("Severity 1 to 4, or none.", "matrix")
    db.session.execute(sa.delete(ImpactRule).where(ImpactRule.service_id == service.id))
    for effect, severity in cells.items():
        if severity is not None:
            db.session.add(ImpactRule(service_id=service.id, effect=effect, severity=severity))
    after = {e: s for e, s in cells.items() if s is not None}
    if after != before:
        audit.record(actor, "service.matrix", service, summary=f"Set the severity matrix of {service.name}",
                     before=before, after=after)


# --- opening from triage --------------------------------------------------------------

def summary(answers: Answers) -> str:
    affected = answers.affected()
    lines = [f"- {name}: {EFFECT_WORDS[effect]}" for name, effect in sorted(affected.items())] or ["- no service marked"]
    lines.append(f"- reach: {REACH_WORDS[answers.reach]}")
    for key, words in (("data_loss", "data lost or corrupted"), ("security", "security involved"),
                       ("exposure", "revenue or regulatory exposure"), ("workaround", "a workaround exists")):
        lines.append(f"- {words}: {'yes' if getattr(answers, key) else 'no'}")
    return "\n".join(lines)


def open_from_triage(actor: Actor, *, answers: Answers, recommendation: Recommendation, severity: int,
                     reason: str, title: str, description: str, service: Service, now: datetime) -> Incident:
    """Open the incident the wizard recommends (or the one the person chose instead, with why)."""
    reason = (reason or "").strip()
    if severity != recommendation.severity and not reason:
        raise DomainError(f"Say why SEV-{severity} and not the recommended SEV-{recommendation.severity}.", "reason")
    body = (description or "").strip()
    triage = f"**Triage**\n\n{summary(answers)}\n\nRecommended: {recommendation.because}."
    if severity != recommendation.severity:
        triage += f" Chosen: SEV-{severity}, because {reason}."
    incident = incidents.open_incident(actor, service=service, title=title, severity=severity, now=now,
                                       description=f"{body}\n\n{triage}" if body else triage, source="triage",
                                       via="web")
    record_event(incident, EventKind.TRIAGED, actor, via="web", at=now,
                 text=f"Triage recommended {recommendation.because}"
                      + (f"; classified SEV-{severity} instead: {reason}" if severity != recommendation.severity else ""),
                 data={"recommended": recommendation.severity, "chosen": severity, "reasons": list(recommendation.reasons),
                       "override_reason": reason or None, "answers": {
                           "services": answers.services, "reach": answers.reach, "data_loss": answers.data_loss,
                           "security": answers.security, "exposure": answers.exposure,
                           "workaround": answers.workaround}})
    return incident
