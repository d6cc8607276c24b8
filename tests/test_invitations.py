"""Invitations end to end: invite a pasted list, read the link out of the email the real
SMTP server received, accept it (name, password, phone, time zone), land on the paging
page with the phone's code on its way; dead links change nothing; resend, revoke, the
command; managers invite to their own team only."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth.models import Invitation, Passkey, Role, User
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.extensions import db
from app.notify.models import Channel, ContactMethod
from tests.authenticator import Authenticator
from tests.conftest import provider_config
from tests.factories import login, make_team, make_user

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PASSWORD = "a long enough password"


@pytest.fixture
def app_config(twilio, mailbox):
    return provider_config(twilio, mailbox)


@pytest.fixture
def admin(app, client):
    clock.set(T0)
    ada = make_user(Role.ADMIN, name="Ada Admin", email="ada@example.com")
    login(client, ada)
    return ada


def links(mailbox, at: datetime = T0) -> dict[str, str]:
    """Each invited address's newest link, from the email the engine sent."""
    clock.set(at)
    assert not Engine(all_jobs(), holder="test").cycle().errors
    found = {}
    for message in mailbox.messages:
        text = message.get_body(("plain",)).get_content()
        assert message.get_body(("html",)) is not None
        [link] = re.findall(r"http://localhost/invite/[\w-]+", text)
        found[message["To"]] = link.removeprefix("http://localhost")
    return found


def invitations() -> list[Invitation]:
    return db.session.scalars(sa.select(Invitation).order_by(Invitation.id)).all()


def accept(client, path, **fields):
    data = {"name": "Nia New", "password": PASSWORD, "confirm": PASSWORD, "phone": "+15557000042",
            "time_zone": "Europe/Paris", **fields}
    return client.post(path, data=data)


def test_a_pasted_list_is_invited_and_the_link_makes_the_account(app, client, admin, mailbox):
    team = make_team("Payments")
    make_user(email="old@example.com")
    answer = client.post("/people/invitations", data={
        "emails": "nia@example.com, Bo@Example.com\nold@example.com  nia@example.com", "role": "responder",
        "team_id": team.id})
    assert answer.status_code == 303
    page = client.get("/people/invitations").text
    assert "old@example.com: already has an account" in page and "nia@example.com: given twice" in page
    assert [i.email for i in invitations()] == ["nia@example.com", "bo@example.com"]
    paths = links(mailbox)
    assert set(paths) == {"nia@example.com", "bo@example.com"}

    newcomer = app.test_client()
    assert "Payments" in newcomer.get(paths["nia@example.com"]).text
    done = accept(newcomer, paths["nia@example.com"])
    assert done.status_code == 303 and done.headers["Location"].endswith("/profile/paging")
    nia = db.session.scalar(sa.select(User).where(User.email == "nia@example.com"))
    assert nia.name == "Nia New" and nia.role == Role.RESPONDER and nia.time_zone == "Europe/Paris"
    assert [t.name for t in nia.teams] == ["Payments"]
    sms = db.session.scalar(sa.select(ContactMethod).where(ContactMethod.user_id == nia.id,
                                                           ContactMethod.channel == Channel.SMS))
    assert sms.address == "+15557000042" and sms.code_sent_at is not None and not sms.verified
    paging = newcomer.get(done.headers["Location"]).text
    assert "test page" in paging.lower() and "Welcome, Nia New" in paging  # the flash outlives the new session

    gone = app.test_client().get(paths["nia@example.com"])
    assert gone.status_code == 410 and "already accepted" in gone.text
    actions = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.like("invitation.%"))).all()
    assert sorted(actions) == ["invitation.accept", "invitation.create", "invitation.create"]


def test_one_bad_address_invites_nobody(app, client, admin, mailbox):
    answer = client.post("/people/invitations", data={"emails": "good@example.com, not-an-address",
                                                      "role": "viewer", "team_id": ""})
    assert answer.status_code == 400 and "not-an-address" in answer.text and "Nobody was invited" in answer.text
    assert invitations() == [] and links(mailbox) == {}


def test_expired_revoked_and_resent_links_are_dead_and_change_nothing(app, client, admin, mailbox):
    client.post("/people/invitations", data={"emails": "a@example.com b@example.com c@example.com",
                                             "role": "viewer", "team_id": ""})
    first = links(mailbox)
    a, b, c = invitations()
    assert client.post(f"/people/invitations/{a.id}/revoke").status_code == 303
    assert client.post(f"/people/invitations/{b.id}/resend").status_code == 303
    mailbox.messages.clear()
    resent = links(mailbox)
    assert accept(app.test_client(), first["a@example.com"]).status_code == 410
    assert "withdrawn" in app.test_client().get(first["a@example.com"]).text
    assert accept(app.test_client(), first["b@example.com"]).status_code == 410
    clock.set(T0 + timedelta(days=7))
    expired = accept(app.test_client(), first["c@example.com"])
    assert expired.status_code == 410 and "expired" in expired.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
    clock.set(T0 + timedelta(days=6))
    assert accept(app.test_client(), resent["b@example.com"]).status_code == 303


