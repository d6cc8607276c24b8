"""The metrics as JSON: the same hand-computed figures as the dashboard, and bad
queries answered with what is wrong."""
from __future__ import annotations

import pytest

from app.auth import service as people
from app.auth.models import Role
from app.extensions import db
from tests.problems import listed
from tests.factories import SYSTEM, make_user
from tests.insights_data import build

MARCH = {"start_date": "2026-03-01", "end_date": "2026-03-31", "time_zone": "America/New_York"}


@pytest.fixture
def call(app, client):
    history = build()
    viewer = make_user(Role.VIEWER, time_zone="Asia/Tokyo")
    _, secret = people.create_api_token(SYSTEM, viewer, name="reports", scope="read")
    db.session.commit()

    def get(**query):
        return client.get("/api/v1/insights/metrics", query_string=query,
                          headers={"Authorization": f"Bearer {secret}"})
    get.history = history
    return get


@pytest.mark.db
def test_the_figures_match_the_hand_computation(call):
    answer = call(**MARCH, granularity="month")
    assert answer.status_code == 200
    m = answer.json
    assert m["period"] == {"start_date": "2026-03-01", "end_date": "2026-03-31", "time_zone": "America/New_York",
                           "start": "2026-03-01T05:00:00Z", "end": "2026-04-01T04:00:00Z"}
    assert m["counts"]["incidents"] == 7 and m["counts"]["exercises"] == 1 and m["counts"]["merged_away"] == 1
    assert m["response_times"]["mttr"] == {"n": 6, "mean_seconds": 3500.0, "median_seconds": 2700.0,
                                           "p90_seconds": 6300.0}
    assert m["recurrence"] == {"incidents": 7, "recurrences": 3, "rate": round(3 / 7, 4)}
    assert m["improvement"]["rate"] == 0.5 and m["postmortems"]["rate"] == 0.25
    assert m["communication"] == {"owed": 4, "judged": 4, "on_time": 2, "late": 1, "missed": 1, "not_due": 0,
                                  "rate": 0.5}
    assert m["culture"]["shown"] is True and m["culture"]["blameless"] == 4.0
    assert sum(map(sum, m["interruptions"]["by_weekday_and_hour"])) == 3
    [month] = m["trend"]["buckets"]
    assert month["incidents_by_severity"] == {"1": 1, "2": 3, "3": 2, "4": 1}
    assert [o["severity"] for o in m["objectives"]] == [1, 2, 3, 4]


def test_defaults_and_refusals(call):
    plain = call()
    assert plain.status_code == 200 and plain.json["period"]["time_zone"] == "Asia/Tokyo"
    assert plain.json["period"]["start_date"] < plain.json["period"]["end_date"]
    bad = call(start_date="2026-03-31", end_date="2026-03-01", team_id="424242", severity="1,2")
    assert bad.status_code == 400
    assert set(listed(bad)) == {"'end_date' is before 'start_date'", "'severity' takes one severity",
                                       "'team_id' names no team (there is no team 424242)"}
    assert listed(call(granularity="day", time_zone="Nowhere/Else")) == [
        "'time_zone' must be an IANA time zone such as Europe/London", "'granularity' must be one of week, month"]
    assert listed(call(start_date="2020-01-01", end_date="2026-01-01")) == ["a period is at most 1098 days"]
