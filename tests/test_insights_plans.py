"""The metric queries stay fast: on SQLite, with the planner's statistics, no query of
the dashboard, the export or the API reads a large table whole; each reaches the
period's rows through an index (EXPLAIN QUERY PLAN of every statement they run)."""
from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from app import clock
from app.comms.models import CommsDue, DueState
from app.demo import seed_demo
from app.demo.insights import seed_history
from app.extensions import db
from app.incidents.models import Incident
from app.insights import export, metrics
from app.insights.periods import from_preset
from app.triage import levels

# Tables that grow with incidents: never read whole.
LARGE = ("incidents", "incident_events", "alerts", "postmortems", "postmortem_sections", "action_items",
         "contributing_factors", "page_reads", "survey_invitations", "survey_answers", "comms_updates",
         "comms_dues")
FULL_SCAN = re.compile(r"^SCAN (\w+)(?! USING)")


@pytest.fixture
def seeded(app, backend):
    if backend != "sqlite":
        pytest.skip("SQLite's query plans")
    seed_demo(password="demo password 123")
    seed_history("test", now=clock.now())
    owe_updates()
    db.session.commit()
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()
    return app


def owe_updates() -> None:
    """The cadence's dues for the history (which writes none of its own), so the
    planner's statistics see them: per incident with a cadence, the first update met
    on time, met late, missed or cancelled, and a second one cancelled."""
    rows = []
    for n, (ident, severity, detected) in enumerate(db.session.execute(
            sa.select(Incident.id, Incident.severity, Incident.detected_at).where(
                Incident.severity <= 3, ~sa.exists().where(CommsDue.incident_id == Incident.id)))):
        cadence = timedelta(minutes=levels.level(severity).update_cadence_minutes)
        due = detected + cadence
        state = (DueState.MET, DueState.MET, DueState.OVERDUE, DueState.CANCELLED)[n % 4]
        met = {0: due - cadence / 2, 1: due + cadence / 3}.get(n % 4)
        rows += [{"incident_id": ident, "seq": 1, "due_at": due, "remind_at": due - timedelta(minutes=5),
                  "state": state, "met_at": met, "overdue_at": due if state == DueState.OVERDUE else None},
                 {"incident_id": ident, "seq": 2, "due_at": due + cadence, "remind_at": due + cadence,
                  "state": DueState.CANCELLED}]
    db.session.execute(sa.insert(CommsDue), rows)


def statements(run) -> list[tuple[str, object]]:
    seen = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))
    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    return seen


def full_scans(found) -> list[tuple[str, str]]:
    bad = []
    connection = db.session.connection()
    for statement, parameters in found:
        for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters):
            match = FULL_SCAN.match(row[3])
            if match and match.group(1) in LARGE:
                bad.append((row[3], statement[:300]))
    return bad


@pytest.mark.parametrize("preset", ["30d", "90d", "12m"])
def test_no_dashboard_query_reads_a_large_table_whole(seeded, preset):
    now = clock.now()
    zone = ZoneInfo("America/New_York")
    for f in (metrics.Filters(from_preset(preset, now.astimezone(zone).date(), zone)),
              metrics.Filters(from_preset(preset, now.astimezone(zone).date(), zone), team_id=1, severity=2)):
        found = statements(lambda: metrics.dashboard(f, now))
        assert len(found) > 20
        assert full_scans(found) == []


def test_the_period_is_reached_by_detection_time_and_pages_by_kind(seeded):
    now = clock.now()
    f = metrics.Filters(from_preset("30d", now.date(), ZoneInfo("UTC")))
    plans = {}
    connection = db.session.connection()
    for name, run in (("classification", lambda: metrics.classification(f)),
                      ("interruptions", lambda: metrics.interruptions(f)),
                      ("action_items", lambda: metrics.action_items(f, now.date())),
                      ("knowledge", lambda: metrics.knowledge(f)),
                      ("communication", lambda: metrics.communication(f))):
        plans[name] = " | ".join(row[3] for statement, parameters in statements(run)
                                 for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
    assert "USING INDEX ix_incidents_detected_at (detected_at>? AND detected_at<?)" in plans["classification"]
    assert "ix_incident_events_kind_at (kind=? AND at>? AND at<?)" in plans["interruptions"]
    assert "ix_action_items_due_on (due_on>? AND due_on<?)" in plans["action_items"]
    assert "ix_page_reads_read_at (read_at>? AND read_at<?)" in plans["knowledge"]
    assert "ix_comms_dues_due_at (due_at>? AND due_at<?)" in plans["communication"]
    assert "SEARCH incidents USING INTEGER PRIMARY KEY (rowid=?)" in plans["communication"]


def test_the_export_reads_by_detection_time_in_batches(seeded, app):
    now = clock.now()
    f = metrics.Filters(from_preset("90d", now.date(), ZoneInfo("UTC")))
    found = statements(lambda: list(export.csv_lines(app, f, now, batch=50)))
    assert full_scans(found) == []
    assert sum("LIMIT" in s for s, _ in found) >= 2