def test_bad_answers_on_the_accept_page_change_nothing(app, client, admin, mailbox):
    client.post("/people/invitations", data={"emails": "nia@example.com", "role": "viewer", "team_id": ""})
    path = links(mailbox)["nia@example.com"]
    assert accept(app.test_client(), path, password="short", confirm="short").status_code == 400
    refused = accept(app.test_client(), path, phone="555-1234")
    assert refused.status_code == 400 and "international form" in refused.text
    assert accept(app.test_client(), path, time_zone="Mars/Olympus").status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
    assert invitations()[0].accepted_at is None


def test_a_manager_invites_to_their_own_team_only(app, client, mailbox):
    clock.set(T0)
    mia = make_user(Role.RESPONDER, name="Mia Manager")
    mine, other = make_team("Payments"), make_team("Platform")
    from app.auth.models import TeamMembership
    db.session.add(TeamMembership(team=mine, user=mia, is_manager=True))
    db.session.commit()
    login(client, mia)
    assert client.post("/people/invitations", data={"emails": "x@example.com", "role": "responder",
                                                    "team_id": other.id}).status_code == 400
    assert client.post("/people/invitations", data={"emails": "x@example.com", "role": "admin",
                                                    "team_id": mine.id}).status_code == 400
    assert invitations() == []
    assert client.post("/people/invitations", data={"emails": "x@example.com", "role": "responder",
                                                    "team_id": mine.id}).status_code == 303
    assert [i.team_id for i in invitations()] == [mine.id]


def test_the_command_prints_the_link_and_sends_the_email(app, runner, mailbox):
    clock.set(T0)
    make_team("Payments")
    result = runner.invoke(args=["invite", "--email", "cli@example.com", "--role", "responder", "--team", "Payments"])
    assert result.exit_code == 0, result.output
    [line] = result.output.splitlines()
    assert line.startswith("cli@example.com: http://localhost/invite/")
    assert links(mailbox)["cli@example.com"] == line.split(": ", 1)[1].removeprefix("http://localhost")
    assert runner.invoke(args=["invite", "--email", "x@example.com", "--role", "viewer",
                               "--team", "Nope"]).exit_code != 0
    assert len(invitations()) == 1


# --- a passkey instead of a password -------------------------------------------------------------

ACCOUNT = {"name": "Pia Passkey", "phone": "+15557000043", "time_zone": "Europe/Berlin", "passkey_name": "Phone"}


def join_with_passkey(client, path, authenticator, origin="http://localhost", **fields):
    """What static/js/passkeys.js does for the "join" form: options (the fields
    checked first), the authenticator's answer, then the account made."""
    body, headers = {**ACCOUNT, **fields}, {"X-CSRFToken": client.csrf_token()}
    options = client.post(f"{path}/passkey/options", json=body, headers=headers)
    if options.status_code != 200:
        return options
    made = authenticator.create(options.get_json(), origin)
    return client.post(f"{path}/passkey", json={**body, "credential": made}, headers=headers)


def people() -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(User))


