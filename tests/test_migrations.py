"""Migrations build exactly the schema the models describe, and go down and up again."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app.database import include_object
from app.extensions import db
from tests.test_access import world, world_template  # noqa: F401  (fixtures: one of everything)


def _diff():
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object})
        return compare_metadata(context, db.metadata)


@pytest.mark.db
def test_migrated_schema_matches_the_models(app):
    assert _diff() == []


@pytest.mark.db
def test_migrations_downgrade_to_nothing_and_upgrade_again(app):
    downgrade(revision="base")
    db.session.remove()
    with db.engine.connect() as conn:
        remaining = set(db.inspect(conn).get_table_names()) - {"alembic_version"}
    assert remaining == set()
    upgrade()
    assert _diff() == []


def test_a_new_install_pages_sev1s_managers_as_it_opens_and_on_a_breach(app):
    """Migration 0011 adds the escalation defaults; an install with triggers of its own
    is left alone on the way up, and the demo adds the commander schedule without
    doubling them."""
    import sqlalchemy as sa

    from app.escalation.models import SeverityTrigger
    from app.escalation.service import seed_default_triggers

    def rows():
        return sorted(db.session.execute(sa.select(SeverityTrigger.severity, SeverityTrigger.on,
                                                   SeverityTrigger.kind)).all())
    assert rows() == [(1, "breach", "managers"), (1, "open", "managers")]
    seed_default_triggers()
    db.session.commit()
    assert rows() == [(1, "breach", "managers"), (1, "open", "managers")]  # no commander schedule here

    db.session.execute(sa.delete(SeverityTrigger))
    db.session.add(SeverityTrigger(severity=2, kind="managers", on="open"))
    db.session.commit()
    db.session.remove()
    downgrade(revision="0010")
    upgrade()
    assert rows() == [(2, "open", "managers")]  # the admins' own choice stands


def _revisions() -> list[tuple[str, str | None]]:
    """(revision, down_revision) from head to the first."""
    from alembic.script import ScriptDirectory
    from flask import current_app
    config = current_app.extensions["migrate"].migrate.get_config()
    return [(s.revision, s.down_revision) for s in ScriptDirectory.from_config(config).walk_revisions()]


def _counts() -> dict[str, int]:
    import sqlalchemy as sa
    with db.engine.connect() as conn:
        names = set(db.inspect(conn).get_table_names()) - {"alembic_version"}
        return {name: conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar() for name in names}


def test_every_migration_upgrades_a_populated_database_from_the_one_before(world, tmp_path):
    """On one of everything (tests/world.py), for each migration in turn: the database
    is taken down to the revision before it, with the data as that revision holds it,
    and upgraded to head again. Every table that revision had keeps every row, the
    schema matches the models, and the app reads the incident again."""
    import shutil

    import sqlalchemy as sa

    from app.incidents.models import Incident
    app, w = world
    db.session.remove()
    db.engine.dispose()
    path = db.engine.url.database
    pristine = tmp_path / "pristine.db"
    shutil.copyfile(path, pristine)
    full = _counts()
    checked = 0
    for revision, down in _revisions():
        if down is None:
            break  # to nothing and back is the test above (no data survives it)
        db.session.remove()
        db.engine.dispose()
        shutil.copyfile(pristine, path)
        downgrade(revision=down)
        db.session.remove()
        kept = _counts()
        upgrade()
        db.session.remove()
        after = _counts()
        lost = {name: (count, after.get(name, 0)) for name, count in kept.items() if after.get(name, 0) < count}
        assert lost == {}, f"upgrading from {down} through {revision} lost rows"
        assert _diff() == [], f"after {down} → head"
        if "incidents" in kept:
            assert kept["incidents"] == full["incidents"], f"going down to {down} lost incidents"
            assert db.session.get(Incident, w.ids["incident"]) is not None
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == full["incidents"]
        checked += 1
    assert checked == len(_revisions()) - 1
