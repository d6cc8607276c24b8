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


def test_webhook_secrets_become_whsec_over_the_same_key_bytes(app):
    """Migration 0016: a comms webhook's secret and a status-page subscriber's secret
    become `whsec_` + base64 of the same bytes (receivers keep their key); a webhook
    without one (Slack, Teams) gets a new one; a deleted webhook keeps none. Going
    down gives the old secrets back."""
    import base64
    from datetime import datetime

    import sqlalchemy as sa
    from standardwebhooks import Webhook as Verifier

    from app.webhooks import signing

    downgrade(revision="0015")
    db.session.remove()
    made = datetime(2026, 3, 2, 9, 0)
    hooks = sa.table("comms_webhooks", sa.column("id"), sa.column("name"), sa.column("kind"), sa.column("url"),
                     sa.column("secret"), sa.column("active"), sa.column("created_at"), sa.column("removed_at"))
    subscribers = sa.table("subscribers", sa.column("id"), sa.column("channel"), sa.column("address"),
                           sa.column("all_components"), sa.column("nonce"), sa.column("created_at"),
                           sa.column("confirm_sends"), sa.column("code_attempts"), sa.column("webhook_secret"),
                           sa.column("consecutive_failures"))
    hex_secret, typed = "ab" * 32, "s3cret-shared-with-the-receiver"
    with db.engine.begin() as conn:
        conn.execute(sa.insert(hooks), [
            {"id": 1, "name": "Relay", "kind": "generic", "url": "https://relay.example.com/in", "secret": typed,
             "active": True, "created_at": made, "removed_at": None},
            {"id": 2, "name": "Slack", "kind": "slack", "url": "https://hooks.example.com/x", "secret": "",
             "active": True, "created_at": made, "removed_at": None},
            {"id": 3, "name": "Old (deleted 3)", "kind": "teams", "url": "", "secret": "", "active": False,
             "created_at": made, "removed_at": made}])
        conn.execute(sa.insert(subscribers), [
            {"id": 1, "channel": "webhook", "address": "https://hooks.example.com/status", "all_components": True,
             "nonce": "n" * 32, "created_at": made, "confirm_sends": 0, "code_attempts": 0,
             "webhook_secret": hex_secret, "consecutive_failures": 0},
            {"id": 2, "channel": "email", "address": "a@example.com", "all_components": True, "nonce": "m" * 32,
             "created_at": made, "confirm_sends": 0, "code_attempts": 0, "webhook_secret": None,
             "consecutive_failures": 0}])
    upgrade()
    assert _diff() == []
    with db.engine.connect() as conn:
        secrets = dict(conn.execute(sa.select(hooks.c.id, hooks.c.secret)).all())
        webhook_secrets = dict(conn.execute(sa.select(subscribers.c.id, subscribers.c.webhook_secret)).all())
    assert secrets[1] == "whsec_" + base64.b64encode(typed.encode()).decode()
    assert signing.key(secrets[1]) == typed.encode()
    assert secrets[2].startswith("whsec_") and len(signing.key(secrets[2])) == 32
    assert secrets[3] == ""
    assert signing.key(webhook_secrets[1]) == hex_secret.encode() and webhook_secrets[2] is None
    Verifier(webhook_secrets[1])  # the package takes the migrated form as it is
    downgrade(revision="0015")
    with db.engine.connect() as conn:
        assert dict(conn.execute(sa.select(hooks.c.id, hooks.c.secret)).all())[1] == typed
        assert dict(conn.execute(sa.select(subscribers.c.id, subscribers.c.webhook_secret)).all())[1] == hex_secret
    upgrade()
    assert _diff() == []
