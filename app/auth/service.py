"""People, teams and tokens: the rules, without HTTP.

Every function takes the acting `Actor`, records its audit entry, and leaves the
commit to the caller, so a change and its record land together or not at all.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from app import clock
from app.audit import service as audit
from app.audit.models import ActorKind, AuditEntry
from app.audit.service import Actor
from app.auth import permissions
from app.auth.models import ApiToken, Role, Team, TeamMembership, TokenScope, User
from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db

USER_FIELDS = ["email", "name", "phone", "time_zone", "role", "active"]
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "fbk_"

_ZONES: frozenset[str] | None = None


def valid_time_zone(name: str) -> bool:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return name in _ZONES


def normalise_phone(raw: str | None) -> str | None:
    """An E.164 number (+15551230001) from what a person typed, or DomainError."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if not text.startswith("+"):
        raise DomainError("Give the number in international form, starting with + and the country code.", "phone")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise DomainError("That is not a phone number.", "phone") from None
    if not phonenumbers.is_possible_number(number):
        raise DomainError("That number has the wrong number of digits for its country.", "phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str:
    email = (raw or "").strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@") or len(email) > 254 or " " in email:
        raise DomainError("That is not an email address.", "email")
    return email


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def check_password_strength(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise DomainError(f"Use at least {MIN_PASSWORD_LENGTH} characters.", "password")


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such person.")
    return user


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))


def create_user(actor: Actor, *, email: str, name: str, role: Role | str = Role.RESPONDER,
                password: str | None = None, phone: str | None = None,
                time_zone: str = "UTC") -> User:
    _require(actor, Role.ADMIN)
    email = normalise_email(email)
    name = (name or "").strip()
    if not name:
        raise DomainError("Give the person a name.", "name")
    if find_user_by_email(email):
        raise Conflict("Someone already has that email address.", "email")
    if not valid_time_zone(time_zone):
        raise DomainError("Unknown time zone.", "time_zone")
    try:
        role = Role(role)
    except ValueError:
        raise DomainError("Role must be admin, responder or viewer.", "role") from None
    user = User(email=email, name=name, role=role, phone=normalise_phone(phone),
                time_zone=time_zone, active=True, created_at=clock.now())
    if password:
        check_password_strength(password)
        user.password_hash = hash_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.create", user, summary=f"Added {name} <{email}> as {role.value}",
                 after=audit.snapshot(user, USER_FIELDS))
    return user


def update_user(actor: Actor, user: User, **fields) -> User:
    """Change a person. Admins change anyone; a person may change their own name,
    phone and time zone, never their own role or active flag."""
    own = actor.user is not None and actor.user.id == user.id
    admin_only = {"role", "active", "email"}
    if not actor.can(Role.ADMIN) and not (own and not admin_only & set(fields)):
        raise Forbidden("Only an admin may change that.")
    before = audit.snapshot(user, USER_FIELDS)
    if "email" in fields:
        email = normalise_email(fields["email"])
        other = find_user_by_email(email)
        if other is not None and other.id != user.id:
            raise Conflict("Someone already has that email address.", "email")
        user.email = email
    if "name" in fields:
        name = (fields["name"] or "").strip()
        if not name:
            raise DomainError("Give the person a name.", "name")
        user.name = name
    if "phone" in fields:
        user.phone = normalise_phone(fields["phone"])
    if "time_zone" in fields:
        if not valid_time_zone(fields["time_zone"]):
            raise DomainError("Unknown time zone.", "time_zone")
        user.time_zone = fields["time_zone"]
    if "role" in fields:
        try:
            new_role = Role(fields["role"])
        except ValueError:
            raise DomainError("Role must be admin, responder or viewer.", "role") from None
        if own and new_role != Role.ADMIN:
            raise DomainError("You cannot take away your own admin role.", "role")
        if user.role == Role.ADMIN and new_role != Role.ADMIN:
            _keep_an_admin(user)
        user.role = new_role
    if "active" in fields:
        active = bool(fields["active"])
        if not active:
            if own:
                raise DomainError("You cannot deactivate yourself.", "active")
            if user.role == Role.ADMIN:
                _keep_an_admin(user)
            user.session_version += 1
        user.active = active
    before, after = audit.changed(before, audit.snapshot(user, USER_FIELDS))
    if after:
        audit.record(actor, "user.update", user, summary=f"Changed {user.name}: {', '.join(after)}",
                     before=before, after=after)
    return user


