"""People over the API: list, read, add, change, deactivate; each person's contact
methods and notification rules.

Admins manage everyone, as on the People pages. A person manages their own contact
methods and rules, and changes their own name, phone and time zone, as on their
profile: those routes need only the viewer role, and anyone else but an admin is
refused (403) before the body is read. Nobody is deleted: `DELETE /users/{id}`
deactivates, as the People page does (signed out, no more pages; history keeps
their name), and `PATCH {"active": true}` brings them back.

Each change is the service function the pages call (app.auth.service,
app.notify.contacts), so it meets the same rules and writes the same audit entry: a
new phone gets its verification code, an admin may vouch for a method instead, and
rules name only verified methods of the person.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Literal

import sqlalchemy as sa
from flask import request, url_for
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import selectinload

from app import clock
from app.api.schemas import pagination_json
from app.api.spec import Id, Input, PageQuery, Pagination, Ref, Time, answer, check_if_match, endpoint, one_line
from app.api.views import bp, load
from app.auth import service as people
from app.auth.models import Role, TeamMembership, User
from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db
from app.notify import contacts
from app.notify.models import ContactMethod, NotificationRule
from app.web import current_actor, requires


PersonName = one_line(120)
Email = Annotated[str, Field(min_length=1, max_length=254)]
Phone = Annotated[str, Field(max_length=32)]
Zone = Annotated[str, Field(min_length=1, max_length=64)]
RoleName = Literal["admin", "responder", "viewer"]


# --- shapes ---------------------------------------------------------------------------------------

class UserOut(BaseModel):
    """A person: `phone` is the number their record names (pages use their contact
    methods); `active` false once deactivated."""

    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    email: str
    phone: str | None
    time_zone: str
    role: RoleName
    active: bool
    created_at: Time
    teams: list[Ref]


class UserList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[UserOut]
    pagination: Pagination


class NewUser(Input):
    """A new person. A `phone` becomes their SMS and voice methods, with a code sent to
    verify them (as when an admin adds someone on the People page)."""

    email: Email
    name: PersonName
    role: RoleName = "responder"
    phone: Phone | None = None
    time_zone: Zone = "UTC"
    password: str | None = Field(None, max_length=200)
    active: bool = True


class UserChange(Input):
    """The fields to change; those left out stay as they are. `phone: null` takes the
    number off the record. A person may change their own name, phone and time zone;
    email, role and active are an admin's."""

    email: Email | None = None
    name: PersonName | None = None
    phone: Phone | None = None
    time_zone: Zone | None = None
    role: RoleName | None = None
    active: bool | None = None


class ContactMethodOut(BaseModel):
    """A contact method. Only a `verified` one is paged; SMS stops while `opted_out`
    (the person replied STOP)."""

    model_config = ConfigDict(extra="forbid")

    id: int
    channel: Literal["sms", "voice", "email"]
    address: str
    label: str
    verified: bool
    opted_out: bool
    created_at: Time


class ContactMethodList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_methods: list[ContactMethodOut]
    pagination: Pagination


class NewContactMethod(Input):
    """A phone number (E.164, `+15551230001`) for `sms` or `voice`, or an email
    address. A code goes to it; `verified: true` (admins only) vouches for it instead."""

    channel: Literal["sms", "voice", "email"]
    address: Annotated[str, Field(min_length=1, max_length=254)]
    label: str = Field("", max_length=60)
    verified: bool = False


class ContactMethodChange(Input):
    """`label` names it; `code` is the code that was sent to it (a wrong one counts
    against the five tries); `verified: true` is an admin vouching for it without one."""

    label: str | None = Field(None, max_length=60)
    code: str | None = Field(None, min_length=1, max_length=12)
    verified: Literal[True] | None = None


class CodeRequest(Input):
    """Nothing to say: the code goes to the method itself."""


class RuleStepOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_method_id: int
    channel: Literal["sms", "voice", "email"]
    address: str
    delay_minutes: int


