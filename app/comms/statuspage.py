"""The public status page as an audience of updates: the one place comms calls it."""
from __future__ import annotations

from datetime import datetime

from app.audit.service import Actor
from app.statuspage import service as status_page

# The public title when an update's template gives none: never the internal title,
# which may name systems or people the public should not see.
NEUTRAL_TITLE = "Service disruption"


def publish(actor: Actor, incident, stage: str, body: str, now: datetime, *, title: str | None = None):
    """Post on the status page: the first post makes its public incident (titled
    `title`, else a neutral title), later ones add updates."""
    return status_page.publish_update(actor, incident, stage, body, now, title=title or NEUTRAL_TITLE)