def _keep_an_admin(leaving: User) -> None:
    others = db.session.scalar(sa.select(sa.func.count()).select_from(User).where(
        User.role == Role.ADMIN, User.active.is_(True), User.id != leaving.id))
    if not others:
        raise DomainError("Firebreak needs at least one active admin.", "role")


def set_password(actor: Actor, user: User, password: str, *, current: str | None = None) -> None:
    own = actor.user is not None and actor.user.id == user.id
    if not own and not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may set another person's password.")
    if own and user.password_hash and not check_password_hash(user.password_hash, current or ""):
        raise DomainError("Your current password is not right.", "current_password")
    check_password_strength(password)
    user.password_hash = hash_password(password)
    user.session_version += 1  # signs out every other session
    user.failed_signins = 0
    user.locked_until = None
    audit.record(actor, "user.password", user, summary=f"Set the password of {user.name}")


def sign_out_everywhere(actor: Actor, user: User) -> None:
    """End every browser session of `user` (a lost phone, a shared computer).
    API tokens are not sessions: they stay until revoked."""
    own = actor.user is not None and actor.user.id == user.id
    if not own and not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may sign someone else out.")
    user.session_version += 1
    audit.record(actor, "user.sign_out_everywhere", user, summary=f"Signed {user.name} out of every session")


class SignInRefused(DomainError):
    pass


