"""Import from Opsgenie: `flask --app wsgi import opsgenie --api-key K [--region eu] [--dry-run]`.

Reads Opsgenie's REST API v2 (`Authorization: GenieKey K`; api.opsgenie.com, or
api.eu.opsgenie.com with `--region eu`; `OPSGENIE_API_BASE` overrides both) with a
key that may read the configuration, all of it before writing anything, then makes
or updates the Firebreak objects through the usual service functions (so every rule
and audit entry applies), as "import from Opsgenie". A second run finds what the
first made (app.importers.core.Ledger) and updates it in place.

How Opsgenie's objects map (what does not map exactly is said in the report):

- users → people, by their username (an email address); roles Owner/Admin → admin,
  User → responder, Observer/Stakeholder → viewer, a custom role → responder; a
  blocked user is deactivated. Nobody gets a password: people come in through a
  password reset, an invitation or single sign-on. Someone already in Firebreak with
  that address is taken as that user and left as they are.
- contacts → contact methods (email, sms, voice; the "mobile" app has no
  counterpart), taken as verified since Opsgenie was paging them (audited as vouched
  by the import); a disabled contact is left out. A person's enabled "create-alert"
  notification rule becomes their high-urgency rules; other rule kinds are left out.
- teams → teams with their members; a team admin becomes a team manager.
- schedules → schedules in the same time zone, owned by the same team. Each rotation
  becomes a layer: daily/weekly/hourly turns of `length`, handing off at the
  rotation's startDate wall-clock time in the schedule's zone (so across a change to
  summer time, as Opsgenie does); restrictions ("time-of-day", "weekday-and-time-of-day",
  whose windows may run over several days) become the layer's windows, split at
  midnight. Opsgenie puts the people of every active rotation on call together;
  Firebreak names one person per schedule, the upper layer's, so overlapping
  rotations are reported. Participants that are teams, escalations or "none" cannot
  be in a Firebreak rotation. Overrides that have not ended become overrides (over
  every layer, where Opsgenie may name some rotations).
- escalations → escalation policies: rules that fire after the same delay become one
  step; a step waits until the next rule's delay (Opsgenie counts every delay from the
  alert's creation, Firebreak from the step before); Opsgenie's repeat becomes the
  policy's repeat. Firebreak escalates until someone acknowledges ("if-not-closed"
  rules are reported).
- integrations → one service each, owned by the integration's team and escalating by
  that team's escalation policy, with an integration key: the report gives the URL
  each sender should use instead. Email integrations are not mapped.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa
from flask import current_app

from app import clock
from app.audit.service import Actor
from app.auth import permissions
from app.auth import service as people
from app.auth.models import Role, Team, TeamMembership, User
from app.errors import DomainError
from app.escalation import policies
from app.escalation.models import EscalationPolicy
from app.extensions import db
from app.importers import core
from app.importers.cli import finish, import_group
from app.importers.core import Ledger, Report, VendorClient
from app.notify import contacts
from app.notify.models import Channel, ContactMethod
from app.oncall import service as oncall
from app.oncall.models import Override, Schedule, ScheduleLayer, ShiftUnit
from app.services import service as services
from app.services.models import Service

VENDOR = "opsgenie"
API_BASES = {"us": "https://api.opsgenie.com", "eu": "https://api.eu.opsgenie.com"}
PAGE_SIZE = 100        # Opsgenie's largest page
ACTOR = Actor.system("import from Opsgenie")

ROLES = {"owner": Role.ADMIN, "admin": Role.ADMIN, "user": Role.RESPONDER, "observer": Role.VIEWER,
         "stakeholder": Role.VIEWER}
UNITS = {"daily": ShiftUnit.DAYS, "weekly": ShiftUnit.WEEKS, "hourly": ShiftUnit.HOURS}
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MINUTES = {"minutes": 1, "hours": 60, "days": 24 * 60}
ALERTMANAGER_TYPES = {"prometheus", "alertmanager"}
WEEK = 7 * 24 * 60


@import_group.command("opsgenie")
@click.option("--api-key", required=True, help="An Opsgenie API key that may read the configuration.")
@click.option("--region", type=click.Choice(["us", "eu"]), default="us", show_default=True,
              help="Opsgenie's US (api.opsgenie.com) or EU (api.eu.opsgenie.com) instance.")
@click.option("--dry-run", is_flag=True, help="Read and map everything, print the report, write nothing.")
def import_opsgenie(api_key: str, region: str, dry_run: bool) -> None:
    """Bring users, teams, schedules, escalations and integrations in from Opsgenie."""
    finish(lambda: import_all(api_key, region=region, dry_run=dry_run))


def api_base(region: str = "us") -> str:
    return current_app.config.get("OPSGENIE_API_BASE") or API_BASES[region]


def import_all(api_key: str, *, region: str = "us", dry_run: bool = False,
               sleep: Callable[[float], None] = time.sleep) -> Report:
    """Read everything from Opsgenie, then map it in one transaction (rolled back for a
    dry run); the report says what happened."""
    if not (api_key or "").strip():
        raise core.ImportFailed("Give the Opsgenie API key (--api-key).")
    client = VendorClient(api_base(region), {"Authorization": f"GenieKey {api_key.strip()}"}, vendor="Opsgenie",
                          sleep=sleep)
    org = read(client)
    return core.run("Opsgenie", lambda report: Mapping(org, report, clock.now()).apply(), dry_run=dry_run)


# --- reading ------------------------------------------------------------------------------

@dataclass
class Organisation:
    """Everything read from Opsgenie, as its JSON."""

    users: list[dict] = field(default_factory=list)
    contacts: dict[str, list[dict]] = field(default_factory=dict)
    rules: dict[str, list[dict]] = field(default_factory=dict)
    teams: list[dict] = field(default_factory=list)
    schedules: list[dict] = field(default_factory=list)
    overrides: dict[str, list[dict]] = field(default_factory=dict)
    escalations: list[dict] = field(default_factory=list)
    integrations: list[dict] = field(default_factory=list)


def _data(answer, what: str):
    if not isinstance(answer, dict) or "data" not in answer:
        raise core.ImportFailed(f"Opsgenie's answer for {what} has no data.")
    return answer["data"]


def read_users(client: VendorClient) -> list[dict]:
    """Every user, page by page: Opsgenie's `paging.next` is the exact next page."""
    users: list[dict] = []
    url: str | None = "/v2/users"
    params: dict | None = {"limit": PAGE_SIZE, "offset": 0, "sort": "username", "order": "asc"}
    seen = set()
    while url and url not in seen:
        seen.add(url)
        answer = client.get(url, params)
        page = _data(answer, "users")
        users.extend(page)
        url, params = ((answer.get("paging") or {}).get("next") if page else None), None
    return users


