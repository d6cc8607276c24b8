"""The Statuspage-compatible JSON (api/v2), field for field as Atlassian Statuspage
answers, so widgets and monitors written for Statuspage read it unchanged.

Times are ISO 8601 with milliseconds in the page's time zone (Statuspage's own
form, e.g. 2026-03-02T09:14:17.744-08:00; UTC as Z). Ids are the public ids.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from app import clock
from app.statuspage.models import (
    Component, ComponentGroup, MaintenanceUpdate, PublicIncident, PublicIncidentUpdate, worst,
)
from app.statuspage.public import Maintenance, Snapshot, status_url


def iso(value: datetime | None, zone: ZoneInfo) -> str | None:
    if value is None:
        return None
    text = clock.utc(value).astimezone(zone).isoformat(timespec="milliseconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def page(snap: Snapshot) -> dict:
    return {"id": snap.settings.public_id, "name": snap.settings.name, "url": status_url(),
            "time_zone": snap.settings.time_zone or "UTC", "updated_at": iso(snap.settings.changed_at, snap.zone)}


def status(snap: Snapshot) -> dict:
    return {"indicator": snap.indicator, "description": snap.description}


def component(c: Component, snap: Snapshot) -> dict:
    return {
        "id": c.public_id,
        "name": c.name,
        "status": c.status.value,
        "created_at": iso(c.created_at, snap.zone),
        "updated_at": iso(c.updated_at, snap.zone),
        "position": c.position,
        "description": c.description or None,
        "showcase": c.showcase,
        "start_date": c.start_date.isoformat() if c.start_date else None,
        "group_id": c.group.public_id if c.group_id and c.group else None,
        "page_id": snap.settings.public_id,
        "group": False,
        "only_show_if_degraded": c.only_show_if_degraded,
    }


def group(g: ComponentGroup, snap: Snapshot) -> dict:
    children = snap.children(g)
    newest = max([g.updated_at, *[c.updated_at for c in children]], key=clock.utc)
    return {
        "id": g.public_id,
        "name": g.name,
        "status": worst(c.status for c in children).value,
        "created_at": iso(g.created_at, snap.zone),
        "updated_at": iso(newest, snap.zone),
        "position": g.position,
        "description": g.description or None,
        "showcase": False,
        "start_date": None,
        "group_id": None,
        "page_id": snap.settings.public_id,
        "group": True,
        "only_show_if_degraded": False,
        "components": [c.public_id for c in children],
    }


def components(snap: Snapshot) -> list[dict]:
    """Groups and components in page order, each group before its components."""
    out = []
    for g in snap.groups:
        out.append(group(g, snap))
        out.extend(component(c, snap) for c in snap.children(g))
    out.extend(component(c, snap) for c in snap.ungrouped)
    return out


def _update(u: PublicIncidentUpdate | MaintenanceUpdate, incident_id: str, snap: Snapshot) -> dict:
    status_value = u.status.value if hasattr(u.status, "value") else u.status
    return {
        "id": u.public_id,
        "status": status_value,
        "body": u.body,
        "incident_id": incident_id,
        "created_at": iso(u.created_at, snap.zone),
        "updated_at": iso(u.created_at, snap.zone),
        "display_at": iso(u.display_at, snap.zone),
        "affected_components": u.affected_components or None,
        "deliver_notifications": u.deliver_notifications,
        "custom_tweet": None,
        "tweet_id": None,
    }


def incident(i: PublicIncident, snap: Snapshot) -> dict:
    affected = sorted((row.component for row in i.affected), key=lambda c: (c.position, c.id))
    return {
        "id": i.public_id,
        "name": i.name,
        "status": i.status.value,
        "created_at": iso(i.created_at, snap.zone),
        "updated_at": iso(i.updated_at, snap.zone),
        "monitoring_at": iso(i.monitoring_at, snap.zone),
        "resolved_at": iso(i.resolved_at, snap.zone),
        "impact": i.impact,
        "shortlink": status_url(f"/incidents/{i.public_id}"),
        "started_at": iso(i.started_at, snap.zone),
        "page_id": snap.settings.public_id,
        "incident_updates": [_update(u, i.public_id, snap) for u in i.updates],
        "components": [component(c, snap) for c in affected],
    }


def maintenance(m: Maintenance, snap: Snapshot) -> dict:
    w = m.window
    first_update = m.updates[-1].created_at if m.updates else w.created_at
    verifying = [u.created_at for u in m.updates if u.status == "verifying"]
    done = [u.created_at for u in m.updates if u.status in ("completed", "cancelled")]
    return {
        "id": m.public_id,
        "name": w.title,
        "status": m.status,
        "created_at": iso(first_update, snap.zone),
        "updated_at": iso(w.updated_at or w.created_at, snap.zone),
        "monitoring_at": iso(min(verifying, key=clock.utc) if verifying else None, snap.zone),
        "resolved_at": iso(max(done, key=clock.utc) if done else None, snap.zone),
        "impact": "maintenance",
        "shortlink": status_url(f"/maintenance/{m.public_id}"),
        "started_at": iso(w.starts_at, snap.zone),
        "page_id": snap.settings.public_id,
        "incident_updates": [_update(u, m.public_id, snap) for u in m.updates],
        "components": [component(c, snap) for c in m.components],
        "scheduled_for": iso(w.starts_at, snap.zone),
        "scheduled_until": iso(w.ends_at, snap.zone),
    }


# --- the documents ---------------------------------------------------------------------

def summary_doc(snap: Snapshot) -> dict:
    return {
        "page": page(snap),
        "components": components(snap),
        "incidents": [incident(i, snap) for i in snap.open_incidents],
        "scheduled_maintenances": [maintenance(m, snap) for m in snap.active_maintenance + snap.upcoming_maintenance],
        "status": status(snap),
    }


def status_doc(snap: Snapshot) -> dict:
    return {"page": page(snap), "status": status(snap)}


def components_doc(snap: Snapshot) -> dict:
    return {"page": page(snap), "components": components(snap)}


def incidents_doc(snap: Snapshot, incidents: list[PublicIncident]) -> dict:
    return {"page": page(snap), "incidents": [incident(i, snap) for i in incidents]}


def maintenances_doc(snap: Snapshot, windows: list[Maintenance]) -> dict:
    return {"page": page(snap), "scheduled_maintenances": [maintenance(m, snap) for m in windows]}
