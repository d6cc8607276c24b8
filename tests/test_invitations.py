"""Invitations end to end: invite a pasted list, read the link out of the email the real
SMTP server received, accept it (name, password, phone, time zone), land on the paging
page with the phone's code on its way; dead links change nothing; resend, revoke, the
command; managers invite to their own team only."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth.models import Invitation, Role, User
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.extensions import db
from app.notify.models import Channel, ContactMethod
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
