"""Security email through the outbox and the real SMTP server on loopback: every kind
arrives as plain text and HTML, the HTML escapes what people typed, and a mail server
that is down is tried again."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app import clock
from app.auth import security_mail
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.extensions import db
from app.notify.models import Status
from tests.conftest import provider_config
from tests.factories import make_user
from tests.fakes import free_port

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def app_config(twilio, mailbox):
    return provider_config(twilio, mailbox)


def cycle(at: datetime) -> None:
    clock.set(at)
    report = Engine(all_jobs(), holder="test").cycle()
    assert not report.errors, report.errors


def parts(message) -> dict[str, str]:
    """The message's text and HTML, by content type."""
    assert message.get_content_type() == "multipart/alternative"
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


CONTEXTS = {
    "invitation": {"inviter": "Ada Admin", "role": "responder", "team": "Payments",
                   "link": "http://localhost/invite/abc", "expires": "9 March 2026 09:00 UTC"},
    "password_reset": {"link": "http://localhost/password-reset/abc", "minutes": 60},
    "two_factor_off": {"by": "Ada Admin", "when": "2 March 2026 09:00 UTC"},
    "passkey_added": {"passkey": "YubiKey", "when": "2 March 2026 09:00 UTC"},
    "new_device": {"device": "Firefox on Linux", "ip": "192.0.2.7", "when": "2 March 2026 09:00 UTC"},
}


@pytest.mark.parametrize("kind", sorted(security_mail.SUBJECTS))
def test_each_kind_arrives_as_text_and_html_from_the_outbox(app, mailbox, kind):
    clock.set(T0)
    sam = make_user(name="Sam Person", email="sam@example.com")
    to = "new@example.com" if kind == "invitation" else sam
    row = security_mail.send(to, kind, T0, **CONTEXTS[kind])
    db.session.commit()
    assert not mailbox.messages  # in the outbox: the engine sends it, not the caller
    cycle(T0)
    [message] = mailbox.messages
    assert message["To"] == ("new@example.com" if kind == "invitation" else "sam@example.com")
    assert message["Subject"] == security_mail.SUBJECTS[kind]
    body = parts(message)
    for value in CONTEXTS[kind].values():
        assert str(value) in body["text/plain"] and str(value) in body["text/html"]
    assert body["text/html"].lstrip().startswith("<!doctype html>")
    assert row.purpose == "security" and row.status == Status.SENT


def test_what_people_typed_is_escaped_in_the_html(app, mailbox):
    clock.set(T0)
    sam = make_user(email="sam@example.com")
    security_mail.send(sam, "passkey_added", T0, passkey='<img src=x onerror="alert(1)">', when="now")
    db.session.commit()
    cycle(T0)
    body = parts(mailbox.messages[0])
    assert "<img" not in body["text/html"] and "&lt;img src=x" in body["text/html"]
    assert '<img src=x onerror="alert(1)">' in body["text/plain"]


def test_a_mail_server_that_is_down_is_tried_again(app, mailbox):
    clock.set(T0)
    row = security_mail.send(make_user(email="sam@example.com"), "new_device", T0,
                             device="Chrome on macOS", ip="198.51.100.4", when="now")
    db.session.commit()
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there
    cycle(T0)
    db.session.refresh(row)
    assert row.status == Status.QUEUED and row.attempts == 1 and not mailbox.messages
    app.config["SMTP_URL"] = mailbox.url
    cycle(T0 + timedelta(minutes=10))
    db.session.refresh(row)
    assert row.status == Status.SENT
    assert parts(mailbox.messages[0])["text/html"]


def test_an_unknown_kind_is_refused_and_nothing_is_queued(app):
    clock.set(T0)
    with pytest.raises(ValueError):
        security_mail.send(make_user(), "password_changed", T0)
    assert not db.session.new


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Safari/537.36")


def sign_in(app, user_agent: str, ip: str) -> None:
    from tests.factories import PASSWORD
    answer = app.test_client().post("/login", data={"email": "sam@example.com", "password": PASSWORD},
                                    headers={"User-Agent": user_agent}, environ_base={"REMOTE_ADDR": ip})
    assert answer.status_code == 303


def test_a_sign_in_from_a_browser_not_seen_before_is_emailed_once(app, mailbox):
    clock.set(T0)
    make_user(email="sam@example.com")
    sign_in(app, FIREFOX, "192.0.2.10")  # the first: nothing to compare with
    sign_in(app, FIREFOX, "192.0.2.77")  # the same browser, the same /24
    cycle(T0)
    assert mailbox.messages == []
    sign_in(app, CHROME_MAC, "192.0.2.10")
    sign_in(app, FIREFOX, "198.51.100.5")  # another network
    sign_in(app, CHROME_MAC, "192.0.2.10")  # known by now
    cycle(T0)
    texts = [parts(m)["text/plain"] for m in mailbox.messages]
    assert [m["Subject"] for m in mailbox.messages] == [security_mail.SUBJECTS["new_device"]] * 2
    assert "Chrome on macOS" in texts[0] and "192.0.2.10" in texts[0]
    assert "Firefox on Linux" in texts[1] and "198.51.100.5" in texts[1]
