"""A person's browser sessions: listed with device, IP and times, ended one by one or
all but this one, and a cookie whose session is ended or unknown is signed out."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth import devices, sessions
from app.auth import service as people
from app.auth.models import BrowserSession, Role
from app.extensions import db
from tests.factories import PASSWORD, actor, login, make_user

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/126.0.0.0 Mobile Safari/537.36")


def sign_in(client, user, user_agent="", ip="127.0.0.1"):
    answer = client.post("/login", data={"email": user.email, "password": PASSWORD},
                         headers={"User-Agent": user_agent}, environ_base={"REMOTE_ADDR": ip})
    assert answer.status_code == 303
    return answer


def actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))


def rows(user) -> list[BrowserSession]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(BrowserSession).where(BrowserSession.user_id == user.id)
                                   .order_by(BrowserSession.id)))


@pytest.mark.db
def test_signing_in_records_a_session_listed_with_device_ip_and_times(app, client):
    clock.set(START)
    user = make_user(time_zone="UTC")
    sign_in(client, user, FIREFOX_MAC, "198.51.100.4")
    clock.set(START + timedelta(minutes=5))
    page = client.get("/profile/sessions")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Firefox on macOS" in html and "(this browser)" in html and "198.51.100.4" in html
    assert "2026-03-02 09:00" in html
    [record] = rows(user)
    assert (record.ip, record.user_agent, record.ended_at) == ("198.51.100.4", FIREFOX_MAC, None)
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "user.sign_in"))
    assert entry.actor_user_id == user.id and entry.ip == "198.51.100.4" and "Firefox on macOS" in entry.summary


def test_the_sessions_block_comes_alone_to_htmx(client):
    login(client, make_user(), user_agent=CHROME_ANDROID)
    answer = client.get("/profile/sessions", headers={"HX-Request": "true"})
    assert "Chrome on Android" in answer.get_data(as_text=True) and b"<html" not in answer.data


@pytest.mark.db
def test_ending_a_session_signs_that_browser_out_and_no_other(app):
    user = make_user()
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, user, FIREFOX_MAC)
    sign_in(phone, user, CHROME_ANDROID)
    on_phone = rows(user)[1]
    answer = laptop.post(f"/profile/sessions/{on_phone.id}/end")
    assert answer.status_code == 303 and answer.headers["Location"] == "/profile/sessions"
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 200
    assert rows(user)[1].ended_at is not None
    assert "Chrome on Android" not in laptop.get("/profile/sessions").get_data(as_text=True)
    assert actions()[-1] == "session.end"


def test_ending_every_other_session_keeps_this_one(app):
    user, colleague = make_user(), make_user()
    here, *elsewhere = (app.test_client() for _ in range(3))
    theirs = app.test_client()
    for browser in (here, *elsewhere):
        sign_in(browser, user)
    sign_in(theirs, colleague)
    assert here.post("/profile/sessions/end-others").status_code == 303
    assert [b.get("/").status_code for b in (here, *elsewhere, theirs)] == [200, 302, 302, 200]
    assert [r.ended_at is None for r in rows(user)] == [True, False, False]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "session.end_others"))
    assert entry.summary.startswith("Ended 2 other session(s)")


def test_this_browsers_own_session_is_not_ended_from_the_list(client):
    record = login(client, make_user())
    answer = client.post(f"/profile/sessions/{record.id}/end", follow_redirects=True)
    assert "sign out instead" in answer.get_data(as_text=True)
    assert client.get("/").status_code == 200 and rows(record.user)[0].ended_at is None


def test_nobody_sees_or_ends_another_persons_session(app, client):
    theirs = login(app.test_client(), make_user())
    login(client, make_user(Role.ADMIN))
    assert client.post(f"/profile/sessions/{theirs.id}/end").status_code == 404
    assert rows(theirs.user)[0].ended_at is None
    assert f"/profile/sessions/{theirs.id}/end" not in client.get("/profile/sessions").get_data(as_text=True)


@pytest.mark.db
def test_a_cookie_copied_before_sign_out_no_longer_signs_in(app, client):
    """The cookie is signed, not secret from its holder: a copy taken before signing
    out (a shared computer, a stolen cookie) still carried a valid signature."""
    sign_in(client, make_user())
    name = app.config["SESSION_COOKIE_NAME"]
    stolen = client.get_cookie(name).value
    thief = app.test_client()
    thief.set_cookie(name, stolen)
    assert thief.get("/").status_code == 200
    assert client.post("/logout").status_code == 303
    thief.set_cookie(name, stolen)
    assert thief.get("/").status_code == 302


def test_a_cookie_with_an_unknown_or_missing_session_key_is_signed_out(app, client):
    user = make_user()
    stamp = int(clock.now().timestamp())
    for key in ("made-up", None):
        with client.session_transaction() as cookie:
            cookie.update({"_user_id": user.get_id(), sessions.SIGNED_IN_AT: stamp, sessions.SEEN_AT: stamp})
            if key:
                cookie[sessions.KEY] = key
        assert client.get("/").status_code == 302


def test_a_session_key_signs_in_only_as_its_own_person(app, client):
    login(client, make_user())
    other = make_user(Role.ADMIN)
    with client.session_transaction() as cookie:
        cookie["_user_id"] = other.get_id()
    assert client.get("/").status_code == 302


@pytest.mark.db
def test_a_password_reset_or_signing_out_everywhere_ends_every_session(app):
    user, admin = make_user(), make_user(Role.ADMIN)
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, user)
    sign_in(phone, user)
    people.set_password(actor(admin), user, PASSWORD + " again")
    db.session.commit()
    assert laptop.get("/").status_code == 302 and phone.get("/").status_code == 302
    assert sessions.active_sessions(user, clock.now()) == []
    people.set_password(actor(admin), user, PASSWORD)
    db.session.commit()
    sign_in(laptop, user)
    people.sign_out_everywhere(actor(admin), user)
    db.session.commit()
    assert laptop.get("/").status_code == 302 and sessions.active_sessions(user, clock.now()) == []


def test_changing_ones_own_password_keeps_this_session_listed_and_ends_the_others(app):
    user = make_user()
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, user, FIREFOX_MAC)
    sign_in(phone, user, CHROME_ANDROID)
    answer = laptop.post("/profile/password", data={"current_password": PASSWORD, "password": "another good one",
                                                    "confirm": "another good one"})
    assert answer.status_code == 303 and phone.get("/").status_code == 302
    html = laptop.get("/profile/sessions").get_data(as_text=True)
    assert "Firefox on macOS" in html and "(this browser)" in html and "Chrome on Android" not in html


@pytest.mark.db
def test_last_seen_moves_at_most_once_a_minute(app, client):
    clock.set(START)
    record = login(client, make_user())
    clock.set(START + timedelta(seconds=59))
    assert client.get("/").status_code == 200
    assert rows(record.user)[0].seen_at == START
    clock.set(START + timedelta(seconds=61))
    assert client.get("/").status_code == 200
    assert rows(record.user)[0].seen_at == START + timedelta(seconds=61)
    clock.set(START + timedelta(seconds=90))
    assert client.post("/profile", data={"name": "Renamed", "phone": "", "time_zone": "UTC"}).status_code == 303
    assert rows(record.user)[0].seen_at == START + timedelta(seconds=61)
    clock.set(START + timedelta(minutes=3))
    assert client.post("/profile", data={"name": "Renamed", "phone": "", "time_zone": "UTC"}).status_code == 303
    assert rows(record.user)[0].seen_at == START + timedelta(minutes=3)


@pytest.mark.parametrize("app_config", [{"SESSION_IDLE_MINUTES": 30, "SESSION_LIFETIME_HOURS": 12}])
def test_sessions_past_their_limits_are_not_listed(app):
    clock.set(START)
    user = make_user()
    idle, fresh = app.test_client(), app.test_client()
    sign_in(idle, user, FIREFOX_MAC)
    clock.set(START + timedelta(minutes=31))
    sign_in(fresh, user, CHROME_ANDROID)
    html = fresh.get("/profile/sessions").get_data(as_text=True)
    assert "Chrome on Android" in html and "Firefox on macOS" not in html


def test_failed_sign_ins_are_audited_with_the_address_typed_and_why(client):
    user = make_user(email="known@example.com")
    for email, password in (("nobody@example.com", PASSWORD), (user.email, "wrong password")):
        assert client.post("/login", data={"email": email, "password": password}).status_code == 401
    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "user.sign_in_failed")
                                 .order_by(AuditEntry.id)).all()
    assert [(e.object_id, e.after["email"], e.after["reason"]) for e in entries] == [
        (None, "nobody@example.com", "no such account"), (user.id, "known@example.com", "wrong password")]


@pytest.mark.parametrize("agent,words", [
    (FIREFOX_MAC, "Firefox on macOS"),
    (CHROME_ANDROID, "Chrome on Android"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
     "Safari/537.36 Edg/126.0.0.0", "Edge on Windows"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iOS"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 "
     "OPR/111.0.0.0", "Opera on Linux"),
    ("curl/8.5.0", "curl"),
    ("", "Unknown device"),
])
def test_devices_are_named_in_plain_words(agent, words):
    assert devices.describe(agent) == words