def authenticate(email: str, password: str, *, ip: str | None = None) -> User:
    """The person with this email and password, or SignInRefused.

    After SIGNIN_MAX_FAILURES wrong passwords in a row an account is held back for
    SIGNIN_LOCK_MINUTES, even with the right password, which stops guessing spread
    over many addresses. The message never says whether the address exists.
    """
    now = clock.now()
    user = find_user_by_email(email or "")
    generic = SignInRefused("That email and password do not match an active account.")
    if user is None:
        # Spend the same time as a real check so timing does not reveal the address.
        check_password_hash(_dummy_hash(), password or "")
        _failed_sign_in(email, None, ip, "no such account")
        raise generic
    if user.locked_until and clock.utc(user.locked_until) > now:
        minutes = max(1, int((clock.utc(user.locked_until) - now).total_seconds() // 60) + 1)
        _failed_sign_in(email, user, ip, "held back")
        raise SignInRefused(f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes != 1 else ''}.")
    if not user.password_hash or not check_password_hash(user.password_hash, password or "") or not user.active:
        _failed_sign_in(email, user, ip, "wrong password" if user.active else "inactive account")
        user.failed_signins += 1
        config = current_app.config
        if user.failed_signins >= config["SIGNIN_MAX_FAILURES"]:
            user.locked_until = now + timedelta(minutes=config["SIGNIN_LOCK_MINUTES"])
            user.failed_signins = 0
            audit.record(Actor.system(), "user.locked", user, summary=f"Sign-in held back for {user.email} after repeated failures (from {ip or 'unknown'})")
        raise generic
    user.failed_signins = 0
    user.locked_until = None
    user.last_signin_at = now
    return user


def _failed_sign_in(email: str | None, user: User | None, ip: str | None, why: str) -> None:
    """Audit a refused password sign-in (the page never says why; the log does)."""
    typed = (email or "").strip()[:254]
    audit.record(Actor(ActorKind.SYSTEM, "Sign-in", ip=ip), "user.sign_in_failed", user, object_type="users",
                 summary=f"Refused a sign-in as {typed or '(no address)'} from {ip or 'unknown address'}: {why}",
                 after={"email": typed, "reason": why})


_dummy_hash_cache: dict[str, str] = {}


def _dummy_hash() -> str:
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if method not in _dummy_hash_cache:
        _dummy_hash_cache[method] = generate_password_hash("not-a-password", method=method)
    return _dummy_hash_cache[method]


# --- teams ------------------------------------------------------------------

def get_team(team_id: int) -> Team:
    team = db.session.get(Team, team_id)
    if team is None:
        raise NotFound("No such team.")
    return team


def create_team(actor: Actor, *, name: str, description: str = "") -> Team:
    _require(actor, Role.ADMIN)
    name = (name or "").strip()
    if not name:
        raise DomainError("Give the team a name.", "name")
    if db.session.scalar(sa.select(Team).where(sa.func.lower(Team.name) == name.lower())):
        raise Conflict("A team with that name exists.", "name")
    team = Team(name=name, description=description or "", created_at=clock.now())
    db.session.add(team)
    db.session.flush()
    audit.record(actor, "team.create", team, summary=f"Created team {name}",
                 after={"name": name, "description": team.description})
    return team


def update_team(actor: Actor, team: Team, *, name: str, description: str) -> Team:
    _require(actor, Role.ADMIN)
    name = (name or "").strip()
    if not name:
        raise DomainError("Give the team a name.", "name")
    clash = db.session.scalar(sa.select(Team).where(sa.func.lower(Team.name) == name.lower(), Team.id != team.id))
    if clash:
        raise Conflict("A team with that name exists.", "name")
    before = {"name": team.name, "description": team.description}
    team.name, team.description = name, description or ""
    before, after = audit.changed(before, {"name": team.name, "description": team.description})
    if after:
        audit.record(actor, "team.update", team, summary=f"Changed team {team.name}", before=before, after=after)
    return team


# Rows that go with a deleted team: its memberships, the group mappings that fill it,
# invitations to it (they are then to no team).
_GOES_WITH_A_TEAM = {"team_memberships", "oidc_group_mappings", "invitations"}


def delete_team(actor: Actor, team: Team) -> None:
    """Delete a team that owns nothing: its services, schedules, escalation policies and
    the history naming it (paged teams, team requests) must go to another team first,
    so no page ever loses its way and no record its name."""
    _require(actor, Role.ADMIN)
    owned = []
    for table in db.metadata.sorted_tables:
        if table.name in _GOES_WITH_A_TEAM:
            continue
        for key in table.foreign_keys:
            if key.column.table.name == "teams":
                count = db.session.scalar(sa.select(sa.func.count()).select_from(table)
                                          .where(key.parent == team.id))
                if count:
                    owned.append(f"{count} {table.name.replace('_', ' ')}")
    if owned:
        raise Conflict(f"{team.name} still has {', '.join(owned)}: move them to another team first.")
    audit.record(actor, "team.delete", team, summary=f"Deleted team {team.name}",
                 before={"name": team.name, "description": team.description,
                         "members": [m.user_id for m in team.memberships]})
    db.session.delete(team)
    db.session.flush()


def add_member(actor: Actor, team: Team, user: User, *, is_manager: bool = False) -> TeamMembership:
    permissions.require(actor, team, "Only an admin or a manager of this team may change its members.")
    if is_manager:
        _may_manage(user)
    existing = db.session.scalar(sa.select(TeamMembership).where(
        TeamMembership.team_id == team.id, TeamMembership.user_id == user.id))
    if existing:
        raise Conflict(f"{user.name} is already in {team.name}.", "user_id")
    membership = TeamMembership(team=team, user=user, is_manager=is_manager)
    db.session.add(membership)
    db.session.flush()
    audit.record(actor, "team.add_member", team, summary=f"Added {user.name} to {team.name}",
                 after={"user_id": user.id, "is_manager": is_manager})
    return membership


def remove_member(actor: Actor, team: Team, user: User) -> None:
    permissions.require(actor, team, "Only an admin or a manager of this team may change its members.")
    membership = db.session.scalar(sa.select(TeamMembership).where(
        TeamMembership.team_id == team.id, TeamMembership.user_id == user.id))
    if membership is None:
        raise NotFound(f"{user.name} is not in {team.name}.")
    db.session.delete(membership)
    audit.record(actor, "team.remove_member", team, summary=f"Removed {user.name} from {team.name}",
                 before={"user_id": user.id, "is_manager": membership.is_manager})


def set_manager(actor: Actor, team: Team, user: User, is_manager: bool) -> TeamMembership:
    """Make a member a manager of `team` (app.auth.permissions), or no longer one."""
    permissions.require(actor, team, "Only an admin or a manager of this team may choose its managers.")
    membership = db.session.scalar(sa.select(TeamMembership).where(
        TeamMembership.team_id == team.id, TeamMembership.user_id == user.id))
    if membership is None:
        raise NotFound(f"{user.name} is not in {team.name}.")
    if is_manager:
        _may_manage(user)
    if membership.is_manager != is_manager:
        membership.is_manager = is_manager
        audit.record(actor, "team.set_manager", team,
                     summary=f"{user.name} is {'now' if is_manager else 'no longer'} a manager of {team.name}",
                     before={"user_id": user.id, "is_manager": not is_manager},
                     after={"user_id": user.id, "is_manager": is_manager})
    return membership


def _may_manage(user: User) -> None:
    if not user.can(permissions.MANAGER_ROLE):
        raise DomainError(f"A manager changes configuration: make {user.name} a responder first.", "is_manager")


# --- API tokens ---------------------------------------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_expiry(user: User, expires_on: date | None, now: datetime) -> datetime | None:
    """When a token chosen to expire on `expires_on` stops working: the end of that
    day in its owner's time zone. None for no expiry; DomainError for a day gone by."""
    if expires_on is None:
        return None
    midnight = datetime.combine(expires_on + timedelta(days=1), time(0), ZoneInfo(user.time_zone))
    if midnight <= now:
        raise DomainError("Choose a day from today on, or none for a token that does not expire.", "expires_on")
    return midnight.astimezone(UTC)


def create_api_token(actor: Actor, user: User, *, name: str, scope: TokenScope | str = TokenScope.WRITE,
                     expires_on: date | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`; returns the row and the token, which is never seen again.
    With `expires_on` it works through the end of that day, in the owner's time zone."""
    own = actor.user is not None and actor.user.id == user.id
    if not own and not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may make tokens for someone else.")
    name = (name or "").strip()
    if not name:
        raise DomainError("Name the token after what will use it.", "name")
    try:
        scope = TokenScope(scope)
    except ValueError:
        raise DomainError("Scope must be read or write.", "scope") from None
    now = clock.now()
    expires_at = token_expiry(user, expires_on, now)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name[:120], token_hash=_token_hash(secret),
                     prefix=secret[:12], scope=scope, created_at=now, expires_at=expires_at)
    db.session.add(token)
    db.session.flush()
    until = f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
    audit.record(actor, "api_token.create", token,
                 summary=f"Created API token {name!r} ({scope.value}{until}) for {user.name}",
                 after={"user_id": user.id, "name": name, "scope": scope.value, "prefix": token.prefix,
                        "expires_at": expires_at})
    return token, secret


def revoke_api_token(actor: Actor, token: ApiToken) -> None:
    own = actor.user is not None and actor.user.id == token.user_id
    if not own and not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may revoke someone else's token.")
    if token.revoked_at is not None:
        return
    token.revoked_at = clock.now()
    audit.record(actor, "api_token.revoke", token, summary=f"Revoked API token {token.name!r} of {token.user.name}")


def all_api_tokens() -> list[ApiToken]:
    """Every token of everyone, for admins: live ones first, newest first."""
    return list(db.session.scalars(sa.select(ApiToken).options(joinedload(ApiToken.user))
                                   .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(),
                                             ApiToken.id.desc())))


class TokenExpired(DomainError):
    status = 401


EXPIRED_USE_AUDITED_EVERY = timedelta(hours=1)


def token_from_secret(secret: str) -> ApiToken | None:
    """The active token for a bearer secret, or None; TokenExpired, saying when, for
    one past its expiry (audited, at most once an hour per token, so a forgotten cron
    job does not flood the log). Marks a good one used (at most once a minute)."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 128:
        return None
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == _token_hash(secret)))
    if token is None or not token.active:
        return None
    now = clock.now()
    if token.expired(now):
        _expired_use(token, now)
        raise TokenExpired(f"This API token expired at {clock.utc(token.expires_at):%Y-%m-%d %H:%M} UTC: "
                           "make a new one on your profile.")
    if token.last_used_at is None or now - clock.utc(token.last_used_at) > timedelta(minutes=1):
        token.last_used_at = now
    return token


def _expired_use(token: ApiToken, now: datetime) -> None:
    recent = db.session.scalar(sa.select(AuditEntry.id).where(
        AuditEntry.object_type == "api_tokens", AuditEntry.object_id == token.id,
        AuditEntry.action == "api_token.expired_use", AuditEntry.at > now - EXPIRED_USE_AUDITED_EVERY).limit(1))
    if recent is None:
        audit.record(Actor.for_token(token), "api_token.expired_use", token,
                     summary=f"Refused the expired API token {token.name!r} of {token.user.name}")


def _require(actor: Actor, role: Role) -> None:
    if not actor.can(role):
        raise Forbidden(f"This needs the {role.value} role.")
