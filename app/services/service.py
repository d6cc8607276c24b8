"""Services and their integration keys: the rules, without HTTP."""
from __future__ import annotations

import sqlalchemy as sa

from app import clock
from app.audit import service as audit
from app.audit.service import Actor
from app.auth import permissions
from app.auth.models import Team
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.services.models import DEFAULT_SEVERITY_MAPPING, EVENT_SEVERITIES, IntegrationKey, Service

SERVICE_FIELDS = ["name", "description", "team_id", "severity_mapping", "active", "alert_grouping",
                  "resolve_with_alerts", "ack_timeout_minutes", "auto_resolve_minutes"]
GROUPINGS = ("per_alert", "grouped")
MAX_MINUTES = 7 * 24 * 60


def get_service(service_id: int) -> Service:
    service = db.session.get(Service, service_id)
    if service is None:
        raise NotFound("No such service.")
    return service


def service_for_key(key: str) -> tuple[Service, IntegrationKey] | None:
    """The active service an integration key routes to, or None."""
    if not key or len(key) != 32:
        return None
    row = db.session.scalar(sa.select(IntegrationKey).where(IntegrationKey.key == key))
    if row is None or row.revoked_at is not None or not row.service.active:
        return None
    return row.service, row


def clean_severity_mapping(mapping: dict | None) -> dict[str, int | None]:
    """Validate a {event severity: 1..4 or None} mapping, filling in the defaults."""
    result = dict(DEFAULT_SEVERITY_MAPPING)
    for key, value in (mapping or {}).items():
        if key not in EVENT_SEVERITIES:
            raise DomainError(f"Unknown event severity {key!r}; use {', '.join(EVENT_SEVERITIES)}.", "severity_mapping")
        if value in (None, "", "none"):
            result[key] = None
            continue
        try:
            level = int(value)
        except (TypeError, ValueError):
            raise DomainError(f"Severity for {key} must be 1 to 4 or none.", key) from None
        if level not in (1, 2, 3, 4):
            raise DomainError(f"Severity for {key} must be 1 to 4 or none.", key)
        result[key] = level
    return result


def _check(name: str, team_id: int | None, exclude_id: int | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise DomainError("Give the service a name.", "name")
    if len(name) > 120:
        raise DomainError("Keep the name under 120 characters.", "name")
    clash = sa.select(Service).where(sa.func.lower(Service.name) == name.lower())
    if exclude_id is not None:
        clash = clash.where(Service.id != exclude_id)
    if db.session.scalar(clash):
        raise Conflict("A service with that name exists.", "name")
    if team_id is not None and db.session.get(Team, team_id) is None:
        raise DomainError("No such team.", "team_id")
    return name


def clean_settings(settings: dict) -> dict:
    """How a service turns alerts into incidents; unknown keys are refused."""
    allowed = {"alert_grouping", "resolve_with_alerts", "ack_timeout_minutes", "auto_resolve_minutes"}
    unknown = set(settings) - allowed
    if unknown:
        raise DomainError(f"Unknown service setting {sorted(unknown)[0]}.")
    clean = dict(settings)
    if "alert_grouping" in clean and clean["alert_grouping"] not in GROUPINGS:
        raise DomainError("Alert grouping is per_alert or grouped.", "alert_grouping")
    if "resolve_with_alerts" in clean:
        clean["resolve_with_alerts"] = bool(clean["resolve_with_alerts"])
    for name in ("ack_timeout_minutes", "auto_resolve_minutes"):
        if name in clean:
            value = clean[name]
            if value in (None, "", 0, "0"):
                clean[name] = None
                continue
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise DomainError("Give a whole number of minutes, or leave it empty for never.", name) from None
            if not 1 <= value <= MAX_MINUTES:
                raise DomainError(f"Between 1 and {MAX_MINUTES:,} minutes (a week), or empty for never.", name)
            clean[name] = value
    return clean


def create_service(actor: Actor, *, name: str, description: str = "", team_id: int | None = None,
                   severity_mapping: dict | None = None, with_key: bool = True, **settings) -> Service:
    permissions.require_team(actor, team_id, "Only an admin, or a manager for their own team, may make a service.")
    service = Service(name=_check(name, team_id), description=description or "", team_id=team_id,
                      severity_mapping=clean_severity_mapping(severity_mapping), active=True,
                      created_at=clock.now(), **clean_settings(settings))
    db.session.add(service)
    db.session.flush()
    audit.record(actor, "service.create", service, summary=f"Created service {service.name}",
                 after=audit.snapshot(service, SERVICE_FIELDS))
    if with_key:
        add_integration_key(actor, service)
    return service


def update_service(actor: Actor, service: Service, *, name: str, description: str, team_id: int | None,
                   severity_mapping: dict | None, active: bool = True, **settings) -> Service:
    _require_admin(actor, service)
    if team_id != service.team_id:
        permissions.require_team(actor, team_id, "Only an admin, or a manager for their own team, may give a service to a team.")
    before = audit.snapshot(service, SERVICE_FIELDS)
    service.name = _check(name, team_id, exclude_id=service.id)
    service.description = description or ""
    service.team_id = team_id
    service.severity_mapping = clean_severity_mapping(severity_mapping)
    service.active = active
    for key, value in clean_settings(settings).items():
        setattr(service, key, value)
    before, after = audit.changed(before, audit.snapshot(service, SERVICE_FIELDS))
    if after:
        audit.record(actor, "service.update", service, summary=f"Changed service {service.name}: {', '.join(after)}",
                     before=before, after=after)
    return service


def add_integration_key(actor: Actor, service: Service, *, name: str = "Events API v2",
                        key: str | None = None) -> IntegrationKey:
    _require_admin(actor, service)
    name = (name or "").strip() or "Events API v2"
    if key is not None:
        if len(key) != 32 or not key.isalnum():
            raise DomainError("An integration key is 32 letters and digits.", "key")
        if db.session.scalar(sa.select(IntegrationKey).where(IntegrationKey.key == key)):
            raise Conflict("That integration key is in use.", "key")
    row = IntegrationKey(service=service, name=name[:120], created_at=clock.now())
    if key is not None:
        row.key = key
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "service.add_key", service, summary=f"Added integration key {name!r} ({row.key[:6]}…) to {service.name}",
                 after={"key_id": row.id, "name": name})
    return row


def revoke_integration_key(actor: Actor, row: IntegrationKey) -> None:
    _require_admin(actor, row.service)
    if row.revoked_at is not None:
        return
    row.revoked_at = clock.now()
    audit.record(actor, "service.revoke_key", row.service,
                 summary=f"Revoked integration key {row.name!r} ({row.key[:6]}…) of {row.service.name}",
                 before={"key_id": row.id, "revoked": False}, after={"key_id": row.id, "revoked": True})


def _require_admin(actor: Actor, service: Service) -> None:
    """An admin, or a manager of the service's team (app.auth.permissions)."""
    permissions.require(actor, service, "Only an admin or a manager of its team may change this service.")