def read(client: VendorClient) -> Organisation:
    org = Organisation(users=read_users(client))
    for user in org.users:
        org.contacts[user["id"]] = _data(client.get(f"/v2/users/{user['id']}/contacts"), "contacts")
        listed = _data(client.get(f"/v2/users/{user['id']}/notification-rules"), "notification rules")
        org.rules[user["id"]] = [
            _data(client.get(f"/v2/users/{user['id']}/notification-rules/{rule['id']}"), "a notification rule")
            for rule in listed if rule.get("actionType") == "create-alert"
        ] + [rule for rule in listed if rule.get("actionType") != "create-alert"]
    org.teams = [_data(client.get(f"/v2/teams/{team['id']}"), "a team")
                 for team in _data(client.get("/v2/teams"), "teams")]
    org.schedules = _data(client.get("/v2/schedules", {"expand": "rotation"}), "schedules")
    for schedule in org.schedules:
        org.overrides[schedule["id"]] = _data(client.get(f"/v2/schedules/{schedule['id']}/overrides"), "overrides")
    org.escalations = _data(client.get("/v2/escalations"), "escalations")
    org.integrations = _data(client.get("/v2/integrations"), "integrations")
    return org


# --- pure translations --------------------------------------------------------------------

def instant(value: str) -> datetime:
    """Opsgenie's ISO 8601 instant as an aware UTC datetime."""
    return clock.utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


def phone(value: str) -> str:
    """Opsgenie writes numbers as country code, dash, number ("1-2125550101")."""
    value = (value or "").strip()
    return value if value.startswith("+") else "+" + value.replace("-", "").replace(" ", "")


def minutes(delay: dict | None) -> int:
    delay = delay or {}
    return int(delay.get("timeAmount") or 0) * MINUTES.get(delay.get("timeUnit") or "minutes", 1)


def _hhmm(minute: int) -> str:
    minute %= 24 * 60
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _clock_minute(hour, minute) -> int:
    return int(hour or 0) * 60 + int(minute or 0)


