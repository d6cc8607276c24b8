"""The insights pages on the fixed history: the dashboard as a page and as the htmx
fragment, its filters, the export, the monthly report on paper and as PDF, team
learning pages, definitions; no inline script or style anywhere (CSP)."""
from __future__ import annotations

import csv
import io
import re

import pytest
from pypdf import PdfReader

from app.auth.models import Role
from app.extensions import db
from app.insights.definitions import DEFINITIONS
from tests.factories import login, make_user
from tests.insights_data import build

MARCH = {"period": "custom", "start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture
def h(app, client):
    history = build()
    viewer = make_user(Role.VIEWER, name="Val Viewer", time_zone="America/New_York")
    login(client, viewer)
    return history


def no_inline_code(html: str) -> None:
    assert not re.search(r"<style|\sstyle=|<script>|<script(?![^>]*\bsrc=)", html), "inline style or script"


def test_the_dashboard_shows_every_metric(h, client):
    answer = client.get("/insights/", query_string=MARCH)
    assert answer.status_code == 200 and "HX-Request" in answer.headers["Vary"]
    html = answer.get_data(as_text=True)
    no_inline_code(html)
    for words in ("Time to detect (MTTD)", "Time to acknowledge (MTTA)", "Time to mitigate (MTTM)",
                  "Time to resolve (MTTR)", "Recurrence rate", "Classified right first time", "Post-mortems on time",
                  "Action items done on time", "Updates on cadence", "Fixes that held",
                  "People learning from incidents", "Drills", "Blameless (1–5)", "Incidents by severity",
                  "Objective compliance", "On-call interruptions", "Top services",
                  "Top contributing-factor categories", "Knowledge sharing", "Training", "Culture"):
        assert words in html, words
    # New York's March, hand-computed in test_insights_metrics: 7 incidents, MTTR median 45m.
    assert "7 incidents: 6 resolved, 1 still open" in html
    assert "<td>6</td><td>58m 20s</td><td>45m 00s</td><td>1h 45m</td>" in html  # MTTR: 3500, 2700, 6300 s
    assert "43%" in html and "3 of 7 incidents repeat an earlier one" in html
    assert html.count('role="img"') >= 7 and html.count("<table") >= 9
    # Updates owed in March: I1 and I8 on time, I2 one late and one missed.
    assert "2 on time, 1 late, 1 missed; 0 not due yet" in html and "not available" not in html


def test_the_filters_answer_htmx_with_the_results_only(h, client):
    answer = client.get("/insights/", query_string={**MARCH, "service": str(h.b.id), "by": "month"},
                        headers={"HX-Request": "true"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "<html" not in html and 'id="insights-results"' in html
    assert "4 incidents" in html and "Month" in html


def test_bad_filters_say_so_and_still_show_a_dashboard(h, client):
    html = client.get("/insights/", query_string={"period": "custom", "start": "2026-03-31",
                                                  "end": "2026-03-01"}).get_data(as_text=True)
    assert "The period ends before it starts." in html and "Last 30 days" in html
    html = client.get("/insights/", query_string={"period": "custom", "start": "soon"}).get_data(as_text=True)
    assert "Dates look like 2026-03-31." in html
    assert client.get("/insights/", query_string={"period": "nonsense", "team": "x"}).status_code == 200


def test_the_csv_export_has_every_milestone_and_metric_input(h, client):
    answer = client.get("/insights/incidents.csv", query_string=MARCH)
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert 'filename="incidents-2026-03-01-2026-03-31.csv"' in answer.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    by_title = {row["title"]: row for row in table}
    # Every incident detected in New York's March, drills and merged ones flagged.
    assert sorted(by_title) == ["I1", "I11", "I2", "I3", "I4", "I5", "I6", "I7", "I9"]
    i1 = by_title["I1"]
    assert (i1["detected_at"], i1["acknowledged_at"], i1["seconds_to_acknowledge"], i1["seconds_to_resolve"]) == (
        "2026-03-02T10:00:00Z", "2026-03-02T10:05:00Z", "300", "3600")
    assert (i1["postmortem_status"], i1["postmortem_due_on"], i1["action_items"], i1["action_items_done_on_time"]) == (
        "published", "2026-03-09", "2", "1")
    assert (by_title["I2"]["recurrence"], by_title["I2"]["response_met"], by_title["I2"]["initial_severity"]) == (
        "true", "false", "3")
    assert (by_title["I5"]["reopened"], by_title["I5"]["seconds_to_resolve"]) == ("true", "7200")
    assert (by_title["I6"]["merged_into_id"], by_title["I7"]["is_exercise"]) == (str(h.i1.id), "true")
    assert by_title["I4"]["resolved_at"] == "" and by_title["I4"]["resolution_met"] == ""


def test_cells_that_look_like_formulas_are_defused(h, client):
    h.i3.title = "=HYPERLINK(\"http://evil\")"
    db.session.commit()
    text = client.get("/insights/incidents.csv", query_string=MARCH).get_data(as_text=True)
    assert "'=HYPERLINK" in text


def test_the_monthly_report_prints_and_makes_a_pdf(h, client):
    answer = client.get("/insights/report", query_string={"month": "2026-03"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    no_inline_code(html)
    assert "March 2026" in html and "February" in html and "What the figures mean" in html
    assert "#1 I1" in html  # published in March, with its lessons
    assert "I7" in html     # the drill
    assert '<th scope="row">Updates on cadence</th><td>50%</td><td>—</td>' in html  # none owed in February
    pdf = client.get("/insights/report.pdf", query_string={"month": "2026-03", "paper": "letter"})
    if pdf.status_code == 503:
        pytest.skip("no pango on this machine")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "March 2026" in text and "Recurrence rate" in text


def test_a_team_learns_from_its_own_incidents(h, client):
    html = client.get(f"/insights/teams/{h.t1.id}").get_data(as_text=True)
    no_inline_code(html)
    assert "Payments: what we learn" in html and "I2" in html and "I1" in html
    assert "Capacity" in html  # I1 and I5 share it
    assert "AI-" in html       # item d is open and overdue
    index = client.get("/insights/teams").get_data(as_text=True)
    assert "Payments" in index and "Platform" in index
    assert client.get("/insights/teams/999").status_code == 404


def test_every_metric_is_defined_on_a_page(h, client):
    html = client.get("/insights/definitions").get_data(as_text=True)
    for d in DEFINITIONS:
        assert f'id="{d.key}"' in html and d.name in html
    assert "midnight to midnight in your time zone" in html


def test_the_survey_page_is_plain_too(app, client):
    html = client.get("/survey/nothing").get_data(as_text=True)
    no_inline_code(html)


@pytest.mark.db
def test_the_export_reads_in_batches_without_losing_or_repeating_a_row(h, app):
    from app.insights import export
    from tests.insights_data import NOW, march
    whole = "".join(export.csv_lines(app, march(), NOW))
    assert "".join(export.csv_lines(app, march(), NOW, batch=2)) == whole
    assert whole.count("\r\n") == 1 + 9  # the header, and New York's March with its drill and merged one
