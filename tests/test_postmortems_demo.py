"""The demo's past incidents: published post-mortems, action items done and overdue, once."""
from __future__ import annotations

import sqlalchemy as sa
import pytest

from app import clock
from app.demo import seed_demo
from app.extensions import db
from app.postmortems import search
from app.postmortems.models import ActionItem, ActionStatus, Postmortem, PostmortemStatus


@pytest.mark.db
def test_seeding_twice_adds_the_past_incidents_once(app):
    first = seed_demo(password="demo password 123")
    db.session.commit()
    assert first.past_incidents == 3
    assert seed_demo().past_incidents == 0
    db.session.commit()
    statuses = db.session.scalars(sa.select(Postmortem.status)).all()
    # The three past incidents' reviews are published; the status page's demo incident
    # (a resolved SEV-2) has its draft, as any resolved SEV-2 does.
    assert statuses.count(PostmortemStatus.PUBLISHED) == 3
    items = db.session.scalars(sa.select(ActionItem)).all()
    today = clock.now().date()
    assert any(i.status == ActionStatus.DONE and i.done_at for i in items)
    assert any(i.is_overdue(today) for i in items)
    hits = search.search(search.Filters(q="connection pool ran out"))
    assert hits and hits[0].kind == "lesson"
