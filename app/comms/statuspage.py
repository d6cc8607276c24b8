"""The public status page as an audience of updates.

The status page is its own domain (`app.statuspage`). This is the one place comms
calls it: `publish(...)` posts an update as an incident update there, through
`app.statuspage.service.publish_update`. Where the status page is not installed,
`available()` is false and `publish` refuses with a clear error (checked before
anything of an update is sent).
"""
from __future__ import annotations

import importlib
from datetime import datetime

from app.audit.service import Actor
from app.errors import DomainError

NOT_INSTALLED = "The status page is not installed here: send the update to a stakeholder list or a webhook instead."


def _service():
    try:
        return importlib.import_module("app.statuspage.service")
    except ImportError:
        return None


def available() -> bool:
    return _service() is not None and hasattr(_service(), "publish_update")


def check() -> None:
    if not available():
        raise DomainError(NOT_INSTALLED, "status_page")


def publish(actor: Actor, incident, stage: str, body: str, now: datetime, *, title: str | None = None):
    """Post on the status page: the first post makes its public incident (titled
    `title`, else the incident's title), later ones add updates."""
    service = _service()
    if service is None or not hasattr(service, "publish_update"):
        raise DomainError(NOT_INSTALLED, "status_page")
    return service.publish_update(actor, incident, stage, body, now, title=title or incident.title)