def test_joining_with_a_passkey_makes_the_account_without_a_password(app, client, admin, mailbox):
    team = make_team("Payments")
    client.post("/people/invitations", data={"emails": "pia@example.com", "role": "responder", "team_id": team.id})
    path = links(mailbox)["pia@example.com"]
    newcomer = app.test_client()
    page = newcomer.get(path, headers={"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
                                       "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"})
    assert "Join with a passkey" in page.text and 'value="Safari on iOS"' in page.text

    options = newcomer.post(f"{path}/passkey/options", json=ACCOUNT, headers={"X-CSRFToken": newcomer.csrf_token()})
    key = options.get_json()
    assert options.headers["Cache-Control"] == "no-store"
    assert key["user"]["name"] == "pia@example.com"
    # its only way in: it must be findable without an email (discoverable) and check the person
    assert key["authenticatorSelection"]["residentKey"] == "required"
    assert key["authenticatorSelection"]["userVerification"] == "required"

    authenticator = Authenticator()
    made = authenticator.create(key, "http://localhost")
    joined = newcomer.post(f"{path}/passkey", json={**ACCOUNT, "credential": made},
                           headers={"X-CSRFToken": newcomer.csrf_token()})
    assert joined.status_code == 201 and joined.get_json()["redirect"].endswith("/profile/paging")
    pia = db.session.scalar(sa.select(User).where(User.email == "pia@example.com"))
    assert pia.password_hash is None and pia.name == "Pia Passkey" and pia.time_zone == "Europe/Berlin"
    assert [t.name for t in pia.teams] == ["Payments"] and pia.role == Role.RESPONDER
    [passkey] = db.session.scalars(sa.select(Passkey).where(Passkey.user_id == pia.id)).all()
    assert passkey.name == "Phone" and passkey.user_handle == key["user"]["id"]
    sms = db.session.scalar(sa.select(ContactMethod).where(ContactMethod.user_id == pia.id,
                                                           ContactMethod.channel == Channel.SMS))
    assert sms.address == "+15557000043" and sms.code_sent_at is not None
    assert "Welcome, Pia Passkey" in newcomer.get("/profile/paging").text
    summaries = db.session.scalars(sa.select(AuditEntry.summary).where(
        AuditEntry.action.in_(["invitation.accept", "passkey.add"])).order_by(AuditEntry.id)).all()
    assert summaries == ["Pia Passkey <pia@example.com> accepted the invitation as responder in Payments "
                         "with a passkey", "Pia Passkey added the passkey 'Phone'"]

    # the passkey is the way back in; the password form knows no password for her
    later = app.test_client()
    answer = authenticator.get(json.loads(later.post("/login/passkeys/options").data), "http://localhost")
    signed = later.post("/login/passkeys", json=answer, headers={"X-CSRFToken": later.csrf_token()})
    assert signed.status_code == 200 and later.get("/incidents/").status_code == 200
    assert app.test_client().post("/login", data={"email": "pia@example.com", "password": ""}).status_code != 303
    assert app.test_client().get(path).status_code == 410


def test_joining_with_a_passkey_refuses_bad_fields_before_the_prompt_and_bad_passkeys_after(app, client, admin,
                                                                                          mailbox):
    client.post("/people/invitations", data={"emails": "pia@example.com", "role": "viewer", "team_id": ""})
    path = links(mailbox)["pia@example.com"]
    before = people()
    for fields, words in (({"phone": "555-1234"}, "international form"), ({"time_zone": "Mars/Olympus"}, "time zone"),
                          ({"name": " "}, "your name"), ({"passkey_name": ""}, "Name the passkey")):
        refused = join_with_passkey(app.test_client(), path, Authenticator(), **fields)
        assert refused.status_code == 400 and words in refused.get_json()["error"], fields
    # a passkey that does not check the person is not enough to be the only way in
    unverified = join_with_passkey(app.test_client(), path, Authenticator(verified=False))
    assert unverified.status_code == 401 and "not accepted" in unverified.get_json()["error"]
    wrong_origin = join_with_passkey(app.test_client(), path, Authenticator(), origin="https://evil.example")
    assert wrong_origin.status_code == 401
    # options asked through one invitation do not make an account through another
    client.post("/people/invitations", data={"emails": "bo@example.com", "role": "viewer", "team_id": ""})
    other = links(mailbox)["bo@example.com"]
    browser = app.test_client()
    key = browser.post(f"{other}/passkey/options", json=ACCOUNT, headers={"X-CSRFToken": browser.csrf_token()})
    crossed = browser.post(f"{path}/passkey", json={**ACCOUNT, "credential": Authenticator().create(
        key.get_json(), "http://localhost")}, headers={"X-CSRFToken": browser.csrf_token()})
    assert crossed.status_code == 401 and "another invitation" in crossed.get_json()["error"]
    assert people() == before and all(i.accepted_at is None for i in invitations())
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Passkey)) == 0

    # the answer sent again, once it made the account, makes nothing more
    browser = app.test_client()
    headers = {"X-CSRFToken": browser.csrf_token()}
    made = Authenticator().create(browser.post(f"{path}/passkey/options", json=ACCOUNT, headers=headers).get_json(),
                                  "http://localhost")
    with browser.session_transaction() as session:
        waiting = dict(session)
    assert browser.post(f"{path}/passkey", json={**ACCOUNT, "credential": made}, headers=headers).status_code == 201
    replay = app.test_client()
    with replay.session_transaction() as session:
        session.update(waiting)  # the old session cookie, challenge and all
    again = replay.post(f"{path}/passkey", json={**ACCOUNT, "credential": made}, headers=headers)
    assert again.status_code == 410 and people() == before + 1
