"""The audit log is append-only: no ORM flush, bulk statement, Core statement or raw SQL
changes or removes an entry, on SQLite and PostgreSQL. (test_access.py's crawl posts to
every route and checks that no existing entry changed.)"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry, AuditLogIsAppendOnly
from app.auth.models import Role, User
from app.extensions import db
from tests.factories import make_user

pytestmark = pytest.mark.db


@pytest.fixture
def entry(app):
    make_user(Role.ADMIN, name="Dana Okafor")  # its creation is audited
    return db.session.scalar(sa.select(AuditEntry).order_by(AuditEntry.id.desc()))


def entries() -> list[tuple]:
    db.session.rollback()
    return [tuple(row) for row in db.session.execute(
        sa.select(AuditEntry.id, AuditEntry.action, AuditEntry.summary, AuditEntry.actor_user_id)
        .order_by(AuditEntry.id))]


def test_new_entries_are_written(app, entry):
    assert entry.action == "user.create" and "Dana Okafor" in entry.summary


def test_an_orm_change_is_refused(app, entry):
    before = entries()
    entry = db.session.get(AuditEntry, entry.id)
    entry.summary = "Nothing happened here"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    assert entries() == before


def test_an_orm_delete_is_refused(app, entry):
    before = entries()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    assert entries() == before


@pytest.mark.parametrize("statement", [
    sa.update(AuditEntry).values(summary="rewritten"),
    sa.delete(AuditEntry),
    sa.update(AuditEntry.__table__).values(summary="rewritten"),
    sa.delete(AuditEntry.__table__).where(AuditEntry.__table__.c.id > 0),
], ids=["orm bulk update", "orm bulk delete", "core update", "core delete"])
def test_bulk_and_core_statements_are_refused(app, entry, statement):
    before = entries()
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.execute(statement)
    with pytest.raises(AuditLogIsAppendOnly), db.engine.begin() as conn:
        conn.execute(statement)
    assert entries() == before


@pytest.mark.parametrize("sql", ["UPDATE audit_log SET summary = 'rewritten'", "DELETE FROM audit_log"])
def test_raw_sql_is_refused_by_the_database_itself(app, entry, sql):
    before = entries()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with db.engine.begin() as conn:
            conn.exec_driver_sql(sql)
    assert entries() == before


def test_a_person_with_a_history_cannot_be_deleted_even_by_sql(app, entry):
    """People are deactivated, never deleted: deleting one would blank the actor of
    their audit entries (ON DELETE SET NULL), which the database refuses."""
    make_user(name="Lee Tanaka")
    actor = db.session.scalar(sa.select(User).where(User.name == "Dana Okafor"))
    from app.auth import service as people
    from app.audit.service import Actor
    people.create_team(Actor.for_user(actor), name="Acted")  # Dana is now an actor in the log
    db.session.commit()
    before = entries()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with db.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM team_memberships WHERE user_id = :id"), {"id": actor.id})
            conn.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": actor.id})
    assert entries() == before


def test_the_database_guard_exists_at_head(app):
    """A later migration that rebuilds audit_log (SQLite batch mode) must make them again."""
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            names = set(conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'").scalars())
            assert names == {"audit_log_no_update", "audit_log_no_delete"}
        else:
            names = set(conn.exec_driver_sql(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass AND NOT tgisinternal").scalars())
            assert names == {"audit_log_append_only"}


def test_there_is_no_route_that_edits_the_audit_log(app):
    """Only reading: the one audit view answers GET."""
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("audit.")]
    assert rules and all(rule.methods - {"GET", "HEAD", "OPTIONS"} == set() for rule in rules)