def restrictions(time_restriction: dict | None) -> list[dict]:
    """An Opsgenie timeRestriction as Firebreak restrictions ({days, start, end}, local).

    "time-of-day" is one daily window; each "weekday-and-time-of-day" window runs from
    its start day and time to its end day and time, possibly over several days, so it
    is cut at every midnight into pieces a day long at most, and pieces with the same
    hours are merged across days. A window ending where it starts is a whole week."""
    if not time_restriction:
        return []
    if time_restriction.get("type") == "time-of-day":
        item = time_restriction.get("restriction") or {}
        start = _clock_minute(item.get("startHour"), item.get("startMin"))
        end = _clock_minute(item.get("endHour"), item.get("endMin"))
        return [{"days": list(range(7)), "start": _hhmm(start), "end": _hhmm(end)}]
    pieces: dict[tuple[str, str], set[int]] = {}
    for item in time_restriction.get("restrictions") or []:
        start = (DAYS.index(item["startDay"].lower()) * 24 * 60
                 + _clock_minute(item.get("startHour"), item.get("startMin")))
        end = DAYS.index(item["endDay"].lower()) * 24 * 60 + _clock_minute(item.get("endHour"), item.get("endMin"))
        length = (end - start) % WEEK or WEEK
        at = start
        while length > 0:
            day, minute = divmod(at % WEEK, 24 * 60)
            piece = min(length, 24 * 60 - minute)
            pieces.setdefault((_hhmm(minute), _hhmm(minute + piece)), set()).add(day)
            at, length = at + piece, length - piece
    return [{"days": sorted(days), "start": start, "end": end}
            for (start, end), days in sorted(pieces.items(), key=lambda item: (min(item[1]), item[0]))]


def week_slots(items: list[dict]) -> set[int]:
    """The minutes of the week (Monday 00:00 = 0) the restrictions cover, in 30-minute
    slots (Opsgenie's restrictions are on the hour or half-hour); none: all of them."""
    if not items:
        return set(range(0, WEEK, 30))
    slots = set()
    for item in items:
        start_h, start_m = map(int, item["start"].split(":"))
        end_h, end_m = map(int, item["end"].split(":"))
        start, end = start_h * 60 + start_m, end_h * 60 + end_m
        length = end - start if end > start else end - start + 24 * 60
        for day in item["days"]:
            slots.update((day * 24 * 60 + start + offset) % WEEK for offset in range(0, length, 30))
    return slots


# --- writing ------------------------------------------------------------------------------

