"""Single sign-on with OpenID Connect: whom a provider's person is in Firebreak.

Authlib's Flask client does the protocol (`client()`): discovery from OIDC_ISSUER's
`/.well-known/openid-configuration`, the authorization code flow with PKCE (S256), a
state and a nonce kept in the signed session and checked on the way back, and the ID
token's signature checked against the issuer's JWKS with its `iss`, `aud` and `exp`.
What those checked claims mean here is decided by `sign_in`:

- a person is found by the (issuer, `sub`) they signed in with before, else by their
  email, and then only an email the provider says it verified (`email_verified`); the
  link to `sub` is kept, so a later change of email at the provider still finds them;
- someone unknown is created only when OIDC_AUTO_CREATE names a role for them;
- when admins have mapped provider groups to teams, someone in none of those groups is
  refused, and someone in them joins those teams. Memberships are only added: leaving a
  group at the provider does not take anyone off a team (an admin or a team manager
  does), since a team's managers may have added people the provider does not group.

Every sign-in, refusal and person created is in the audit log.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app

from app.audit import service as audit
from app.audit.models import ActorKind
from app.audit.service import Actor
from app.auth import service
from app.auth.models import OidcGroupMapping, OidcIdentity, Role, Team, TeamMembership, User
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db

PROVIDER = "oidc"
AUTO_CREATE = ("off", "viewer", "responder")
PASSWORD_SIGN_IN = ("on", "admins-only")
MAX_GROUP_LENGTH = 255
SSO = "Single sign-on"
PASSWORD_REFUSED = "Password sign-in is kept for admins here: use “Sign in with single sign-on”."


class SignInRefused(DomainError):
    """A sign-in through the provider that Firebreak turns down; `reason` is the short
    word the audit log keeps, `message` what the person reads."""

    status = 403

    def __init__(self, reason: str, message: str, user: User | None = None):
        super().__init__(message)
        self.reason = reason
        self.user = user


def init_app(app: Flask) -> None:
    """One Authlib registry per app, so each app uses its own settings. Nothing is
    fetched here: discovery happens at the first sign-in."""
    oauth = OAuth(app)
    config = app.config
    if config["OIDC_ISSUER"]:
        oauth.register(PROVIDER, client_id=config["OIDC_CLIENT_ID"], client_secret=config["OIDC_CLIENT_SECRET"],
                       server_metadata_url=config["OIDC_ISSUER"] + "/.well-known/openid-configuration",
                       client_kwargs={"scope": config["OIDC_SCOPES"], "code_challenge_method": "S256",
                                      "timeout": config["NOTIFY_TIMEOUT_SECONDS"]})


def enabled() -> bool:
    return bool(current_app.config["OIDC_ISSUER"])


def client():
    """The provider's Authlib client (only when `enabled()`)."""
    return current_app.extensions["authlib.integrations.flask_client"].create_client(PROVIDER)


def password_allowed(user: User) -> bool:
    """PASSWORD_SIGN_IN=admins-only keeps the password for admins alone: the way in
    when the provider is down (break-glass); everyone else signs in through it."""
    return current_app.config["PASSWORD_SIGN_IN"] == "on" or user.role == Role.ADMIN


def _actor(ip: str | None) -> Actor:
    return Actor(ActorKind.SYSTEM, SSO, ip=ip)


