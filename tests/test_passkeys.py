"""Passkeys (WebAuthn) on the server side, answered by a software authenticator
(tests/authenticator.py) that signs real ES256 answers: registration options and the
stored credential, the email and audit of an added passkey, a wrong origin, a replayed
challenge (even with the old session cookie), a removed passkey and a sign count going
backwards all refused; the passkey as the second step after the password, sharing the
five-failure hold; and the passwordless sign-in, which needs user verification."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth import twofactor
from app.auth.models import Passkey, Role
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.extensions import db
from tests.authenticator import Authenticator
from tests.conftest import provider_config
from tests.factories import PASSWORD, login, make_user

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ORIGIN = "http://localhost"  # the tests' PUBLIC_BASE_URL


@pytest.fixture(autouse=True)
def at_t0():
    clock.set(T0)


@pytest.fixture
def app_config(request):
    if "mailbox" not in request.fixturenames:
        return {}
    return provider_config(request.getfixturevalue("twilio"), request.getfixturevalue("mailbox"))


def post_json(client, url: str, body: dict):
    """What static/js/passkeys.js posts: JSON, with the CSRF token in a header."""
    return client.post(url, json=body, headers={"X-CSRFToken": client.csrf_token()})


def options(client, url: str) -> dict:
    answer = client.post(url)
    assert answer.status_code == 200, answer.data
    return json.loads(answer.data)


def register(client, authenticator: Authenticator, name: str = "Work laptop", origin: str = ORIGIN):
    made = authenticator.create(options(client, "/profile/passkeys/options"), origin)
    return post_json(client, "/profile/passkeys", {"name": name, "credential": made})


def passwordless(client, authenticator: Authenticator, origin: str = ORIGIN, **kwargs):
    answer = authenticator.get(options(client, "/login/passkeys/options"), origin, **kwargs)
    return post_json(client, "/login/passkeys", answer)


def signed_in(client) -> bool:
    return client.get("/incidents/").status_code == 200


def enrolled(app, user) -> Authenticator:
    """`user` with one passkey, registered through the pages from a client of its own."""
    authenticator = Authenticator()
    own = app.test_client()
    login(own, user)
    assert register(own, authenticator).status_code == 201
    return authenticator


def audited(action: str) -> list[str]:
    db.session.rollback()
    return db.session.scalars(sa.select(AuditEntry.summary).where(AuditEntry.action == action)
                              .order_by(AuditEntry.id)).all()


# --- registration ---------------------------------------------------------------------------------

def test_registration_options_name_this_site_and_exclude_the_persons_passkeys(app, client):
    user = make_user()
    login(client, user)
    first = options(client, "/profile/passkeys/options")
    assert first["rp"] == {"id": "localhost", "name": "Firebreak"}
    assert first["user"]["name"] == user.email and first["excludeCredentials"] == []
    assert first["authenticatorSelection"]["residentKey"] == "preferred"
    assert first["authenticatorSelection"]["userVerification"] == "preferred"
    authenticator = Authenticator()
    assert post_json(client, "/profile/passkeys", {"name": "Laptop",
                                                  "credential": authenticator.create(first, ORIGIN)}).status_code == 201
    second = options(client, "/profile/passkeys/options")
    assert second["user"]["id"] == first["user"]["id"]  # one stable handle per person
    assert [c["id"] for c in second["excludeCredentials"]] == [Passkey.query.one().credential_id]
    assert second["challenge"] != first["challenge"]


@pytest.mark.db  # bytes, a delete's row count, a BigInteger on both backends
def test_a_registered_passkey_is_stored_listed_audited_and_emailed(app, client, mailbox):
    user = make_user(name="Pat Key")
    login(client, user)
    answer = register(client, Authenticator(), name="  Work   laptop ")
    assert answer.status_code == 201 and answer.json["redirect"] == "/profile/passkeys"
    passkey = db.session.scalars(sa.select(Passkey)).one()
    assert (passkey.user_id, passkey.name, passkey.sign_count, passkey.transports) == (user.id, "Work laptop", 0,
                                                                                       "internal")
    assert passkey.public_key and passkey.last_used_at is None
    page = client.get("/profile/passkeys").get_data(as_text=True)
    assert 'value="Work laptop"' in page and "never" in page
    assert audited("passkey.add") == ["Pat Key added the passkey 'Work laptop'"]
    report = Engine(all_jobs(), holder="test").cycle()
    assert not report.errors
    [message] = mailbox.messages
    assert message["To"] == user.email and "new passkey" in message["Subject"]
    assert '"Work laptop"' in message.get_body(("plain",)).get_content()


def test_registration_refuses_a_wrong_origin_a_missing_name_and_a_replay(app, client):
    login(client, make_user())
    authenticator = Authenticator()
    wrong = register(client, authenticator, origin="http://evil.example")
    assert wrong.status_code == 401 and "origin" in wrong.json["error"]
    assert register(client, authenticator, name=" ").status_code == 400
    made = authenticator.create(options(client, "/profile/passkeys/options"), ORIGIN)
    assert post_json(client, "/profile/passkeys", {"name": "A", "credential": made}).status_code == 201
    again = post_json(client, "/profile/passkeys", {"name": "A again", "credential": made})
    assert again.status_code == 401 and "asked for no passkey" in again.json["error"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Passkey)) == 1


def test_renaming_and_removing_touch_only_ones_own(app, client):
    user, other = make_user(name="Pat"), make_user(name="Other")
    enrolled(app, other)
    login(client, user)
    register(client, Authenticator(), name="Old name")
    mine = db.session.scalar(sa.select(Passkey).where(Passkey.user_id == user.id))
    theirs = db.session.scalar(sa.select(Passkey).where(Passkey.user_id == other.id))
    assert client.post(f"/profile/passkeys/{mine.id}/rename", data={"name": "Phone"}).status_code == 303
    assert client.post(f"/profile/passkeys/{theirs.id}/rename", data={"name": "Mine now"}).status_code == 404
    assert client.post(f"/profile/passkeys/{theirs.id}/remove").status_code == 404
    db.session.expire_all()
    assert (mine.name, theirs.name) == ("Phone", "Work laptop")
    assert client.post(f"/profile/passkeys/{mine.id}/remove").status_code == 303
    assert db.session.scalars(sa.select(Passkey.user_id)).all() == [other.id]
    assert audited("passkey.remove") == ["Pat removed the passkey 'Phone'"]


# --- passwordless sign-in -----------------------------------------------------------------------------

def test_a_passkey_signs_in_without_a_password_and_counts_as_both_factors(app, client):
    user = make_user()
    authenticator = enrolled(app, user)
    twofactor.begin(twofactor.Actor.for_user(user), user)  # an authenticator app too: not asked for
    db.session.commit()
    answer = passwordless(client, authenticator)
    assert answer.status_code == 200 and answer.json["redirect"] == "/"
    assert signed_in(client)
    passkey = db.session.scalars(sa.select(Passkey)).one()
    db.session.refresh(passkey)
    assert passkey.sign_count == 1 and clock.utc(passkey.last_used_at) == T0
    assert "(no password)" in audited("two_factor.success")[-1]


@pytest.mark.db  # bytes, a delete's row count, a BigInteger on both backends
def test_passwordless_sign_in_refuses_a_wrong_origin_and_a_replayed_challenge(app, client):
    authenticator = enrolled(app, make_user())
    wrong = passwordless(client, authenticator, origin="http://localhost:8080")
    assert wrong.status_code == 401 and not signed_in(client)
    fresh = app.test_client()
    answer = authenticator.get(options(fresh, "/login/passkeys/options"), ORIGIN)
    cookie = fresh.get_cookie("firebreak_session").value  # the session as it was, challenge and all
    assert post_json(fresh, "/login/passkeys", answer).status_code == 200
    replay = app.test_client()
    replay.set_cookie("firebreak_session", cookie)
    refused = post_json(replay, "/login/passkeys", answer)
    assert refused.status_code == 401 and "answered already" in refused.json["error"]
    assert not signed_in(replay)


def test_a_removed_passkey_no_longer_signs_in(app, client):
    user = make_user()
    authenticator = enrolled(app, user)
    own = app.test_client()
    login(own, user)
    own.post(f"/profile/passkeys/{db.session.scalars(sa.select(Passkey.id)).one()}/remove")
    refused = passwordless(client, authenticator)
    assert refused.status_code == 401 and "not registered" in refused.json["error"]
    assert not signed_in(client)


@pytest.mark.db  # bytes, a delete's row count, a BigInteger on both backends
def test_a_sign_count_going_backwards_is_refused(app, client):
    user = make_user()
    authenticator = enrolled(app, user)
    assert passwordless(app.test_client(), authenticator, sign_count=5).status_code == 200
    refused = passwordless(client, authenticator, sign_count=3)  # a cloned key
    assert refused.status_code == 401 and "sign count" in refused.json["error"]
    assert not signed_in(client)
    db.session.expire_all()
    assert db.session.scalars(sa.select(Passkey.sign_count)).one() == 5
    assert user.second_factor_failures == 1


def test_passwordless_needs_the_authenticator_to_verify_the_person(app, client):
    user = make_user()
    authenticator = enrolled(app, user)
    authenticator.verified = False
    refused = passwordless(client, authenticator)
    assert refused.status_code == 401 and "verif" in refused.json["error"]
    assert options(client, "/login/passkeys/options")["allowCredentials"] == []  # discoverable


# --- the second step after the password ------------------------------------------------------------------

def test_a_passkey_is_a_second_factor_after_the_password(app, client):
    user = make_user()
    authenticator = enrolled(app, user)
    assert twofactor.has_second_factor(user)
    answer = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert answer.headers["Location"] == "/login/two-factor" and not signed_in(client)
    page = client.get("/login/two-factor").get_data(as_text=True)
    assert "Use your passkey" in page and 'name="code"' not in page  # no authenticator app to ask for
    asked = options(client, "/login/two-factor/passkeys/options")
    assert [c["id"] for c in asked["allowCredentials"]] == [db.session.scalars(sa.select(Passkey.credential_id)).one()]
    done = post_json(client, "/login/two-factor/passkeys", authenticator.get(asked, ORIGIN))
    assert done.status_code == 200 and signed_in(client)


def test_failed_passkey_answers_count_toward_the_second_steps_hold(app, client):
    user, other = make_user(), make_user()
    authenticator = enrolled(app, user)
    stranger = enrolled(app, other)  # a real passkey, of someone else
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    for _ in range(twofactor.MAX_FAILURES):
        asked = options(client, "/login/two-factor/passkeys/options")
        wrong = stranger.get({**asked, "allowCredentials": []}, ORIGIN)
        assert post_json(client, "/login/two-factor/passkeys", wrong).status_code == 401
    asked = options(client, "/login/two-factor/passkeys/options")
    held = post_json(client, "/login/two-factor/passkeys", authenticator.get(asked, ORIGIN))
    assert held.status_code == 400 and "Too many" in held.json["error"]
    assert not signed_in(client)
    assert len(audited("two_factor.locked")) == 1


def test_the_second_step_needs_the_password_first(client):
    assert client.post("/login/two-factor/passkeys/options").status_code == 401
    assert post_json(client, "/login/two-factor/passkeys", {}).status_code == 401


def test_an_admins_reset_removes_the_persons_passkeys(app, client):
    user = make_user()
    enrolled(app, user)
    login(client, make_user(Role.ADMIN))
    assert client.post(f"/people/{user.id}/two-factor/reset").status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Passkey)) == 0
    assert not twofactor.has_second_factor(user)


def test_a_passkey_meets_the_two_factor_policy(app, client):
    twofactor.set_policy(twofactor.Actor.system(), "everyone")
    db.session.commit()
    user = make_user()
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert client.get("/incidents/").headers["Location"] == "/profile/two-factor"  # held for enrolment
    assert client.get("/profile/passkeys").status_code == 200
    assert register(client, Authenticator()).status_code == 201
    assert signed_in(client)
