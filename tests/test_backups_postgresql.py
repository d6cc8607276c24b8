"""PostgreSQL backups as the operations guide gives them: `pg_dump --format=custom`
of the live database, `pg_restore --no-owner` into a new, empty one.

Proven on one of everything (tests/world.py), with the client tools of the server
that runs the tests: every table comes back row for row, the engine's lease and the
ingestion attempts included; the schema is at the migrations' head; every sequence
goes on where the original's stood, so the restored instance takes a new alert
(a new incident with a fresh id, never a key that collides) and serves its pages.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import current_app

from app.auth.models import User
from app.extensions import db
from app.incidents.models import Incident
from tests.conftest import Client, make_app
from tests.factories import login
from tests.whole_database import assert_same, every_row, postgres_admin
from tests.world import DEMO_KEY, populate

pytestmark = pytest.mark.postgresql


def client_tools() -> Path:
    """pg_dump and pg_restore of the newest PostgreSQL installed, which runs the tests
    (scripts/pgcluster.py picks it the same way): a dump needs a pg_dump at least as new
    as the server."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "pgcluster", Path(__file__).resolve().parent.parent / "scripts" / "pgcluster.py")
    pgcluster = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pgcluster)
    return pgcluster.find_bin()


def libpq_url(url: sa.URL | str) -> str:
    """The SQLAlchemy URL as libpq (pg_dump, psql) takes it: postgresql://…"""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def run(*command) -> subprocess.CompletedProcess:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{command[0]} failed: {done.stderr}"
    return done


def sequences() -> dict[str, int | None]:
    return dict(db.session.execute(sa.text("SELECT sequencename, last_value FROM pg_sequences")).all())


def at_head() -> bool:
    config = current_app.extensions["migrate"].migrate.get_config()
    heads = set(ScriptDirectory.from_config(config).get_heads())
    return set(db.session.scalars(sa.text("SELECT version_num FROM alembic_version"))) == heads


@pytest.fixture
def restored_url(app):
    """A new, empty database beside the test's own, removed afterwards."""
    source = db.engine.url
    name = f"{source.database}_restored"
    postgres_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}" TEMPLATE template0')
    yield source.set(database=name)
    postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_pg_dump_and_pg_restore_bring_back_every_row_and_a_working_instance(app, client, restored_url, tmp_path):
    world = populate(app, client)
    db.session.commit()
    original = every_row(leaving_out={})
    original_sequences = sequences()
    assert original["incidents"] and original["engine_leases"]  # the world has both, so both are compared
    tools, dump = client_tools(), tmp_path / "firebreak.dump"

    run(tools / "pg_dump", "--format=custom", f"--file={dump}", libpq_url(db.engine.url))
    run(tools / "pg_restore", "--no-owner", "--exit-on-error", f"--dbname={libpq_url(restored_url)}", dump)

    restored = make_app(restored_url.render_as_string(hide_password=False))
    restored.test_client_class = Client
    with restored.app_context():
        try:
            assert_same(original, every_row(leaving_out={}))
            assert sequences() == original_sequences
            assert at_head()
            browser = restored.test_client()
            login(browser, db.session.scalar(sa.select(User).where(User.email == world.emails["responder"])))
            page = browser.get(f"/incidents/{world.ids['incident']}")
            assert page.status_code == 200 and "checkout-api: HTTP 5xx 7.2%" in page.text
            answer = browser.post("/v2/enqueue", json={
                "routing_key": DEMO_KEY, "event_action": "trigger", "dedup_key": "after-the-restore",
                "payload": {"summary": "checkout-api: latency after the restore", "source": "prod-1",
                            "severity": "critical"}})
            assert answer.status_code == 202, answer.text
            opened = db.session.scalar(sa.select(Incident).where(Incident.title.contains("after the restore")))
            # The id after the original's last (none collides with a restored row).
            assert opened is not None and opened.id == original_sequences["incidents_id_seq"] + 1
            assert opened.id > max(row[0] for row in original["incidents"])
        finally:
            db.session.remove()
            db.engine.dispose()
