"""Two-factor sign-in with an authenticator app: enrolment that takes effect only on a
right code, the second step after the password (a window of one step either way, no
replay, five wrong codes hold it back 15 minutes), single-use recovery codes, the
policy that sends people to enrolment, an admin's reset, turning it off (with its
security email through the real SMTP server), and the QR code under the strict CSP.
Codes are made with pyotp at the app clock's time: time is set, never waited for."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth import service as people
from app.auth import twofactor
from app.auth.models import RecoveryCode, Role, TotpFactor, TwoFactorPolicy
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.errors import Forbidden
from app.extensions import db
from app.security import CSP
from tests.conftest import provider_config
from tests.factories import PASSWORD, SYSTEM, actor, login, make_user
from tests.test_access import inline_code

T0 = datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)  # 5 s into a 30 s step


@pytest.fixture(autouse=True)
def at_t0():
    clock.set(T0)


def code_at(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(at)


def enrolled(user) -> tuple[str, list[str]]:
    """Turn two-factor on for `user` through the service: (secret, recovery codes)."""
    twofactor.begin(actor(user), user)
    secret = twofactor.pending_secret(user)
    codes = twofactor.confirm(actor(user), user, code_at(secret, clock.now() - timedelta(seconds=30)), clock.now())
    db.session.commit()
    return secret, codes


def password_step(client, user, **extra):
    return client.post("/login", data={"email": user.email, "password": PASSWORD, **extra})


def signed_in(client) -> bool:
    return client.get("/incidents/").status_code == 200


def actions(user) -> list[str]:
    db.session.rollback()
    return db.session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.object_type == "users", AuditEntry.object_id == user.id,
        AuditEntry.action.like("two_factor.%")).order_by(AuditEntry.id)).all()


# --- enrolment ----------------------------------------------------------------------------------

def test_enrolment_takes_effect_only_once_a_right_code_is_confirmed(app, client):
    user = make_user()
    login(client, user)
    assert b"Set up two-factor sign-in" in client.get("/profile/two-factor").data
    assert client.post("/profile/two-factor/start").status_code == 303
    page = client.get("/profile/two-factor").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    assert "<svg" in page and "otpauth" not in page  # the URI is in the QR code only
    stored = db.session.scalar(sa.select(TotpFactor.secret).where(TotpFactor.user_id == user.id))
    assert secret not in stored  # encrypted at rest

    wrong = client.post("/profile/two-factor/confirm", data={"code": "000000"})
    assert wrong.status_code == 400 and b"does not match" in wrong.data
    assert not twofactor.has_second_factor(user)
    assert password_step(app.test_client(), user).headers["Location"] == "/"  # the password alone, still

    right = client.post("/profile/two-factor/confirm", data={"code": code_at(secret, clock.now())})
    assert right.status_code == 201
    shown = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", right.get_data(as_text=True))
    assert len(shown) == len(set(shown)) == 10
    db.session.expire_all()
    assert twofactor.has_second_factor(user)
    hashes = db.session.scalars(sa.select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)).all()
    assert len(hashes) == 10 and not set(shown) & set(hashes)  # stored hashed
    after = client.get("/profile/two-factor").get_data(as_text=True)
    assert secret not in after and shown[0] not in after  # neither is shown again
    assert "10 recovery codes left" in after
    assert actions(user) == ["two_factor.enable"]


def test_the_qr_code_is_inline_svg_the_csp_allows(client):
    login(client, make_user())
    client.post("/profile/two-factor/start")
    answer = client.get("/profile/two-factor")
    page = answer.get_data(as_text=True)
    svg = re.search(r"<svg\b.*?</svg>", page, re.S).group(0)
    assert "<path" in svg and "<img" not in page and "data:" not in page
    assert inline_code(page) == []  # no inline script, handler or style attribute
    assert answer.headers["Content-Security-Policy"] == CSP and "unsafe-inline" not in CSP


def test_enrolment_is_refused_while_it_is_already_on(client):
    user = make_user()
    secret, _ = enrolled(user)
    login(client, user)
    client.post("/profile/two-factor/start")
    db.session.expire_all()
    assert twofactor.has_second_factor(user)
    assert b"already on" in client.get("/profile/two-factor").data


# --- the second step ---------------------------------------------------------------------------

def test_the_password_alone_no_longer_signs_in(client):
    user = make_user()
    secret, _ = enrolled(user)
    clock.advance(timedelta(minutes=1))
    answer = password_step(client, user, next="/people")
    assert answer.status_code == 303 and answer.headers["Location"] == "/login/two-factor"
    assert not signed_in(client)
    assert b"One more step" in client.get("/login/two-factor").data
    done = client.post("/login/two-factor", data={"code": code_at(secret, clock.now())})
    assert done.status_code == 303 and done.headers["Location"] == "/people"
    assert signed_in(client)
    assert actions(user)[-1] == "two_factor.success"


def test_a_code_is_taken_once_and_never_replayed_in_its_window(app, client):
    user = make_user()
    secret, _ = enrolled(user)
    clock.advance(timedelta(minutes=1))
    code = code_at(secret, clock.now())
    password_step(client, user)
    assert client.post("/login/two-factor", data={"code": code}).status_code == 303

    other = app.test_client()
    password_step(other, user)
    replay = other.post("/login/two-factor", data={"code": code})
    assert replay.status_code == 401 and b"used already" in replay.data
    assert not signed_in(other)
    clock.advance(timedelta(seconds=30))  # the next step's code is new
    assert other.post("/login/two-factor", data={"code": code_at(secret, clock.now())}).status_code == 303


def test_codes_one_step_either_side_are_taken(app):
    """A phone's clock may be a step off; two steps is another code. Each sign-in is
    five minutes after the last, so no code is refused as a replay."""
    user = make_user()
    secret, _ = enrolled(user)
    taken = {}
    for offset in (-60, 60, -30, 0, 30):
        clock.advance(timedelta(minutes=5))
        client = app.test_client()
        password_step(client, user)
        code = code_at(secret, clock.now() + timedelta(seconds=offset))
        taken[offset] = client.post("/login/two-factor", data={"code": code}).status_code == 303
    assert taken == {-60: False, 60: False, -30: True, 0: True, 30: True}


def test_five_wrong_codes_hold_the_step_back_fifteen_minutes(app, client):
    user = make_user()
    secret, _ = enrolled(user)
    clock.advance(timedelta(minutes=1))
    password_step(client, user)
    for _ in range(5):
        answer = client.post("/login/two-factor", data={"code": "123456"})
        assert answer.status_code == 401 and b"That code is not right" in answer.data
    sixth = client.post("/login/two-factor", data={"code": "123456"})
    assert b"Too many wrong codes. Try again in 15 minutes." in sixth.data
    # Held per person, in the database: another browser with the right code is refused too.
    other = app.test_client()
    password_step(other, user)
    held = other.post("/login/two-factor", data={"code": code_at(secret, clock.now())})
    assert held.status_code == 401 and b"Too many wrong codes" in held.data
    assert not signed_in(other)
    assert actions(user)[-6:] == ["two_factor.failure"] * 5 + ["two_factor.locked"]

    clock.advance(timedelta(minutes=14))
    password_step(other, user)
    assert other.post("/login/two-factor", data={"code": code_at(secret, clock.now())}).status_code == 401
    clock.advance(timedelta(minutes=1, seconds=1))
    password_step(other, user)
    assert other.post("/login/two-factor", data={"code": code_at(secret, clock.now())}).status_code == 303


def test_the_passed_password_waits_five_minutes_for_its_code(client):
    user = make_user()
    secret, _ = enrolled(user)
    password_step(client, user)
    clock.advance(timedelta(minutes=5))
    answer = client.post("/login/two-factor", data={"code": code_at(secret, clock.now())})
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"
    assert not signed_in(client)


def test_without_a_passed_password_the_step_sends_to_sign_in(client):
    answer = client.post("/login/two-factor", data={"code": "123456"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"


def test_recovery_codes_work_once_and_new_ones_replace_the_old(app, client):
    user = make_user()
    _, codes = enrolled(user)
    password_step(client, user)
    assert client.post("/login/two-factor", data={"code": codes[0].upper().replace("-", " ")}).status_code == 303
    assert actions(user)[-2:] == ["two_factor.success", "two_factor.recovery_code_used"]

    other = app.test_client()
    password_step(other, user)
    assert other.post("/login/two-factor", data={"code": codes[0]}).status_code == 401

    fresh = client.post("/profile/two-factor/recovery-codes")
    assert fresh.status_code == 201
    new = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", fresh.get_data(as_text=True))
    assert len(new) == 10
    password_step(other, user)
    assert other.post("/login/two-factor", data={"code": codes[1]}).status_code == 401
    assert other.post("/login/two-factor", data={"code": new[0]}).status_code == 303


def test_a_new_secret_key_leaves_recovery_codes_working(app, client):
    user = make_user()
    secret, codes = enrolled(user)
    app.config["SECRET_KEY"] = "another key entirely, at least 32 characters long"
    clock.advance(timedelta(minutes=1))
    password_step(client, user)
    assert client.post("/login/two-factor", data={"code": code_at(secret, clock.now())}).status_code == 401
    assert client.post("/login/two-factor", data={"code": codes[0]}).status_code == 303


def test_api_tokens_need_no_second_factor(client):
    user = make_user()
    enrolled(user)
    _, token = people.create_api_token(SYSTEM, user, name="script")
    twofactor.set_policy(SYSTEM, TwoFactorPolicy.EVERYONE)
    db.session.commit()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


# --- the policy ---------------------------------------------------------------------------------

@pytest.mark.parametrize("policy,role,held", [
    ("nobody", Role.ADMIN, False), ("admins", Role.ADMIN, True), ("admins", Role.RESPONDER, False),
    ("responders", Role.RESPONDER, True), ("responders", Role.VIEWER, False), ("everyone", Role.VIEWER, True),
])
def test_the_policy_covers_roles_from_the_least_it_names(policy, role, held):
    assert TwoFactorPolicy(policy).covers(role) is held


def test_people_the_policy_covers_enrol_before_anything_else(client):
    twofactor.set_policy(SYSTEM, TwoFactorPolicy.RESPONDERS)
    db.session.commit()
    user = make_user(Role.RESPONDER)
    answer = password_step(client, user)
    assert answer.status_code == 303 and answer.headers["Location"] == "/profile/two-factor"
    for path in ("/", "/incidents/", "/profile", "/people"):
        blocked = client.get(path)
        assert blocked.status_code == 303 and blocked.headers["Location"] == "/profile/two-factor", path
    assert client.get("/incidents/", headers={"HX-Request": "true"}).headers["HX-Redirect"] == "/profile/two-factor"
    assert client.get("/status").status_code == 200  # public pages stay public

    client.post("/profile/two-factor/start")
    secret = twofactor.pending_secret(user)
    assert client.post("/profile/two-factor/confirm", data={"code": code_at(secret, clock.now())}).status_code == 201
    assert signed_in(client)


def test_someone_held_for_enrolment_may_sign_out(client):
    twofactor.set_policy(SYSTEM, TwoFactorPolicy.EVERYONE)
    db.session.commit()
    password_step(client, make_user(Role.VIEWER))
    answer = client.post("/logout")
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"
    assert client.get("/profile/two-factor").status_code == 302  # signed out: to sign in


def test_people_outside_the_policy_sign_in_with_the_password(client):
    twofactor.set_policy(SYSTEM, TwoFactorPolicy.ADMINS)
    db.session.commit()
    assert password_step(client, make_user(Role.RESPONDER)).headers["Location"] == "/"
    assert signed_in(client)


def test_admins_set_the_policy_and_bad_input_changes_nothing(client):
    admin = make_user(Role.ADMIN)
    login(client, admin)
    assert b"Admins and responders" in client.get("/admin/two-factor").data
    bad = client.post("/admin/two-factor", data={"required": "interns"})
    assert bad.status_code == 400 and twofactor.policy() == TwoFactorPolicy.NOBODY
    assert client.post("/admin/two-factor", data={"required": "admins"}).status_code == 303
    db.session.expire_all()
    assert twofactor.policy() == TwoFactorPolicy.ADMINS
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "two_factor.policy"))
    assert entry.before == {"required": "nobody"} and entry.after == {"required": "admins"}


# --- reset and turning off ------------------------------------------------------------------------

@pytest.fixture
def app_config(request):
    if "mailbox" not in request.fixturenames:
        return {}
    return provider_config(request.getfixturevalue("twilio"), request.getfixturevalue("mailbox"))


def deliver() -> None:
    report = Engine(all_jobs(), holder="test").cycle()
    assert not report.errors, report.errors


def test_an_admin_resets_a_second_factor_and_the_person_enrols_again(app, mailbox):
    twofactor.set_policy(SYSTEM, TwoFactorPolicy.RESPONDERS)
    admin, user = make_user(Role.ADMIN, name="Ada Admin"), make_user(Role.RESPONDER, name="Sam Lost")
    enrolled(user)
    theirs, mine = app.test_client(), app.test_client()
    login(theirs, user)
    login(mine, admin)
    assert b"Reset the second factor of Sam Lost" in mine.get(f"/people/{user.id}").data
    assert mine.post(f"/people/{user.id}/two-factor/reset").status_code == 303
    db.session.expire_all()
    assert twofactor.factor_of(user) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)) == 0
    assert not signed_in(theirs)  # their sessions end: they may have lost the phone with a browser
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "two_factor.reset"))
    assert entry.actor_label == "Ada Admin" and entry.object_id == user.id

    answer = password_step(theirs, user)
    assert answer.headers["Location"] == "/profile/two-factor"  # the policy: enrol again
    deliver()
    [message] = mailbox.messages
    assert message["To"] == user.email and "turned off" in message["Subject"]
    assert "by Ada Admin" in message.get_body(("plain",)).get_content()


def test_resetting_nothing_is_a_clear_refusal(client):
    login(client, make_user(Role.ADMIN))
    user = make_user()
    page = client.post(f"/people/{user.id}/two-factor/reset", follow_redirects=True)
    assert b"has no second factor to reset" in page.data


def test_turning_it_off_needs_the_password_or_a_code_and_sends_the_email(app, client, mailbox):
    user = make_user(name="Sam Person")
    secret, _ = enrolled(user)
    login(client, user)
    other = app.test_client()
    login(other, user)
    refused = client.post("/profile/two-factor/turn-off", data={"password": "not my password"})
    assert refused.status_code == 400 and b"Give your current password" in refused.data
    db.session.expire_all()
    assert twofactor.has_second_factor(user)
    assert client.post("/profile/two-factor/turn-off", data={"password": PASSWORD}).status_code == 303
    db.session.expire_all()
    assert not twofactor.has_second_factor(user)
    assert signed_in(other)  # one's own choice: other sessions stay
    assert actions(user)[-1] == "two_factor.disable"
    deliver()
    [message] = mailbox.messages
    assert message["To"] == user.email and message["Subject"] == "Two-factor sign-in was turned off on your " \
                                                                  "Firebreak account"
    clock.advance(timedelta(minutes=1))
    assert password_step(app.test_client(), user).headers["Location"] == "/"


def test_turning_it_off_with_a_code(client):
    user = make_user()
    secret, _ = enrolled(user)
    clock.advance(timedelta(minutes=1))
    login(client, user)
    answer = client.post("/profile/two-factor/turn-off", data={"code": code_at(secret, clock.now())})
    assert answer.status_code == 303
    db.session.expire_all()
    assert not twofactor.has_second_factor(user)


def test_only_the_person_changes_their_own_second_factor(app):
    user, admin = make_user(), make_user(Role.ADMIN)
    with pytest.raises(Forbidden, match="Only the person themselves"):
        twofactor.begin(actor(admin), user)