@dataclass(frozen=True)
class Claims:
    """What sign-in reads from the checked ID token (and the userinfo answer)."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str
    groups: tuple[str, ...]

    @classmethod
    def read(cls, issuer: str, claims: dict, groups_claim: str) -> "Claims":
        groups = claims.get(groups_claim) if groups_claim else None
        if isinstance(groups, str):
            groups = [groups]
        email = claims.get("email")
        return cls(issuer=issuer, subject=str(claims["sub"]),
                   email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
                   # Some providers send the string "true"; anything else is not a yes.
                   email_verified=claims.get("email_verified") in (True, "true"),
                   name=str(claims.get("name") or "").strip(),
                   groups=tuple(g for g in groups or () if isinstance(g, str)))


def refuse(error: SignInRefused, ip: str | None) -> None:
    """Record a refused sign-in (the caller commits): why, and who when known."""
    audit.record(_actor(ip), "sso.refused", error.user, object_type=None if error.user else "users",
                 summary=f"Single sign-on refused ({error.reason}): {error.message}")


def sign_in(claims: Claims, now: datetime, ip: str | None = None) -> User:
    """The active person these checked claims stand for, linked, created and put in
    their mapped teams as the rules above say; or SignInRefused."""
    mappings = db.session.scalars(sa.select(OidcGroupMapping)).all()
    teams = [m.team for m in mappings if m.group_name in claims.groups]
    identity = db.session.scalar(sa.select(OidcIdentity).where(
        OidcIdentity.issuer == claims.issuer, OidcIdentity.subject == claims.subject))
    user = identity.user if identity else _by_verified_email(claims)
    if user is not None and not user.active:
        raise SignInRefused("inactive", "Your Firebreak account is deactivated. Ask an admin.", user)
    if mappings and not teams:
        raise SignInRefused("no mapped group", "Your identity provider does not put you in any group that "
                            "Firebreak lets in. Ask an admin to add you to one.", user)
    if user is None:
        user = _create(claims, ip)
    if identity is None:
        identity = OidcIdentity(user=user, issuer=claims.issuer, subject=claims.subject, created_at=now)
        db.session.add(identity)
    identity.last_signin_at = user.last_signin_at = now
    joined = _join(user, teams, ip)
    audit.record(Actor.for_user(user, ip=ip), "sso.signin", user,
                 summary=f"Signed in with single sign-on ({claims.issuer}, sub {claims.subject})"
                         + (f"; joined {', '.join(joined)}" if joined else ""))
    return user


def _by_verified_email(claims: Claims) -> User | None:
    if claims.email is None:
        raise SignInRefused("no email", "Your identity provider did not send an email address.")
    if not claims.email_verified:
        raise SignInRefused("unverified email", "Your identity provider has not verified your email address, "
                            "so Firebreak cannot tell which account is yours.")
    return service.find_user_by_email(claims.email)


def _create(claims: Claims, ip: str | None) -> User:
    role = current_app.config["OIDC_AUTO_CREATE"]
    if role == "off":
        raise SignInRefused("unknown person", "There is no Firebreak account for this address. "
                            "Ask an admin to invite you.")
    name = claims.name or claims.email.split("@", 1)[0]
    return service.create_user(_actor(ip), email=claims.email, name=name[:120], role=role)


def _join(user: User, teams: list[Team], ip: str | None) -> list[str]:
    """Add the person to each mapped team they are not in yet; the names joined."""
    present = {m.team_id for m in user.memberships}
    joined = []
    for team in {t.id: t for t in teams}.values():
        if team.id in present:
            continue
        db.session.add(TeamMembership(team=team, user=user))
        audit.record(_actor(ip), "team.add_member", team, summary=f"Added {user.name} to {team.name} "
                     "(single sign-on group)", after={"user_id": user.id, "is_manager": False})
        joined.append(team.name)
    return joined


# --- the admins' group → team mapping -----------------------------------------------

def mappings() -> list[OidcGroupMapping]:
    return db.session.scalars(sa.select(OidcGroupMapping).join(Team)
                              .order_by(OidcGroupMapping.group_name, Team.name)).all()


def add_mapping(actor: Actor, group_name: str, team: Team) -> OidcGroupMapping:
    service._require(actor, Role.ADMIN)
    group_name = (group_name or "").strip()
    if not group_name:
        raise DomainError("Give the group's name as the provider sends it.", "group_name")
    if len(group_name) > MAX_GROUP_LENGTH:
        raise DomainError(f"A group name is at most {MAX_GROUP_LENGTH} characters.", "group_name")
    if db.session.scalar(sa.select(OidcGroupMapping).where(OidcGroupMapping.group_name == group_name,
                                                           OidcGroupMapping.team_id == team.id)):
        raise Conflict(f"{group_name} already maps to {team.name}.", "group_name")
    mapping = OidcGroupMapping(group_name=group_name, team=team)
    db.session.add(mapping)
    audit.record(actor, "sso.map_group", mapping, summary=f"Provider group {group_name} → team {team.name}")
    return mapping


def remove_mapping(actor: Actor, mapping_id: int) -> OidcGroupMapping:
    service._require(actor, Role.ADMIN)
    mapping = db.session.get(OidcGroupMapping, mapping_id)
    if mapping is None:
        raise NotFound("No such group mapping.")
    audit.record(actor, "sso.unmap_group", mapping,
                 summary=f"Provider group {mapping.group_name} no longer maps to team {mapping.team.name}")
    db.session.delete(mapping)
    return mapping
