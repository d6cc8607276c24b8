"""`flask --app wsgi import pagerduty --api-key K [--dry-run]`: PagerDuty's
configuration, read through its REST API v2, made into Firebreak's.

Everything is read first (`read`), with PagerDuty's authentication header
(`Authorization: Token token=K`), its versioning header, its classic pagination
(`offset`/`limit` up to 100 a page, following `more`) and its rate limits (a 429 is
waited out as Retry-After says, in app.importers.core). Nothing is written if
reading fails. Then `apply` makes or updates, through the service functions the
pages use (so every rule applies and every change is audited, by the actor
"import from PagerDuty"), in this order:

- people (by vendor id, else by email address: someone already in Firebreak is
  adopted, never changed in role), made without a password: they get in by a
  password reset, an invitation or single sign-on. Their email, SMS and phone
  contact methods are marked verified on PagerDuty's word (PagerDuty already pages
  them; audited) and their notification rules become their chosen rules;
- teams and their members (a PagerDuty manager becomes a team manager);
- schedules: each layer in force becomes a rotation layer (the first layer PagerDuty
  lists wins, as in PagerDuty), its turn length in weeks, days or hours, its hand-off
  the local time of its turns in the schedule's zone, its restrictions the same
  windows; overrides from now on;
- escalation policies (rules → steps, num_loops → repeat);
- services with their escalation policy, acknowledgement and auto-resolve timeouts,
  and their Events API v2 integrations, which keep their integration key: only the
  URL changes (`report.integrations` says which);
- maintenance windows that are under way or to come.

Running again updates in place (app.importers.core.Ledger). What could only be
mapped approximately, or not at all, is said in the report with the reason. Each
PagerDuty object is made in a savepoint (`Import.each`): one that a rule refuses is
left out whole and reported, and the rest comes in. Time zones are IANA identifiers
in PagerDuty's API (its developer docs' list of time zones); one that is not is
reported.
"""
from __future__ import annotations

import math
import time as _time
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa
from flask import current_app

from app.audit.service import Actor
from app.auth import service as people
from app.auth.models import Role, Team, TeamMembership, User
from app.errors import DomainError
from app.escalation import policies as escalation
from app.escalation.models import EscalationPolicy
from app.extensions import db
from app.importers import core
from app.importers.cli import finish, import_group
from app.links import external_url
from app.notify import contacts
from app.notify.models import Channel, ContactMethod
from app.oncall import compute
from app.oncall import service as oncall
from app.oncall.models import Override, Schedule, ScheduleLayer
from app.services import maintenance
from app.services import service as services
from app.services.models import IntegrationKey, MaintenanceWindow, Service

VENDOR = "PagerDuty"
ACTOR = Actor.system("import from PagerDuty")
PAGE_SIZE = 100
OVERRIDES_AHEAD = timedelta(days=365)
HEADERS = {"Accept": "application/vnd.pagerduty+json;version=2"}

ROLES = {"owner": Role.ADMIN, "admin": Role.ADMIN, "user": Role.RESPONDER, "limited_user": Role.RESPONDER,
         "restricted_access": Role.RESPONDER, "observer": Role.VIEWER, "read_only_user": Role.VIEWER,
         "read_only_limited_user": Role.VIEWER}
CHANNELS = {"email_contact_method": Channel.EMAIL, "sms_contact_method": Channel.SMS,
            "phone_contact_method": Channel.VOICE}
WEEK, DAY, HOUR = 7 * 86400, 86400, 3600


# --- reading -----------------------------------------------------------------------------

class PagerDutyApi:
    """The few GETs the importer makes, paginated as PagerDuty paginates."""

    def __init__(self, base_url: str, api_key: str, *, sleep=_time.sleep):
        self.client = core.VendorClient(base_url, {"Authorization": f"Token token={api_key}", **HEADERS},
                                        vendor=VENDOR, sleep=sleep)

    def all(self, path: str, key: str, **params) -> list[dict]:
        def fetch(offset: int):
            answer = self.client.get(path, {**params, "offset": offset, "limit": PAGE_SIZE})
            if not isinstance(answer, dict) or not isinstance(answer.get(key), list):
                raise core.ImportFailed(f"PagerDuty answered {path} without a list of {key}.")
            return answer[key], bool(answer.get("more"))
        return list(core.pages(fetch))

    def one(self, path: str, key: str, **params) -> dict:
        answer = self.client.get(path, params or None)
        if not isinstance(answer, dict) or not isinstance(answer.get(key), dict | list):
            raise core.ImportFailed(f"PagerDuty answered {path} without its {key}.")
        return answer[key]


