"""Single sign-on with OpenID Connect, end to end against a real OpenID provider: the
npm package `oidc-provider` (tests/oidc/provider.mjs) on a loopback port, which the
app discovers, sends the browser to, and exchanges the code with over HTTP.

The browser's side of the trip is a requests session against the provider (its login
form, its cookies) and the Flask test client against the app; everything between the
app and the provider is real."""
from __future__ import annotations

import json
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa

from app import clock
from app import config as settings
from app.audit.models import AuditEntry
from app.auth import invitations, oidc, password_reset
from app.auth.models import (Invitation, OidcGroupMapping, OidcIdentity, PasswordReset, Role, TeamMembership,
                             User)
from app.extensions import db
from tests.factories import PASSWORD, actor, login, make_team, make_user
from tests.fakes import free_port, wait_for

ROOT = Path(__file__).resolve().parent
PROVIDER = ROOT / "oidc"
CLIENT_ID, CLIENT_SECRET = "firebreak", "test-client-secret-not-for-production"
CALLBACK = "http://localhost/login/oidc/callback"


class Provider:
    """The running provider: its issuer, and the test-only doors provider.mjs opens."""

    def __init__(self, issuer: str):
        self.issuer = issuer

    def person(self, sub: str, **claims) -> str:
        """Add or replace one person at the provider; their `sub`."""
        requests.put(f"{self.issuer}/test/accounts/{sub}", json=claims, timeout=10).raise_for_status()
        return sub

    def tamper(self, claims: dict, *, resign: bool) -> None:
        """Change the ID token of the next token response (see provider.mjs)."""
        requests.post(f"{self.issuer}/test/tamper", json={"claims": claims, "resign": resign},
                      timeout=10).raise_for_status()


