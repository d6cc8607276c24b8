"""Invitations: people asked in by email, who then set up their own account.

An admin invites to any team (or none) with any role; a manager of a team invites
to that team, as responder or viewer (app.auth.permissions). Several addresses go
at once, pasted as a list; one that is not an address refuses the whole list, while
addresses that already have an account or a pending invitation are left out and
named. The link holds a random token of which only the SHA-256 is stored; it works
once, for 7 days; resending makes a new link (the old one dies), revoking kills it.
Accepting makes the person with the invitation's role and team, sets their
password, and starts their phone's verification (app.notify.contacts).

Instead of a password the invitee may make a passkey (`check_account`, then
`accept_with_passkey`): their phone, laptop or security key signs them in from then
on (app.auth.passkeys).

With single sign-on set up, the invitee may instead join through the identity
provider: the browser's session remembers the invitation (its token's hash, for a
few minutes) across the trip, and the callback makes the person only when the
provider's verified email is the invited address (`accept_through_provider`).
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.audit import service as audit
from app.audit.service import Actor
from app.auth import oidc, passkeys, permissions, security_mail, service
from app.auth.models import Invitation, OidcIdentity, Role, Team, TeamMembership, User
from app.errors import DomainError, Forbidden, Gone, NotFound
from app.extensions import db
from app.links import external_url
from app.notify import contacts

LIFETIME = timedelta(days=7)
MAX_AT_ONCE = 100
# How long a browser's trip to the identity provider may take to still accept the invitation.
PROVIDER_TRIP = timedelta(minutes=15)
SESSION_KEY = "invitation_by_provider"


@dataclass
class Sent:
    """What one invite call did: the invitations made, each with its link, and the
    addresses left out with why."""

    made: list[tuple[Invitation, str]] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_addresses(text: str) -> list[str]:
    """The addresses in a pasted list (commas, semicolons, spaces, new lines), in
    order, repeats kept; DomainError naming every one that is not an address."""
    pieces = [piece for piece in re.split(r"[\s,;]+", text or "") if piece]
    if not pieces:
        raise DomainError("Give at least one email address.", "emails")
    if len(pieces) > MAX_AT_ONCE:
        raise DomainError(f"Invite at most {MAX_AT_ONCE} addresses at once.", "emails")
    addresses, bad = [], []
    for piece in pieces:
        try:
            addresses.append(service.normalise_email(piece.strip("<>")))
        except DomainError:
            bad.append(piece)
    if bad:
        raise DomainError(f"Not email addresses: {', '.join(bad)}. Nobody was invited.", "emails")
    return addresses


def _check_may_invite(actor: Actor, role: Role, team: Team | None) -> None:
    permissions.require_team(actor, team.id if team else None,
                             "Only an admin, or a manager of the team, may invite to it.")
    if role == Role.ADMIN and not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may invite an admin.")


def pending_for(email: str, now: datetime) -> Invitation | None:
    rows = db.session.scalars(sa.select(Invitation).where(Invitation.email == email,
                                                          Invitation.accepted_at.is_(None),
                                                          Invitation.revoked_at.is_(None)))
    return next((row for row in rows if row.pending(now)), None)


def invite(actor: Actor, emails: str, role: Role | str, team: Team | None, now: datetime) -> Sent:
    """Invite every address in `emails` (see `parse_addresses`) as `role` in `team`."""
    try:
        role = Role(role)
    except ValueError:
        raise DomainError("Role must be admin, responder or viewer.", "role") from None
    _check_may_invite(actor, role, team)
    sent, seen = Sent(), set()
    for email in parse_addresses(emails):
        if email in seen:
            sent.left_out.append(f"{email}: given twice, invited once")
            continue
        seen.add(email)
        if service.find_user_by_email(email) is not None:
            sent.left_out.append(f"{email}: already has an account")
        elif pending_for(email, now) is not None:
            sent.left_out.append(f"{email}: already invited (resend it from the list)")
        else:
            sent.made.append(_make(actor, email, role, team, now))
    return sent


def _make(actor: Actor, email: str, role: Role, team: Team | None, now: datetime) -> tuple[Invitation, str]:
    invitation = Invitation(email=email, role=role, team=team, invited_by_id=actor.user.id if actor.user else None,
                            token_hash="", created_at=now, sent_at=now, expires_at=now)
    db.session.add(invitation)
    link = _new_link(invitation, now)
    db.session.flush()
    audit.record(actor, "invitation.create", invitation,
                 summary=f"Invited {email} as {role.value}{f' in {team.name}' if team else ''}",
                 after={"email": email, "role": role.value, "team_id": team.id if team else None})
    _mail(actor, invitation, link)
    return invitation, link


def _new_link(invitation: Invitation, now: datetime) -> str:
    """A fresh token for the invitation (any older link dies), valid LIFETIME from now."""
    token = secrets.token_urlsafe(32)
    invitation.token_hash = token_hash(token)
    invitation.sent_at, invitation.expires_at = now, now + LIFETIME
    return external_url("invitations.accept", token=token)


def _mail(actor: Actor, invitation: Invitation, link: str) -> None:
    security_mail.send(invitation.email, "invitation", invitation.sent_at, inviter=actor.label,
                       role=Role(invitation.role).value, team=invitation.team.name if invitation.team else None,
                       link=link, expires=f"{invitation.expires_at:%d %B %Y %H:%M} UTC")


def get(invitation_id: int) -> Invitation:
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None:
        raise NotFound("No such invitation.")
    return invitation


def resend(actor: Actor, invitation: Invitation, now: datetime) -> str:
    """Send a new link (valid 7 days from now); the old one stops working."""
    _check_may_invite(actor, Role(invitation.role), invitation.team)
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise DomainError("That invitation was accepted or revoked; invite the address again instead.")
    link = _new_link(invitation, now)
    audit.record(actor, "invitation.resend", invitation, summary=f"Sent the invitation of {invitation.email} again")
    _mail(actor, invitation, link)
    return link


def revoke(actor: Actor, invitation: Invitation, now: datetime) -> None:
    _check_may_invite(actor, Role(invitation.role), invitation.team)
    if invitation.accepted_at is not None:
        raise DomainError("That invitation was already accepted.")
    if invitation.revoked_at is None:
        invitation.revoked_at = now
        audit.record(actor, "invitation.revoke", invitation, summary=f"Revoked the invitation of {invitation.email}")


def pending(actor: Actor, now: datetime) -> list[Invitation]:
    """The pending invitations `actor` may see: all for an admin, their teams' for a manager."""
    rows = db.session.scalars(sa.select(Invitation).where(Invitation.accepted_at.is_(None),
                                                          Invitation.revoked_at.is_(None))
                              .order_by(Invitation.created_at.desc())).all()
    return [row for row in rows if row.pending(now) and permissions.may(actor, row)]