def read(api: PagerDutyApi, now: datetime) -> dict:
    """Everything the import needs, read before anything is written."""
    teams = api.all("/teams", "teams")
    for team in teams:
        team["members"] = api.all(f"/teams/{team['id']}/members", "members")
    schedules = [api.one(f"/schedules/{s['id']}", "schedule") for s in api.all("/schedules", "schedules")]
    until = now + OVERRIDES_AHEAD
    for schedule in schedules:
        schedule["overrides"] = api.one(f"/schedules/{schedule['id']}/overrides", "overrides",
                                        since=now.isoformat(), until=until.isoformat())
    return {
        "users": api.all("/users", "users", **{"include[]": ["contact_methods", "notification_rules"]}),
        "teams": teams,
        "schedules": schedules,
        "escalation_policies": api.all("/escalation_policies", "escalation_policies"),
        "services": api.all("/services", "services", **{"include[]": ["integrations"]}),
        "maintenance_windows": api.all("/maintenance_windows", "maintenance_windows", filter="open"),
    }


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# --- the command -------------------------------------------------------------------------

@import_group.command("pagerduty")
@click.option("--api-key", required=True, help="A PagerDuty REST API key (read-only is enough).")
@click.option("--dry-run", is_flag=True, help="Show what would be done; write nothing.")
def pagerduty_command(api_key: str, dry_run: bool) -> None:
    """Bring in PagerDuty's people, teams, schedules, policies, services and maintenance."""
    finish(lambda: import_pagerduty(api_key, dry_run=dry_run))


def import_pagerduty(api_key: str, *, dry_run: bool = False, sleep=_time.sleep) -> core.Report:
    from app import clock
    now = clock.now()
    api = PagerDutyApi(current_app.config["PAGERDUTY_API_BASE"], api_key, sleep=sleep)
    data = read(api, now)
    return core.run(VENDOR, lambda report: Import(report, now).apply(data), dry_run=dry_run)


# --- writing -----------------------------------------------------------------------------

