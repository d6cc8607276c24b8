"""The metric queries stay fast: on SQLite, with the planner's statistics, no query of
the dashboard, the export or the API reads a large table whole; each reaches the
period's rows through an index (EXPLAIN QUERY PLAN of every statement they run)."""
from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from app import clock
from app.demo import seed_demo
from app.extensions import db
from app.insights import export, metrics
from app.insights.demo import seed_history
from app.insights.periods import from_preset

# Tables that grow with incidents: never read whole.
LARGE = ("incidents", "incident_events", "alerts", "postmortems", "postmortem_sections", "action_items",
         "contributing_factors", "page_reads", "survey_invitations", "survey_answers")
FULL_SCAN = re.compile(r"^SCAN (\w+)(?! USING)")


@pytest.fixture
def seeded(app, backend):
    if backend != "sqlite":
        pytest.skip("SQLite's query plans")
    seed_demo(password="demo password 123")
    seed_history("test", now=clock.now())
    db.session.commit()
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()
    return app


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
                      ("knowledge", lambda: metrics.knowledge(f))):
        plans[name] = " | ".join(row[3] for statement, parameters in statements(run)
                                 for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
    assert "USING INDEX ix_incidents_detected_at (detected_at>? AND detected_at<?)" in plans["classification"]
    assert "ix_incident_events_kind_at (kind=? AND at>? AND at<?)" in plans["interruptions"]
    assert "ix_action_items_due_on (due_on>? AND due_on<?)" in plans["action_items"]
    assert "ix_page_reads_read_at (read_at>? AND read_at<?)" in plans["knowledge"]


def test_the_export_reads_by_detection_time_in_batches(seeded, app):
    now = clock.now()
    f = metrics.Filters(from_preset("90d", now.date(), ZoneInfo("UTC")))
    found = statements(lambda: list(export.csv_lines(app, f, now, batch=50)))
    assert full_scans(found) == []
    assert sum("LIMIT" in s for s, _ in found) >= 2
