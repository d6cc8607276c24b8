"""Signing in and out: clear refusals, throttling, sessions that end when they should."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth import service as people
from app.auth.models import Role
from app.extensions import db, limiter
from tests.factories import PASSWORD, actor, login, make_user


def sign_in(client, email, password, **extra):
    return client.post("/login", data={"email": email, "password": password, **extra})


def test_sign_in_page_is_public_and_has_a_form(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert b'name="email"' in page.data and b'name="password"' in page.data
    assert b'name="csrf_token"' in page.data


def test_right_password_signs_in_and_lands_home(client):
    user = make_user(name="Dana Okafor")
    answer = sign_in(client, user.email, PASSWORD)
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and b"Hello, Dana" in home.data


def test_email_is_matched_regardless_of_case(client):
    user = make_user(email="Lee.Tanaka@Example.com")
    assert user.email == "lee.tanaka@example.com"
    assert sign_in(client, "LEE.TANAKA@example.COM", PASSWORD).status_code == 303


@pytest.mark.parametrize("email,password", [("nobody@example.com", PASSWORD), ("known@example.com", "wrong password")])
def test_wrong_sign_in_is_refused_with_the_same_clear_message(client, email, password):
    make_user(email="known@example.com")
    answer = sign_in(client, email, password)
    assert answer.status_code == 401
    assert b"That email and password do not match an active account." in answer.data
    assert b'value="' + email.encode() + b'"' in answer.data  # what was typed is kept
    assert client.get("/").status_code == 302


def test_inactive_people_cannot_sign_in(client):
    user = make_user()
    user.active = False
    db.session.commit()
    assert sign_in(client, user.email, PASSWORD).status_code == 401


def test_repeated_failures_hold_the_account_back(app, client):
    user = make_user()
    for _ in range(app.config["SIGNIN_MAX_FAILURES"]):
        assert sign_in(client, user.email, "wrong").status_code == 401
    held = sign_in(client, user.email, PASSWORD)  # even the right password waits now
    assert held.status_code == 401
    assert b"Too many failed sign-ins. Try again in 15 minutes." in held.data
    clock.set(clock.now() + timedelta(minutes=16))
    assert sign_in(client, user.email, PASSWORD).status_code == 303


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "SIGNIN_RATE_LIMIT": "3 per minute"}])
def test_sign_in_is_rate_limited_per_client(app, client):
    limiter.reset()
    for n in range(3):
        assert sign_in(client, f"x{n}@example.com", "wrong").status_code == 401
    answer = sign_in(client, "x9@example.com", "wrong")
    assert answer.status_code == 429
    assert b"Too many requests" in answer.data
    assert client.get("/login").status_code == 200  # reading the form is not limited


def test_sign_in_without_csrf_token_is_refused(client):
    user = make_user()
    answer = client.post("/login", data={"email": user.email, "password": PASSWORD}, csrf=False)
    assert answer.status_code == 400
    assert b"This form has expired or did not come from Firebreak" in answer.data
    assert client.get("/").status_code == 302


def test_next_goes_back_to_the_page_asked_for_but_never_off_site(client):
    user = make_user()
    first = client.get("/services/")
    assert first.status_code == 302 and "next=/services/" in first.headers["Location"]
    assert sign_in(client, user.email, PASSWORD, next="/services/").headers["Location"] == "/services/"
    client.post("/logout")
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        assert sign_in(client, user.email, PASSWORD, next=evil).headers["Location"] == "/"
        client.post("/logout")


def test_sign_out_ends_the_session(client):
    user = make_user()
    login(client, user)
    assert client.get("/").status_code == 200
    assert client.post("/logout").status_code == 303
    assert client.get("/").status_code == 302


def test_session_cookie_flags(client):
    user = make_user()
    answer = sign_in(client, user.email, PASSWORD)
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize("app_config", [{"PUBLIC_BASE_URL": "https://incidents.example.com",
                                          "SESSION_COOKIE_SECURE": True}])
def test_session_cookie_is_secure_behind_https(client):
    user = make_user()
    assert "Secure" in sign_in(client, user.email, PASSWORD).headers["Set-Cookie"]


def test_changing_a_password_signs_out_other_sessions(app):
    user = make_user()
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, user.email, PASSWORD)
    sign_in(phone, user.email, PASSWORD)
    changed = laptop.post("/profile/password", data={"current_password": PASSWORD, "password": "a new long password",
                                                    "confirm": "a new long password"})
    assert changed.status_code == 303
    assert laptop.get("/").status_code == 200  # the session that changed it stays in
    assert phone.get("/").status_code == 302  # every other one is out


def test_deactivating_a_person_ends_their_sessions(app, client):
    user = make_user()
    admin = make_user(Role.ADMIN)
    login(client, user)
    assert client.get("/").status_code == 200
    people.update_user(actor(admin), user, active=False)
    db.session.commit()
    assert client.get("/").status_code == 302


# --- how long a session lasts (the clock is set, never waited for) ----------------------

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# What production runs with (tests/conftest.py makes sessions outlast the tests' clock jumps).
SESSIONS = {"SESSION_LIFETIME_HOURS": 12, "SESSION_IDLE_MINUTES": 60}
with_production_sessions = pytest.mark.parametrize("app_config", [SESSIONS])


def test_the_production_session_limits_are_the_defaults(monkeypatch):
    from app.config import from_env
    monkeypatch.delenv("SESSION_LIFETIME_HOURS", raising=False)
    monkeypatch.delenv("SESSION_IDLE_MINUTES", raising=False)
    settings = from_env()
    assert {k: settings[k] for k in SESSIONS} == SESSIONS
    assert settings["PERMANENT_SESSION_LIFETIME"] == 12 * 3600  # the cookie dies with the session
    monkeypatch.setenv("SESSION_IDLE_MINUTES", "15")
    assert from_env()["SESSION_IDLE_MINUTES"] == 15
    monkeypatch.setenv("SESSION_IDLE_MINUTES", "0")
    with pytest.raises(ValueError, match="SESSION_IDLE_MINUTES must be a positive number"):
        from_env()


@with_production_sessions
def test_a_session_ends_after_the_idle_limit(app, client):
    clock.set(START)
    user = make_user()
    assert sign_in(client, user.email, PASSWORD).status_code == 303
    idle = app.config["SESSION_IDLE_MINUTES"]
    clock.set(START + timedelta(minutes=idle - 1))
    assert client.get("/").status_code == 200  # still in, and seen now
    clock.set(START + timedelta(minutes=2 * idle - 2))
    assert client.get("/").status_code == 200  # counted from the last request, not sign-in
    clock.set(START + timedelta(minutes=3 * idle - 1))
    answer = client.get("/incidents/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    login_page = client.get(answer.headers["Location"])
    assert b"signed out after a while without activity" in login_page.data
    assert client.get("/").status_code == 302  # and it stays ended


@with_production_sessions
def test_a_session_ends_at_its_lifetime_however_busy(app, client):
    clock.set(START)
    user = make_user()
    sign_in(client, user.email, PASSWORD)
    hours = app.config["SESSION_LIFETIME_HOURS"]
    at = START
    while at + timedelta(minutes=30) < START + timedelta(hours=hours):
        at += timedelta(minutes=30)
        clock.set(at)
        assert client.get("/").status_code == 200, at
    clock.set(START + timedelta(hours=hours))
    answer = client.get("/")
    assert answer.status_code == 302
    assert b"Your session has ended" in client.get("/login").data
    assert sign_in(client, user.email, PASSWORD).status_code == 303  # signing in again starts a new one
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("app_config", [{"SESSION_IDLE_MINUTES": 5, "SESSION_LIFETIME_HOURS": 1}])
def test_the_limits_are_settings(app, client):
    clock.set(START)
    sign_in(client, make_user().email, PASSWORD)
    clock.set(START + timedelta(minutes=4))
    assert client.get("/").status_code == 200
    clock.set(START + timedelta(minutes=9, seconds=59))
    assert client.get("/").status_code == 302


@with_production_sessions
def test_an_htmx_request_from_an_ended_session_is_sent_to_sign_in(app, client):
    clock.set(START)
    sign_in(client, make_user().email, PASSWORD)
    clock.set(START + timedelta(hours=app.config["SESSION_LIFETIME_HOURS"], minutes=1))
    answer = client.get("/incidents/", headers={"HX-Request": "true"})
    assert answer.status_code == 401 and answer.headers["HX-Redirect"].startswith("/login")


def test_a_session_cookie_without_its_sign_in_time_is_not_accepted(client):
    """A cookie signed with our key but not made by sign-in (or made before sessions
    carried their times) counts as ended."""
    user = make_user()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
    assert client.get("/").status_code == 302


def test_sign_out_everywhere_ends_every_session_of_that_person(app):
    user, other = make_user(), make_user()
    laptop, phone, colleague = app.test_client(), app.test_client(), app.test_client()
    for browser, person in ((laptop, user), (phone, user), (colleague, other)):
        assert sign_in(browser, person.email, PASSWORD).status_code == 303
    answer = phone.post("/profile/sign-out-everywhere")
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 302
    assert colleague.get("/").status_code == 200  # nobody else's
    assert db.session.scalar(sa.select(AuditEntry.action).order_by(AuditEntry.id.desc())) == "user.sign_out_everywhere"
    assert sign_in(laptop, user.email, PASSWORD).status_code == 303 and laptop.get("/").status_code == 200


def test_an_admin_can_sign_someone_out_everywhere_and_nobody_else_can(app, client):
    user, admin, responder = make_user(), make_user(Role.ADMIN), make_user(Role.RESPONDER)
    lost_phone = app.test_client()
    sign_in(lost_phone, user.email, PASSWORD)
    login(client, responder)
    assert client.post(f"/people/{user.id}/sign-out").status_code == 403
    assert lost_phone.get("/").status_code == 200
    login(client, admin)
    assert client.post(f"/people/{user.id}/sign-out").status_code == 303
    assert lost_phone.get("/").status_code == 302
    assert client.get("/").status_code == 200  # the admin stays in


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "SIGNIN_RATE_LIMIT": "3 per minute",
                                          "PROXY_COUNT": 1}])
def test_sign_in_is_throttled_per_client_address_behind_the_proxy(app, client, monkeypatch):
    """Each client address has its own allowance (the proxy's X-Forwarded-For, with
    PROXY_COUNT=1), and it comes back when its minute is over (the limiter's clock
    is the app's, set by the test)."""
    import limits.storage.memory
    monkeypatch.setattr(limits.storage.memory, "time", type("Clock", (), {"time": staticmethod(
        lambda: clock.now().timestamp())}))
    clock.set(START)
    limiter.reset()

    def attempt(address):
        return client.post("/login", data={"email": "nobody@example.com", "password": "wrong"},
                           headers={"X-Forwarded-For": address})

    for _ in range(3):
        assert attempt("203.0.113.7").status_code == 401
    assert attempt("203.0.113.7").status_code == 429
    assert attempt("198.51.100.9").status_code == 401  # another client is not held back
    clock.set(START + timedelta(seconds=61))
    assert attempt("203.0.113.7").status_code == 401


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "SIGNIN_RATE_LIMIT": "3 per minute"}])
def test_without_a_proxy_a_forged_forwarded_for_does_not_buy_more_tries(app, client):
    limiter.reset()
    for n in range(3):
        client.post("/login", data={"email": "x@example.com", "password": "wrong"},
                    headers={"X-Forwarded-For": f"192.0.2.{n}"})
    answer = client.post("/login", data={"email": "x@example.com", "password": "wrong"},
                         headers={"X-Forwarded-For": "192.0.2.99"})
    assert answer.status_code == 429


def test_the_account_hold_counts_failures_from_every_address(app, client):
    """Per account, whatever the address: guesses spread over many clients still hold
    the account back, and the hold lifts by the clock."""
    clock.set(START)
    user = make_user()
    for n in range(app.config["SIGNIN_MAX_FAILURES"]):
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = f"198.51.100.{n}"
        assert sign_in(browser, user.email, "wrong").status_code == 401
    assert sign_in(client, user.email, PASSWORD).status_code == 401
    clock.set(START + timedelta(minutes=app.config["SIGNIN_LOCK_MINUTES"], seconds=1))
    assert sign_in(client, user.email, PASSWORD).status_code == 303