class Import:
    def __init__(self, report: core.Report, now: datetime):
        self.report, self.now = report, now
        self.ledger = core.Ledger("pagerduty")
        self.users: dict[str, User] = {}
        self.schedules: dict[str, Schedule] = {}
        self.policies: dict[str, EscalationPolicy] = {}
        self.services: dict[str, Service] = {}
        self.teams: dict[str, Team] = {}
        self.vouched: list[str] = []

    def apply(self, data: dict) -> None:
        for user in data["users"]:
            self.each(f"person {user.get('name')} <{user.get('email')}>", self.person, user)
        if any(item.startswith("person ") for item in self.report.created):
            self.report.approximate.append(
                "people were made without a password: they get in through a password reset, an invitation "
                "or single sign-on")
        if self.vouched:
            self.report.approximate.append(
                f"the contact methods of {', '.join(self.vouched)} are marked verified without a code, on "
                "PagerDuty's word (PagerDuty pages them now; the audit log records it)")
        for team in data["teams"]:
            self.each(f"team {team.get('name')}", self.team, team)
        for schedule in data["schedules"]:
            self.each(f"schedule {schedule.get('name')}", self.schedule, schedule)
        for policy in data["escalation_policies"]:
            self.each(f"escalation policy {policy.get('name')}", self.policy, policy)
        for service in data["services"]:
            self.each(f"service {service.get('name')}", self.service, service)
        for window in data["maintenance_windows"]:
            self.each(f"maintenance {window.get('description') or window.get('id')}", self.window, window)

    def each(self, label: str, work, data: dict) -> None:
        """One PagerDuty object, in a savepoint: a rule of Firebreak's that refuses any
        part of it (a DomainError) undoes all of it, and the report says so; the rest of
        the import goes on."""
        lists = ("created", "updated", "unchanged", "approximate", "unmapped", "integrations")
        marks = {name: len(getattr(self.report, name)) for name in lists}
        vouched = len(self.vouched)
        try:
            with db.session.begin_nested():
                work(data)
        except DomainError as error:
            for name, mark in marks.items():
                del getattr(self.report, name)[mark:]
            del self.vouched[vouched:]
            for found in (self.users, self.teams, self.schedules, self.policies, self.services):
                found.pop(data.get("id"), None)
            self.report.unmapped.append(f"{label}: {error.message}")

    def outcome(self, label: str, *, created: bool = False, changed: bool = False) -> None:
        (self.report.created if created else self.report.updated if changed else self.report.unchanged).append(label)

    def _free_name(self, model, name: str, row) -> str:
        """`name`, or `name (PagerDuty)` when another row not imported has it."""
        clash = db.session.scalar(sa.select(model).where(sa.func.lower(model.name) == name.lower()))
        if clash is None or clash is row:
            return name
        renamed = f"{name} (PagerDuty)"
        what = {"schedules": "schedule", "escalation_policies": "escalation policy"}.get(model.__tablename__, "service")
        self.report.approximate.append(f"{what} {name} is named {renamed}: Firebreak already has one by that name")
        return renamed

    # --- people -----------------------------------------------------------------------

    def person(self, data: dict) -> None:
        role = ROLES.get(data.get("role"), Role.RESPONDER)
        label = f"person {data['name']} <{data['email']}>"
        if data.get("role") in ("limited_user", "restricted_access", "read_only_limited_user"):
            self.report.approximate.append(f"{label}: PagerDuty role {data['role']} is {role.value} "
                                           "(Firebreak has no narrower role)")
        zone = data.get("time_zone") or "UTC"
        if not people.valid_time_zone(zone):
            self.report.approximate.append(f"{label}: time zone {zone!r} is not an IANA zone; UTC used")
            zone = "UTC"
        user = self.ledger.find("user", data["id"], User)
        if user is None:
            user = people.find_user_by_email(data["email"])
            if user is not None:
                self.report.approximate.append(f"{label}: already in Firebreak, kept as they are (role "
                                               f"{user.role.value}); their PagerDuty contact methods are added")
                self.outcome(label)
            else:
                user = people.create_user(ACTOR, email=data["email"], name=data["name"], role=role,
                                          time_zone=zone)
                self.outcome(label, created=True)
        else:
            # The role is PagerDuty's only when the person is made: it may have been changed here since.
            before = (user.email, user.name, user.time_zone)
            people.update_user(ACTOR, user, email=data["email"], name=data["name"], time_zone=zone)
            self.outcome(label, changed=before != (user.email, user.name, user.time_zone))
        self.ledger.remember("user", data["id"], user)
        self.users[data["id"]] = user
        methods = self.contact_methods(user, data)
        self.rules(user, data, methods)

    def contact_methods(self, user: User, data: dict) -> dict[str, ContactMethod]:
        made = {}
        for method in data.get("contact_methods") or ():
            channel = CHANNELS.get(method.get("type"))
            where = f"{user.name}'s {method.get('label') or 'contact method'}"
            if channel is None:
                kind = (method.get("type") or "").replace("_contact_method", "").replace("_", " ")
                self.report.unmapped.append(f"{where} ({kind}): Firebreak pages by SMS, voice call and email only")
                continue
            if method.get("blacklisted"):
                self.report.unmapped.append(f"{where}: PagerDuty has stopped sending to this number")
                continue
            address = method.get("address") or ""
            if channel is not Channel.EMAIL:
                address = f"+{method.get('country_code', '')}{address}"
            row = self.ledger.find("contact_method", method["id"], ContactMethod)
            if row is None or not row.active:
                try:
                    address = contacts.normalise_address(channel, address)
                except DomainError as error:
                    self.report.unmapped.append(f"{where} {address}: {error.message}")
                    continue
                row = next((m for m in user.contact_methods if m.active and m.channel == channel
                            and m.address == address), None)
                if row is None:
                    row = contacts.add_method(ACTOR, user, channel, address, self.now, label=method.get("label") or "",
                                              verified=True, send=False)
                    self.outcome(f"{channel.label} {address} of {user.name}", created=True)
                if channel is not Channel.EMAIL and not user.phone:
                    people.update_user(ACTOR, user, phone=address)
            self.ledger.remember("contact_method", method["id"], row)
            made[method["id"]] = row
        if made:
            self.vouched.append(user.name)
        return made

    def rules(self, user: User, data: dict, methods: dict[str, ContactMethod]) -> None:
        for urgency in ("high", "low"):
            steps, dropped = [], []
            for rule in data.get("notification_rules") or ():
                if rule.get("urgency", "high") != urgency:
                    continue
                method = methods.get((rule.get("contact_method") or {}).get("id"))
                if method is None:
                    dropped.append(rule)
                    continue
                delay = int(rule.get("start_delay_in_minutes") or 0)
                if delay > contacts.MAX_DELAY:
                    self.report.approximate.append(f"{user.name}'s {urgency}-urgency rule after {delay} min is "
                                                   f"after {contacts.MAX_DELAY} min (Firebreak's longest)")
                    delay = contacts.MAX_DELAY
                steps.append((method.id, delay))
            if dropped:
                self.report.unmapped.append(f"{user.name}: {len(dropped)} {urgency}-urgency notification rule"
                                            f"{'s' if len(dropped) > 1 else ''} on a contact method Firebreak "
                                            "does not page")
            steps = sorted(steps, key=lambda s: s[1])[:contacts.MAX_RULES]
            if not steps:
                continue
            current = [(r.contact_method_id, r.delay_minutes) for r in contacts.rules_for(user, urgency)]
            chosen = all(r.chosen for r in contacts.rules_for(user, urgency))
            if current != steps or not chosen:
                contacts.set_rules(ACTOR, user, urgency, steps)

    # --- teams ------------------------------------------------------------------------

    def team(self, data: dict) -> None:
        label = f"team {data['name']}"
        team = self.ledger.find("team", data["id"], Team)
        if team is None:
            team = db.session.scalar(sa.select(Team).where(sa.func.lower(Team.name) == data["name"].lower()))
            if team is None:
                team = people.create_team(ACTOR, name=data["name"], description=data.get("description") or "")
                self.outcome(label, created=True)
            else:
                self.outcome(label)
        else:
            before = (team.name, team.description)
            people.update_team(ACTOR, team, name=data["name"], description=data.get("description") or "")
            self.outcome(label, changed=before != (team.name, team.description))
        self.ledger.remember("team", data["id"], team)
        self.teams[data["id"]] = team
        for member in data.get("members") or ():
            user = self.users.get(member["user"]["id"])
            if user is None:
                continue
            manager = member.get("role") == "manager"
            if manager and not user.can(Role.RESPONDER):
                self.report.approximate.append(f"{user.name} manages {team.name} in PagerDuty but is a viewer "
                                               "here: a plain member")
                manager = False
            membership = db.session.scalar(sa.select(TeamMembership).where(
                TeamMembership.team_id == team.id, TeamMembership.user_id == user.id))
            if membership is None:
                people.add_member(ACTOR, team, user, is_manager=manager)
            elif membership.is_manager != manager:
                people.set_manager(ACTOR, team, user, manager)

    def team_of(self, refs, what: str) -> int | None:
        found = [self.teams[t["id"]] for t in refs or () if t.get("id") in self.teams]
        if len(found) > 1:
            self.report.approximate.append(f"{what} belongs to {len(found)} teams in PagerDuty; "
                                           f"here to the first, {found[0].name}")
        return found[0].id if found else None

    # --- schedules --------------------------------------------------------------------

    def schedule(self, data: dict) -> None:
        label = f"schedule {data['name']}"
        zone = data.get("time_zone") or "UTC"
        if not people.valid_time_zone(zone):
            self.report.unmapped.append(f"{label}: time zone {zone!r} is not an IANA zone")
            return
        team_id = self.team_of(data.get("teams"), label)
        schedule = self.ledger.find("schedule", data["id"], Schedule)
        if schedule is not None and schedule.archived_at is not None:
            schedule = None
        fields = {"description": data.get("description") or "", "time_zone": zone, "team_id": team_id}
        if schedule is None:
            schedule = oncall.create_schedule(ACTOR, name=self._free_name(Schedule, data["name"], None),
                                              now=self.now, **fields)
            self.outcome(label, created=True)
        else:
            version = schedule.version
            oncall.update_schedule(ACTOR, schedule, now=self.now,
                                   name=self._free_name(Schedule, data["name"], schedule), **fields)
            changed = self.layers(schedule, data) | self.overrides(schedule, data)
            self.outcome(label, changed=changed or schedule.version != version)
            self.ledger.remember("schedule", data["id"], schedule)
            self.schedules[data["id"]] = schedule
            return
        self.ledger.remember("schedule", data["id"], schedule)
        self.schedules[data["id"]] = schedule
        self.layers(schedule, data)
        self.overrides(schedule, data)

    def layers(self, schedule: Schedule, data: dict) -> bool:
        """Each layer in force, lowest first (PagerDuty lists the winner first); True if
        anything changed."""
        changed = False
        zone = ZoneInfo(schedule.time_zone)
        in_force = [layer for layer in reversed(data.get("schedule_layers") or [])
                    if not (layer.get("end") and parse_time(layer["end"]) <= self.now)]
        # Layers PagerDuty ended (it ends a layer when it is edited, and starts a new one)
        # or deleted go first, so their names are free for the layers that replace them.
        keep = {layer["id"] for layer in in_force}
        for row in list(schedule.layers):
            vendor_id = self._vendor_id("schedule_layer", row)
            if vendor_id is not None and vendor_id not in keep:
                oncall.remove_layer(ACTOR, row, self.now)
                self.report.approximate.append(f"layer {row.name} of {schedule.name} was removed: it is no longer "
                                               "in force in PagerDuty")
                changed = True
        order = []
        for layer in in_force:
            where = f"layer {layer.get('name')} of {schedule.name}"
            rotation = self.rotation(layer, zone, where)
            if rotation is None:
                continue
            if layer.get("end"):
                self.report.approximate.append(f"{where} ends {layer['end']} in PagerDuty; Firebreak layers do not "
                                               "end: remove it then")
            row = self.ledger.find("schedule_layer", layer["id"], ScheduleLayer)
            if row is not None and row.schedule_id != schedule.id:
                row = None
            name = layer.get("name") or "Layer"
            if row is None:
                taken = {other.name.lower() for other in schedule.layers}
                number = 2
                unique = name
                while unique.lower() in taken:
                    unique, number = f"{name} ({number})", number + 1
                start_date = rotation.pop("start_date")
                row = oncall.add_layer(ACTOR, schedule, name=unique, start_date=start_date, now=self.now, **rotation)
                changed = True
            else:
                start_date = rotation.pop("start_date")
                current = oncall.current_version(row, self.now)
                same = current is not None and current.start_date == start_date and all(
                    getattr(current, key) == value for key, value in rotation.items())
                taken = any(o.name.lower() == name.lower() for o in schedule.layers if o is not row)
                if not same:
                    version = oncall.change_layer(ACTOR, row, now=self.now, name=None if taken else name, **rotation)
                    changed = changed or version is not None
                elif row.name != name and not taken:
                    oncall.change_layer(ACTOR, row, now=self.now, name=name)
                    changed = True
            self.ledger.remember("schedule_layer", layer["id"], row)
            order.append(row)
        return self.stack(schedule, order) or changed

    def stack(self, schedule: Schedule, order: list[ScheduleLayer]) -> bool:
        """Put the imported layers in PagerDuty's order (`order`: lowest first), when the
        schedule has no layers of its own besides them."""
        layers = sorted(schedule.layers, key=lambda layer: layer.position)
        if {layer.id for layer in layers} != {layer.id for layer in order}:
            return False
        rank = {layer.id: number for number, layer in enumerate(order)}
        moved = False
        for end in range(len(layers) - 1, 0, -1):
            for i in range(end):
                if rank[layers[i].id] > rank[layers[i + 1].id]:
                    oncall.move_layer(ACTOR, layers[i], up=True, now=self.now)
                    layers[i], layers[i + 1] = layers[i + 1], layers[i]
                    moved = True
        return moved

    def _vendor_id(self, kind: str, row) -> str | None:
        from app.importers.models import ImportedObject
        return db.session.scalar(sa.select(ImportedObject.vendor_id).where(
            ImportedObject.vendor == "pagerduty", ImportedObject.kind == kind,
            ImportedObject.table == row.__tablename__, ImportedObject.object_id == row.id))

    def rotation(self, layer: dict, zone: ZoneInfo, where: str) -> dict | None:
        """The Firebreak rotation of a PagerDuty layer: its turns from the one that
        holds the layer's start, the participants turned so that turn's person is
        first. None (reported) when it cannot be made."""
        seconds = int(layer.get("rotation_turn_length_seconds") or 0)
        if seconds > 0 and seconds % WEEK == 0 and seconds // WEEK <= oncall.MAX_LENGTH["weeks"]:
            unit, length = "weeks", seconds // WEEK
        elif seconds > 0 and seconds % DAY == 0 and seconds // DAY <= oncall.MAX_LENGTH["days"]:
            unit, length = "days", seconds // DAY
        elif seconds > 0 and seconds % HOUR == 0 and seconds // HOUR <= oncall.MAX_LENGTH["hours"]:
            unit, length = "hours", seconds // HOUR
        else:
            self.report.unmapped.append(f"{where}: turns of {seconds} s are not whole hours, days or weeks "
                                        "Firebreak can rotate by")
            return None
        ids = [entry["user"]["id"] for entry in layer.get("users") or ()]
        missing = [i for i in ids if i not in self.users]
        if missing or not ids:
            self.report.unmapped.append(f"{where}: {'its people were not imported' if ids else 'nobody in it'}")
            return None
        if unit == "hours" and _has_daylight_saving(zone):
            self.report.approximate.append(f"{where}: {length}-hour turns hand off on the wall clock of "
                                           f"{zone.key} in Firebreak, so a turn across a daylight-saving change is an "
                                           "hour shorter or longer")
        start_local = _turn_start(layer, parse_time(layer["start"]), zone, seconds)
        k = start_local[1]
        participants = [self.users[i].id for i in ids]
        turned = participants[k % len(participants):] + participants[:k % len(participants)]
        local = start_local[0]
        restrictions = []
        for restriction in layer.get("restrictions") or ():
            windows = _restriction(restriction)
            if windows is None:
                self.report.unmapped.append(f"{where}: a restriction of type {restriction.get('type')!r}")
                continue
            if int(restriction.get("duration_seconds") or 0) % 60:
                self.report.approximate.append(f"{where}: a restriction's length is rounded to the minute")
            restrictions.extend(windows)
        if parse_time(layer["start"]) > self.now and compute.to_utc(local, zone) < parse_time(layer["start"]):
            self.report.approximate.append(f"{where} starts mid-turn at {layer['start']} in PagerDuty; here at the "
                                           f"start of that turn, {local:%Y-%m-%d %H:%M}")
        return {"start_date": local.date(), "participant_ids": turned, "shift_unit": unit, "shift_length": length,
                "handoff_time": local.time().replace(second=0, microsecond=0),
                "handoff_weekday": local.weekday() if unit == "weeks" else None,
                "restrictions": _merge_restrictions(restrictions)}

    def overrides(self, schedule: Schedule, data: dict) -> bool:
        changed = False
        for override in data.get("overrides") or ():
            user = self.users.get((override.get("user") or {}).get("id"))
            starts, ends = parse_time(override["start"]), parse_time(override["end"])
            where = f"override on {schedule.name} from {override['start']} to {override['end']}"
            if ends <= self.now:
                continue
            if user is None:
                self.report.unmapped.append(f"{where}: its person was not imported")
                continue
            row = self.ledger.find("override", override["id"], Override)
            if row is not None:
                if row.user_id == user.id and row.ends_at == ends and row.starts_at == max(starts, row.created_at):
                    continue
                if row.ends_at > self.now:
                    oncall.remove_override(ACTOR, row, self.now)
            try:
                row = oncall.add_override(ACTOR, schedule, user_id=user.id, starts_at=starts, ends_at=ends,
                                          now=self.now, note=f"From PagerDuty override {override['id']}")
            except DomainError as error:
                self.report.unmapped.append(f"{where}: {error.message}")
                continue
            self.ledger.remember("override", override["id"], row)
            changed = True
        return changed

    # --- escalation policies --------------------------------------------------------------

    def policy(self, data: dict) -> None:
        label = f"escalation policy {data['name']}"
        repeat = int(data.get("num_loops") or 0)
        if repeat > escalation.MAX_REPEAT:
            self.report.approximate.append(f"{label} loops {repeat} times in PagerDuty; here "
                                           f"{escalation.MAX_REPEAT} (Firebreak's most)")
            repeat = escalation.MAX_REPEAT
        team_id = self.team_of(data.get("teams"), label)
        policy = self.ledger.find("escalation_policy", data["id"], EscalationPolicy)
        if policy is None:
            policy = escalation.create_policy(ACTOR, name=self._free_name(EscalationPolicy, data["name"], None),
                                              now=self.now, description=data.get("description") or "",
                                              repeat=repeat, team_id=team_id)
            created = True
        else:
            before = (policy.name, policy.description, policy.repeat)
            escalation.update_policy(ACTOR, policy, name=self._free_name(EscalationPolicy, data["name"], policy),
                                     description=data.get("description") or "", repeat=repeat, now=self.now)
            created = False
        steps_changed = self.steps(policy, data, label)
        self.outcome(label, created=created,
                     changed=not created and (steps_changed or before != (policy.name, policy.description,
                                                                           policy.repeat)))
        self.ledger.remember("escalation_policy", data["id"], policy)
        self.policies[data["id"]] = policy

    def steps(self, policy: EscalationPolicy, data: dict, label: str) -> bool:
        wanted = []
        for number, rule in enumerate(data.get("escalation_rules") or (), start=1):
            delay = int(rule.get("escalation_delay_in_minutes") or 0)
            if not 1 <= delay <= escalation.MAX_DELAY:
                clipped = min(max(delay, 1), escalation.MAX_DELAY)
                self.report.approximate.append(f"{label} rule {number}: {delay} min before escalating is {clipped}")
                delay = clipped
            mode = "round_robin" if rule.get("escalation_rule_assignment_strategy") == "round_robin" else "all"
            targets = []
            for target in rule.get("targets") or ():
                kind = (target.get("type") or "").replace("_reference", "")
                found = {"user": self.users, "schedule": self.schedules}.get(kind, {}).get(target["id"])
                if found is None:
                    self.report.unmapped.append(f"{label} rule {number}: target "
                                                f"{target.get('summary') or target['id']} ({target.get('type')}) "
                                                "was not imported")
                    continue
                if (kind, found.id) not in targets:
                    targets.append((kind, found.id))
            wanted.append((delay, mode, targets))
        if len(wanted) > escalation.MAX_STEPS:
            self.report.approximate.append(f"{label}: only its first {escalation.MAX_STEPS} rules")
            wanted = wanted[:escalation.MAX_STEPS]
        have = [(s.delay_minutes, s.mode, [(t.kind, t.ref) for t in s.targets]) for s in policy.steps]
        if have == wanted:
            return False
        for step in list(policy.steps):
            escalation.remove_step(ACTOR, step, self.now)
        db.session.flush()
        for delay, mode, targets in wanted:
            step = escalation.add_step(ACTOR, policy, delay_minutes=delay, mode=mode, now=self.now)
            for kind, ident in targets:
                escalation.add_target(ACTOR, step, kind, ident, self.now)
        return True

    # --- services ------------------------------------------------------------------

    def service(self, data: dict) -> None:
        label = f"service {data['name']}"
        settings = {"ack_timeout_minutes": self.minutes(data.get("acknowledgement_timeout"), label,
                                                        "acknowledgement timeout"),
                    "auto_resolve_minutes": self.minutes(data.get("auto_resolve_timeout"), label, "auto-resolve")}
        team_id = self.team_of(data.get("teams"), label)
        active = data.get("status") != "disabled"
        service = self.ledger.find("service", data["id"], Service)
        if service is None:
            service = services.create_service(ACTOR, name=self._free_name(Service, data["name"], None),
                                              description=data.get("description") or "", team_id=team_id,
                                              with_key=False, **settings)
            before = None
        else:
            before = (service.name, service.description, service.team_id, service.active,
                      service.ack_timeout_minutes, service.auto_resolve_minutes, service.escalation_policy_id)
        services.update_service(ACTOR, service, name=self._free_name(Service, data["name"], service),
                                description=data.get("description") or "", team_id=team_id,
                                severity_mapping=service.severity_mapping, active=active, **settings)
        policy = self.policies.get((data.get("escalation_policy") or {}).get("id"))
        escalation.set_service_policy(ACTOR, service, policy.id if policy else service.escalation_policy_id,
                                      service.fallback_team_id)
        after = (service.name, service.description, service.team_id, service.active, service.ack_timeout_minutes,
                 service.auto_resolve_minutes, service.escalation_policy_id)
        self.outcome(label, created=before is None, changed=before is not None and before != after)
        self.ledger.remember("service", data["id"], service)
        self.services[data["id"]] = service
        for integration in data.get("integrations") or ():
            self.integration(service, integration)

    def minutes(self, seconds, label: str, what: str) -> int | None:
        if not seconds:
            return None
        minutes = math.ceil(int(seconds) / 60)
        if minutes > services.MAX_MINUTES:
            self.report.approximate.append(f"{label}: {what} of {minutes} min is {services.MAX_MINUTES} min "
                                           "(a week, Firebreak's longest)")
            return services.MAX_MINUTES
        if int(seconds) % 60:
            self.report.approximate.append(f"{label}: {what} of {seconds} s is rounded up to {minutes} min")
        return minutes

    def integration(self, service: Service, data: dict) -> None:
        kind = (data.get("type") or "").replace("_reference", "")
        name = data.get("name") or data.get("summary") or "Integration"
        where = f"{service.name} / {name}"
        key = data.get("integration_key")
        if kind not in ("events_api_v2_inbound_integration", "generic_events_api_inbound_integration") or not key:
            what = kind.replace("_inbound_integration", "").replace("_", " ") or "unknown"
            self.report.unmapped.append(f"{where} ({what}): Firebreak takes events through the PagerDuty Events API "
                                        "v2 (and Alertmanager's webhook) only; point the sender at the URL below "
                                        "with one of the service's keys instead")
            return
        row = self.ledger.find("integration", data["id"], IntegrationKey)
        if row is None or row.revoked_at is not None:
            taken = db.session.scalar(sa.select(IntegrationKey).where(IntegrationKey.key == key))
            try:
                row = services.add_integration_key(ACTOR, service, name=name,
                                                   key=None if taken is not None else key)
            except DomainError as error:
                self.report.unmapped.append(f"{where}: {error.message}")
                return
            if taken is not None:
                self.report.approximate.append(f"{where}: its key is in use here already; it has a new key")
            self.outcome(f"integration key {name} of {service.name}", created=True)
        self.ledger.remember("integration", data["id"], row)
        url = external_url("alerts.enqueue")
        same = " (the key it sends now: only the URL changes)" if row.key == key else " (a new key)"
        if kind == "generic_events_api_inbound_integration":
            self.report.approximate.append(f"{where} sends Events API v1; Firebreak speaks v2: switch the sender to "
                                           "Events API v2 (routing_key) when you point it here")
            same += ", once it sends Events API v2"
        self.report.integrations.append(f"{where}: {url} with routing key {row.key}{same}")

    # --- maintenance ------------------------------------------------------------------

    def window(self, data: dict) -> None:
        starts, ends = parse_time(data["start_time"]), parse_time(data["end_time"])
        title = (data.get("description") or "").strip() or f"Maintenance {data.get('sequence_number') or data['id']}"
        label = f"maintenance {title} ({starts:%Y-%m-%d %H:%M}–{ends:%H:%M} UTC)"
        chosen = [self.services[s["id"]] for s in data.get("services") or () if s.get("id") in self.services]
        row = self.ledger.find("maintenance_window", data["id"], MaintenanceWindow)
        if row is not None:
            same = (row.title, row.starts_at, row.ends_at, sorted(s.id for s in row.services)) == \
                (title[:255], starts, ends, sorted(s.id for s in chosen))
            if not same:
                self.report.approximate.append(f"{label} changed in PagerDuty since it was imported: change it here "
                                               "by hand")
            self.outcome(label)
            return
        if not chosen:
            self.report.unmapped.append(f"{label}: none of its services was imported")
            return
        try:
            row = maintenance.schedule(ACTOR, title=title, starts_at=starts, ends_at=ends, services=chosen,
                                       now=self.now)
        except DomainError as error:
            self.report.unmapped.append(f"{label}: {error.message}")
            return
        self.outcome(label, created=True)
        self.ledger.remember("maintenance_window", data["id"], row)


