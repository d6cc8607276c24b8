"""Signing in and out: clear refusals, throttling, sessions that end when they should."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app import clock
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