class Mapping:
    """One run's work: Opsgenie's organisation made into Firebreak's, said in `report`."""

    def __init__(self, org: Organisation, report: Report, now: datetime):
        self.org, self.report, self.now = org, report, now
        self.ledger = Ledger(VENDOR)
        self.users: dict[str, User] = {}
        self.teams: dict[str, Team] = {}
        self.schedules: dict[str, Schedule] = {}
        self.policies_by_team: dict[int, list[EscalationPolicy]] = {}
        self.vouched: list[str] = []
        self.new_people: set[int] = set()
        self.adopted: set[int] = set()

    def apply(self) -> None:
        for user in self.org.users:
            self._guard(f"user {user.get('username')}", self.user, user)
        if self.report.created and any(line.startswith("person ") for line in self.report.created):
            self.report.approximate.append(
                "people were made without a password: they sign in through a password reset, an invitation "
                "(flask --app wsgi invite) or single sign-on")
        for user in self.org.users:
            if user["id"] in self.users and self.users[user["id"]].id not in self.adopted:
                self._guard(f"contacts of {user['username']}", self.contacts, user)
        if self.vouched:
            self.report.approximate.append(
                f"the contact methods of {', '.join(self.vouched)} were taken as verified (vouched for by the "
                "import, audited), since Opsgenie was paging them: ask each to send themselves a test page")
        for team in self.org.teams:
            self._guard(f"team {team.get('name')}", self.team, team)
        for schedule in self.org.schedules:
            self._guard(f"schedule {schedule.get('name')}", self.schedule, schedule)
        for escalation in self.org.escalations:
            self._guard(f"escalation {escalation.get('name')}", self.escalation, escalation)
        for integration in self.org.integrations:
            self._guard(f"integration {integration.get('name')}", self.integration, integration)

    def _guard(self, what: str, work, item: dict) -> None:
        """A refusal by Firebreak's rules for one object is reported, not fatal: the
        object is left out and the rest goes on. (Nothing of it is half-written: each
        service function checks before it writes.) An answer not shaped as Opsgenie
        documents stops the import, which then writes nothing."""
        try:
            work(item)
        except DomainError as error:
            self.report.unmapped.append(f"{what}: {error.message}")
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise core.ImportFailed(f"Opsgenie's {what} is not as its API reference describes "
                                    f"({type(error).__name__}: {error}); nothing was imported.") from None

    def _outcome(self, label: str, created: bool, before, after) -> None:
        if created:
            self.report.created.append(label)
        elif before != after:
            self.report.updated.append(label)
        else:
            self.report.unchanged.append(label)

    # --- people ---------------------------------------------------------------------------

    def user(self, data: dict) -> None:
        email, name = data["username"], (data.get("fullName") or data["username"]).strip()
        role_name = ((data.get("role") or {}).get("name") or "").strip()
        role = ROLES.get(role_name.lower())
        if role is None:
            role = Role.RESPONDER
            self.report.approximate.append(f"{name}: Opsgenie's custom role {role_name!r} became responder")
        zone = data.get("timeZone") or "UTC"
        if not people.valid_time_zone(zone):
            self.report.approximate.append(f"{name}: time zone {zone!r} is unknown here, UTC instead")
            zone = "UTC"
        user = self.ledger.find("user", data["id"], User)
        created = False
        if user is None:
            user = people.find_user_by_email(email)
            if user is not None:
                self.report.approximate.append(f"{user.name} <{user.email}> was already here: taken as the Opsgenie "
                                               "user and left as they are (role, contact methods and rules)")
                self.ledger.remember("user", data["id"], user)
                self.users[data["id"]] = user
                self.adopted.add(user.id)
                return
            user = people.create_user(ACTOR, email=email, name=name, role=role, time_zone=zone)
            self.new_people.add(user.id)
            created = True
        before = (user.email, user.name, user.role, user.time_zone, user.active)
        if not created:
            people.update_user(ACTOR, user, email=email, name=name, role=role, time_zone=zone)
        if bool(data.get("blocked")) == user.active:
            people.update_user(ACTOR, user, active=not data.get("blocked"))
        if data.get("blocked") and created:
            self.report.approximate.append(f"{name} is blocked in Opsgenie: made deactivated")
        self.ledger.remember("user", data["id"], user)
        self.users[data["id"]] = user
        self._outcome(f"person {user.name} <{user.email}> ({user.role.value})", created, before,
                      (user.email, user.name, user.role, user.time_zone, user.active))

    def contacts(self, data: dict) -> None:
        user = self.users[data["id"]]
        vouched = False
        for contact in self.org.contacts.get(data["id"], []):
            method, to = contact.get("method"), contact.get("to") or ""
            if method not in ("email", "sms", "voice"):
                self.report.unmapped.append(f"{user.name}'s {method} contact {to!r}: Firebreak pages by SMS, "
                                            "voice call and email (the Opsgenie app has no counterpart)")
                continue
            if not (contact.get("status") or {}).get("enabled", True):
                self.report.unmapped.append(f"{user.name}'s {method} contact {to}: disabled in Opsgenie, left out")
                continue
            channel = Channel(method)
            try:
                address = contacts.normalise_address(channel, phone(to) if method != "email" else to)
            except DomainError as error:
                self.report.unmapped.append(f"{user.name}'s {method} contact {to!r}: {error.message}")
                continue
            label = f"contact {channel.label} {address} of {user.name}"
            row = self.ledger.find("contact", contact["id"], ContactMethod)
            if row is not None and row.active and (row.channel, row.address) != (channel, address):
                # Changed in Opsgenie (a new number): the old method goes, with its rules.
                contacts.remove_method(ACTOR, row)
                row = None
                self.report.updated.append(label)
            elif row is not None and not row.active:
                row = None
            if row is None:
                row = next((m for m in user.contact_methods if m.active and m.channel == channel
                            and m.address == address), None)
                if row is None:
                    row = contacts.add_method(ACTOR, user, channel, address, self.now, verified=True)
                    vouched = True
                    if label not in self.report.updated:
                        self.report.created.append(label)
                elif label not in self.report.updated:
                    self.report.unchanged.append(label)
            else:
                self.report.unchanged.append(label)
            self.ledger.remember("contact", contact["id"], row)
        if vouched:
            self.vouched.append(user.name)
        self.notification_rules(data, user)

    def notification_rules(self, data: dict, user: User) -> None:
        done = False
        for rule in self.org.rules.get(data["id"], []):
            if rule.get("actionType") != "create-alert":
                self.report.unmapped.append(
                    f"{user.name}'s notification rule {rule.get('name')!r} ({rule.get('actionType')}): only rules "
                    "for new alerts have a counterpart (shift reminders are set on each schedule)")
                continue
            if not rule.get("enabled", True):
                continue
            if done:
                self.report.unmapped.append(f"{user.name}'s notification rule {rule.get('name')!r}: only the first "
                                            "rule for new alerts is taken (Firebreak has one set per urgency)")
                continue
            done = True
            steps, left_out = [], []
            for step in rule.get("steps") or []:
                if not step.get("enabled", True):
                    continue
                contact = step.get("contact") or {}
                method = contact.get("method")
                target = None
                if method in ("email", "sms", "voice"):
                    try:
                        address = contacts.normalise_address(
                            Channel(method), phone(contact.get("to")) if method != "email" else contact.get("to"))
                    except DomainError:
                        address = None
                    target = next((m for m in user.contact_methods if m.active and m.verified
                                   and m.channel == Channel(method) and m.address == address), None)
                delay = minutes(step.get("sendAfter"))
                if target is None:
                    left_out.append(f"{method} {contact.get('to')}")
                    continue
                if delay > contacts.MAX_DELAY:
                    self.report.approximate.append(f"{user.name}'s {method} step after {delay} minutes: "
                                                   f"after {contacts.MAX_DELAY} instead")
                    delay = contacts.MAX_DELAY
                if (target.id, delay) not in steps:
                    steps.append((target.id, delay))
            if left_out:
                self.report.approximate.append(f"{user.name}'s rule {rule.get('name')!r}: left out the steps "
                                               f"to {', '.join(left_out)} (no such usable contact method here)")
            if not steps:
                continue
            steps = sorted(steps, key=lambda s: (s[1], s[0]))[:contacts.MAX_RULES]
            current = contacts.rules_for(user, "high")
            have = sorted(((r.contact_method_id, r.delay_minutes) for r in current), key=lambda s: (s[1], s[0]))
            label = f"high-urgency notification rules of {user.name}"
            if have == steps and all(r.chosen for r in current):
                self.report.unchanged.append(label)
            else:
                contacts.set_rules(ACTOR, user, "high", steps)
                (self.report.created if user.id in self.new_people else self.report.updated).append(label)

    # --- teams ----------------------------------------------------------------------------

    def team(self, data: dict) -> None:
        name, description = data["name"].strip(), data.get("description") or ""
        team = self.ledger.find("team", data["id"], Team)
        created = False
        if team is None:
            team = db.session.scalar(sa.select(Team).where(sa.func.lower(Team.name) == name.lower()))
            if team is None:
                team = people.create_team(ACTOR, name=name, description=description)
                created = True
        before = (team.name, team.description)
        if not created:
            people.update_team(ACTOR, team, name=name, description=description)
        members_before = self._members(team)
        for member in data.get("members") or []:
            user = self.users.get((member.get("user") or {}).get("id"))
            if user is None:
                continue
            manager = member.get("role") == "admin"
            if manager and not user.can(permissions.MANAGER_ROLE):
                manager = False
                self.report.approximate.append(f"{user.name} is an admin of {team.name} in Opsgenie; a "
                                               f"{user.role.value} cannot manage a team here: made a member")
            if user.id not in members_before:
                people.add_member(ACTOR, team, user, is_manager=manager)
            elif members_before[user.id] != manager:
                people.set_manager(ACTOR, team, user, manager)
        self.ledger.remember("team", data["id"], team)
        self.teams[data["id"]] = team
        self._outcome(f"team {team.name}", created, (before, members_before),
                      ((team.name, team.description), self._members(team)))

    @staticmethod
    def _members(team: Team) -> dict[int, bool]:
        return dict(db.session.execute(sa.select(TeamMembership.user_id, TeamMembership.is_manager)
                                       .where(TeamMembership.team_id == team.id)).all())

    # --- schedules ------------------------------------------------------------------------

    def _free_name(self, model, name: str, what: str) -> str:
        """`name`, or `name (Opsgenie)` when something not imported has it already."""
        if db.session.scalar(sa.select(model.id).where(sa.func.lower(model.name) == name.lower())) is None:
            return name
        renamed = f"{name} (Opsgenie)"
        self.report.approximate.append(f"{what} {name!r}: the name is taken here, imported as {renamed!r}")
        return renamed

    @staticmethod
    def _kept_name(current: str, wanted: str) -> str:
        """The name to give on a later run: Opsgenie's, unless only its case differs or
        the first run had to add " (Opsgenie)" to it."""
        return current if current.lower() in (wanted.lower(), f"{wanted} (opsgenie)".lower()) else wanted

    def schedule(self, data: dict) -> None:
        zone = data.get("timezone") or "UTC"
        team = self.teams.get((data.get("ownerTeam") or {}).get("id"))
        schedule = self.ledger.find("schedule", data["id"], Schedule)
        if schedule is not None and schedule.archived_at is not None:
            self.report.unmapped.append(f"schedule {schedule.name}: archived in Firebreak since the last import, "
                                        "left as it is")
            return
        settings = {"time_zone": zone, "description": data.get("description") or "",
                    "team_id": team.id if team else None}
        created = schedule is None
        if created:
            schedule = oncall.create_schedule(ACTOR, name=self._free_name(Schedule, data["name"].strip(), "schedule"),
                                              now=self.now, **settings)
            self.report.created.append(f"schedule {schedule.name} ({schedule.time_zone})")
            before = None
        else:
            before = self._schedule_state(schedule)
            name = self._kept_name(schedule.name, data["name"].strip())
            oncall.update_schedule(ACTOR, schedule, now=self.now, name=name, **settings)
        if not data.get("enabled", True):
            self.report.approximate.append(f"schedule {schedule.name} is disabled in Opsgenie: imported as it is")
        self.ledger.remember("schedule", data["id"], schedule)
        self.schedules[data["id"]] = schedule
        mapped = []
        for rotation in data.get("rotations") or []:
            try:
                layer = self.rotation(schedule, rotation, ZoneInfo(schedule.time_zone))
            except DomainError as error:
                layer = None
                self.report.unmapped.append(f"rotation {rotation.get('name')} of {schedule.name}: {error.message}")
            if layer is not None:
                mapped.append(layer)
        self._overlaps(schedule, mapped)
        rotation_ids = {r["id"] for r in data.get("rotations") or []}
        for override in self.org.overrides.get(data["id"], []):
            self._guard(f"override {override.get('alias')} of {schedule.name}",
                        lambda item: self.override(schedule, item, rotation_ids), override)
        if not created:
            self._outcome(f"schedule {schedule.name} ({schedule.time_zone})", False, before,
                          self._schedule_state(schedule))

    @staticmethod
    def _schedule_state(schedule: Schedule):
        db.session.flush()
        return (schedule.name, schedule.time_zone, schedule.description, schedule.team_id, schedule.version)

    def rotation(self, schedule: Schedule, data: dict, zone: ZoneInfo) -> ScheduleLayer | None:
        name = (data.get("name") or "").strip() or f"Rotation {data['id'][:8]}"
        where = f"rotation {name} of {schedule.name}"
        unit = UNITS.get(data.get("type"))
        if unit is None:
            self.report.unmapped.append(f"{where}: rotation type {data.get('type')!r} has no counterpart "
                                        "(daily, weekly and hourly do)")
            return None
        if data.get("endDate"):
            end = instant(data["endDate"])
            if end <= self.now:
                self.report.unmapped.append(f"{where}: it ended {end:%Y-%m-%d %H:%M} UTC")
                return None
            self.report.approximate.append(f"{where}: ends {end:%Y-%m-%d %H:%M} UTC in Opsgenie; a Firebreak "
                                           "layer has no end, remove it then")
        participants, others = [], []
        for participant in data.get("participants") or []:
            user = self.users.get(participant.get("id")) if participant.get("type") == "user" else None
            if user is None:
                others.append(participant.get("name") or participant.get("username") or participant.get("type"))
            elif user.id not in participants:
                participants.append(user.id)
        if not participants:
            self.report.unmapped.append(f"{where}: its participants ({', '.join(map(str, others))}) are not people "
                                        "(teams, escalations or nobody); a Firebreak rotation takes people")
            return None
        if others:
            self.report.approximate.append(f"{where}: left out {', '.join(map(str, others))} (not a person here), "
                                           "so the turns of the others come round more often")
        start = instant(data["startDate"]).astimezone(zone)
        rotation = {"participant_ids": participants, "shift_unit": unit.value,
                    "shift_length": int(data.get("length") or 1),
                    "handoff_time": start.time().replace(tzinfo=None), "handoff_weekday": start.weekday(),
                    "restrictions": restrictions(data.get("timeRestriction"))}
        layer = self.ledger.find("rotation", data["id"], ScheduleLayer)
        if layer is not None and layer.schedule_id != schedule.id:
            layer = None
        label = f"layer {name} of {schedule.name}"
        if layer is None:
            layer = oncall.add_layer(ACTOR, schedule, name=name, start_date=start.date(), now=self.now, **rotation)
            self.report.created.append(label)
        else:
            old_name = layer.name
            # Against the last version, which may wait for its first handoff: a rotation
            # already changed to this by an earlier run is not changed again.
            if oncall._same_rotation(layer.versions[-1], oncall._rotation_fields(**rotation)):
                rotation = {}
            version = oncall.change_layer(ACTOR, layer, now=self.now, name=name, **rotation)
            if version is not None:
                self.report.updated.append(f"{label}: the rotation changes from the next handoff, "
                                           f"{version.start_local:%Y-%m-%d %H:%M} ({schedule.time_zone})")
            elif old_name != layer.name:
                self.report.updated.append(label)
            else:
                self.report.unchanged.append(label)
        self.ledger.remember("rotation", data["id"], layer)
        return layer

    def _overlaps(self, schedule: Schedule, layers: list[ScheduleLayer]) -> None:
        """Opsgenie puts everyone of every active rotation on call; Firebreak one person."""
        db.session.flush()
        covered = {layer.id: week_slots(oncall.current_version(layer, self.now).restrictions or [])
                   for layer in layers}
        for i, lower in enumerate(layers):
            for upper in layers[i + 1:]:
                if covered[lower.id] & covered[upper.id]:
                    top, bottom = (upper, lower) if upper.position > lower.position else (lower, upper)
                    self.report.approximate.append(
                        f"schedule {schedule.name}: rotations {bottom.name} and {top.name} overlap; there Opsgenie "
                        f"puts both on call, Firebreak the person of the upper layer, {top.name}")

    def override(self, schedule: Schedule, data: dict, rotation_ids: set[str]) -> None:
        where = f"override {data.get('alias')} of {schedule.name}"
        who = data.get("user") or {}
        user = self.users.get(who.get("id")) if who.get("type", "user") == "user" else None
        if user is None:
            self.report.unmapped.append(f"{where}: {who.get('name') or who.get('username')} is not a person here")
            return
        starts_at, ends_at = instant(data["startDate"]), instant(data["endDate"])
        if ends_at <= self.now:
            self.report.unmapped.append(f"{where}: over before the import ({ends_at:%Y-%m-%d %H:%M} UTC)")
            return
        named = {r.get("id") for r in data.get("rotations") or []}
        if named and named != rotation_ids:
            self.report.approximate.append(f"{where}: in Opsgenie it covers only some rotations; in Firebreak an "
                                           "override covers the whole schedule")
        key = f"{schedule.id}:{data.get('alias')}"
        row = self.ledger.find("override", key, Override)
        label = (f"override: {user.name} covers {schedule.name} "
                 f"{starts_at:%Y-%m-%d %H:%M}–{ends_at:%Y-%m-%d %H:%M} UTC")
        if row is not None:
            same = (row.user_id == user.id and clock.utc(row.ends_at) == ends_at
                    and clock.utc(row.starts_at) == max(starts_at, clock.utc(row.created_at)))
            if same:
                self.report.unchanged.append(label)
                return
            if clock.utc(row.ends_at) > self.now:
                oncall.remove_override(ACTOR, row, self.now)
        new = oncall.add_override(ACTOR, schedule, user_id=user.id, starts_at=starts_at, ends_at=ends_at,
                                  now=self.now, note=f"Opsgenie override {data.get('alias')}")
        self.ledger.remember("override", key, new)
        (self.report.created if row is None else self.report.updated).append(label)

    # --- escalations ----------------------------------------------------------------------

    def escalation(self, data: dict) -> None:
        name = data["name"].strip()
        where = f"escalation {name}"
        team = self.teams.get((data.get("ownerTeam") or {}).get("id"))
        repeat = data.get("repeat") or {}
        count = int(repeat.get("count") or 0)
        if count > policies.MAX_REPEAT:
            self.report.approximate.append(f"{where}: repeats {count} times in Opsgenie, {policies.MAX_REPEAT} here")
            count = policies.MAX_REPEAT
        if repeat.get("closeAlertAfterAll"):
            self.report.unmapped.append(f"{where}: closing the alert after the last repeat has no counterpart")
        steps = self._steps(where, data.get("rules") or [], repeat, count)
        policy = self.ledger.find("escalation", data["id"], EscalationPolicy)
        created = policy is None
        description = data.get("description") or ""
        if created:
            policy = policies.create_policy(ACTOR, name=self._free_name(EscalationPolicy, name, "escalation policy"),
                                            now=self.now, description=description, repeat=count,
                                            team_id=team.id if team else None)
            before = None
        else:
            before = self._policy_state(policy)
            policies.update_policy(ACTOR, policy, name=self._kept_name(policy.name, name), description=description,
                                   repeat=count, now=self.now)
        if self._policy_state(policy)[3] != steps:
            for step in list(policy.steps):
                policies.remove_step(ACTOR, step, self.now)
            db.session.flush()
            for delay, targets in steps:
                step = policies.add_step(ACTOR, policy, delay_minutes=delay, mode="all", now=self.now)
                for kind, ref in targets:
                    policies.add_target(ACTOR, step, kind, ref, self.now)
        self.ledger.remember("escalation", data["id"], policy)
        if team is not None:
            self.policies_by_team.setdefault(team.id, []).append(policy)
        self._outcome(f"escalation policy {policy.name}", created, before, self._policy_state(policy))

    @staticmethod
    def _policy_state(policy: EscalationPolicy):
        db.session.flush()
        db.session.refresh(policy)
        return (policy.name, policy.description, policy.repeat,
                [(step.delay_minutes, sorted((t.kind, t.ref) for t in step.targets)) for step in policy.steps])

    def _steps(self, where: str, rules: list[dict], repeat: dict, count: int) -> list:
        """[(delay before the next step, [(kind, ref), ...]), ...] from Opsgenie's rules."""
        groups: dict[int, list[tuple[str, int]]] = {}
        for rule in rules:
            at = minutes(rule.get("delay"))
            target = self._target(where, rule)
            if rule.get("condition") == "if-not-closed":
                self.report.approximate.append(f"{where}: the rule after {at} min fires in Opsgenie until the alert "
                                               "is closed; Firebreak escalates until it is acknowledged")
            if target is not None:
                found = groups.setdefault(at, [])
                if target not in found:
                    found.append(target)
        times = sorted(groups)
        if times and times[0] > 0:
            self.report.approximate.append(f"{where}: Opsgenie waits {times[0]} min before the first rule; "
                                           "Firebreak pages the first step at once")
        steps = []
        for i, at in enumerate(times):
            if i + 1 < len(times):
                wait = times[i + 1] - at
            else:
                wait = int(repeat.get("waitInterval") or 0) if count else 0
                wait = wait or (times[i] - times[i - 1] if i else 10)
            wait = min(max(wait, 1), policies.MAX_DELAY)
            steps.append((wait, sorted(groups[at])))
        if len(steps) > policies.MAX_STEPS:
            self.report.unmapped.append(f"{where}: only the first {policies.MAX_STEPS} of {len(steps)} steps")
            steps = steps[:policies.MAX_STEPS]
        return steps

    def _target(self, where: str, rule: dict) -> tuple[str, int] | None:
        recipient = rule.get("recipient") or {}
        kind, notify = recipient.get("type"), rule.get("notifyType") or "default"
        label = recipient.get("name") or recipient.get("username") or recipient.get("id")
        if kind == "user" and recipient.get("id") in self.users:
            return ("user", self.users[recipient["id"]].id)
        if kind == "schedule" and recipient.get("id") in self.schedules:
            if notify in ("next", "previous"):
                self.report.approximate.append(f"{where}: pages whoever is on call on {label} now, not the "
                                               f"{notify} on-call person Opsgenie would")
            return ("schedule", self.schedules[recipient["id"]].id)
        if kind == "team" and recipient.get("id") in self.teams:
            if notify != "all":
                self.report.approximate.append(f"{where}: pages every member of {label} (Opsgenie's {notify!r} "
                                               "goes by the team's own routing)")
            return ("team", self.teams[recipient["id"]].id)
        self.report.unmapped.append(f"{where}: recipient {kind} {label} has no counterpart here")
        return None

    # --- integrations → services ------------------------------------------------------------

    def integration(self, data: dict) -> None:
        name, kind = data["name"].strip(), (data.get("type") or "").strip()
        if "email" in kind.lower():
            self.report.unmapped.append(f"integration {name} ({kind}): Firebreak takes events over HTTP, "
                                        "not by email")
            return
        team = self.teams.get(data.get("teamId") or "")
        service = self.ledger.find("integration", data["id"], Service)
        created = service is None
        description = f"Opsgenie {kind} integration {name}"
        if created:
            service = services.create_service(ACTOR, name=self._free_name(Service, name, "service"),
                                              description=description,
                                              team_id=team.id if team else None)
            before = None
        else:
            before = self._service_state(service)
            services.update_service(ACTOR, service, name=self._kept_name(service.name, name), description=description,
                                    team_id=team.id if team else None, severity_mapping=service.severity_mapping,
                                    active=service.active)
        owned = self.policies_by_team.get(team.id, []) if team else []
        if len(owned) == 1:
            policies.set_service_policy(ACTOR, service, owned[0].id, service.fallback_team_id)
        else:
            self.report.approximate.append(
                f"service {service.name}: " + ("its team has several escalations, choose the service's policy"
                                               if owned else "no team escalation to follow, choose its policy"))
        if not data.get("enabled", True) and service.active:
            services.update_service(ACTOR, service, name=service.name, description=service.description,
                                    team_id=service.team_id, severity_mapping=service.severity_mapping, active=False)
            self.report.approximate.append(f"service {service.name}: the integration is disabled in Opsgenie, "
                                           "so the service is inactive (it refuses events until turned on)")
        key = service.active_keys[0] if service.active_keys else services.add_integration_key(ACTOR, service)
        self.ledger.remember("integration", data["id"], service)
        self._outcome(f"service {service.name}", created, before, self._service_state(service))
        base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
        if kind.lower() in ALERTMANAGER_TYPES:
            where = f"POST {base}/integrations/alertmanager/{key.key} (Alertmanager's webhook)"
        else:
            where = (f"POST {base}/v2/enqueue with routing_key {key.key} (PagerDuty Events API v2 events: "
                     "Opsgenie's alert API body is not taken)")
        note = " (dry run: this key is not kept)" if self.report.dry_run and created else ""
        self.report.integrations.append(f"{name} ({kind}) → {where}, service {service.name}{note}")

    @staticmethod
    def _service_state(service: Service):
        db.session.flush()
        return (service.name, service.description, service.team_id, service.active, service.escalation_policy_id)