# --- turns and restrictions -------------------------------------------------------------------

def _has_daylight_saving(zone: ZoneInfo) -> bool:
    year = datetime.now(UTC).year
    return len({datetime(year, month, 1, tzinfo=zone).utcoffset() for month in (1, 4, 7, 10)}) > 1


def _turn_start(layer: dict, at: datetime, zone: ZoneInfo, seconds: int) -> tuple[datetime, int]:
    """(naive local start, k) of the turn of `layer` that holds `at`: turns of whole
    days are counted on the zone's wall clock, others in elapsed time."""
    virtual = parse_time(layer["rotation_virtual_start"])
    if seconds % DAY:
        k = int((at - virtual).total_seconds() // seconds)
        return compute.to_local(virtual + timedelta(seconds=k * seconds), zone), k
    origin = compute.to_local(virtual, zone)
    step = timedelta(seconds=seconds)
    k = int((compute.to_local(at, zone) - origin) // step)
    while compute.to_utc(origin + (k + 1) * step, zone) <= at:
        k += 1
    while compute.to_utc(origin + k * step, zone) > at:
        k -= 1
    return origin + k * step, k


def _restriction(data: dict) -> list[dict] | None:
    """Firebreak restriction windows (each at most a day, from a start on its days) for
    a PagerDuty daily or weekly restriction."""
    try:
        hours, minutes = (int(x) for x in str(data["start_time_of_day"]).split(":")[:2])
        duration = int(data["duration_seconds"])
    except (KeyError, TypeError, ValueError):
        return None
    start = time(hours, minutes)
    minutes_long = round(duration / 60)
    if data.get("type") == "daily_restriction":
        length = min(minutes_long, 24 * 60)
        return [{"days": list(range(7)), "start": _hhmm(start), "end": _hhmm(_plus(start, length))}]
    if data.get("type") == "weekly_restriction":
        day = int(data.get("start_day_of_week") or 1) - 1
        left = min(minutes_long, 7 * 24 * 60)
        windows = []
        while left > 0:
            piece = min(left, 24 * 60)
            windows.append({"days": [day % 7], "start": _hhmm(start), "end": _hhmm(_plus(start, piece))})
            left -= piece
            day += 1
        return windows
    return None


def _plus(start: time, minutes: int) -> time:
    return (datetime.combine(date(2000, 1, 1), start) + timedelta(minutes=minutes)).time()


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def _merge_restrictions(windows: list[dict]) -> list[dict]:
    """Windows with the same times share one entry with their days."""
    merged: dict[tuple[str, str], set[int]] = {}
    for window in windows:
        merged.setdefault((window["start"], window["end"]), set()).update(window["days"])
    return [{"days": sorted(days), "start": start, "end": end} for (start, end), days in merged.items()]