@pytest.fixture(scope="session")
def provider():
    if not (PROVIDER / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("oidc-provider is not installed: run `make test` (or scripts/oidc-provider.sh)")
    port = free_port()
    config = {"port": port, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [CALLBACK],
              "accounts": {}}
    process = subprocess.Popen(["node", "provider.mjs"], cwd=PROVIDER, env={"PATH": "/usr/bin:/bin",
                               "OIDC_TEST_PROVIDER": json.dumps(config)},
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout.readline().startswith("listening"), "the OpenID provider did not start"
        issuer = f"http://127.0.0.1:{port}"
        wait_for(lambda: requests.get(issuer + "/.well-known/openid-configuration", timeout=5).ok, 20, "the provider")
        yield Provider(issuer)
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()


def sso_config(provider: Provider, **overrides) -> dict:
    return {"OIDC_ISSUER": provider.issuer, "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_SCOPES": "openid email profile groups", "OIDC_AUTO_CREATE": "off", "OIDC_GROUPS_CLAIM": "groups",
            "PASSWORD_SIGN_IN": "on", **overrides}


@pytest.fixture
def app_config(request):
    """Single sign-on against the session's provider (tests without it parametrize this)."""
    return sso_config(request.getfixturevalue("provider"))


def through_provider(client, sub: str) -> str:
    """Start at /login/oidc and sign in at the provider as `sub`, as a browser would:
    the app's callback path (with code and state) that the provider sends back to."""
    start = client.get("/login/oidc")
    assert start.status_code == 302, start.data
    browser = requests.Session()
    url = start.headers["Location"]
    for _ in range(10):
        if url.startswith(CALLBACK):
            parts = urlsplit(url)
            return f"{parts.path}?{parts.query}"
        answer = browser.get(url, allow_redirects=False, timeout=10)
        if answer.status_code == 200 and "/interaction/" in url:  # the provider's sign-in form
            answer = browser.post(url, data={"prompt": "login", "login": sub, "password": "any"},
                                  allow_redirects=False, timeout=10)
        assert answer.is_redirect, (url, answer.status_code, answer.text[:500])
        url = requests.compat.urljoin(url, answer.headers["Location"])
    raise AssertionError("the provider never sent the browser back")


def sign_in(client, sub: str):
    return client.get(through_provider(client, sub))


def signed_in_as(client) -> int | None:
    with client.session_transaction() as session:
        user_id = session.get("_user_id")
    return int(user_id.split(":")[0]) if user_id else None


def audit(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)
                              .order_by(AuditEntry.id)).all()


# --- through the real provider --------------------------------------------------------

def test_sign_in_goes_to_the_issuer_with_pkce_state_and_nonce(client, provider):
    start = client.get("/login/oidc")
    assert start.status_code == 302
    target = urlsplit(start.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == provider.issuer + "/auth"  # from discovery
    query = {key: values[0] for key, values in parse_qs(target.query).items()}
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    assert query["state"] and query["nonce"] and query["redirect_uri"] == CALLBACK
    assert query["response_type"] == "code" and query["scope"] == "openid email profile groups"


def test_a_known_person_signs_in_and_stays_linked_when_their_email_changes(app, client, provider):
    ana = make_user(Role.RESPONDER, email="ana@example.com")
    sub = provider.person("ana-1", email="Ana@Example.com", email_verified=True, name="Ana", groups=[])
    answer = sign_in(client, sub)
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    assert signed_in_as(client) == ana.id and client.get("/").status_code == 200
    [identity] = db.session.scalars(sa.select(OidcIdentity)).all()
    assert (identity.user_id, identity.issuer, identity.subject) == (ana.id, provider.issuer, "ana-1")
    assert "sub ana-1" in audit("sso.signin")[-1].summary

    provider.person(sub, email="ana.new@example.com", email_verified=True, name="Ana", groups=[])
    other = client.application.test_client()
    assert sign_in(other, sub).status_code == 303 and signed_in_as(other) == ana.id


def test_a_sign_in_through_the_provider_ends_open_reset_links_as_a_password_sign_in_does(app, client, provider):
    ana = make_user(Role.RESPONDER, email="ana@example.com")
    password_reset.request_reset("ana@example.com", clock.now())
    db.session.commit()
    [reset] = db.session.scalars(sa.select(PasswordReset).where(PasswordReset.user_id == ana.id)).all()
    assert reset.ended_at is None
    sub = provider.person("ana-2", email="ana@example.com", email_verified=True, name="Ana", groups=[])
    assert sign_in(client, sub).status_code == 303 and signed_in_as(client) == ana.id
    db.session.expire_all()
    assert db.session.get(PasswordReset, reset.id).ended_at is not None


@pytest.mark.parametrize("auto_create", ["off", "viewer", "responder"])
def test_someone_unknown_is_created_only_when_auto_create_allows(app, client, provider, auto_create):
    app.config["OIDC_AUTO_CREATE"] = auto_create
    sub = provider.person(f"new-{auto_create}", email=f"new-{auto_create}@example.com", email_verified=True,
                          name="New Person", groups=[])
    answer = sign_in(client, sub)
    user = db.session.scalar(sa.select(User).where(User.email == f"new-{auto_create}@example.com"))
    if auto_create == "off":
        assert answer.status_code == 403 and b"no Firebreak account" in answer.data
        assert user is None and signed_in_as(client) is None
        assert "unknown person" in audit("sso.refused")[-1].summary
    else:
        assert answer.status_code == 303 and signed_in_as(client) == user.id
        assert (user.role, user.name, user.password_hash) == (Role(auto_create), "New Person", None)
        assert audit("user.create")[-1].actor_label == "Single sign-on"


def test_an_unverified_email_is_refused_and_nobody_is_linked_or_created(app, client, provider):
    app.config["OIDC_AUTO_CREATE"] = "responder"
    ana = make_user(Role.ADMIN, email="boss@example.com")
    sub = provider.person("mallory", email="boss@example.com", email_verified=False, groups=[])
    answer = sign_in(client, sub)
    assert answer.status_code == 403 and b"not verified your email" in answer.data
    assert signed_in_as(client) is None and db.session.scalars(sa.select(OidcIdentity)).all() == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1 and ana.active
    assert "unverified email" in audit("sso.refused")[-1].summary


@pytest.mark.parametrize("forged, resign, why", [
    ({"email": "boss@example.com"}, False, "claims changed after signing"),
    ({"aud": "another-client"}, True, "issued to another client"),
    ({"iss": "http://127.0.0.1:1"}, True, "from another issuer"),
    ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, True, "expired"),
], ids=["signature", "aud", "iss", "exp"])
def test_a_tampered_or_misissued_id_token_is_refused(app, client, provider, forged, resign, why):
    make_user(Role.ADMIN, email="boss@example.com")
    make_user(Role.VIEWER, email="eve@example.com")
    sub = provider.person("eve", email="eve@example.com", email_verified=True, groups=[])
    callback = through_provider(client, sub)
    provider.tamper(forged, resign=resign)
    answer = client.get(callback)
    assert answer.status_code == 403 and b"could not be checked" in answer.data, why
    assert signed_in_as(client) is None and audit("sso.signin") == []
    assert "invalid id token" in audit("sso.refused")[-1].summary


def test_a_replayed_state_is_refused(app, client, provider):
    ana = make_user(Role.RESPONDER, email="ana@example.com")
    sub = provider.person("ana-2", email="ana@example.com", email_verified=True, groups=[])
    callback = through_provider(client, sub)
    cookie = client.get_cookie("firebreak_session").value  # the session holding the state, as sent back
    assert client.get(callback).status_code == 303 and signed_in_as(client) == ana.id

    again = client.get(callback)  # the same browser: its state was used up
    assert again.status_code == 403
    thief = client.application.test_client()  # the old cookie and the callback, replayed
    thief.set_cookie("firebreak_session", cookie, domain="localhost")
    assert thief.get(callback).status_code == 403 and signed_in_as(thief) is None
    reasons = [entry.summary for entry in audit("sso.refused")]
    assert "(state)" in reasons[0] and "(provider error)" in reasons[1]  # the code is single-use at the provider
    assert len(audit("sso.signin")) == 1


def test_people_outside_every_mapped_group_are_refused_and_members_join_their_teams(app, client, provider):
    ops, db_team = make_team("Ops"), make_team("Databases")
    admin = make_user(Role.ADMIN)
    oidc.add_mapping(actor(admin), "ops-oncall", ops)
    oidc.add_mapping(actor(admin), "dba", db_team)
    db.session.commit()
    outsider = make_user(Role.RESPONDER, email="out@example.com")
    provider.person("out", email="out@example.com", email_verified=True, groups=["marketing"])
    answer = sign_in(client, "out")
    assert answer.status_code == 403 and b"any group that Firebreak lets in" in answer.data
    assert signed_in_as(client) is None and outsider.memberships == []
    assert "no mapped group" in audit("sso.refused")[-1].summary

    insider = make_user(Role.RESPONDER, email="in@example.com")
    provider.person("in", email="in@example.com", email_verified=True, groups=["ops-oncall", "dba", "other"])
    assert sign_in(client, "in").status_code == 303 and signed_in_as(client) == insider.id
    db.session.expire_all()
    assert sorted(team.name for team in insider.teams) == ["Databases", "Ops"]
    assert "joined" in audit("sso.signin")[-1].summary


# --- accepting an invitation through single sign-on -------------------------------------

def invited(email: str, team=None) -> tuple[Invitation, str]:
    """A pending invitation as responder and its link's path."""
    clock.set(clock.now())
    sent = invitations.invite(actor(make_user(Role.ADMIN)), email, Role.RESPONDER, team, clock.now())
    db.session.commit()
    [(invitation, link)] = sent.made
    return invitation, link.removeprefix("http://localhost")


def join_through_provider(client, path: str) -> str:
    """Press “Join with single sign-on” on the invitation page; the callback path."""
    page = client.get(path).text
    assert "Join with single sign-on" in page
    answer = client.post(path + "/single-sign-on")
    assert answer.status_code == 303 and answer.headers["Location"] == "/login/oidc"
    return through_provider(client, "nia")


def nobody_joined(client, invitation: Invitation) -> None:
    db.session.expire_all()
    assert signed_in_as(client) is None and db.session.scalars(sa.select(OidcIdentity)).all() == []
    assert db.session.scalar(sa.select(User).where(User.email == "nia@example.com")) is None
    assert audit("invitation.accept") == [] and audit("sso.signin") == []


def test_an_invitation_is_accepted_through_the_provider_with_the_invited_address_verified(app, client, provider):
    team = make_team("Payments")
    invitation, path = invited("nia@example.com", team)
    provider.person("nia", email="Nia@Example.com", email_verified=True, name="Nia New", groups=[])
    answer = client.get(join_through_provider(client, path))  # OIDC_AUTO_CREATE is off: the invitation decides
    assert answer.status_code == 303 and answer.headers["Location"] == "/profile/paging"
    nia = db.session.scalar(sa.select(User).where(User.email == "nia@example.com"))
    assert signed_in_as(client) == nia.id and "Welcome, Nia New" in client.get("/profile/paging").text
    assert (nia.name, nia.role, nia.password_hash, [t.name for t in nia.teams]) == (
        "Nia New", Role.RESPONDER, None, ["Payments"])
    [identity] = db.session.scalars(sa.select(OidcIdentity)).all()
    assert (identity.user_id, identity.issuer, identity.subject) == (nia.id, provider.issuer, "nia")
    db.session.refresh(invitation)
    assert (invitation.accepted_user_id, invitation.accepted_at) == (nia.id, clock.now())
    assert audit("invitation.accept")[-1].summary.endswith("in Payments through single sign-on")
    assert client.application.test_client().get(path).status_code == 410

    again = client.application.test_client()  # later, the plain single sign-on finds them by sub
    assert sign_in(again, "nia").status_code == 303 and signed_in_as(again) == nia.id


@pytest.mark.parametrize("email, verified, message, reason", [
    ("bo@example.com", True, "signed you in as bo@example.com, but the invitation is for nia@example.com",
     "invitation for another address"),
    ("nia@example.com", False, "has not verified your email address", "unverified email"),
], ids=["another address", "unverified"])
def test_an_invitation_through_the_provider_needs_the_invited_address_verified(app, client, provider, email,
                                                                               verified, message, reason):
    app.config["OIDC_AUTO_CREATE"] = "responder"  # not a way around the invitation's check
    invitation, path = invited("nia@example.com")
    provider.person("nia", email=email, email_verified=verified, name="Nia", groups=[])
    answer = client.get(join_through_provider(client, path))
    assert answer.status_code == 403 and message in answer.text
    nobody_joined(client, invitation)
    assert db.session.scalar(sa.select(User).where(User.email == "bo@example.com")) is None
    assert invitation.accepted_at is None and client.get(path).status_code == 200  # still pending
    assert f"({reason})" in audit("sso.refused")[-1].summary


@pytest.mark.parametrize("meanwhile, message", [
    ("revoke", "This invitation was withdrawn"),
    ("expire", "This invitation has expired"),
    ("dawdle", "took too long. Open the invitation link again"),
])
def test_a_dead_invitation_or_a_stale_trip_is_refused_through_the_provider(app, client, provider, meanwhile, message):
    invitation, path = invited("nia@example.com")
    provider.person("nia", email="nia@example.com", email_verified=True, name="Nia", groups=[])
    if meanwhile == "expire":
        clock.set(invitation.expires_at - timedelta(minutes=1))
    callback = join_through_provider(client, path)
    if meanwhile == "revoke":
        invitations.revoke(actor(make_user(Role.ADMIN)), invitation, clock.now())
        db.session.commit()
    clock.advance(timedelta(minutes=2 if meanwhile == "expire" else 16 if meanwhile == "dawdle" else 0))
    answer = client.get(callback)
    assert answer.status_code == 403 and message in answer.text
    nobody_joined(client, invitation)
    assert invitation.accepted_at is None


def test_a_provider_account_already_linked_cannot_accept_an_invitation_as_a_second_person(app, client, provider):
    ana = make_user(Role.RESPONDER, email="ana@example.com")
    provider.person("nia", email="ana@example.com", email_verified=True, name="Ana", groups=[])
    assert sign_in(client, "nia").status_code == 303 and signed_in_as(client) == ana.id
    provider.person("nia", email="nia@example.com", email_verified=True, name="Nia", groups=[])  # changed there
    invitation, path = invited("nia@example.com")
    newcomer = client.application.test_client()
    answer = newcomer.get(join_through_provider(newcomer, path))
    assert answer.status_code == 403 and "already signs in to another Firebreak account" in answer.text
    db.session.expire_all()
    assert signed_in_as(newcomer) is None and invitation.accepted_at is None
    assert db.session.scalar(sa.select(User).where(User.email == "nia@example.com")) is None
    assert "(already linked)" in audit("sso.refused")[-1].summary


# --- without the provider (set up, never reached: nothing here fetches from it) ------------

@pytest.mark.parametrize("app_config", [{}], indirect=False)
def test_without_an_issuer_there_is_no_single_sign_on(client):
    assert b"/login/oidc" not in client.get("/login").data
    _, path = invited("nia@example.com")
    assert "single sign-on" not in client.get(path).text
    joined = client.post(path + "/single-sign-on")
    assert joined.status_code == 303 and joined.headers["Location"] == path
    answer = client.get("/login/oidc")
    assert answer.status_code == 302 and answer.headers["Location"] == "/login"
    assert client.get("/login/oidc/callback?code=x&state=y").status_code == 302


@pytest.mark.parametrize("app_config", [sso_config(Provider("http://127.0.0.1:9"), PASSWORD_SIGN_IN="admins-only")],
                         indirect=False)
def test_with_admins_only_passwords_sign_in_admins_alone(app, client):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/login/oidc"' in page and "Passwords sign in admins only" in page
    responder, admin = make_user(Role.RESPONDER), make_user(Role.ADMIN)
    refused = client.post("/login", data={"email": responder.email, "password": PASSWORD})
    assert refused.status_code == 401 and "kept for admins" in refused.get_data(as_text=True)
    assert signed_in_as(client) is None
    db.session.expire_all()
    assert responder.last_signin_at is None
    assert client.post("/login", data={"email": admin.email, "password": PASSWORD}).status_code == 303
    assert signed_in_as(client) == admin.id


@pytest.mark.parametrize("app_config", [sso_config(Provider("http://127.0.0.1:9"))], indirect=False)
def test_admins_map_groups_to_teams_on_a_page(app, client):
    admin, team = make_user(Role.ADMIN), make_team("Payments")
    login(client, admin)
    assert client.post("/admin/single-sign-on/groups", data={"group_name": " payments-oncall ",
                                                             "team_id": team.id}).status_code == 303
    again = client.post("/admin/single-sign-on/groups", data={"group_name": "payments-oncall", "team_id": team.id})
    assert again.status_code == 400 and b"already maps to Payments" in again.data
    assert client.post("/admin/single-sign-on/groups", data={"group_name": "x", "team_id": 999999}).status_code == 400
    [mapping] = db.session.scalars(sa.select(OidcGroupMapping)).all()
    assert mapping.group_name == "payments-oncall" and "payments-oncall" in client.get("/admin/single-sign-on").text
    assert client.post(f"/admin/single-sign-on/groups/{mapping.id}/remove").status_code == 303
    db.session.expire_all()
    assert db.session.scalars(sa.select(OidcGroupMapping)).all() == []
    assert [e.action for e in audit("sso.map_group") + audit("sso.unmap_group")] == ["sso.map_group",
                                                                                     "sso.unmap_group"]
    assert db.session.scalars(sa.select(TeamMembership)).all() == []


@pytest.mark.parametrize("env, message", [
    ({"OIDC_AUTO_CREATE": "admin"}, "OIDC_AUTO_CREATE must be one of off, viewer, responder"),
    ({"PASSWORD_SIGN_IN": "admins-only"}, "needs OIDC_ISSUER"),
    ({"OIDC_ISSUER": "https://id.example.com"}, "OIDC_CLIENT_ID is not"),
    ({"OIDC_ISSUER": "id.example.com", "OIDC_CLIENT_ID": "x"}, "must be the provider's https:// URL"),
])
def test_settings_that_cannot_work_are_refused_at_start(monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(settings.ConfigError, match=message):
        settings.oidc()


def test_the_client_secret_may_come_from_a_file(monkeypatch, tmp_path):
    (tmp_path / "secret").write_text("from-a-file\n")
    monkeypatch.setenv("OIDC_ISSUER", "https://id.example.com/")
    monkeypatch.setenv("OIDC_CLIENT_ID", "firebreak")
    monkeypatch.setenv("OIDC_CLIENT_SECRET_FILE", str(tmp_path / "secret"))
    found = settings.oidc()
    assert (found["OIDC_ISSUER"], found["OIDC_CLIENT_SECRET"]) == ("https://id.example.com", "from-a-file")
