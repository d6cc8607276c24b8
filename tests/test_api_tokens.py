"""API tokens that expire, show when they were last used, and that an admin sees and
revokes, whoever's they are; every step in the audit log."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth import service as people
from app.auth.models import ApiToken, Role
from app.extensions import db
from tests.factories import actor, login, make_user

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def me(client, secret):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})


def audited(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_a_token_made_with_an_expiry_works_through_that_day_in_the_owners_zone(client):
    clock.set(START)
    user = make_user(time_zone="Europe/Paris")
    login(client, user)
    answer = client.post("/profile/tokens", data={"name": "deploy", "scope": "write", "expires_on": "2026-03-10"})
    assert answer.status_code == 201
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == user.id))
    assert token.expires_at == datetime(2026, 3, 10, 23, 0, tzinfo=UTC)  # midnight in Paris
    assert "2026-03-11 00:00" in answer.get_data(as_text=True)  # shown in the owner's zone
    assert audited("api_token.create")[-1].after["expires_at"] == "2026-03-10T23:00:00+00:00"


@pytest.mark.db
def test_an_expired_token_is_refused_saying_so_and_its_use_audited_once_an_hour(app, client):
    clock.set(START)
    user = make_user()
    token, secret = people.create_api_token(actor(user), user, name="cron", expires_on=date(2026, 3, 2))
    db.session.commit()
    clock.set(datetime(2026, 3, 2, 23, 59, tzinfo=UTC))
    assert me(client, secret).status_code == 200
    clock.set(datetime(2026, 3, 3, 0, 0, tzinfo=UTC))
    answer = me(client, secret)
    assert answer.status_code == 401
    assert answer.json["error"] == "This API token expired at 2026-03-03 00:00 UTC: make a new one on your profile."
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    clock.advance(timedelta(minutes=30))
    assert me(client, secret).status_code == 401
    assert [e.object_id for e in audited("api_token.expired_use")] == [token.id]
    clock.advance(timedelta(minutes=31))
    assert me(client, secret).status_code == 401
    assert len(audited("api_token.expired_use")) == 2
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).last_used_at == datetime(2026, 3, 2, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize("day", ["2026-03-01", "not a date"])
def test_an_expiry_in_the_past_or_not_a_date_is_refused_and_makes_nothing(client, day):
    clock.set(START)
    login(client, make_user())
    answer = client.post("/profile/tokens", data={"name": "deploy", "scope": "write", "expires_on": day})
    assert answer.status_code == 400
    assert "from today on" in answer.get_data(as_text=True) or "Not a valid date" in answer.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def test_ones_token_list_shows_last_used_and_expiry(client):
    clock.set(START)
    user = make_user()
    people.create_api_token(actor(user), user, name="forever")
    _, secret = people.create_api_token(actor(user), user, name="short", expires_on=date(2026, 3, 3))
    db.session.commit()
    clock.set(START + timedelta(hours=2))
    assert me(client, secret).status_code == 200
    login(client, user)
    html = client.get("/profile").get_data(as_text=True)
    assert "never" in html and "2026-03-04 00:00" in html and "2026-03-02 11:00" in html


def test_an_admin_sees_every_token_and_revokes_anyones(app, client):
    clock.set(START)
    owner, admin = make_user(name="Olu Owner"), make_user(Role.ADMIN)
    token, secret = people.create_api_token(actor(owner), owner, name="backup-script", scope="read",
                                            expires_on=date(2026, 4, 1))
    db.session.commit()
    login(client, owner)
    assert client.get("/admin/api-tokens").status_code == 403
    assert client.post(f"/admin/api-tokens/{token.id}/revoke").status_code == 403
    login(client, admin)
    html = client.get("/admin/api-tokens").get_data(as_text=True)
    for shown in ("Olu Owner", "backup-script", token.prefix, "read", "2026-04-02 00:00"):
        assert shown in html
    answer = client.post(f"/admin/api-tokens/{token.id}/revoke")
    assert answer.status_code == 303 and answer.headers["Location"] == "/admin/api-tokens"
    assert me(app.test_client(), secret).status_code == 401
    [entry] = audited("api_token.revoke")
    assert entry.actor_user_id == admin.id and entry.object_id == token.id and "Olu Owner" in entry.summary
    assert "revoked" in client.get("/admin/api-tokens").get_data(as_text=True)


def test_the_command_makes_a_token_that_expires(runner, client):
    clock.set(START)
    make_user(email="bot@example.com", time_zone="UTC")
    answer = runner.invoke(args=["create-api-token", "--email", "bot@example.com", "--name", "ci",
                                 "--expires", "2026-03-05"])
    assert answer.exit_code == 0
    assert db.session.scalar(sa.select(ApiToken.expires_at)) == datetime(2026, 3, 6, tzinfo=UTC)
    assert me(client, answer.output.strip()).status_code == 200
    past = runner.invoke(args=["create-api-token", "--email", "bot@example.com", "--name", "x", "--expires", "2026-03-01"])
    assert past.exit_code == 1 and "from today on" in past.output


def test_revoking_a_token_that_does_not_exist_is_a_404(client):
    login(client, make_user(Role.ADMIN))
    assert client.post("/admin/api-tokens/999/revoke").status_code == 404
