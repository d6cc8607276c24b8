"""Knowledge sharing: who opened a past incident's page or a post-mortem.

A read is recorded once per person, thing and day (UTC), after the response has
gone to the browser (`call_on_close`), in a short transaction of its own that
takes the write lock up front. So the page itself stays a plain deferred read:
it never upgrades to a write, never waits for a writer, and a failure to record
(a locked database, a deleted incident) never reaches the reader. A memo per app
(process) skips the database for reads it already recorded today.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import datetime

import sqlalchemy as sa
from flask import Flask, Response, current_app, request
from flask_login import current_user
from sqlalchemy.dialects import postgresql, sqlite

from app import clock
from app.database import write_intent
from app.extensions import db, htmx
from app.incidents.models import Incident, Status
from app.insights.models import PageRead
from app.postmortems.models import Postmortem

log = logging.getLogger("firebreak.insights")

# endpoint → (kind, the view argument naming the thing)
READ_PAGES = {
    "incidents.show": ("incident", "incident_id"),
    "postmortems.show": ("postmortem", "postmortem_id"),
    "postmortems.print_view": ("postmortem", "postmortem_id"),
}
_MEMO_SIZE = 20_000
_memo_lock = threading.Lock()


def _memo(app: Flask) -> OrderedDict:
    """Reads this app (process) recorded lately: (person, kind, thing, day)."""
    return app.extensions.setdefault("insights.reads", OrderedDict())


def _seen(app: Flask, key: tuple) -> bool:
    memo = _memo(app)
    with _memo_lock:
        if key in memo:
            memo.move_to_end(key)
            return True
        return False


def _remember(app: Flask, key: tuple) -> None:
    memo = _memo(app)
    with _memo_lock:
        memo[key] = None
        while len(memo) > _MEMO_SIZE:
            memo.popitem(last=False)


def note_read(response: Response) -> Response:
    """after_request: arrange to record the read once the response is sent."""
    target = READ_PAGES.get(request.endpoint or "")
    if (target is None or request.method != "GET" or response.status_code != 200
            or (htmx and not htmx.history_restore_request) or not current_user.is_authenticated):
        return response
    kind, argument = target
    object_id = (request.view_args or {}).get(argument)
    if not isinstance(object_id, int):
        return response
    app = current_app._get_current_object()
    user_id, at = current_user.id, clock.now()
    response.call_on_close(lambda: record_read(app, user_id, kind, object_id, at))
    return response


def record_read(app: Flask, user_id: int, kind: str, object_id: int, at: datetime) -> bool:
    """Record one read (once per person, thing and UTC day). True when written now.
    Incident pages count only once the incident is resolved (a past incident)."""
    key = (user_id, kind, object_id, at.date())
    if _seen(app, key):
        return False
    try:
        with app.app_context(), write_intent(True):
            written = _insert(user_id, kind, object_id, at)
            db.session.commit()
    except sa.exc.SQLAlchemyError:
        log.warning("could not record a read of %s %s", kind, object_id, exc_info=True)
        return False
    if written is not None:
        _remember(app, key)
    return bool(written)


def _insert(user_id: int, kind: str, object_id: int, at: datetime) -> int | None:
    """Insert unless already there; None when the thing does not count (or is gone)."""
    if kind == "incident":
        status = db.session.scalar(sa.select(Incident.status).where(Incident.id == object_id))
        if status != Status.RESOLVED:
            return None
        incident_id = object_id
    else:
        incident_id = db.session.scalar(sa.select(Postmortem.incident_id).where(Postmortem.id == object_id))
        if incident_id is None:
            return None
    values = {"user_id": user_id, "kind": kind, "object_id": object_id, "incident_id": incident_id,
              "read_on": at.date(), "read_at": at}
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(PageRead).values(**values).on_conflict_do_nothing(
        index_elements=["user_id", "kind", "object_id", "read_on"])
    return db.session.execute(stmt).rowcount
