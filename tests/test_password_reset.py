"""Password reset by email, end to end: the link is read out of the email the real SMTP
server on loopback received, and followed. The same answer whether or not the address
has an account; one use, an hour, dead with a sign-in or a newer reset; every session
ends; the sign-in hold lifts; rate limits per address and per client."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from werkzeug.security import check_password_hash

from app import clock
from app.audit.models import AuditEntry
from app.auth.models import PasswordReset
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.extensions import db
from tests.conftest import provider_config
from tests.factories import PASSWORD, login, make_user

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NEW = "a brand new passphrase"


@pytest.fixture
def app_config(twilio, mailbox):
    return provider_config(twilio, mailbox)


@pytest.fixture
def sam(app):
    clock.set(T0)
    return make_user(name="Sam Person", email="sam@example.com")


def ask(client, email: str):
    return client.post("/password-reset", data={"email": email})


def sent_links(mailbox, at: datetime = T0) -> list[str]:
    """Every reset link mailed so far, after the engine's cycle at `at` sent the outbox."""
    clock.set(at)
    report = Engine(all_jobs(), holder="test").cycle()
    assert not report.errors, report.errors
    links = []
    for message in mailbox.messages:
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        [link] = re.findall(r"http://localhost/password-reset/[\w-]+", text)
        assert link in html
        links.append(link.removeprefix("http://localhost"))
    return links


def choose(client, path: str, password: str = NEW, confirm: str | None = None):
    return client.post(path, data={"password": password, "confirm": confirm or password})


def same_page(text: str, email: str) -> str:
    """The page without what differs by design: the address typed, each browser's CSRF token."""
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", text.replace(email, "X"))


def audits(action: str) -> list[AuditEntry]:
    return db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)).all()


def test_the_link_in_the_email_sets_a_new_password_once_and_ends_every_session(app, client, sam, mailbox):
    other_browser = app.test_client()
    login(other_browser, sam)
    assert other_browser.get("/profile").status_code == 200
    sam.failed_signins, sam.locked_until = 3, T0 + timedelta(minutes=10)
    db.session.commit()

    answer = ask(client, "Sam@Example.com ")
    assert answer.status_code == 200 and "Check your email" in answer.text
    [path] = sent_links(mailbox)
    assert mailbox.messages[0]["To"] == "sam@example.com"
    assert client.get(path).status_code == 200

    done = choose(client, path)
    assert done.status_code == 303 and done.headers["Location"].endswith("/login")
    db.session.refresh(sam)
    assert check_password_hash(sam.password_hash, NEW)
    assert sam.failed_signins == 0 and sam.locked_until is None
    assert other_browser.get("/profile").status_code in (302, 303)  # signed out
    assert client.post("/login", data={"email": "sam@example.com", "password": NEW}).status_code == 303

    again = client.get(path)
    assert again.status_code == 410 and "already used" in again.text
    assert choose(app.test_client(), path, "yet another passphrase").status_code == 410
    db.session.refresh(sam)
    assert check_password_hash(sam.password_hash, NEW)
    [asked] = audits("user.password_reset_requested")
    [completed] = audits("user.password_reset")
    assert asked.object_id == completed.object_id == sam.id


def test_an_unknown_address_gets_the_same_answer_and_nothing_is_sent_or_stored(app, client, sam, mailbox):
    known = ask(client, "sam@example.com")
    unknown = ask(app.test_client(), "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert same_page(known.text, "sam@example.com") == same_page(unknown.text, "nobody@example.com")
    assert len(sent_links(mailbox)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PasswordReset)) == 1
    assert len(audits("user.password_reset_requested")) == 1


def test_the_link_expires_after_an_hour(app, client, sam, mailbox):
    ask(client, "sam@example.com")
    [path] = sent_links(mailbox)
    clock.set(T0 + timedelta(hours=1))
    answer = choose(client, path)
    assert answer.status_code == 410 and "expired" in answer.text
    db.session.refresh(sam)
    assert check_password_hash(sam.password_hash, PASSWORD)


def test_a_newer_reset_or_a_sign_in_ends_the_link(app, client, sam, mailbox):
    ask(client, "sam@example.com")
    ask(client, "sam@example.com")
    first, second = sent_links(mailbox)
    assert "replaced by a newer one" in client.get(first).text
    assert client.get(second).status_code == 200
    assert client.post("/login", data={"email": "sam@example.com", "password": PASSWORD}).status_code == 303
    assert choose(app.test_client(), second).status_code == 410
    db.session.refresh(sam)
    assert check_password_hash(sam.password_hash, PASSWORD)


def test_bad_input_is_refused_and_changes_nothing(app, client, sam, mailbox):
    not_an_address = ask(client, "sam-at-example")
    assert not_an_address.status_code == 400 and "not an email address" in not_an_address.text
    ask(client, "sam@example.com")
    [path] = sent_links(mailbox)
    short = choose(client, path, "short")
    assert short.status_code == 400 and "between 10 and 200 characters" in short.text
    differ = choose(client, path, NEW, "something else entirely")
    assert differ.status_code == 400 and "differ" in differ.text
    assert client.get("/password-reset/not-a-token").status_code == 410
    db.session.refresh(sam)
    assert check_password_hash(sam.password_hash, PASSWORD)
    assert choose(client, path).status_code == 303  # the link still works after the refusals


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True}])
def test_asking_is_rate_limited_per_address_and_per_client(app, sam):
    a, b, c = (app.test_client() for _ in range(3))
    for client in (a, b, c):  # three clients, one address
        assert ask(client, "sam@example.com").status_code == 200
    assert ask(app.test_client(), "sam@example.com").status_code == 429
    for n in range(2):  # the first client, two more addresses: its fifth in a minute
        assert ask(a, f"other{n}@example.com").status_code == 200
    assert ask(a, "third@example.com").status_code == 429
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PasswordReset)) == 3
