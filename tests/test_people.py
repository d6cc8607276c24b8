"""People, teams and tokens through their service functions, with their audit trail."""
from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.auth import service as people
from app.auth.models import ApiToken, Role, TokenScope
from app.errors import Conflict, DomainError, Forbidden
from app.extensions import db
from tests.factories import SYSTEM, actor, make_team, make_user


def audit_entries(action):
    return db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


@pytest.mark.db
def test_creating_a_person_normalises_and_audits(app):
    admin = make_user(Role.ADMIN, name="Avery")
    user = people.create_user(actor(admin), email="  Dana@Example.COM ", name=" Dana Okafor ",
                              role="responder", phone="+1 (555) 123-0001", time_zone="America/New_York")
    db.session.commit()
    assert (user.email, user.name, user.phone) == ("dana@example.com", "Dana Okafor", "+15551230001")
    entry = audit_entries("user.create")[-1]
    assert entry.actor_user_id == admin.id and entry.actor_label == "Avery"
    assert entry.object_type == "users" and entry.object_id == user.id
    assert entry.after["email"] == "dana@example.com" and entry.after["role"] == "responder"


@pytest.mark.parametrize("field,value,message", [
    ("phone", "5551230001", "international form"),
    ("phone", "+1555", "wrong number of digits"),
    ("phone", "+abc", "not a phone number"),
    ("email", "not-an-email", "not an email address"),
    ("time_zone", "Mars/Olympus", "Unknown time zone"),
    ("role", "overlord", "admin, responder or viewer"),
    ("name", "   ", "name"),
    ("password", "short", "at least 10 characters"),
])
def test_bad_person_details_are_refused_and_nothing_is_written(app, field, value, message):
    fields = {"email": "new@example.com", "name": "New Person", "role": "viewer", "time_zone": "UTC", field: value}
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    with pytest.raises(DomainError, match=message) as raised:
        people.create_user(SYSTEM, **fields)
    db.session.rollback()
    assert raised.value.field == field if field != "name" else True
    assert people.find_user_by_email("new@example.com") is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == before


@pytest.mark.db
def test_emails_are_unique_whatever_their_case(app):
    make_user(email="dana@example.com")
    with pytest.raises(Conflict):
        people.create_user(SYSTEM, email="DANA@example.com", name="Other Dana")


def test_only_admins_create_people(app):
    responder = make_user(Role.RESPONDER)
    with pytest.raises(Forbidden):
        people.create_user(actor(responder), email="x@example.com", name="X")


def test_people_may_edit_their_own_details_but_not_their_role(app):
    user = make_user(Role.RESPONDER)
    people.update_user(actor(user), user, name="Renamed", time_zone="Europe/Lisbon")
    assert user.name == "Renamed"
    with pytest.raises(Forbidden):
        people.update_user(actor(user), user, role="admin")
    other = make_user()
    with pytest.raises(Forbidden):
        people.update_user(actor(user), other, name="Hijacked")


def test_there_is_always_an_active_admin(app):
    admin = make_user(Role.ADMIN)
    other_admin = make_user(Role.ADMIN)
    with pytest.raises(DomainError, match="own admin role"):
        people.update_user(actor(admin), admin, role="viewer")
    with pytest.raises(DomainError, match="deactivate yourself"):
        people.update_user(actor(admin), admin, active=False)
    people.update_user(actor(admin), other_admin, role="responder")
    db.session.commit()
    with pytest.raises(DomainError, match="at least one active admin"):
        people.update_user(SYSTEM, admin, role="viewer")


@pytest.mark.db
def test_updates_audit_only_what_changed(app):
    admin = make_user(Role.ADMIN)
    user = make_user(Role.RESPONDER, time_zone="UTC")
    people.update_user(actor(admin), user, role="viewer", time_zone="UTC", name=user.name)
    db.session.commit()
    entry = audit_entries("user.update")[-1]
    assert entry.before == {"role": "responder"} and entry.after == {"role": "viewer"}


@pytest.mark.db
def test_teams_and_membership(app):
    admin = make_user(Role.ADMIN)
    dana, lee = make_user(name="Dana"), make_user(name="Lee")
    team = people.create_team(actor(admin), name="Payments", description="Money")
    people.add_member(actor(admin), team, dana, is_manager=True)
    people.add_member(actor(admin), team, lee)
    db.session.commit()
    assert [m.name for m in team.members] == ["Dana", "Lee"]
    assert dana.teams == [team]
    with pytest.raises(Conflict):
        people.add_member(actor(admin), team, dana)
    db.session.rollback()
    with pytest.raises(Conflict):
        people.create_team(actor(admin), name="payments")
    db.session.rollback()
    people.remove_member(actor(admin), team, lee)
    db.session.commit()
    assert [m.name for m in team.members] == ["Dana"]
    actions = [e.action for e in audit_entries("team.add_member") + audit_entries("team.remove_member")]
    assert actions == ["team.add_member", "team.add_member", "team.remove_member"]


@pytest.mark.db
def test_api_tokens_are_stored_hashed_and_shown_once(app):
    user = make_user()
    token, secret = people.create_api_token(actor(user), user, name="deploy script", scope="read")
    db.session.commit()
    assert secret.startswith("fbk_") and len(secret) > 40
    stored = db.session.get(ApiToken, token.id)
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (stored.token_hash, stored.prefix)
    assert stored.scope == TokenScope.READ
    assert people.token_from_secret(secret).id == token.id
    assert people.token_from_secret(secret + "x") is None
    entry = audit_entries("api_token.create")[-1]
    assert secret not in str(entry.after) and entry.after["prefix"] == stored.prefix


def test_read_only_tokens_cannot_change_anything(app, client):
    user = make_user(Role.ADMIN)
    _, secret = people.create_api_token(SYSTEM, user, name="reader", scope="read")
    db.session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    answer = client.post("/api/v1/me", headers=headers)
    assert answer.status_code in (403, 405)


def test_only_admins_make_or_revoke_other_peoples_tokens(app):
    user, other = make_user(), make_user()
    with pytest.raises(Forbidden):
        people.create_api_token(actor(other), user, name="x")
    token, _ = people.create_api_token(actor(user), user, name="mine")
    with pytest.raises(Forbidden):
        people.revoke_api_token(actor(other), token)
    admin = make_user(Role.ADMIN)
    people.revoke_api_token(actor(admin), token)
    assert token.revoked_at is not None