class NotificationRuleSet(BaseModel):
    """One urgency's steps; `chosen` false while they are the defaults, which follow
    the methods the person has (SMS at once, a call after 2 minutes, email after 5;
    low urgency: email)."""

    model_config = ConfigDict(extra="forbid")

    chosen: bool
    steps: list[RuleStepOut]


class NotificationRulesOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    high: NotificationRuleSet
    low: NotificationRuleSet


class RuleStep(Input):
    contact_method_id: Id
    delay_minutes: int = Field(0, ge=0, le=contacts.MAX_DELAY)


RuleSteps = Annotated[list[RuleStep], Field(min_length=1, max_length=contacts.MAX_RULES)]


class NotificationRules(Input):
    """Every rule of the person: each urgency's steps, or null (or left out) for the
    defaults. Steps name the person's own verified methods."""

    high: RuleSteps | None = None
    low: RuleSteps | None = None


# --- reading ------------------------------------------------------------------------------------

def user_data(user: User) -> dict:
    return {"id": user.id, "name": user.name, "email": user.email, "phone": user.phone, "time_zone": user.time_zone,
            "role": Role(user.role).value, "active": user.active, "created_at": user.created_at,
            "teams": sorted(({"id": t.id, "name": t.name} for t in user.teams), key=lambda t: (t["name"], t["id"]))}


def method_data(method: ContactMethod) -> dict:
    return {"id": method.id, "channel": method.channel.value, "address": method.address, "label": method.label or "",
            "verified": method.verified, "opted_out": method.opted_out_at is not None,
            "created_at": method.created_at}


def rules_data(user: User) -> dict:
    found = {}
    for urgency in ("high", "low"):
        rules = db.session.scalars(sa.select(NotificationRule).where(
            NotificationRule.user_id == user.id, NotificationRule.urgency == urgency)
            .order_by(NotificationRule.delay_minutes, NotificationRule.id)).all()
        steps = [{"contact_method_id": r.contact_method_id, "channel": r.contact_method.channel.value,
                  "address": r.contact_method.address, "delay_minutes": r.delay_minutes} for r in rules]
        found[urgency] = {"chosen": any(r.chosen for r in rules), "steps": steps}
    return found


def _user(user_id: int) -> User:
    return load(User, user_id, f"There is no person {user_id}.")


def _method(user: User, method_id: int) -> ContactMethod:
    """The person's contact method (a removed one is gone)."""
    method = load(ContactMethod, method_id, f"{user.name} has no contact method {method_id}.")
    if method.user_id != user.id or not method.active:
        raise NotFound(f"{user.name} has no contact method {method_id}.")
    return method


def _one(user: User, status: int = 200, **headers):
    return answer(UserOut, user_data(user), status, etag=True, headers=headers)


def _one_method(method: ContactMethod, status: int = 200, **headers):
    return answer(ContactMethodOut, method_data(method), status, etag=True, headers=headers)


def own_or_admin(view: Callable) -> Callable:
    """Past the viewer role: the person the URL names (`user_id`), or an admin. Anyone
    else is refused here (403), and a person who does not exist is a 404, before the
    body is judged."""
    @functools.wraps(view)
    def check(*args, user_id: int, **kwargs):
        actor = current_actor()
        if not actor.can(Role.ADMIN) and (actor.user is None or actor.user.id != user_id):
            raise Forbidden("This needs the admin role, or the person themselves.")
        _user(user_id)
        return view(*args, user_id=user_id, **kwargs)
    return check