def find(token: str, now: datetime) -> Invitation:
    """The pending invitation of a link's token, or Gone with what to tell the visitor."""
    return _find_hashed(token_hash(token or ""), now)


def _find_hashed(digest: str, now: datetime) -> Invitation:
    invitation = db.session.scalar(sa.select(Invitation).where(Invitation.token_hash == digest))
    if invitation is None:
        raise Gone("This invitation link is not valid: it may have been sent again with a newer link. "
                   "Use the newest email, or ask whoever invited you.")
    if invitation.accepted_at is not None:
        raise Gone("This invitation was already accepted. Sign in instead.")
    if invitation.revoked_at is not None:
        raise Gone("This invitation was withdrawn. Ask whoever invited you if you think that is a mistake.")
    if not invitation.pending(now):
        raise Gone("This invitation has expired. Ask whoever invited you to send it again.")
    return invitation


def accept(token: str, now: datetime, *, name: str, password: str, time_zone: str, phone: str | None,
           ip: str | None = None) -> User:
    """Make the invited person's account; their phone (if given) is sent a code."""
    invitation = find(token, now)
    if service.find_user_by_email(invitation.email) is not None:
        raise Gone("Someone already has this address. Sign in instead.")
    service.check_password_strength(password)
    user = _make_person(invitation, now, ip, name=name, password=password, phone=phone,
                        time_zone=(time_zone or "").strip())
    contacts.add_phone(Actor.for_user(user, ip=ip), user, user.phone, now)
    return user


def check_account(name: str, phone: str | None, time_zone: str) -> dict:
    """The account's fields from the accept page, checked before the browser makes a
    passkey (the person should not make one for nothing); DomainError on the first wrong."""
    name = " ".join((name or "").split())
    if not name or len(name) > 120:
        raise DomainError("Give your name (up to 120 characters).", "name")
    time_zone = (time_zone or "").strip()
    if not service.valid_time_zone(time_zone):
        raise DomainError("Unknown time zone: pick one from the list, e.g. Europe/Paris.", "time_zone")
    return {"name": name, "phone": service.normalise_phone(phone), "time_zone": time_zone}


