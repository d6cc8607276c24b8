"""The demo history: written in bulk in the shapes the service functions write,
the same every time, once; `flask seed-demo --scale` with its progress bar."""
from __future__ import annotations

import shutil
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.service import Actor
from app.demo import seed_demo
from app.demo.insights import seed_history
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import Incident, IncidentEvent
from app.insights import metrics
from app.insights.models import SurveyAnswer
from app.insights.periods import from_preset
from app.postmortems.models import Postmortem
from app.services.models import Service
from tests.conftest import make_app

NOW = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)


def fingerprint() -> tuple:
    """What the history looks like, in numbers and a sample of rows."""
    def count(model):
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))
    sample = db.session.execute(sa.select(Incident.severity, Incident.detected_at, Incident.acknowledged_at,
                                          Incident.resolved_at).order_by(Incident.id).limit(25)).all()
    return count(Incident), count(IncidentEvent), count(Postmortem), count(SurveyAnswer), tuple(sample)


@pytest.mark.db
def test_the_history_is_written_once_and_reads_like_real_incidents(app):
    clock.set(NOW)
    seed_demo(password="demo password 123")
    written = seed_history("test", now=NOW)
    db.session.commit()
    assert written["incidents"] == 200 + written["drills"] and written["incident_events"] > 1500
    assert seed_history("test", now=NOW) == {}
    dashboard = metrics.dashboard(metrics.Filters(from_preset("30d", NOW.date(), ZoneInfo("UTC"))), NOW)
    assert dashboard.counts.incidents > 150 and dashboard.response["mttr"].n > 100
    assert dashboard.training.drills >= 1 and dashboard.heat_map.total > 100
    # The service functions carry on from it (ids, sequences on PostgreSQL).
    service = db.session.scalar(sa.select(Service).order_by(Service.id))
    made = incidents.open_incident(Actor.system("tests"), service=service, title="After the history", severity=3,
                                   now=NOW)
    db.session.commit()
    assert made.id > max(i for i in db.session.scalars(sa.select(Incident.id).where(Incident.id != made.id)))


def test_the_same_now_gives_the_same_history(app, sqlite_template, tmp_path):
    found = []
    for n in range(2):
        path = tmp_path / f"history{n}.db"
        shutil.copyfile(sqlite_template, path)
        other = make_app(f"sqlite:///{path}")
        with other.app_context():
            clock.set(NOW)
            seed_demo(password="demo password 123")
            seed_history("test", now=NOW)
            db.session.commit()
            found.append(fingerprint())
            db.session.remove()
            db.engine.dispose()
    assert found[0] == found[1]


def test_the_command_shows_its_progress(app, runner, tmp_path):
    app.instance_path = str(tmp_path)
    clock.set(NOW)
    answer = runner.invoke(args=["seed-demo", "--scale", "year", "--password", "demo password 123"])
    assert answer.exit_code == 0, answer.output
    assert "Writing incidents" in answer.output and "History added: 612 incidents" in answer.output
    again = runner.invoke(args=["seed-demo", "--scale", "year"])
    assert "already there" in again.output