@bp.route("/users")
@requires(Role.VIEWER)
@endpoint(query=PageQuery, answers={200: UserList}, tag="users")
def list_users():
    """Everyone, active first, by name."""
    query = request.context.query
    total = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    teams = selectinload(User.memberships).joinedload(TeamMembership.team)
    users = db.session.scalars(sa.select(User).options(teams).order_by(User.active.desc(), User.name, User.id)
                               .offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    return answer(UserList, {"users": [user_data(u) for u in users],
                             "pagination": pagination_json(query.page, query.per_page, total)})


@bp.route("/users/<int:user_id>")
@requires(Role.VIEWER)
@endpoint(answers={200: UserOut}, tag="users")
def show_user(user_id: int):
    """One person, with its ETag for If-Match."""
    return _one(_user(user_id))


# --- people ---------------------------------------------------------------------------------------

@bp.route("/users", methods=["POST"])
@requires(Role.ADMIN)
@endpoint(body=NewUser, answers={201: UserOut}, tag="users", refusals=(409,))
def create_user():
    """Add a person (admins); 409 when someone has the email address already."""
    body, actor = request.context.json, current_actor()
    user = people.create_user(actor, email=body.email, name=body.name, role=body.role, password=body.password or None,
                              phone=body.phone, time_zone=body.time_zone)
    if not body.active:
        people.update_user(actor, user, active=False)
    contacts.add_phone(actor, user, user.phone, clock.now())
    db.session.commit()
    return _one(user, 201, Location=url_for("api.show_user", user_id=user.id))


@bp.route("/users/<int:user_id>", methods=["PATCH"])
@requires(Role.VIEWER)
@own_or_admin
@endpoint(body=UserChange, answers={200: UserOut}, tag="users", refusals=(409,))
def update_user(user_id: int):
    """Change a person: admins anyone, anything; a person their own name, phone and
    time zone (the rest is 403). A new phone gets a code to verify it."""
    user, body, actor = _user(user_id), request.context.json, current_actor()
    check_if_match(UserOut, user_data(user))
    fields = {name: getattr(body, name) for name in body.model_fields_set
              if getattr(body, name) is not None or name == "phone"}
    before = user.phone
    people.update_user(actor, user, **fields)
    if user.phone != before:
        contacts.add_phone(actor, user, user.phone, clock.now())
    db.session.commit()
    return _one(user)


@bp.route("/users/<int:user_id>", methods=["DELETE"])
@requires(Role.ADMIN)
@endpoint(answers={204: None}, tag="users", refusals=(409,))
def deactivate_user(user_id: int):
    """Deactivate a person (admins): signed out everywhere and paged no more, their
    history kept. 409 for yourself, or for the last active admin."""
    user = _user(user_id)
    check_if_match(UserOut, user_data(user))
    if user.active:
        try:
            people.update_user(current_actor(), user, active=False)
        except DomainError as refused:
            if refused.status != 400:
                raise
            raise Conflict(refused.message) from None
        db.session.commit()
    return "", 204


# --- contact methods --------------------------------------------------------------------------------

@bp.route("/users/<int:user_id>/contact_methods")
@requires(Role.VIEWER)
@endpoint(query=PageQuery, answers={200: ContactMethodList}, tag="users")
def list_contact_methods(user_id: int):
    """A person's contact methods, in the order they were added."""
    user, query = _user(user_id), request.context.query
    mine = (ContactMethod.user_id == user.id, ContactMethod.active.is_(True))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(ContactMethod).where(*mine))
    methods = db.session.scalars(sa.select(ContactMethod).where(*mine).order_by(ContactMethod.id)
                                 .offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    return answer(ContactMethodList, {"contact_methods": [method_data(m) for m in methods],
                               "pagination": pagination_json(query.page, query.per_page, total)})


@bp.route("/users/<int:user_id>/contact_methods/<int:method_id>")
@requires(Role.VIEWER)
@endpoint(answers={200: ContactMethodOut}, tag="users")
def show_contact_method(user_id: int, method_id: int):
    """One contact method, with its ETag for If-Match."""
    return _one_method(_method(_user(user_id), method_id))


@bp.route("/users/<int:user_id>/contact_methods", methods=["POST"])
@requires(Role.VIEWER)
@own_or_admin
@endpoint(body=NewContactMethod, answers={201: ContactMethodOut}, tag="users", refusals=(409,))
def add_contact_method(user_id: int):
    """Add a contact method (the person, or an admin): a code goes to it, to be sent
    back with PATCH; an admin may vouch for it instead (`verified`). 409 when the
    person has it already."""
    user, body = _user(user_id), request.context.json
    method = contacts.add_method(current_actor(), user, body.channel, body.address, clock.now(), label=body.label,
                                 verified=body.verified)
    db.session.commit()
    return _one_method(method, 201, Location=url_for("api.show_contact_method", user_id=user.id,
                                                     method_id=method.id))


@bp.route("/users/<int:user_id>/contact_methods/<int:method_id>", methods=["PATCH"])
@requires(Role.VIEWER)
@own_or_admin
@endpoint(body=ContactMethodChange, answers={200: ContactMethodOut}, tag="users")
def update_contact_method(user_id: int, method_id: int):
    """Name a contact method, verify it with its code (the person, or an admin), or
    (admins) vouch for it."""
    user, body, actor = _user(user_id), request.context.json, current_actor()
    method = _method(user, method_id)
    check_if_match(ContactMethodOut, method_data(method))
    now = clock.now()
    if body.label is not None:
        contacts.relabel(actor, method, body.label)
    if body.verified:
        contacts.vouch(actor, method, now)
    if body.code is not None and not contacts.verify(actor, method, body.code, now):
        db.session.commit()  # the wrong code counts as a try, as on the profile page
        raise DomainError("That code is not right.", "code")
    db.session.commit()
    return _one_method(method)


@bp.route("/users/<int:user_id>/contact_methods/<int:method_id>/verification_codes", methods=["POST"])
@requires(Role.VIEWER)
@own_or_admin
@endpoint(body=CodeRequest, answers={202: ContactMethodOut}, tag="users")
def send_verification_code(user_id: int, method_id: int):
    """Send a new code to an unverified method (the person, or an admin), as the
    profile page's Resend: a minute after the last at the soonest; it replaces the
    last one."""
    method = _method(_user(user_id), method_id)
    contacts.send_code(current_actor(), method, clock.now())
    db.session.commit()
    return _one_method(method, 202)


@bp.route("/users/<int:user_id>/contact_methods/<int:method_id>", methods=["DELETE"])
@requires(Role.VIEWER)
@own_or_admin
@endpoint(answers={204: None}, tag="users")
def remove_contact_method(user_id: int, method_id: int):
    """Remove a contact method (the person, or an admin): its rules go with it and the
    defaults fill in from the methods left."""
    user = _user(user_id)
    method = _method(user, method_id)
    check_if_match(ContactMethodOut, method_data(method))
    contacts.remove_method(current_actor(), method)
    db.session.commit()
    return "", 204


# --- notification rules -----------------------------------------------------------------------------

@bp.route("/users/<int:user_id>/notification_rules")
@requires(Role.VIEWER)
@endpoint(answers={200: NotificationRulesOut}, tag="users")
def show_notification_rules(user_id: int):
    """A person's rules for high- and low-urgency pages, with their ETag."""
    user = _user(user_id)
    return answer(NotificationRulesOut, rules_data(user), etag=True)


@bp.route("/users/<int:user_id>/notification_rules", methods=["PUT"])
@requires(Role.VIEWER)
@own_or_admin
@endpoint(body=NotificationRules, answers={200: NotificationRulesOut}, tag="users")
def put_notification_rules(user_id: int):
    """Replace all of a person's rules (the person, or an admin): the steps sent for
    each urgency, or the defaults for one sent as null or left out. The same request
    twice is one change."""
    user, body, actor = _user(user_id), request.context.json, current_actor()
    current = rules_data(user)
    check_if_match(NotificationRulesOut, current)
    for urgency in ("high", "low"):
        steps = getattr(body, urgency)
        if steps is None:
            if current[urgency]["chosen"]:
                contacts.reset_rules(actor, user, urgency)
            continue
        wanted = sorted(((s.contact_method_id, s.delay_minutes) for s in steps), key=lambda s: s[1])
        have = [(s["contact_method_id"], s["delay_minutes"]) for s in current[urgency]["steps"]]
        if current[urgency]["chosen"] and have == wanted:
            continue
        try:
            contacts.set_rules(actor, user, urgency, wanted)
        except DomainError as refused:
            if refused.status != 400:
                raise
            raise DomainError(refused.message, urgency) from None
    db.session.commit()
    db.session.expire(user)
    return answer(NotificationRulesOut, rules_data(user), etag=True)
