"""Migrations build exactly the schema the models describe, and go down and up again."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app.database import include_object
from app.extensions import db


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