def passkey_options(token: str, session, now: datetime, *, name: str, phone: str | None, time_zone: str,
                    passkey_name: str) -> str:
    """The options for making the invitee's passkey, once what they typed checks out."""
    invitation = find(token, now)
    check_account(name, phone, time_zone)
    passkeys.check_name(passkey_name)
    return passkeys.joining_options(session, token_hash(token), invitation.email, now)


def accept_with_passkey(token: str, session, now: datetime, *, name: str, phone: str | None, time_zone: str,
                        passkey_name: str, credential, ip: str | None = None) -> User:
    """Make the invited person's account with the passkey this browser just made in
    place of a password; their phone (if given) is sent a code. Nothing is made unless
    the invitation is pending, the fields check out and the passkey verifies."""
    invitation = find(token, now)
    if service.find_user_by_email(invitation.email) is not None:
        raise Gone("Someone already has this address. Sign in instead.")
    account = check_account(name, phone, time_zone)
    passkey_name = passkeys.check_name(passkey_name)
    made = passkeys.take_joining(session, token_hash(token), credential, now)
    user = _make_person(invitation, now, ip, " with a passkey", **account)
    passkeys.keep(Actor.for_user(user, ip=ip), user, made, passkey_name, now)
    contacts.add_phone(Actor.for_user(user, ip=ip), user, user.phone, now)
    return user


def _make_person(invitation: Invitation, now: datetime, ip: str | None, how: str = "", **fields) -> User:
    """The invited person, with the invitation's role and team; the invitation accepted."""
    system = Actor.integration(f"invitation of {invitation.email}", ip=ip)
    user = service.create_user(system, email=invitation.email, role=invitation.role, **fields)
    if invitation.team is not None:
        db.session.add(TeamMembership(team=invitation.team, user=user))
    invitation.accepted_at, invitation.accepted_user_id = now, user.id
    audit.record(Actor.for_user(user, ip=ip), "invitation.accept", invitation,
                 summary=f"{user.name} <{user.email}> accepted the invitation as {user.role.value}"
                         f"{f' in {invitation.team.name}' if invitation.team else ''}{how}")
    return user


# --- accepting through single sign-on -------------------------------------------------

def remember_for_provider(session, token: str, now: datetime) -> None:
    """Before the trip to the identity provider: this browser is accepting the
    invitation of `token` (only its hash is kept, and only for PROVIDER_TRIP)."""
    find(token, now)
    session[SESSION_KEY] = {"hash": token_hash(token), "until": (now + PROVIDER_TRIP).isoformat()}


def taken_from(session, now: datetime) -> str | None:
    """Back from the provider: the hash of the invitation this browser is accepting,
    None when it is not accepting one, SignInRefused when it took too long. The
    session forgets it either way: one trip, one try."""
    pending = session.pop(SESSION_KEY, None)
    if pending is None:
        return None
    if now > datetime.fromisoformat(pending["until"]):
        raise oidc.SignInRefused("invitation trip too long", "Joining through single sign-on took too long. "
                                 "Open the invitation link again.")
    return pending["hash"]


def accept_through_provider(digest: str, claims: oidc.Claims, now: datetime, ip: str | None = None) -> User:
    """The invited person made from the provider's checked claims, linked to its
    (issuer, sub) and signed in as app.auth.oidc does; SignInRefused (nothing made, the
    invitation still pending) unless the provider verified the invited address."""
    try:
        invitation = _find_hashed(digest, now)
    except Gone as gone:
        raise oidc.SignInRefused("invitation not pending", gone.message) from None
    if claims.email is None or not claims.email_verified:
        raise oidc.SignInRefused("unverified email", "Your identity provider has not verified your email address, "
                                 f"so Firebreak cannot tell it is {invitation.email}, the invited address.")
    if claims.email != invitation.email.lower():
        raise oidc.SignInRefused("invitation for another address", f"Your identity provider signed you in as "
                                 f"{claims.email}, but the invitation is for {invitation.email}. Sign in there "
                                 "with the invited address, or open the invitation link again to set a password.")
    if service.find_user_by_email(invitation.email) is not None:
        raise oidc.SignInRefused("invitation not pending", "Someone already has this address. Sign in instead.")
    if db.session.scalar(sa.select(OidcIdentity).where(OidcIdentity.issuer == claims.issuer,
                                                       OidcIdentity.subject == claims.subject)):
        raise oidc.SignInRefused("already linked", "Your account at the identity provider already signs in to "
                                 "another Firebreak account. Sign in with single sign-on instead.")
    name = claims.name or invitation.email.split("@", 1)[0]
    _make_person(invitation, now, ip, " through single sign-on", name=name[:120])
    return oidc.sign_in(claims, now, ip)
